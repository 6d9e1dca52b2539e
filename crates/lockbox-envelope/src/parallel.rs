//! Frames are independent under AES-GCM, so a batch of them is encrypted or decrypted on
//! several threads at once; the bytes still go out (and into the signature) in order.

use std::num::NonZeroUsize;

/// Plaintext bytes a batch gives each thread when frames are small, so each thread gets
/// enough work to be worth starting: 4 MiB measured 5-8% faster than 1 MiB (benches/envelope.rs).
pub(crate) const BATCH_TARGET_BYTES: usize = 4 << 20;
/// More threads than this do not pay on any machine we know of: memory bandwidth wins.
const MAX_THREADS: usize = 8;

/// How many frames go into one batch and how many threads work on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Batching {
    pub(crate) frames: usize,
    pub(crate) threads: usize,
}

/// `threads`: what the caller asked for (0: one per available core, at most 8).
pub(crate) fn batching(threads: usize, frame_length: usize) -> Batching {
    let threads = match threads {
        0 => std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_THREADS),
        n => n.min(MAX_THREADS),
    };
    if threads <= 1 {
        return Batching {
            frames: 1,
            threads: 1,
        };
    }
    let per_thread = BATCH_TARGET_BYTES.div_ceil(frame_length.max(1)).max(1);
    Batching {
        frames: (per_thread * threads).min(1024),
        threads,
    }
}

/// Frames per batch when a whole stream goes through the pipeline ([`crate::pipeline`]):
/// as [`batching`] says, but never fewer than about `BATCH_TARGET_BYTES` (a batch crosses
/// threads twice; with one thread, `batching` gives one frame).
pub(crate) fn pipeline_frames(batching: Batching, frame_length: usize) -> usize {
    batching
        .frames
        .max(BATCH_TARGET_BYTES.div_ceil(frame_length.max(1)))
        .min(1024)
}

/// Applies `f` to every item on up to `threads` threads (contiguous chunks, the first on
/// the calling thread); results come back in the items' order.
pub(crate) fn map<T: Send, R: Send>(
    items: &mut [T],
    threads: usize,
    f: impl Fn(&mut T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.iter_mut().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let mut chunks = items.chunks_mut(chunk);
        let first = chunks.next();
        let handles: Vec<_> = chunks
            .map(|c| s.spawn(move || c.iter_mut().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first
            .map(|c| c.iter_mut().map(f).collect())
            .unwrap_or_default();
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // A panic in `f` is a bug; carry it to the caller's thread as it is.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_order() {
        assert_eq!(
            batching(1, 4096),
            Batching {
                frames: 1,
                threads: 1
            }
        );
        assert_eq!(
            batching(2, 4096),
            Batching {
                frames: 1024,
                threads: 2
            }
        );
        assert_eq!(
            batching(2, 1 << 20),
            Batching {
                frames: 8,
                threads: 2
            }
        );
        assert_eq!(
            batching(2, 64 << 20),
            Batching {
                frames: 2,
                threads: 2
            }
        );
        assert_eq!(batching(64, 1).threads, MAX_THREADS);
        let mut v: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 7] {
            let out = map(&mut v, threads, |x| *x * 2);
            assert_eq!(out, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
        }
    }
}
