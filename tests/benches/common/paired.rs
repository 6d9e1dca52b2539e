//! Paired rounds, shared by the benches that compare a way of doing some work with a
//! baseline (the raw token): the two alternate in blocks, order swapped every round, so drift
//! in the machine's speed hits both sides of every ratio alike.

// Included by several bench binaries (`#[path]`); each reads the fields it prints.
#![allow(dead_code)]

use std::time::Instant;

/// How many rounds a comparison runs.
pub(crate) const ROUNDS: usize = 15;

/// The outcome of [`paired`].
pub(crate) struct Paired {
    /// Baseline time / candidate time per round, sorted (1.0: as fast as the baseline).
    pub(crate) ratios: Vec<f64>,
    /// The baseline's median rate, calls per second.
    pub(crate) base_rate: f64,
    /// The candidate's median rate, calls per second.
    pub(crate) candidate_rate: f64,
}

impl Paired {
    /// "median [min-max]" of the ratios.
    pub(crate) fn ratio(&self) -> String {
        let n = self.ratios.len();
        format!(
            "{:.2} [{:.2}-{:.2}]",
            self.ratios[n / 2],
            self.ratios[0],
            self.ratios[n - 1]
        )
    }
}

/// Runs [`ROUNDS`] rounds of `block` calls of `base` and of `candidate`.
pub(crate) fn paired(block: usize, base: &mut dyn FnMut(), candidate: &mut dyn FnMut()) -> Paired {
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut base_rates = Vec::with_capacity(ROUNDS);
    let mut candidate_rates = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..block {
                f();
            }
            start.elapsed().as_secs_f64()
        };
        let (b, c) = if round % 2 == 0 {
            let b = time(base);
            (b, time(candidate))
        } else {
            let c = time(candidate);
            (time(base), c)
        };
        ratios.push(b / c);
        base_rates.push(block as f64 / b);
        candidate_rates.push(block as f64 / c);
    }
    for v in [&mut ratios, &mut base_rates, &mut candidate_rates] {
        v.sort_by(f64::total_cmp);
    }
    Paired {
        ratios,
        base_rate: base_rates[ROUNDS / 2],
        candidate_rate: candidate_rates[ROUNDS / 2],
    }
}
