//! A progress bar on standard error, drawn only when standard error is a terminal. Lines printed
//! while it is drawn go through [`Progress::println`], which clears the bar first.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A counter of finished work items with a bar on a terminal.
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
    /// A bar of `total` items (a plain counter when `total` is 0: the total is not known ahead);
    /// silent when standard error is not a terminal.
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        let visible = std::io::stderr().is_terminal();
        Progress { label: label.into(), total, done: 0, started: Instant::now(), last_draw: None, visible }
    }

    /// One item finished.
    pub fn inc(&mut self) {
        self.done += 1;
        let now = Instant::now();
        if self.visible
            && (self.done == self.total || self.last_draw.is_none_or(|t| now - t > Duration::from_millis(200)))
        {
            self.last_draw = Some(now);
            self.draw();
            if self.done == self.total {
                eprintln!();
            }
        }
    }

    /// Writes a line to standard output without breaking the bar: the bar is cleared, the line
    /// printed, and the bar drawn again.
    pub fn println(&mut self, line: &str) -> std::io::Result<()> {
        let drawn = self.visible && self.last_draw.is_some() && (self.total == 0 || self.done < self.total);
        if drawn {
            eprint!("\r\x1b[2K");
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        if drawn {
            self.draw();
        }
        Ok(())
    }

    fn draw(&self) {
        if self.total == 0 {
            eprint!("\r{} {} done, {:.0}s elapsed ", self.label, self.done, self.started.elapsed().as_secs_f64());
            let _ = std::io::stderr().flush();
            return;
        }
        let frac = self.done as f64 / self.total.max(1) as f64;
        let width = 30;
        let filled = ((frac * width as f64).round() as usize).min(width);
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = if self.done > 0 { elapsed / self.done as f64 * (self.total - self.done) as f64 } else { 0.0 };
        eprint!(
            "\r{} [{}{}] {}/{} {:.0}s elapsed, {:.0}s left ",
            self.label,
            "=".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total,
            elapsed,
            left
        );
        let _ = std::io::stderr().flush();
    }
}
