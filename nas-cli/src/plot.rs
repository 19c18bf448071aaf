//! Plots as SVG: scatter panels (score against accuracy, predicted against measured), search
//! curves (median and quartiles over runs), line panels (training curves) and heat maps (a value
//! per cell of a grid). Axes carry round ticks ("nice" steps of 1, 2 or 5 times a
//! power of ten), labels sit clear of the tick labels, and points that cannot be drawn are counted.

use std::fmt::Write as _;

const W: f64 = 400.0;
const H: f64 = 320.0;
/// Left margin: room for the y tick labels and, left of them, the y label.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
/// Top margin: the title and the subtitle.
const TOP: f64 = 46.0;
/// Bottom margin: the x tick labels and, below them, the x label.
const BOTTOM: f64 = 46.0;

/// One scatter panel: points `(x, y)` with a title, a subtitle and axis labels (units included).
#[derive(Debug)]
pub struct Panel {
    /// The panel's title.
    pub title: String,
    /// The line under the title.
    pub subtitle: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// The points `(x, y)`.
    pub points: Vec<(f64, f64)>,
    /// Draw `y = x` on equal axes (predicted against measured).
    pub diagonal: bool,
}

/// The finite range of `values`, `(0, 1)` when there is none, widened when empty.
fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi > lo { (lo, hi) } else { (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0)) }
}

/// Round ticks covering `(lo, hi)`: four to eight, at a step of 1, 2 or 5 times a power of ten.
/// The axis runs from the first tick to the last.
pub fn nice_ticks(lo: f64, hi: f64, integer: bool) -> Vec<f64> {
    // The nice step closest to a fifth of the range (within 0.75x of it), 4 to 8 ticks.
    let raw = (hi - lo) / 5.0 * 0.75;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    if integer {
        step = step.max(1.0).round();
    }
    let first = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut k = 0.0;
    loop {
        let t = first + k * step;
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        if t >= hi - step * 1e-9 || ticks.len() > 50 {
            break;
        }
        k += 1.0;
    }
    ticks
}

/// A tick label with just the digits its step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    format!("{v:.decimals$}")
}

/// The power of ten an axis's ticks are divided by (0 when they read well as they are), so that
/// large or tiny values get short labels and the axis label says `(x 10^k)`.
fn axis_scale(ticks: &[f64]) -> i32 {
    let max = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if max >= 1e6 || (max > 0.0 && max < 1e-3) { max.log10().floor() as i32 } else { 0 }
}

/// The axis label with its scale.
fn scaled_label(label: &str, scale: i32) -> String {
    if scale == 0 { label.to_string() } else { format!("{label} (x 10^{scale})") }
}

/// A plot area at `(ox, oy)` of size `w x h` with its tick positions.
struct Frame {
    ox: f64,
    oy: f64,
    w: f64,
    h: f64,
    xt: Vec<f64>,
    yt: Vec<f64>,
}

impl Frame {
    fn new(ox: f64, oy: f64, w: f64, h: f64, x: (f64, f64), y: (f64, f64), integer_x: bool) -> Self {
        Frame { ox, oy, w, h, xt: nice_ticks(x.0, x.1, integer_x), yt: nice_ticks(y.0, y.1, false) }
    }

    fn x_range(&self) -> (f64, f64) {
        (self.xt[0], self.xt[self.xt.len() - 1])
    }

    fn y_range(&self) -> (f64, f64) {
        (self.yt[0], self.yt[self.yt.len() - 1])
    }

