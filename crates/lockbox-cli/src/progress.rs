//! A one-line progress bar on stderr for long file runs: bytes done of the total, the rate,
//! and the file count. Hand-written rather than `indicatif`: one line redrawn with `\r` is
//! all the file commands need, and it is less code than the dependency tree it would bring.
//!
//! It draws only when enabled (stderr is a terminal and --quiet was not given), and only
//! once the run has lasted a second, so short runs print nothing.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// How long a run goes before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// The least time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// Width of the bar itself, in characters.
const BAR_WIDTH: u64 = 24;

/// Progress of one run, counted by the readers it hands out.
pub(crate) struct Progress {
    enabled: bool,
    total: Option<u64>,
    files: usize,
    file: Cell<usize>,
    done: Cell<u64>,
    start: Instant,
    last_draw: Cell<Option<Instant>>,
}

impl Progress {
    /// `total` is the bytes to read, if every input's length is known.
    pub(crate) fn new(enabled: bool, total: Option<u64>, files: usize) -> Progress {
        Progress {
            enabled,
            total,
            files,
            file: Cell::new(0),
            done: Cell::new(0),
            start: Instant::now(),
            last_draw: Cell::new(None),
        }
    }

    /// Counts the next file.
    pub(crate) fn start_file(&self) {
        self.file.set(self.file.get() + 1);
    }

    /// A reader that counts what it reads from `inner` here.
    pub(crate) fn reader<'a>(&'a self, inner: &'a mut dyn Read) -> ProgressReader<'a> {
        ProgressReader {
            inner,
            progress: self,
        }
    }

    /// Erases the bar, if drawn, so that the next line on stderr starts clean.
    pub(crate) fn clear(&self) {
        if self.last_draw.take().is_some() {
            let _ = write!(io::stderr(), "\r\x1b[2K");
        }
    }

    fn add(&self, n: usize) {
        self.done.set(self.done.get().saturating_add(n as u64));
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.start) < SHOW_AFTER {
            return;
        }
        if let Some(last) = self.last_draw.get()
            && now.duration_since(last) < REDRAW_EVERY
        {
            return;
        }
        self.last_draw.set(Some(now));
        let line = render(
            self.done.get(),
            self.total,
            now.duration_since(self.start),
            self.file.get(),
            self.files,
        );
        let _ = write!(io::stderr(), "\r\x1b[2K{line}");
    }
}

/// Counts bytes read into its [`Progress`].
pub(crate) struct ProgressReader<'a> {
    inner: &'a mut dyn Read,
    progress: &'a Progress,
}

impl Read for ProgressReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n);
        Ok(n)
    }
}

/// `[#########---------------]  37%  12.0 MiB / 32.0 MiB  8.0 MiB/s  file 3/20`
fn render(done: u64, total: Option<u64>, elapsed: Duration, file: usize, files: usize) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let mut line = match total {
        Some(t) if t > 0 => {
            let done = done.min(t);
            let filled = done.saturating_mul(BAR_WIDTH) / t;
            let bar: String = (0..BAR_WIDTH)
                .map(|i| if i < filled { '#' } else { '-' })
                .collect();
            format!(
                "[{bar}] {:>3}%  {} / {}",
                done.saturating_mul(100) / t,
                bytes(done as f64),
                bytes(t as f64)
            )
        }
        _ => bytes(done as f64),
    };
    line.push_str(&format!("  {}/s", bytes(rate)));
    if files > 1 {
        line.push_str(&format!("  file {file}/{files}"));
    }
    line
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_share_sizes_rate_and_file() {
        assert_eq!(
            render(
                12 * 1024 * 1024,
                Some(32 * 1024 * 1024),
                Duration::from_secs(2),
                3,
                20
            ),
            "[#########---------------]  37%  12.0 MiB / 32.0 MiB  6.0 MiB/s  file 3/20"
        );
        assert_eq!(
            render(1536, None, Duration::from_secs(1), 1, 1),
            "1.5 KiB  1.5 KiB/s"
        );
        assert_eq!(render(0, Some(0), Duration::ZERO, 1, 1), "0 B  0 B/s");
    }

    #[test]
    fn a_disabled_bar_counts_but_never_draws() {
        let p = Progress::new(false, Some(10), 1);
        let mut data: &[u8] = b"0123456789";
        let mut r = p.reader(&mut data);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(p.done.get(), 10);
        assert!(p.last_draw.get().is_none());
    }
}
