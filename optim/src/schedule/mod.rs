//! Learning-rate schedules. A closed-form [`Schedule`] is a function `k -> alpha_k` of a step counter; the
//! user decides whether a step is an iteration or an epoch by when they call [`Scheduler::step`].
//! [`ReduceLrOnPlateau`] instead reacts to a metric. Both save and load their state (counter, plateau
//! bookkeeping) as a [`wengert_nn::StateDict`] to merge into a checkpoint, e.g. under `schedule.`.
//!
//! | file | schedule | formula | reference |
//! |---|---|---|---|
//! | [`constant`] | [`Constant`] | `alpha0` | |
//! | [`inverse_time`] | [`InverseTime`] | `alpha0 / (1 + decay k)` | lecture "Learning Rate Decay" |
//! | [`step_decay`] | [`StepDecay`] | `alpha0 (1 - t)^floor(k / n)` | lecture; PyTorch `StepLR` |
//! | [`exponential`] | [`Exponential`] | `t^k alpha0` | lecture; PyTorch `ExponentialLR` |
//! | [`inverse_sqrt`] | [`InverseSqrt`] | `t / sqrt(k) alpha0` (`alpha0` at `k = 0`) | lecture |
//! | [`linear`] | [`LinearDecay`] | `(1 - k/tau) alpha0 + (k/tau) alpha_tau`, then `alpha_tau` | lecture, Goodfellow 8.3.1 |
//! | [`cosine`] | [`CosineAnnealing`] | `eta_min + (alpha0 - eta_min)(1 + cos(pi k / T))/2` | PyTorch `CosineAnnealingLR` |
//! | [`warmup`] | [`LinearWarmup`] | `alpha0 (s + (1 - s) k / n)`, then `alpha0` | PyTorch `LinearLR` |
//! | [`sequential`] | [`Sequential`] | schedule `i` on `[m_i, m_{i+1})` | PyTorch `SequentialLR` |
//! | [`plateau`] | [`ReduceLrOnPlateau`] | `alpha <- max(factor alpha, min_lr)` on a plateau | PyTorch `ReduceLROnPlateau` |
//!
//! ```
//! use wengert_optim::schedule::{CosineAnnealing, LinearWarmup, Schedule, Sequential};
//!
//! // 5 steps of warm-up to 0.1, then cosine annealing to 0 over 100 steps
//! let s = Sequential::new(
//!     vec![Box::new(LinearWarmup::new(0.1, 0.0, 5)), Box::new(CosineAnnealing::new(0.1, 0.0, 100))],
//!     vec![5],
//! );
//! assert_eq!(s.lr_at(0), 0.0);
//! assert_eq!(s.lr_at(5), 0.1);
//! assert!(s.lr_at(105) == 0.0);
//! ```

pub mod constant;
pub mod cosine;
pub mod exponential;
pub mod inverse_sqrt;
pub mod inverse_time;
pub mod linear;
pub mod plateau;
mod scheduler;
pub mod sequential;
pub mod step_decay;
pub mod warmup;

pub use constant::Constant;
pub use cosine::CosineAnnealing;
pub use exponential::Exponential;
pub use inverse_sqrt::InverseSqrt;
pub use inverse_time::InverseTime;
pub use linear::LinearDecay;
pub use plateau::{Mode, PlateauConfig, ReduceLrOnPlateau, ThresholdMode};
pub use scheduler::Scheduler;
pub use sequential::Sequential;
pub use step_decay::StepDecay;
pub use warmup::LinearWarmup;

/// A learning rate as a function of a step counter: `k -> alpha_k`.
pub trait Schedule: std::fmt::Debug + Send + Sync {
    /// The rate at step `k` (`k = 0` before the first step).
    fn lr_at(&self, k: u64) -> f64;
}

impl Schedule for Box<dyn Schedule> {
    fn lr_at(&self, k: u64) -> f64 {
        (**self).lr_at(k)
    }
}