    fn px(&self, x: f64) -> f64 {
        let (a, b) = self.x_range();
        self.ox + LEFT + (x - a) / (b - a) * (self.w - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        let (a, b) = self.y_range();
        self.oy + self.h - BOTTOM - (y - a) / (b - a) * (self.h - TOP - BOTTOM)
    }

    /// The box, the title and subtitle, the axis labels and the ticks.
    fn draw(&self, s: &mut String, title: &str, subtitle: &str, x_label: &str, y_label: &str) {
        let (ox, oy, w, h) = (self.ox, self.oy, self.w, self.h);
        let (x0, x1, y0, y1) = (ox + LEFT, ox + w - RIGHT, oy + TOP, oy + h - BOTTOM);
        let _ = write!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
            x1 - x0,
            y1 - y0
        );
        let cx = (x0 + x1) / 2.0;
        let _ =
            write!(s, r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="13">{}</text>"#, oy + 18.0, esc(title));
        let _ = write!(
            s,
            r##"<text x="{cx}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            oy + 34.0,
            esc(subtitle)
        );
        let (xs, ys) = (axis_scale(&self.xt), axis_scale(&self.yt));
        let x_label = scaled_label(x_label, xs);
        let y_label = scaled_label(y_label, ys);
        let _ = write!(s, r#"<text x="{cx}" y="{}" text-anchor="middle">{}</text>"#, oy + h - 8.0, esc(&x_label));
        let cy = (y0 + y1) / 2.0;
        let lx = ox + 14.0;
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{cy}" text-anchor="middle" transform="rotate(-90 {lx} {cy})">{}</text>"#,
            esc(&y_label)
        );
        let (xf, yf) = (10f64.powi(xs), 10f64.powi(ys));
        let xstep = self.xt.get(1).map_or(1.0, |t| t - self.xt[0]) / xf;
        for &t in &self.xt {
            let x = self.px(t);
            let _ = write!(s, r##"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{}" stroke="#444"/>"##, y1 + 4.0);
            let _ = write!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                y1 + 16.0,
                tick_label(t / xf, xstep)
            );
        }
        let ystep = self.yt.get(1).map_or(1.0, |t| t - self.yt[0]) / yf;
        for &t in &self.yt {
            let y = self.py(t);
            let _ = write!(s, r##"<line x1="{}" y1="{y:.1}" x2="{x0}" y2="{y:.1}" stroke="#444"/>"##, x0 - 4.0);
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                tick_label(t / yf, ystep)
            );
        }
    }
}

fn document(w: f64, h: f64) -> String {
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    s.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    s
}

/// Writes the panels side by side, three to a row, as one SVG document. Points with a non-finite
/// coordinate are not drawn; the subtitle says how many there were.
pub fn svg(panels: &[Panel]) -> String {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(3).max(1);
    let mut s = document(W * cols as f64, H * rows as f64);
    for (i, p) in panels.iter().enumerate() {
        let finite: Vec<(f64, f64)> =
            p.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        let (mut x, mut y) = (extent(finite.iter().map(|q| q.0)), extent(finite.iter().map(|q| q.1)));
        if p.diagonal {
            let both = (x.0.min(y.0), x.1.max(y.1));
            (x, y) = (both, both);
        }
        let frame = Frame::new((i % 3) as f64 * W, (i / 3) as f64 * H, W, H, x, y, false);
        let skipped = p.points.len() - finite.len();
        let subtitle = if skipped > 0 && !p.subtitle.contains("non-finite") {
            format!("{}; {skipped} non-finite points not drawn", p.subtitle)
        } else {
            p.subtitle.clone()
        };
        frame.draw(&mut s, &p.title, &subtitle, &p.x_label, &p.y_label);
        if p.diagonal {
            let (a, b) = frame.x_range();
            let _ = write!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#d62728" stroke-dasharray="4 3"/>"##,
                frame.px(a),
                frame.py(a),
                frame.px(b),
                frame.py(b)
            );
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#d62728">y = x</text>"##,
                frame.ox + LEFT + 8.0,
                frame.oy + TOP + 14.0
            );
        }
        for &(x, y) in &finite {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="#1f77b4" fill-opacity="0.5"/>"##,
                frame.px(x),
                frame.py(y)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Step curves (one per run: `(x, y)` with `y` holding from `x` on, to `x_end`) summarised on a
/// grid of x as the median line inside the band between the first and third quartiles. `integer_x`
/// keeps the x ticks on whole numbers (networks scored).
pub fn bands_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    runs: &[Vec<(f64, f64)>],
    x_end: f64,
    integer_x: bool,
) -> String {
    const GRID: usize = 400;
    // The x axis runs from the start to the budget; a last query that overshoots it is not drawn.
    let lo = if integer_x { 1.0 } else { 0.0 };
    let hi = if x_end > lo { x_end } else { extent(runs.iter().flatten().map(|p| p.0)).1.max(lo + 1.0) };
    let mut rows = Vec::new();
    for k in 0..=GRID {
        let x = lo + (hi - lo) * k as f64 / GRID as f64;
        let mut ys: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.iter().take_while(|p| p.0 <= x).last().map(|p| p.1))
            .filter(|y| y.is_finite())
            .collect();
        if ys.is_empty() || ys.len() * 2 < runs.len() {
            continue; // fewer than half the runs have an answer yet
        }
        ys.sort_by(f64::total_cmp);
        let q = |f: f64| ys[((ys.len() - 1) as f64 * f).round() as usize];
        rows.push((x, q(0.25), q(0.5), q(0.75)));
    }
    let frame =
        Frame::new(0.0, 0.0, 2.0 * W, 1.5 * H, (lo, hi), extent(rows.iter().flat_map(|r| [r.1, r.3])), integer_x);
    let mut s = document(frame.w, frame.h);
    let subtitle = format!("median (line) and quartiles (band) over {} runs", runs.len());
    frame.draw(&mut s, title, &subtitle, x_label, y_label);
    let line = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        pts.map(|(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y))).collect::<Vec<_>>().join(" ")
    };
    let band =
        format!("{} {}", line(&mut rows.iter().map(|r| (r.0, r.3))), line(&mut rows.iter().rev().map(|r| (r.0, r.1))));
    let _ = write!(s, r##"<polygon points="{band}" fill="#1f77b4" fill-opacity="0.25" stroke="none"/>"##);
    let median = line(&mut rows.iter().map(|r| (r.0, r.2)));
    let _ = write!(s, r##"<polyline points="{median}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##);
    s.push_str("</svg>\n");
    s
}

/// One panel of lines: named series of `(x, y)` points, each drawn as a line with its name in the
/// legend.
#[derive(Debug)]
pub struct Lines {
    /// The panel's title.
    pub title: String,
    /// The line under the title.
    pub subtitle: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// `(name, points)` per series; series of one name share a colour.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Writes line panels side by side, three to a row, as one SVG document, each with a legend of its
/// series' names (one entry per name).
pub fn lines_svg(panels: &[Lines]) -> String {
    let cols = panels.len().clamp(1, 3);
    let mut s = document(W * cols as f64, H * panels.len().div_ceil(3).max(1) as f64);
    for (i, p) in panels.iter().enumerate() {
        let points = || p.series.iter().flat_map(|(_, pts)| pts.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
        let integer_x = points().all(|(x, _)| x.fract() == 0.0);
        let frame = Frame::new(
            (i % 3) as f64 * W,
            (i / 3) as f64 * H,
            W,
            H,
            extent(points().map(|q| q.0)),
            extent(points().map(|q| q.1)),
            integer_x,
        );
        frame.draw(&mut s, &p.title, &p.subtitle, &p.x_label, &p.y_label);
        let mut names: Vec<&str> = Vec::new();
        for (name, pts) in &p.series {
            let k = names.iter().position(|n| n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            let colour = MARKER_COLOURS[k % MARKER_COLOURS.len()];
            let line: Vec<String> = pts
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|&(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y)))
                .collect();
            if let [one] = line.as_slice() {
                let (x, y) = one.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(s, r##"<circle cx="{x}" cy="{y}" r="4" fill="{colour}"/>"##);
            } else {
                let _ = write!(
                    s,
                    r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-opacity="0.8"/>"##,
                    line.join(" ")
                );
            }
        }
        // The legend goes in the right corner (top or bottom) that fewer points fall in.
        let (xr, yr) = (frame.x_range(), frame.y_range());
        let right = |q: &&(f64, f64)| q.0 > xr.0 + 0.6 * (xr.1 - xr.0);
        let upper = points().filter(right).filter(|q| q.1 > (yr.0 + yr.1) / 2.0).count();
        let lower = points().filter(right).count() - upper;
        let y0 = if upper <= lower {
            frame.oy + TOP + 14.0
        } else {
            frame.oy + H - BOTTOM - 8.0 - 14.0 * (names.len() - 1) as f64
        };
        for (k, name) in names.iter().enumerate() {
            let colour = MARKER_COLOURS[k % MARKER_COLOURS.len()];
            let (x, y) = (frame.ox + W - RIGHT - 8.0, y0 + 14.0 * k as f64);
            let _ = write!(
                s,
                r##"<text x="{x:.1}" y="{y:.1}" text-anchor="end" fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"##,
                esc(name)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// One heat-map panel: a value per cell of a grid (`None`: no data), coloured from light (the
/// panel's lowest value) to dark (its highest), each cell labelled with its value and a note (one
/// line per `\n`).
#[derive(Debug)]
pub struct Grid {
    /// The panel's title.
    pub title: String,
    /// The line under the title.
    pub subtitle: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// The column labels, left to right.
    pub columns: Vec<String>,
    /// The row labels, bottom to top.
    pub rows: Vec<String>,
    /// `cells[row][column]`: the value and the note printed under it.
    pub cells: Vec<Vec<Option<(f64, String)>>>,
    /// Digits of the printed values.
    pub decimals: usize,
}

/// Writes heat-map panels side by side, three to a row, as one SVG document.
pub fn grid_svg(panels: &[Grid]) -> String {
    const PW: f64 = 460.0;
    // Taller panels when a cell's note runs to more than three lines.
    let lines = panels.iter().flat_map(|p| p.cells.iter().flatten().flatten()).map(|c| c.1.lines().count()).max();
    let rows = panels.first().map_or(1, |p| p.rows.len().max(1)) as f64;
    let ph: f64 = 400.0 + rows * 13.0 * lines.unwrap_or(1).saturating_sub(3) as f64;
    let cols = panels.len().clamp(1, 3);
    let mut s = document(PW * cols as f64, ph * panels.len().div_ceil(3).max(1) as f64);
    for (i, p) in panels.iter().enumerate() {
        let (ox, oy) = ((i % 3) as f64 * PW, (i / 3) as f64 * ph);
        let (x0, y0, x1, y1) = (ox + LEFT, oy + TOP, ox + PW - RIGHT, oy + ph - BOTTOM);
        let (nc, nr) = (p.columns.len().max(1) as f64, p.rows.len().max(1) as f64);
        let (cw, ch) = ((x1 - x0) / nc, (y1 - y0) / nr);
        let values = p.cells.iter().flatten().flatten().map(|c| c.0);
        let (lo, hi) = extent(values);
        let cx = (x0 + x1) / 2.0;
        let _ = write!(
            s,
            r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            oy + 18.0,
            esc(&p.title)
        );
        let _ = write!(
            s,
            r##"<text x="{cx}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            oy + 34.0,
            esc(&p.subtitle)
        );
        for (r, row) in p.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (x, y) = (x0 + c as f64 * cw, y1 - (r + 1) as f64 * ch);
                let Some((v, note)) = cell else {
                    let _ = write!(
                        s,
                        r##"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="#f4f4f4" stroke="white"/>"##
                    );
                    continue;
                };
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                // Light to dark blue; white text on the darker half.
                let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
                let fill = format!("#{:02x}{:02x}{:02x}", mix(222.0, 8.0), mix(235.0, 69.0), mix(247.0, 148.0));
                let ink = if t > 0.5 { "white" } else { "#222" };
                let _ = write!(
                    s,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}" stroke="white"/>"##
                );
                let lines: Vec<&str> = note.lines().collect();
                let (tx, ty) = (x + cw / 2.0, y + ch / 2.0 - 6.5 * lines.len().saturating_sub(1) as f64);
                let d = p.decimals;
                let _ = write!(
                    s,
                    r#"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" font-size="13" fill="{ink}">{v:.d$}</text>"#,
                    ty - 2.0
                );
                for (k, line) in lines.iter().enumerate() {
                    let _ = write!(
                        s,
                        r#"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="{ink}">{}</text>"#,
                        ty + 13.0 * (k + 1) as f64,
                        esc(line)
                    );
                }
            }
        }
        let _ = write!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
            x1 - x0,
            y1 - y0
        );
        for (c, label) in p.columns.iter().enumerate() {
            let x = x0 + (c as f64 + 0.5) * cw;
            let _ = write!(
                s,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                y1 + 16.0,
                esc(label)
            );
        }
        for (r, label) in p.rows.iter().enumerate() {
            let y = y1 - (r as f64 + 0.5) * ch;
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                esc(label)
            );
        }
        let _ = write!(s, r#"<text x="{cx}" y="{}" text-anchor="middle">{}</text>"#, oy + ph - 8.0, esc(&p.x_label));
        let (lx, ly) = (ox + 14.0, (y0 + y1) / 2.0);
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ly}" text-anchor="middle" transform="rotate(-90 {lx} {ly})">{}</text>"#,
            esc(&p.y_label)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Distinct colours for series.
const MARKER_COLOURS: [&str; 8] =
    ["#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(1.0, 2.03, true), vec![1.0, 2.0, 3.0]);
        assert_eq!(nice_ticks(0.0, 12_000.0, false), vec![0.0, 2000.0, 4000.0, 6000.0, 8000.0, 10_000.0, 12_000.0]);
        let t = nice_ticks(91.3, 94.4, false);
        assert!(t[0] <= 91.3 && *t.last().unwrap_or(&0.0) >= 94.4, "{t:?}");
        assert!(t.windows(2).all(|w| ((w[1] - w[0]) - 0.5).abs() < 1e-9), "{t:?}");
        assert_eq!(tick_label(0.5, 0.5), "0.5");
        assert_eq!(tick_label(2000.0, 2000.0), "2000");
        assert_eq!(axis_scale(&[0.0, 2e5, 1.2e6]), 6);
        assert_eq!(scaled_label("params", 6), "params (x 10^6)");
    }

    #[test]
    fn curves_run_to_the_end_and_scatter_counts_non_finite_points() {
        let runs = vec![vec![(1.0, 90.0), (3.0, 92.0)], vec![(1.0, 91.0)]];
        let s = bands_svg("t", "networks scored", "acc (%)", &runs, 10.0, true);
        // The last x tick is the budget, 10, not the last improvement, 3.
        assert!(s.contains(">10</text>"), "{s}");
        assert!(!s.contains(">1.5</text>"));
        let p = Panel {
            title: "t".into(),
            subtitle: "n = 3".into(),
            x_label: "measured (ms)".into(),
            y_label: "predicted (ms)".into(),
            points: vec![(1.0, 1.1), (2.0, f64::NAN), (3.0, 2.9)],
            diagonal: true,
        };
        let s = svg(&[p]);
        assert!(s.contains("1 non-finite points not drawn") && s.contains("y = x"), "{s}");
    }
}
