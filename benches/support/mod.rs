//! What the training-step benches share.

use std::time::{Duration, Instant};

/// Steps per run: the peers' scripts time steps 21-220 (JAX, PyTorch's MLP) or 21-170 (PyTorch's CNN) of a
/// freshly initialised model.
pub const RUN: u64 = 200;

/// The time of `iters` training steps taken the way the peers take them: runs of [`RUN`] steps, each from
/// `start` (a model a few steps into training, and its optimiser), the state restored between runs untimed.
///
/// Steps timed one after another for as long as criterion likes (thousands on one fixed batch) measure a
/// memorised batch instead: the loss is exactly 0, the largest gradient ~1e-6, and subnormal numbers slow the
/// arithmetic. On the MLP, Adam's step went from 0.68 ms to 0.70-1.04 ms between runs of the same build,
/// depending on how many steps criterion had run before it.
pub fn time_steps<S: Clone>(start: &S, iters: u64, mut step: impl FnMut(&mut S)) -> Duration {
    let mut state = start.clone();
    let mut total = Duration::ZERO;
    for i in 0..iters {
        if i > 0 && i % RUN == 0 {
            state = start.clone();
        }
        let t = Instant::now();
        step(&mut state);
        total += t.elapsed();
    }
    total
}
