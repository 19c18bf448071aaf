//! A progress bar on standard error, drawn only when standard error is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    started: Instant,
    last_draw: Option<Instant>,
    visible: bool,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        Progress {
            label: label.into(),
            total,
            done: 0,
            started: Instant::now(),
            last_draw: None,
            visible: std::io::stderr().is_terminal() && total > 1,
        }
    }

    pub fn inc(&mut self) {
        self.done += 1;
        let now = Instant::now();
        if self.visible
            && (self.done == self.total || self.last_draw.is_none_or(|t| now - t > Duration::from_millis(200)))
        {
            self.last_draw = Some(now);
            let frac = self.done as f64 / self.total.max(1) as f64;
            let width = 30;
            let filled = (frac * width as f64).round() as usize;
            let elapsed = self.started.elapsed().as_secs_f64();
            let eta = if self.done > 0 { elapsed / self.done as f64 * (self.total - self.done) as f64 } else { 0.0 };
            eprint!(
                "\r{} [{}{}] {}/{} {:.0}s elapsed, {:.0}s left ",
                self.label,
                "=".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                self.total,
                elapsed,
                eta
            );
            if self.done == self.total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    }
}
