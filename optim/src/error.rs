//! [`OptimError`]: the one error type of the crate, for the first-order optimisers, schedules and clipping as
//! for the second-order methods, line searches and configs.

use std::fmt;

use crate::linalg::LinalgError;
use crate::line_search::LineSearchError;

/// What can go wrong in this crate: stepping or restoring a first-order optimiser or a schedule, clipping, or
/// starting a second-order method.
///
/// First-order variants are raised *before* anything is modified: a failed
/// [`step`](crate::first_order::Optimizer::step) leaves parameters and optimiser state exactly as they were.
/// A second-order method returns an error only when it cannot start; a run that stops early reports why in
/// its [`StopReason`](crate::second_order::StopReason).
#[derive(Clone, Debug, PartialEq)]
pub enum OptimError {
    /// A gradient (or a gradient norm) contains NaN or infinity; `param` is the hierarchical parameter name.
    NonFinite {
        /// Name of the offending parameter (`layers.0.weight`).
        param: String,
    },
    /// The update of a parameter would write NaN or infinity into it or into its optimiser state (an
    /// overflowing momentum, `0 / 0` with `eps = 0`, ...); nothing was written.
    NonFiniteUpdate {
        /// Name of the parameter whose new value or state would not be finite.
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
    /// A hyperparameter or setting is out of its valid range (negative learning rate, `beta >= 1`, `c1 >= c2`,
    /// ...); the message names the config, the field and the value.
    InvalidConfig(String),
    /// A second-order method's starting point gives a NaN or infinite value or gradient.
    NonFiniteStart,
    /// A second-order method's starting point is empty.
    EmptyStart,
    /// A linear solve failed in a way the method cannot recover from.
    Linalg(LinalgError),
    /// A line search failed in a way the method cannot recover from.
    LineSearch(LineSearchError),
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::NonFinite { param } => write!(f, "non-finite gradient for parameter `{param}`"),
            OptimError::NonFiniteUpdate { param } => write!(
                f,
                "the update of parameter `{param}` would be non-finite (NaN or infinity in its new value or \
                 optimiser state); nothing was written"
            ),
            OptimError::ShapeMismatch { param, expected, got } => {
                write!(f, "shape mismatch for parameter `{param}`: expected {expected:?}, got {got:?}")
            }
            OptimError::BadStateDict(m) => write!(f, "bad state dict: {m}"),
            OptimError::InvalidConfig(m) => write!(f, "invalid optimiser config: {m}"),
            OptimError::NonFiniteStart => write!(f, "objective is not finite at the starting point"),
            OptimError::EmptyStart => write!(f, "starting point is empty"),
            OptimError::Linalg(e) => write!(f, "{e}"),
            OptimError::LineSearch(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OptimError {}

impl From<LinalgError> for OptimError {
    fn from(e: LinalgError) -> Self {
        OptimError::Linalg(e)
    }
}

impl From<LineSearchError> for OptimError {
    fn from(e: LineSearchError) -> Self {
        OptimError::LineSearch(e)
    }
}
