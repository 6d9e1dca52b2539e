//! Standard output into a pipe its reader closed early (`lockbox audit export | head`).
//!
//! Rust ignores SIGPIPE, so such a write fails with `BrokenPipe` instead of ending the
//! process quietly as it ends `cat`. A reader that stopped reading is not an error worth
//! printing: a command that streams to standard output wraps it in [`Watched`], and when
//! its writing fails after the pipe broke, it ends quietly with exit code 0, as `git log`
//! and `rg` do.

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;

/// A writer that notes whether a write found its pipe closed.
pub(crate) struct Watched<W> {
    inner: W,
    broken: Rc<Cell<bool>>,
}

impl<W: Write> Watched<W> {
    /// `inner`, watched; the flag turns true once a write or flush finds the pipe broken.
    pub(crate) fn new(inner: W) -> (Self, Rc<Cell<bool>>) {
        let broken = Rc::new(Cell::new(false));
        (
            Watched {
                inner,
                broken: broken.clone(),
            },
            broken,
        )
    }

    fn note<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.broken.set(true);
        }
        r
    }
}

impl<W: Write> Write for Watched<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}
