//! Linear decay to a floor (lecture "SGD Learning Rate", Goodfellow et al. Sec. 8.3.1):
//!
//! ```text
//! alpha_k = (1 - k / tau) alpha0 + (k / tau) alpha_tau      (k <= tau)
//! alpha_k = alpha_tau                                       (k >= tau)
//! ```

use super::Schedule;

/// Linear interpolation from `lr0` to `lr_tau` over `tau` steps, then constant.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearDecay {
    /// `alpha0`.
    pub lr0: f64,
    /// `alpha_tau`, the final rate.
    pub lr_tau: f64,
    /// `tau`, the number of steps of the decay.
    pub tau: u64,
}

impl LinearDecay {
    /// From `lr0` to `lr_tau` in `tau` steps.
    ///
    /// # Panics
    /// If `tau` is 0.
    #[track_caller]
    pub fn new(lr0: f64, lr_tau: f64, tau: u64) -> Self {
        assert!(tau > 0, "LinearDecay: tau must be > 0");
        LinearDecay { lr0, lr_tau, tau }
    }
}

impl Schedule for LinearDecay {
    fn lr_at(&self, k: u64) -> f64 {
        if k >= self.tau {
            return self.lr_tau;
        }
        let a = k as f64 / self.tau as f64;
        (1.0 - a) * self.lr0 + a * self.lr_tau
    }
}
