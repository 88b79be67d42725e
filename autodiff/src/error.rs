//! The error type of the `autodiff` crate.

use std::fmt;

use crate::Shape;

/// Everything that can go wrong in a tensor op, on the tape, or in a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub enum AutodiffError {
    /// Two shapes that must agree (or broadcast) do not.
    ShapeMismatch {
        /// The op that failed.
        op: &'static str,
        /// Shape of the left (or first) operand.
        lhs: Shape,
        /// Shape of the right (or second) operand.
        rhs: Shape,
    },
    /// An index is outside `0..bound`.
    IndexOutOfRange {
        /// The op that failed.
        op: &'static str,
        /// The offending index.
        index: usize,
        /// The exclusive upper bound.
        bound: usize,
    },
    /// An argument is invalid for another reason (the message says which).
    InvalidArgument {
        /// The op that failed.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Anomaly mode found a NaN or infinity.
    NonFinite {
        /// The op whose value (or gradient) is not finite.
        op: &'static str,
        /// `"forward"` or `"backward"`.
        phase: &'static str,
        /// Shapes of the op's inputs.
        input_shapes: Vec<Shape>,
        /// Where the op was recorded (`file:line:column`).
        location: String,
    },
    /// A gradient check failed; the worst entry is reported.
    GradCheck {
        /// Which check (`"gradient"`, `"hvp"`).
        check: &'static str,
        /// Index of the input tensor with the worst entry.
        input: usize,
        /// Flat index of the worst entry in that input (or the projection number).
        index: usize,
        /// The derivative from the tape.
        analytic: f64,
        /// The central finite difference.
        numeric: f64,
        /// `|analytic - numeric|`.
        error: f64,
        /// The tolerance it exceeded: `atol + rtol * |numeric|`.
        tolerance: f64,
    },
}

/// `Result` with [`AutodiffError`].
pub type Result<T> = std::result::Result<T, AutodiffError>;

impl fmt::Display for AutodiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutodiffError::ShapeMismatch { op, lhs, rhs } => {
                write!(f, "{op}: shape mismatch between {:?} and {:?}", lhs.as_slice(), rhs.as_slice())
            }
            AutodiffError::IndexOutOfRange { op, index, bound } => {
                write!(f, "{op}: index {index} is out of range for bound {bound}")
            }
            AutodiffError::InvalidArgument { op, message } => write!(f, "{op}: {message}"),
            AutodiffError::NonFinite { op, phase, input_shapes, location } => {
                let shapes: Vec<_> = input_shapes.iter().map(|s| s.to_vec()).collect();
                write!(
                    f,
                    "anomaly: {phase} of `{op}` produced NaN or infinity \
                     (input shapes {shapes:?}, recorded at {location})"
                )
            }
            AutodiffError::GradCheck { check, input, index, analytic, numeric, error, tolerance } => {
                write!(
                    f,
                    "{check} check failed: input {input}, entry {index}: analytic {analytic:.10e}, \
                     numeric {numeric:.10e}, error {error:.3e} > tolerance {tolerance:.3e}"
                )
            }
        }
    }
}

impl std::error::Error for AutodiffError {}

pub(crate) fn shape_err<T>(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<T> {
    Err(AutodiffError::ShapeMismatch { op, lhs: Shape::from_slice(lhs), rhs: Shape::from_slice(rhs) })
}

pub(crate) fn arg_err<T>(op: &'static str, message: impl Into<String>) -> Result<T> {
    Err(AutodiffError::InvalidArgument { op, message: message.into() })
}
