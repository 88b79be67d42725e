//! Linear warm-up (Goyal et al. 2017; PyTorch's `LinearLR` with `end_factor = 1`):
//!
//! ```text
//! alpha_k = alpha0 (s + (1 - s) k / n)      (k <= n, s = start_factor)
//! alpha_k = alpha0                          (k >= n)
//! ```
//!
//! Follow it by a decay with [`Sequential`](super::Sequential).

use super::Schedule;

/// Linear ramp from `start_factor * lr0` to `lr0` in `steps` steps, then constant.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearWarmup {
    /// The rate reached after the warm-up.
    pub lr0: f64,
    /// The fraction of `lr0` at `k = 0` (PyTorch's `LinearLR` default is 1/3).
    pub start_factor: f64,
    /// Length of the warm-up.
    pub steps: u64,
}

impl LinearWarmup {
    /// Ramp from `start_factor * lr0` to `lr0` in `steps` steps.
    ///
    /// # Panics
    /// If `steps` is 0.
    #[track_caller]
    pub fn new(lr0: f64, start_factor: f64, steps: u64) -> Self {
        assert!(steps > 0, "LinearWarmup: steps must be > 0");
        LinearWarmup { lr0, start_factor, steps }
    }
}

impl Schedule for LinearWarmup {
    fn lr_at(&self, k: u64) -> f64 {
        if k >= self.steps {
            return self.lr0;
        }
        self.lr0 * (self.start_factor + (1.0 - self.start_factor) * k as f64 / self.steps as f64)
    }
}
