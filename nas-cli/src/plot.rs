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

/// Writes the panels side by side, three to a row, as one SVG document. Non-finite points are left out.
pub fn svg(panels: &[Panel]) -> String {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(3).max(1);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="11">"#,
        W * cols as f64,
        H * rows as f64
    );
    s.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, p) in panels.iter().enumerate() {
        let (ox, oy) = ((i % 3) as f64 * W, (i / 3) as f64 * H);
        let (x0, x1) = range(p.points.iter().map(|q| q.0));
        let (y0, y1) = range(p.points.iter().map(|q| q.1));
        let px = |x: f64| ox + PAD + (x - x0) / (x1 - x0) * (W - 1.5 * PAD);
        let py = |y: f64| oy + H - PAD - (y - y0) / (y1 - y0) * (H - 1.8 * PAD);
        let (left, top, width, height) = (ox + PAD, oy + 0.8 * PAD, W - 1.5 * PAD, H - 1.8 * PAD);
        let _ =
            write!(s, r##"<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#444"/>"##);
        let (cx, cy) = (ox + W / 2.0, oy + H / 2.0);
        let _ = write!(
            s,
            r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            oy + 20.0,
            esc(&p.title)
        );
        let _ = write!(s, r#"<text x="{cx}" y="{}" text-anchor="middle">{}</text>"#, oy + H - 10.0, esc(&p.x_label));
        let _ = write!(
            s,
            r#"<text x="{}" y="{cy}" text-anchor="middle" transform="rotate(-90 {} {cy})">{}</text>"#,
            ox + 12.0,
            ox + 12.0,
            esc(&p.y_label)
        );
        for t in 0..=4 {
            let f = f64::from(t) / 4.0;
            let (xv, yv) = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f);
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                px(xv),
                oy + H - PAD + 14.0,
                tick(xv)
            );
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                ox + PAD - 4.0,
                py(yv) + 4.0,
                tick(yv)
            );
        }
        for &(x, y) in p.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="#1f77b4" fill-opacity="0.5"/>"##,
                px(x),
                py(y)
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
    let (y0, y1) = range(rows.iter().flat_map(|r| [r.1, r.3]));
    let (x0, x1) = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
        _ => range(rows.iter().map(|r| r.0)),
    };
    let (w, h) = (2.0 * W, 1.5 * H);
    let px = |x: f64| PAD + (x - x0) / (x1 - x0) * (w - 1.5 * PAD);
    let py = |y: f64| h - PAD - (y - y0) / (y1 - y0) * (h - 1.8 * PAD);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    s.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        s,
        r##"<rect x="{PAD}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        0.8 * PAD,
        w - 1.5 * PAD,
        h - 1.8 * PAD
    );
    let _ = write!(s, r#"<text x="{}" y="20" text-anchor="middle" font-size="13">{}</text>"#, w / 2.0, esc(title));
    let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, w / 2.0, h - 10.0, esc(x_label));
    let _ = write!(
        s,
        r#"<text x="12" y="{}" text-anchor="middle" transform="rotate(-90 12 {})">{}</text>"#,
        h / 2.0,
        h / 2.0,
        esc(y_label)
    );
    for t in 0..=4 {
        let f = f64::from(t) / 4.0;
        let (xv, yv) = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            px(xv),
            h - PAD + 14.0,
            tick(xv)
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            PAD - 4.0,
            py(yv) + 4.0,
            tick(yv)
        );
    }
    let line = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        pts.map(|(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect::<Vec<_>>().join(" ")
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
