//! A one-line progress bar on stderr for long file runs: bytes done of the total, the rate,
//! the time left, the file count and the name of the file being read. Hand-written rather than `indicatif`: one line redrawn with `\r` is
//! all the file commands need, and it is less code than the dependency tree it would bring.
//!
//! It draws only when enabled (stderr is a terminal and --quiet was not given), and only
//! once the run has lasted a second, so short runs print nothing.

use std::cell::{Cell, RefCell};
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
    name: RefCell<String>,
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
            name: RefCell::new(String::new()),
            done: Cell::new(0),
            start: Instant::now(),
            last_draw: Cell::new(None),
        }
    }

    /// Counts the next file, `name` (its path, or "(standard input)"): the bar shows its
    /// last component.
    pub(crate) fn start_file(&self, name: &str) {
        self.file.set(self.file.get() + 1);
        *self.name.borrow_mut() = display_name(name);
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
            &self.name.borrow(),
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

/// The file name the bar shows: the path's last component, at most 32 characters (the
/// start elided), control characters as `?` (a name cannot redraw the terminal).
fn display_name(path: &str) -> String {
    const MAX: usize = 32;
    let last = path.rsplit('/').find(|c| !c.is_empty()).unwrap_or(path);
    let clean: Vec<char> = last
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.len() <= MAX {
        clean.into_iter().collect()
    } else {
        let tail: String = clean[clean.len() - (MAX - 3)..].iter().collect();
        format!("...{tail}")
    }
}

/// `h:mm:ss` or `m:ss`.
fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `[#########---------------]  37%  12.0 MiB / 32.0 MiB  8.0 MiB/s  ETA 0:03  file 3/20  big.bin`
fn render(
    done: u64,
    total: Option<u64>,
    elapsed: Duration,
    file: usize,
    files: usize,
    name: &str,
) -> String {
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
    // The time left, at the rate so far, when the total is known.
    if let Some(t) = total
        && t > 0
        && rate > 0.0
    {
        let left = t.saturating_sub(done) as f64 / rate;
        line.push_str(&format!("  ETA {}", clock(left.ceil() as u64)));
    }
    if files > 1 {
        line.push_str(&format!("  file {file}/{files}"));
    }
    if !name.is_empty() {
        line.push_str(&format!("  {name}"));
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
    fn the_line_shows_share_sizes_rate_time_left_file_and_name() {
        assert_eq!(
            render(
                12 * 1024 * 1024,
                Some(32 * 1024 * 1024),
                Duration::from_secs(2),
                3,
                20,
                "big.bin"
            ),
            "[#########---------------]  37%  12.0 MiB / 32.0 MiB  6.0 MiB/s  ETA 0:04  \
             file 3/20  big.bin"
        );
        assert_eq!(
            render(1536, None, Duration::from_secs(1), 1, 1, "(standard input)"),
            "1.5 KiB  1.5 KiB/s  (standard input)"
        );
        assert_eq!(render(0, Some(0), Duration::ZERO, 1, 1, ""), "0 B  0 B/s");
        // An hour and more left.
        assert_eq!(
            render(
                1024,
                Some(4 * 1024 * 1024),
                Duration::from_secs(1),
                1,
                1,
                "a"
            ),
            "[------------------------]   0%  1.0 KiB / 4.0 MiB  1.0 KiB/s  ETA 1:08:15  a"
        );
    }

    #[test]
    fn the_name_is_the_last_component_shortened_and_cleaned() {
        assert_eq!(display_name("/data/in/report.pdf"), "report.pdf");
        assert_eq!(display_name("dir/"), "dir");
        assert_eq!(display_name("(standard input)"), "(standard input)");
        assert_eq!(display_name("a\x1b[2Jb"), "a?[2Jb");
        assert_eq!(
            display_name("0123456789abcdefghijklmnopqrstuvwxyz.bin"),
            "...bcdefghijklmnopqrstuvwxyz.bin"
        );
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
