//! Cosine annealing (Loshchilov & Hutter 2017, PyTorch's `CosineAnnealingLR` closed form) over `t_max` steps:
//!
//! ```text
//! alpha_k = eta_min + (alpha0 - eta_min) (1 + cos(pi k / t_max)) / 2     (k <= t_max)
//! alpha_k = eta_min                                                      (k >= t_max)
//! ```
//!
//! Unlike PyTorch's closed form, which rises again after `t_max`, the rate stays at `eta_min`.

use super::Schedule;

/// Cosine annealing from `lr0` to `eta_min` in `t_max` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealing {
    /// `alpha0`.
    pub lr0: f64,
    /// The final rate (0 in PyTorch's default).
    pub eta_min: f64,
    /// Length of the annealing.
    pub t_max: u64,
}

impl CosineAnnealing {
    /// From `lr0` to `eta_min` in `t_max` steps.
    ///
    /// # Panics
    /// If `t_max` is 0.
    #[track_caller]
    pub fn new(lr0: f64, eta_min: f64, t_max: u64) -> Self {
        assert!(t_max > 0, "CosineAnnealing: t_max must be > 0");
        CosineAnnealing { lr0, eta_min, t_max }
    }
}

impl Schedule for CosineAnnealing {
    fn lr_at(&self, k: u64) -> f64 {
        if k >= self.t_max {
            return self.eta_min;
        }
        let c = (std::f64::consts::PI * k as f64 / self.t_max as f64).cos();
        self.eta_min + (self.lr0 - self.eta_min) * (1.0 + c) / 2.0
    }
}
