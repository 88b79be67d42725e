//! Exponential decay from the lecture (PyTorch's `ExponentialLR` with `gamma = t`):
//!
//! ```text
//! alpha_k = t^k * alpha0          (t < 1)
//! ```

use super::Schedule;

/// `alpha_k = t^k lr0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exponential {
    /// `alpha0`.
    pub lr0: f64,
    /// The decay rate `t < 1`.
    pub t: f64,
}

impl Exponential {
    /// `alpha0 = lr0` decaying by `t` per step.
    pub fn new(lr0: f64, t: f64) -> Self {
        Exponential { lr0, t }
    }
}

impl Schedule for Exponential {
    fn lr_at(&self, k: u64) -> f64 {
        self.t.powf(k as f64) * self.lr0
    }
}
