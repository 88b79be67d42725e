//! [`TrainConfig`]: what [`Trainer`](super::Trainer) does, with documented defaults.

use std::path::PathBuf;

use wengert_optim::curvature::LanczosConfig;

/// What [`TrainConfig::log_sharpness`] measures at the end of every epoch: `lambda_max`, the largest eigenvalue
/// of the Hessian of the training loss with respect to the trainable parameters, on the first `rows` rows
/// of the training set (in dataset order, the same rows every epoch), with the model in evaluation mode
/// (dropout off, batch norm on its running statistics), by Lanczos
/// ([`wengert_optim::curvature::sharpness()`]). Gradient descent with learning rate `lr` is stable on the
/// local quadratic model only while `lambda_max < 2 / lr` (the lecture: `alpha = 0.48` converges on a
/// quadratic with `lambda_max = 4`, `0.51` diverges); training with a fixed `lr` tends to drive
/// `lambda_max` up to `2 / lr`, the "edge of stability" (Cohen et al. 2021).
#[derive(Clone, Debug, PartialEq)]
pub struct SharpnessLog {
    /// Training rows the loss is taken over (all of them if fewer).
    pub rows: usize,
    /// The Lanczos iteration. Default here: at most 30 Hessian-vector products, relative residual `1e-6`
    /// (a diagnostic, not an eigen-solver: `lambda_max` to about six digits).
    pub lanczos: LanczosConfig,
}

impl SharpnessLog {
    /// `lambda_max` over the first `rows` training rows, with the default Lanczos settings above.
    pub fn new(rows: usize) -> Self {
        SharpnessLog { rows, lanczos: LanczosConfig { max_iterations: 30, tol: 1e-6, seed: 0 } }
    }
}

/// Hyperparameters of the training loop (the optimiser keeps its own).
///
/// | field | default | why |
/// |---|---|---|
/// | `epochs` | 10 | |
/// | `batch_size` | 32 | "32 / 64 / 128 common" (cs231n lecture 4) |
/// | `seed` | 0 | minibatch order; the same seed gives bit-identical runs |
/// | `drop_last` | `false` | every row is used each epoch |
/// | `val_every` | 0 | validate every `n` iterations; 0 = at the end of every epoch |
/// | `val_batch_size` | 512 | evaluation batches (no gradient, so larger is fine) |
/// | `ema_beta` | 0.9 | the lecture's `beta` for the smoothed loss curve |
/// | `patience` | `None` | early stopping: stop after this many validations without improvement |
/// | `min_delta` | 0.0 | an improvement must lower the validation loss by more than this |
/// | `restore_best` | `true` | load the best parameters back into the model at the end |
/// | `best_checkpoint` | `None` | also write the best parameters to this file (safetensors) |
/// | `state_path` | `None` | the training state file: saved atomically every `save_every` iterations, at the end of every epoch and on Ctrl-C, resumed from by the next `fit` |
/// | `save_every` | 100 | iterations between saves of the training state |
/// | `resume` | `true` | resume from `state_path` when the file exists (`false`: start afresh and overwrite it) |
/// | `progress` | `true` | progress bars, shown only when stderr is a terminal |
/// | `log_epochs` | `true` | print one summary line per epoch to stdout |
/// | `sharpness` | `None` | measure the sharpness `lambda_max` of the training loss at the end of every epoch ([`SharpnessLog`]) |
///
/// ```
/// use wengert::train::TrainConfig;
/// let cfg = TrainConfig::new(5).batch_size(64).patience(3);
/// assert_eq!((cfg.epochs, cfg.batch_size, cfg.patience), (5, 64, Some(3)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: u64,
    /// Rows per minibatch.
    pub batch_size: usize,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
    /// Drop a last, smaller minibatch.
    pub drop_last: bool,
    /// Validate every this many iterations (0: at the end of each epoch).
    pub val_every: u64,
    /// Rows per evaluation batch.
    pub val_batch_size: usize,
    /// Decay of the exponential moving average of the training loss.
    pub ema_beta: f64,
    /// Early stopping: validations without improvement before stopping (`None`: never stop early).
    pub patience: Option<u64>,
    /// Smallest decrease of the validation loss that counts as an improvement.
    pub min_delta: f64,
    /// Load the best parameters (lowest validation loss) back into the model when training ends.
    pub restore_best: bool,
    /// Write the best parameters to this file whenever they improve.
    pub best_checkpoint: Option<PathBuf>,
    /// The training state file (model, optimiser, schedule position, data-loader position, epoch, history,
    /// EMA, early-stopping and best-model bookkeeping), written atomically so a kill at any moment leaves the
    /// previous complete state. `None`: no saving, no resuming, Ctrl-C not handled.
    pub state_path: Option<PathBuf>,
    /// Save the training state every this many iterations (0: only at the end of each epoch and on Ctrl-C).
    pub save_every: u64,
    /// Resume from [`TrainConfig::state_path`] when the file exists.
    pub resume: bool,
    /// Show progress bars (only ever drawn when stderr is a terminal).
    pub progress: bool,
    /// Print one line per epoch (loss, smoothed loss, validation loss and metric).
    pub log_epochs: bool,
    /// Measure the sharpness at the end of every epoch (`None`: never), recorded in
    /// [`History::sharpness`](super::History::sharpness), printed on the epoch line and plotted by
    /// [`plot_history`](super::plot_history).
    pub sharpness: Option<SharpnessLog>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            seed: 0,
            drop_last: false,
            val_every: 0,
            val_batch_size: 512,
            ema_beta: 0.9,
            patience: None,
            min_delta: 0.0,
            restore_best: true,
            best_checkpoint: None,
            state_path: None,
            save_every: 100,
            resume: true,
            progress: true,
            log_epochs: true,
            sharpness: None,
        }
    }
}

