//! The lecture's `alpha = t / sqrt(epoch) * alpha0`:
//!
//! ```text
//! alpha_0 = alpha0                         (k = 0: the formula divides by zero; we start at alpha0)
//! alpha_k = t / sqrt(k) * alpha0           (k >= 1)
//! ```
//!
//! The slide gives no value for epoch 0, where `t / sqrt(0)` is infinite. Like every other schedule on the
//! slide (inverse time starts at `alpha0`, exponential at `t^0 alpha0 = alpha0`) we start at `alpha0`; from
//! epoch 1 on the formula holds exactly, so epoch 1 uses `t alpha0`.

use super::Schedule;

/// `alpha_k = t / sqrt(k) lr0` for `k >= 1`, `lr0` at `k = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct InverseSqrt {
    /// `alpha0`.
    pub lr0: f64,
    /// The decay rate `t`.
    pub t: f64,
}

impl InverseSqrt {
    /// `alpha0 = lr0` with rate `t`.
    pub fn new(lr0: f64, t: f64) -> Self {
        InverseSqrt { lr0, t }
    }
}

impl Schedule for InverseSqrt {
    fn lr_at(&self, k: u64) -> f64 {
        if k == 0 {
            self.lr0
        } else {
            self.t / (k as f64).sqrt() * self.lr0
        }
    }
}
