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
    /// A hyperparameter is out of its valid range (negative learning rate, `beta >= 1`, ...).
    InvalidConfig(String),
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

/// `Err(InvalidConfig)` unless `value` is finite and `>= 0`: the range of learning rates, `eps`, weight decays
/// and every other non-negative hyperparameter (`lr = +inf` would write infinity into the parameters).
pub fn check_nonneg(name: &str, value: f64) -> Result<(), OptimError> {
    check(value.is_finite() && value >= 0.0, || format!("{name} = {value} must be finite and >= 0"))
}

/// `Err(InvalidConfig)` unless `value` is in `[0, 1)` (decay rates `beta`, `alpha`, `momentum`).
pub fn check_unit(name: &str, value: f64) -> Result<(), OptimError> {
    check((0.0..1.0).contains(&value), || format!("{name} = {value} must be in [0, 1)"))
}
