//! Reading and writing overlapped with the cryptography, for whole streams
//! ([`crate::Encryptor::encrypt_from`], [`crate::Decryptor::decrypt_to`]).
//!
//! The calling thread does the I/O: it reads a batch of frames, hands it to a worker thread,
//! reads the next, and writes each batch the worker hands back, in order. The worker seals
//! or opens the frames of one batch at a time, on the batch's threads ([`crate::parallel`]).
//! So the kernel's copies in and out of the page cache run on one core while AES-GCM runs on
//! the others, instead of after each other. Signing and verification stay on the calling
//! thread, where the bytes go by in order.
//!
//! The input and the output never cross threads (they need not be `Send`); only the
//! batches' buffers do. At most [`DEPTH`] batches are with the worker, plus the one being
//! written: memory stays a few batches whatever the stream's length.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Batches handed to the worker and not yet written back.
pub(crate) const DEPTH: usize = 2;

/// The calling thread's end of the worker: send batches, receive them back worked, in the
/// order they were sent.
pub(crate) struct Pipe<T, E> {
    to_worker: Option<SyncSender<T>>,
    from_worker: Receiver<Result<T, E>>,
    in_flight: usize,
}

impl<T, E> Pipe<T, E> {
    /// Whether another batch may be sent without waiting.
    pub(crate) fn has_room(&self) -> bool {
        self.in_flight < DEPTH
    }

    /// Hands `batch` to the worker. `false` if the worker is gone (it panicked: the scope
    /// carries the panic to the caller).
    pub(crate) fn send(&mut self, batch: T) -> bool {
        match self.to_worker.as_ref().map(|tx| tx.send(batch)) {
            Some(Ok(())) => {
                self.in_flight += 1;
                true
            }
            _ => false,
        }
    }

    /// The oldest batch sent and not yet received, once worked; `None` when none is out.
    pub(crate) fn recv(&mut self) -> Option<Result<T, E>> {
        if self.in_flight == 0 {
            return None;
        }
        let got = self.from_worker.recv().ok()?;
        self.in_flight -= 1;
        Some(got)
    }
}

/// Runs `io` on the calling thread with a [`Pipe`] to one worker thread that applies `work`
/// to each batch sent to it, in order. Returns `io`'s result once the worker has stopped.
pub(crate) fn overlapped<T, E, O>(
    work: impl Fn(T) -> Result<T, E> + Send,
    io: impl FnOnce(&mut Pipe<T, E>) -> O,
) -> O
where
    T: Send,
    E: Send,
{
    let (to_worker, worker_in) = sync_channel::<T>(DEPTH);
    let (worker_out, from_worker) = sync_channel::<Result<T, E>>(DEPTH);
    std::thread::scope(|s| {
        s.spawn(move || {
            for batch in worker_in {
                if worker_out.send(work(batch)).is_err() {
                    // The calling thread stopped early (an error): nothing more to do.
                    break;
                }
            }
        });
        let mut pipe = Pipe {
            to_worker: Some(to_worker),
            from_worker,
            in_flight: 0,
        };
        let out = io(&mut pipe);
        // Closing both channels ends the worker's loop whatever it was doing.
        pipe.to_worker = None;
        drop(pipe);
        out
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_in_order_and_errors_stop_the_caller() {
        let got = overlapped(
            |n: u32| if n == 7 { Err(n) } else { Ok(n * 10) },
            |pipe| {
                let mut seen = Vec::new();
                let mut next = 0;
                loop {
                    while next < 10 && pipe.has_room() {
                        assert!(pipe.send(next));
                        next += 1;
                    }
                    match pipe.recv() {
                        None => return Ok(seen),
                        Some(Ok(n)) => seen.push(n),
                        Some(Err(e)) => return Err((e, seen)),
                    }
                }
            },
        );
        assert_eq!(got, Err((7, vec![0, 10, 20, 30, 40, 50, 60])));
        let all = overlapped(
            |n: u32| Ok::<u32, ()>(n + 1),
            |pipe| {
                let mut seen = Vec::new();
                for n in 0..5 {
                    assert!(pipe.send(n));
                    if !pipe.has_room() {
                        seen.push(pipe.recv().unwrap().unwrap());
                    }
                }
                while let Some(r) = pipe.recv() {
                    seen.push(r.unwrap());
                }
                seen
            },
        );
        assert_eq!(all, vec![1, 2, 3, 4, 5]);
    }
}
