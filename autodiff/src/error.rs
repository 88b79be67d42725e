//! The error type of the `autodiff` crate.

use std::fmt;

use crate::gradcheck::{Check, Position};
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
        /// The op whose forward value is not finite, or whose backward rule produced a
        /// non-finite gradient.
        op: &'static str,
        /// Whether the op's forward value or its backward rule produced it.
        phase: Phase,
        /// Shapes of the op's inputs.
        input_shapes: Vec<Shape>,
        /// Where the op was recorded (`file:line:column`): the user's line that called it
        /// (for an op recorded by a backward rule, the line of the op whose rule it was).
        location: String,
    },
    /// A gradient check failed; the worst entry is reported.
    GradCheck {
        /// Which derivative was compared.
        check: Check,
        /// Index of the input tensor with the worst entry (or direction).
        input: usize,
        /// Which entry of the Jacobian or Hessian (or which random direction) it is.
        at: Position,
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

/// Where anomaly mode found a non-finite value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The op's forward value.
    Forward,
    /// A gradient computed by the op's backward rule.
    Backward,
    /// A tangent computed by the op's forward-mode (JVP) rule.
    Jvp,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Jvp => "jvp",
        })
    }
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
            AutodiffError::GradCheck { check, input, at, analytic, numeric, error, tolerance } => {
                write!(f, "{check} check failed at ")?;
                match at {
                    Position::Jacobian { output, entry } => {
                        write!(f, "d output{:?} / d input {input}{:?}", output.as_slice(), entry.as_slice())?
                    }
                    Position::Hessian { grad_input, grad_entry, entry } => write!(
                        f,
                        "d2 / d input {grad_input}{:?} d input {input}{:?}",
                        grad_entry.as_slice(),
                        entry.as_slice()
                    )?,
                    Position::Direction(n) => write!(f, "input {input}, random direction {n}")?,
                }
                write!(
                    f,
                    ": analytic {analytic:.10e}, numeric {numeric:.10e}, error {error:.3e} > tolerance {tolerance:.3e}"
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

/// The value, or a panic with the error's message at the caller's location.
///
/// Every panicking entry point goes through this (never `unwrap_or_else(|e| panic!(..))`, whose
/// closure would report its own line: `#[track_caller]` does not reach into closures).
#[track_caller]
pub(crate) fn or_panic<V>(r: Result<V>) -> V {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}
