//! [`TrainError`]: why [`Trainer::fit`](super::Trainer::fit) stopped.

use std::fmt;

use wengert_dist::DistError;
use wengert_nn::checkpoint::CheckpointError;
use wengert_optim::first_order::OptimError;

/// What can go wrong while training.
#[derive(Debug)]
pub enum TrainError {
    /// A [`TrainConfig`](super::TrainConfig) value is out of range.
    InvalidConfig(String),
    /// The training set has no rows, or no labels where the default loss needs them.
    InvalidData(String),
    /// The minibatch loss was NaN or infinite (diverging learning rate, bad data).
    NonFiniteLoss {
        /// Iteration (0-based, counted over all epochs) of the offending minibatch.
        iteration: u64,
        /// The loss value.
        loss: f64,
    },
    /// The model or the loss panicked on a batch (a programmer error such as a layer whose input width does
    /// not match the data): the panic's message. No step was taken on that batch.
    Model(String),
    /// Ctrl-C (SIGINT) or SIGTERM arrived; the training state was saved to `state` first, and
    /// [`Trainer::fit`](super::Trainer::fit) with the same config resumes from it.
    Interrupted {
        /// Optimiser steps taken before stopping.
        iteration: u64,
        /// The training state file.
        state: std::path::PathBuf,
    },
    /// The training state file does not fit this run (other seed, batch size or data) or is malformed.
    Resume(String),
    /// The optimiser refused a step.
    Optim(OptimError),
    /// Writing the best checkpoint or the training state failed, or reading the training state.
    Checkpoint(CheckpointError),
    /// Writing the history (CSV) failed.
    Io(std::io::Error),
    /// Drawing the curves failed.
    Plot(String),
    /// Data-parallel training ([`Trainer::communicator`](super::Trainer::communicator)): the ranks' models
    /// differ, a collective failed (a peer rank failed or left), or another rank hit an error of its own
    /// (rank 0 failing to write a checkpoint), which every rank then reports.
    Dist(DistError),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::InvalidConfig(m) => write!(f, "invalid training config: {m}"),
            TrainError::InvalidData(m) => write!(f, "invalid training data: {m}"),
            TrainError::NonFiniteLoss { iteration, loss } => {
                write!(f, "loss is {loss} at iteration {iteration} (diverged? try a smaller learning rate)")
            }
            TrainError::Model(m) => write!(f, "the model or loss failed on a batch: {m}"),
            TrainError::Interrupted { iteration, state } => write!(
                f,
                "interrupted after {iteration} iterations; the training state is saved in {} (run again to resume)",
                state.display()
            ),
            TrainError::Resume(m) => write!(f, "cannot resume: {m}"),
            TrainError::Optim(e) => write!(f, "optimiser step failed: {e}"),
            TrainError::Checkpoint(e) => write!(f, "writing or reading a checkpoint failed: {e}"),
            TrainError::Io(e) => write!(f, "writing the training history failed: {e}"),
            TrainError::Plot(m) => write!(f, "plotting the training curves failed: {m}"),
            TrainError::Dist(e) => write!(f, "data-parallel training failed: {e}"),
        }
    }
}

impl std::error::Error for TrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrainError::Optim(e) => Some(e),
            TrainError::Checkpoint(e) => Some(e),
            TrainError::Io(e) => Some(e),
            TrainError::Dist(e) => Some(e),
            _ => None,
        }
    }
}

impl From<OptimError> for TrainError {
    fn from(e: OptimError) -> Self {
        TrainError::Optim(e)
    }
}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        TrainError::Checkpoint(e)
    }
}

impl From<std::io::Error> for TrainError {
    fn from(e: std::io::Error) -> Self {
        TrainError::Io(e)
    }
}

impl From<DistError> for TrainError {
    fn from(e: DistError) -> Self {
        TrainError::Dist(e)
    }
}
