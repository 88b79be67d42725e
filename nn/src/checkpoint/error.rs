//! [`CheckpointError`]: what went wrong saving or loading a checkpoint.

use std::fmt;
use std::path::PathBuf;

/// An error saving or loading a checkpoint. Every variant says which file or tensor is at fault;
/// checkpoint code never panics on bad files.
#[derive(Debug)]
pub enum CheckpointError {
    /// Reading, writing, syncing or renaming failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`"read"`, `"write"`, `"rename"`...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, corrupted header, bad offsets...).
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor is stored with another element type than the one asked for.
    DType {
        /// The tensor.
        name: String,
        /// The dtype asked for (`F32`, `F64`).
        expected: String,
        /// The dtype stored.
        found: String,
    },
    /// The model has a parameter the state dict does not.
    Missing {
        /// The parameter.
        name: String,
    },
    /// A stored tensor has another shape than the parameter it would load into.
    Shape {
        /// The parameter.
        name: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The stored shape.
        found: Vec<usize>,
    },
    /// A name cannot be stored (`__metadata__` is reserved by the format).
    InvalidName {
        /// The name.
        name: String,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Io { path, action, source } => {
                write!(f, "checkpoint {}: {action} failed: {source}", path.display())
            }
            CheckpointError::Format { path, reason } => {
                write!(f, "checkpoint {}: not a valid safetensors file: {reason}", path.display())
            }
            CheckpointError::DType { name, expected, found } => {
                write!(f, "tensor {name:?}: stored as {found}, expected {expected}")
            }
            CheckpointError::Missing { name } => write!(f, "tensor {name:?}: missing from the checkpoint"),
            CheckpointError::Shape { name, expected, found } => {
                write!(f, "tensor {name:?}: stored with shape {found:?}, the model expects {expected:?}")
            }
            CheckpointError::InvalidName { name } => write!(f, "tensor name {name:?} is reserved by safetensors"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckpointError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
