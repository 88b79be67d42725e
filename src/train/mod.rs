//! An optional training loop and what goes with it: the EMA-smoothed loss, training history as CSV,
//! curves as SVG, progress bars that hide themselves when output is not a terminal.
//!
//! | where | what |
//! |---|---|
//! | [`Trainer`], [`TrainConfig`], [`TrainReport`], [`BestModel`], [`TrainError`] | epochs of minibatches, validation every `n` iterations, early stopping, best checkpoint, learning-rate schedule, a training state saved every `n` steps and on Ctrl-C and resumed bit-exactly |
//! | [`Ema`] | the exponential moving average `v <- beta v + (1 - beta) s` (bias-corrected) of the lecture |
//! | [`History`], [`StepRecord`], [`ValRecord`], [`SharpnessRecord`] | per-step loss, per-validation loss / metric, per-epoch sharpness ([`SharpnessLog`]); CSV out |
//! | [`plot_history`], [`plot_panels`], [`Panel`], [`Series`] | line plots with `plotters`, written as SVG |
//! | [`progress_bar`] | an `indicatif` bar drawn only when stderr is a terminal |
//!
//! Nothing here is required: the loop users write themselves is six lines (see `examples/linear_classifier.rs`),
//! and [`Trainer`] is those lines plus bookkeeping.

mod config;
mod ema;
mod error;
mod history;
mod interrupt;
mod plot;
mod progress;
mod state;
mod trainer;

pub use config::{SharpnessLog, TrainConfig};
pub use ema::Ema;
pub use error::TrainError;
pub use history::{History, SharpnessRecord, StepRecord, ValRecord};
pub use plot::{plot_history, plot_panels, Panel, Series};
pub use progress::progress_bar;
pub use trainer::{BestModel, TrainReport, Trainer};
