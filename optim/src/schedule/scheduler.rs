//! [`Scheduler`]: a [`Schedule`] plus the step counter that drives it, applied to an optimiser.

use wengert_autodiff::Float;
use wengert_nn::StateDict;

use super::Schedule;
use crate::first_order::{OptimError, Optimizer};

/// Drives an optimiser's learning rate with a closed-form [`Schedule`]. The caller decides what a step is:
/// call [`Scheduler::step`] once per iteration or once per epoch.
///
/// ```
/// use wengert_optim::first_order::{Optimizer, Sgd, SgdConfig};
/// use wengert_optim::schedule::{InverseTime, Scheduler};
///
/// let mut opt = Sgd::<f64>::new(SgdConfig::default());
/// let mut sched = Scheduler::new(InverseTime::new(0.1, 1.0));
/// sched.apply(&mut opt);                         // epoch 0: 0.1
/// sched.step(&mut opt);                          // epoch 1: 0.05
/// assert_eq!(opt.learning_rate(), 0.05);
/// ```
#[derive(Debug)]
pub struct Scheduler<S> {
    schedule: S,
    k: u64,
}

impl<S: Schedule> Scheduler<S> {
    /// The schedule at step 0.
    pub fn new(schedule: S) -> Self {
        Scheduler { schedule, k: 0 }
    }

    /// The step counter `k`.
    pub fn step_count(&self) -> u64 {
        self.k
    }

    /// The schedule.
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// The current rate `alpha_k`.
    pub fn lr(&self) -> f64 {
        self.schedule.lr_at(self.k)
    }

    /// Sets every group of `opt` to the current rate.
    pub fn apply<T: Float>(&self, opt: &mut dyn Optimizer<T>) {
        opt.set_learning_rate(T::from_f64(self.lr()));
    }

    /// Advances the counter and sets the new rate on `opt`.
    pub fn step<T: Float>(&mut self, opt: &mut dyn Optimizer<T>) {
        self.k += 1;
        self.apply(opt);
    }

    /// The counter as metadata `step` (merge it under a prefix such as `schedule.`).
    pub fn state_dict<T: Float>(&self) -> StateDict<T> {
        let mut sd = StateDict::new();
        sd.metadata.insert("step".into(), self.k.to_string());
        sd
    }

    /// Restores the counter; on `Err` nothing changes.
    pub fn load_state_dict<T: Float>(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let s = sd.metadata.get("step").ok_or_else(|| OptimError::BadStateDict("missing `step`".into()))?;
        self.k = s.parse().map_err(|_| OptimError::BadStateDict(format!("`step` = {s:?} is not an integer")))?;
        Ok(())
    }
}