impl TrainConfig {
    /// The defaults with `epochs` epochs.
    pub fn new(epochs: u64) -> Self {
        TrainConfig { epochs, ..Default::default() }
    }

    /// Sets [`TrainConfig::batch_size`].
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`TrainConfig::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`TrainConfig::val_every`].
    pub fn val_every(mut self, iterations: u64) -> Self {
        self.val_every = iterations;
        self
    }

    /// Sets [`TrainConfig::ema_beta`].
    pub fn ema_beta(mut self, beta: f64) -> Self {
        self.ema_beta = beta;
        self
    }

    /// Sets [`TrainConfig::patience`] (enables early stopping).
    pub fn patience(mut self, validations: u64) -> Self {
        self.patience = Some(validations);
        self
    }

    /// Sets [`TrainConfig::min_delta`].
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Sets [`TrainConfig::restore_best`].
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }

    /// Sets [`TrainConfig::best_checkpoint`].
    pub fn best_checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.best_checkpoint = Some(path.into());
        self
    }

    /// Sets [`TrainConfig::state_path`]: save the training state there and resume from it.
    pub fn state_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_path = Some(path.into());
        self
    }
    /// Sets [`TrainConfig::save_every`].
    pub fn save_every(mut self, iterations: u64) -> Self {
        self.save_every = iterations;
        self
    }
    /// Sets [`TrainConfig::resume`].
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }
    /// Sets [`TrainConfig::progress`].
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Sets [`TrainConfig::log_epochs`].
    pub fn log_epochs(mut self, log: bool) -> Self {
        self.log_epochs = log;
        self
    }

    /// Sets [`TrainConfig::sharpness`]: `lambda_max` of the training loss at the end of every epoch.
    pub fn log_sharpness(mut self, log: SharpnessLog) -> Self {
        self.sharpness = Some(log);
        self
    }

    /// Checks the values: a description of the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.val_batch_size == 0 {
            return Err("batch sizes must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.ema_beta) {
            return Err(format!("ema_beta must be in [0, 1), got {}", self.ema_beta));
        }
        if self.min_delta.is_nan() || self.min_delta < 0.0 {
            return Err(format!("min_delta must be >= 0, got {}", self.min_delta));
        }
        if let Some(s) = &self.sharpness {
            if s.rows == 0 {
                return Err("sharpness.rows must be at least 1".into());
            }
            s.lanczos.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
