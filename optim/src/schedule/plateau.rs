//! Reduce the learning rate when a metric stops improving, as PyTorch's `ReduceLROnPlateau`:
//!
//! after each [`ReduceLrOnPlateau::step`] with metric `a`, `a` is "better" than the best so far if
//! `a < best (1 - threshold)` (mode min, relative threshold; `a < best - threshold` for absolute,
//! mirrored for mode max). More than `patience` non-improving steps in a row (outside a cooldown) multiply
//! every group's rate by `factor`, floored at `min_lr` (changes smaller than `1e-8` are skipped), and start a
//! cooldown of `cooldown` steps during which bad steps are not counted.

use wengert_autodiff::Float;
use wengert_nn::{f64_from_meta, f64_to_meta, StateDict};

use crate::first_order::error_check as check;
use crate::first_order::{OptimError, Optimizer};

/// Whether lower or higher metrics are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How `threshold` compares a metric with the best so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Relative: `best (1 -/+ threshold)`.
    Rel,
    /// Absolute: `best -/+ threshold`.
    Abs,
}

/// Configuration of [`ReduceLrOnPlateau`]. Defaults as PyTorch: mode min, `factor = 0.1`, `patience = 10`,
/// `threshold = 1e-4` relative, `cooldown = 0`, `min_lr = 0`, `eps = 1e-8`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateauConfig {
    /// Min or max.
    pub mode: Mode,
    /// Multiplier of the rate on a plateau, in `[0, 1)`.
    pub factor: f64,
    /// Number of non-improving steps tolerated.
    pub patience: u64,
    /// Minimum significant improvement.
    pub threshold: f64,
    /// Relative or absolute threshold.
    pub threshold_mode: ThresholdMode,
    /// Steps to wait after a reduction before counting bad steps again.
    pub cooldown: u64,
    /// Lower bound of the rate.
    pub min_lr: f64,
    /// Reductions smaller than this are skipped.
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: Mode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// Reduce-on-plateau (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    best: f64,
    num_bad: u64,
    cooldown_counter: u64,
    last_epoch: u64,
}

impl ReduceLrOnPlateau {
    /// A fresh plateau detector.
    ///
    /// # Panics
    /// If `factor` is not in `[0, 1)` or `min_lr` / `threshold` are negative.
    #[track_caller]
    pub fn new(config: PlateauConfig) -> Self {
        Self::try_new(config).unwrap_or_else(|e| panic!("ReduceLrOnPlateau: {e}"))
    }

    /// As [`ReduceLrOnPlateau::new`], returning `Err(InvalidConfig)` instead of panicking.
    pub fn try_new(config: PlateauConfig) -> Result<Self, OptimError> {
        check((0.0..1.0).contains(&config.factor), || format!("factor = {} must be in [0, 1)", config.factor))?;
        check(config.min_lr >= 0.0, || format!("min_lr = {} must be >= 0", config.min_lr))?;
        check(config.threshold >= 0.0, || format!("threshold = {} must be >= 0", config.threshold))?;
        let best = match config.mode {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        };
        Ok(ReduceLrOnPlateau { config, best, num_bad: 0, cooldown_counter: 0, last_epoch: 0 })
    }

    /// The best metric seen so far.
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Number of consecutive non-improving steps counted.
    pub fn num_bad_steps(&self) -> u64 {
        self.num_bad
    }

    fn is_better(&self, a: f64) -> bool {
        let (c, b) = (&self.config, self.best);
        match (c.mode, c.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => a < b * (1.0 - c.threshold),
            (Mode::Min, ThresholdMode::Abs) => a < b - c.threshold,
            (Mode::Max, ThresholdMode::Rel) => a > b * (1.0 + c.threshold),
            (Mode::Max, ThresholdMode::Abs) => a > b + c.threshold,
        }
    }

    /// Records `metric` and reduces every group's rate of `opt` on a plateau. Returns `true` if it reduced.
    pub fn step<T: Float>(&mut self, metric: f64, opt: &mut dyn Optimizer<T>) -> bool {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad = 0;
        } else {
            self.num_bad += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad = 0;
        }
        if self.num_bad > self.config.patience {
            let mut reduced = false;
            for g in 0..opt.num_groups() {
                let old = opt.group_learning_rate(g).to_f64();
                let new = (old * self.config.factor).max(self.config.min_lr);
                if old - new > self.config.eps {
                    opt.set_group_learning_rate(g, T::from_f64(new));
                    reduced = true;
                }
            }
            self.cooldown_counter = self.config.cooldown;
            self.num_bad = 0;
            return reduced;
        }
        false
    }

    /// Bookkeeping as metadata: `best` (exact), `num_bad`, `cooldown_counter`, `last_epoch`.
    pub fn state_dict<T: Float>(&self) -> StateDict<T> {
        let mut sd = StateDict::new();
        sd.metadata.insert("best".into(), f64_to_meta(self.best));
        sd.metadata.insert("num_bad".into(), self.num_bad.to_string());
        sd.metadata.insert("cooldown_counter".into(), self.cooldown_counter.to_string());
        sd.metadata.insert("last_epoch".into(), self.last_epoch.to_string());
        sd
    }

    /// Restores the bookkeeping; on `Err` nothing changes.
    pub fn load_state_dict<T: Float>(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let get = |k: &str| sd.metadata.get(k).ok_or_else(|| OptimError::BadStateDict(format!("missing `{k}`")));
        let int = |k: &str| -> Result<u64, OptimError> {
            get(k)?.parse().map_err(|_| OptimError::BadStateDict(format!("`{k}` is not an integer")))
        };
        let best = f64_from_meta(get("best")?).ok_or_else(|| OptimError::BadStateDict("`best` is not exact".into()))?;
        let (num_bad, cooldown_counter, last_epoch) = (int("num_bad")?, int("cooldown_counter")?, int("last_epoch")?);
        *self = ReduceLrOnPlateau { config: self.config.clone(), best, num_bad, cooldown_counter, last_epoch };
        Ok(())
    }
}
