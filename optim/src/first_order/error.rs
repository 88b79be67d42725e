//! [`OptimError`]: what can go wrong when stepping or restoring an optimiser or a schedule.

use std::fmt;

/// The typed error of every optimiser, schedule and clipping function in this crate's first-order part.
///
/// Every variant is raised *before* anything is modified: a failed [`step`](super::Optimizer::step) leaves
/// parameters and optimiser state exactly as they were.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimError {
    /// A gradient (or a gradient norm) contains NaN or infinity; `param` is the hierarchical parameter name.
    NonFinite {
        /// Name of the offending parameter (`layers.0.weight`).
        param: String,
    },
    /// A gradient or a state buffer does not have the parameter's shape.
    ShapeMismatch {
        /// Name of the parameter.
        param: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The gradient's or state buffer's shape.
        got: Vec<usize>,
    },
    /// A state dict is missing entries, has malformed metadata, or belongs to another algorithm.
    BadStateDict(String),
    /// A hyperparameter is out of its valid range (negative learning rate, `beta >= 1`, ...).
    InvalidConfig(String),
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::NonFinite { param } => write!(f, "non-finite gradient for parameter `{param}`"),
            OptimError::ShapeMismatch { param, expected, got } => {
                write!(f, "shape mismatch for parameter `{param}`: expected {expected:?}, got {got:?}")
            }
            OptimError::BadStateDict(m) => write!(f, "bad state dict: {m}"),
            OptimError::InvalidConfig(m) => write!(f, "invalid optimiser config: {m}"),
        }
    }
}

impl std::error::Error for OptimError {}

/// `Err(InvalidConfig(what()))` unless `ok` (for configs validated in this crate).
pub fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::InvalidConfig(what()))
    }
}
