//! Inverse-time decay from the lecture ("Learning Rate Decay"):
//!
//! ```text
//! alpha_k = alpha0 / (1 + decay_rate * k)
//! ```
//!
//! With `alpha0 = 0.1`, `decay_rate = 1`: 0.1, 0.05, 0.033, 0.025, ... for epochs 0, 1, 2, 3.

use super::Schedule;

/// `alpha_k = lr0 / (1 + decay_rate k)`.
#[derive(Clone, Debug, PartialEq)]
pub struct InverseTime {
    /// `alpha0`, the rate at `k = 0`.
    pub lr0: f64,
    /// The decay rate.
    pub decay_rate: f64,
}

impl InverseTime {
    /// `alpha0 = lr0` decaying with `decay_rate`.
    pub fn new(lr0: f64, decay_rate: f64) -> Self {
        InverseTime { lr0, decay_rate }
    }
}

impl Schedule for InverseTime {
    fn lr_at(&self, k: u64) -> f64 {
        self.lr0 / (1.0 + self.decay_rate * k as f64)
    }
}
