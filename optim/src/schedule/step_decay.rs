//! Step decay, the lecture's "`alpha <- alpha - t alpha` only every n steps" (PyTorch's `StepLR` with
//! `gamma = 1 - t`):
//!
//! ```text
//! alpha_k = alpha0 * (1 - t)^floor(k / n)
//! ```

use super::Schedule;

/// `alpha_k = lr0 (1 - t)^floor(k / every)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepDecay {
    /// `alpha0`.
    pub lr0: f64,
    /// The decay rate `t` (often 0.5): each drop multiplies the rate by `1 - t`.
    pub t: f64,
    /// Drop every `every` steps.
    pub every: u64,
}

impl StepDecay {
    /// `alpha0 = lr0`, multiplied by `1 - t` every `every` steps.
    ///
    /// # Panics
    /// If `every` is 0.
    #[track_caller]
    pub fn new(lr0: f64, t: f64, every: u64) -> Self {
        assert!(every > 0, "StepDecay: `every` must be > 0");
        StepDecay { lr0, t, every }
    }
}

impl Schedule for StepDecay {
    fn lr_at(&self, k: u64) -> f64 {
        self.lr0 * (1.0 - self.t).powf((k / self.every) as f64)
    }
}
