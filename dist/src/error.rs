//! [`DistError`]: what can go wrong between ranks.

use std::fmt;

/// Why a collective operation or a data-parallel check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DistError {
    /// Another rank failed (panicked or returned an error) before reaching this collective; waiting for it
    /// would hang, so every rank still running gets this error instead.
    PeerFailed {
        /// The rank that failed first.
        rank: usize,
    },
    /// Ranks called a collective with buffers of different lengths.
    LengthMismatch {
        /// The collective (`"all_reduce"`, `"broadcast"`).
        op: &'static str,
        /// This rank's length.
        local: usize,
        /// The length another rank (or the root) used.
        other: usize,
    },
    /// The root rank of a broadcast is not a rank of the communicator.
    BadRoot {
        /// The requested root.
        root: usize,
        /// The communicator's size.
        size: usize,
    },
    /// The ranks' models differ: the first difference, by parameter order.
    ModelMismatch {
        /// The rank whose model differs from rank 0's.
        rank: usize,
        /// What differs: a parameter name, or a shape, as `"rank 0: ...; rank k: ..."`.
        detail: String,
    },
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistError::PeerFailed { rank } => write!(f, "rank {rank} failed; this collective cannot complete"),
            DistError::LengthMismatch { op, local, other } => {
                write!(f, "{op}: this rank's buffer has {local} elements, another rank's {other}")
            }
            DistError::BadRoot { root, size } => {
                write!(f, "broadcast root {root} is not a rank of a communicator of size {size}")
            }
            DistError::ModelMismatch { rank, detail } => {
                write!(f, "the model on rank {rank} differs from rank 0's: {detail}")
            }
        }
    }
}

impl std::error::Error for DistError {}

/// `Result` with [`DistError`].
pub type Result<T> = std::result::Result<T, DistError>;
