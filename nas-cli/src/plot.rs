//! Plots as SVG: scatter panels (score against accuracy) and search curves (median and quartiles).

use std::fmt::Write as _;

const W: f64 = 360.0;
const H: f64 = 280.0;
const PAD: f64 = 48.0;

/// One panel: points `(x, y)` with a title and axis labels.
#[derive(Debug)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<(f64, f64)>,
}

/// The axis range of finite values, with a small margin.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    (lo - 0.03 * span, hi + 0.03 * span)
}

/// A plot area at `(ox, oy)` of size `w x h` showing `x` and `y` ranges.
struct Frame {
    ox: f64,
    oy: f64,
    w: f64,
    h: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.ox + PAD + (x - self.x.0) / (self.x.1 - self.x.0) * (self.w - 1.5 * PAD)
    }

    fn py(&self, y: f64) -> f64 {
        self.oy + self.h - PAD - (y - self.y.0) / (self.y.1 - self.y.0) * (self.h - 1.8 * PAD)
    }

    /// The box, the title, the axis labels and five ticks on each axis.
    fn draw(&self, s: &mut String, title: &str, x_label: &str, y_label: &str) {
        let (ox, oy, w, h) = (self.ox, self.oy, self.w, self.h);
        let _ = write!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
            ox + PAD,
            oy + 0.8 * PAD,
            w - 1.5 * PAD,
            h - 1.8 * PAD
        );
        let (cx, cy) = (ox + w / 2.0, oy + h / 2.0);
        let _ =
            write!(s, r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="13">{}</text>"#, oy + 20.0, esc(title));
        let _ = write!(s, r#"<text x="{cx}" y="{}" text-anchor="middle">{}</text>"#, oy + h - 10.0, esc(x_label));
        let _ = write!(
            s,
            r#"<text x="{}" y="{cy}" text-anchor="middle" transform="rotate(-90 {} {cy})">{}</text>"#,
            ox + 12.0,
            ox + 12.0,
            esc(y_label)
        );
        for t in 0..=4 {
            let f = f64::from(t) / 4.0;
            let (xv, yv) = (self.x.0 + (self.x.1 - self.x.0) * f, self.y.0 + (self.y.1 - self.y.0) * f);
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                self.px(xv),
                oy + h - PAD + 14.0,
                tick(xv)
            );
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                ox + PAD - 4.0,
                self.py(yv) + 4.0,
                tick(yv)
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

/// Writes the panels side by side, three to a row, as one SVG document. Non-finite points are left out.
pub fn svg(panels: &[Panel]) -> String {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(3).max(1);
    let mut s = document(W * cols as f64, H * rows as f64);
    for (i, p) in panels.iter().enumerate() {
        let frame = Frame {
            ox: (i % 3) as f64 * W,
            oy: (i / 3) as f64 * H,
            w: W,
            h: H,
            x: range(p.points.iter().map(|q| q.0)),
            y: range(p.points.iter().map(|q| q.1)),
        };
        frame.draw(&mut s, &p.title, &p.x_label, &p.y_label);
        for &(x, y) in p.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
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

/// Step curves (one per run: `(x, y)` with `y` holding from `x` on) summarised on a grid of x as the
/// median line inside the band between the first and third quartiles.
pub fn bands_svg(title: &str, x_label: &str, y_label: &str, runs: &[Vec<(f64, f64)>]) -> String {
    const GRID: usize = 200;
    let (lo, hi) = range(runs.iter().flatten().map(|p| p.0));
    let mut rows = Vec::new();
    for k in 0..=GRID {
        let x = lo + (hi - lo) * k as f64 / GRID as f64;
        let mut ys: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.iter().take_while(|p| p.0 <= x).last().map(|p| p.1))
            .filter(|y| y.is_finite())
            .collect();
        if ys.len() * 2 < runs.len() {
            continue; // fewer than half the runs have an answer yet
        }
        ys.sort_by(f64::total_cmp);
        let q = |f: f64| ys[((ys.len() - 1) as f64 * f).round() as usize];
        rows.push((x, q(0.25), q(0.5), q(0.75)));
    }
    let x = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
        _ => range(rows.iter().map(|r| r.0)),
    };
    let frame = Frame { ox: 0.0, oy: 0.0, w: 2.0 * W, h: 1.5 * H, x, y: range(rows.iter().flat_map(|r| [r.1, r.3])) };
    let mut s = document(frame.w, frame.h);
    frame.draw(&mut s, title, x_label, y_label);
    let line = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        pts.map(|(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y))).collect::<Vec<_>>().join(" ")
    };
    let band =
        format!("{} {}", line(&mut rows.iter().map(|r| (r.0, r.3))), line(&mut rows.iter().rev().map(|r| (r.0, r.1))));
    let _ = write!(s, r##"<polygon points="{band}" fill="#1f77b4" fill-opacity="0.25" stroke="none"/>"##);
    let median = line(&mut rows.iter().map(|r| (r.0, r.2)));
    let _ = write!(s, r##"<polyline points="{median}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##);
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#1f77b4">median (line), quartiles (band) over {} runs</text>"##,
        PAD + 8.0,
        0.8 * PAD + 16.0,
        runs.len()
    );
    s.push_str("</svg>\n");
    s
}

fn tick(v: f64) -> String {
    if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-2) { format!("{v:.1e}") } else { format!("{v:.2}") }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
