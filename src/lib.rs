//! # Wengert
//!
//! Tape-based automatic differentiation in Rust, with neural-network building blocks
//! and first- and second-order optimisation driven by exact Hessian-vector products.
//!
//! This facade re-exports the four crates:
//! - [`autodiff`]: tensors, the tape, reverse mode to any order, HVPs, gradient checking;
//! - [`nn`]: modules, layers, losses, data, datasets, checkpoints;
//! - [`optim`]: optimisers, schedules, line searches, Newton-type methods, linear solvers;
//! - [`dist`]: data-parallel training and sharded second-order objectives on threads or MPI.
//!
//! and adds [`train`], an optional training loop (epochs, validation, EMA-smoothed loss, early stopping,
//! best checkpoint, schedules, progress bars, CSV and SVG curves); `examples/quickstart.rs` uses it.
//!
//! ```
//! use wengert::prelude::*;
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(3.0));
//! let y = x * x;
//! assert_eq!(tape.grad(y, &[x]).value(0).item(), 6.0);
//! ```

// The README's code blocks run as doctests, so the README cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The `rand` this library is built against (0.9): use `wengert::rand` (or the same major version in your
/// `Cargo.toml`) for the RNGs you pass to initialisers, loaders and `Tensor::randn`, so trait bounds match.
pub use rand;
pub use wengert_autodiff as autodiff;
pub use wengert_dist as dist;
pub use wengert_nn as nn;
pub use wengert_optim as optim;

pub mod train;

/// The names most programs need.
pub mod prelude {
    pub use crate::train::{TrainConfig, Trainer};
    pub use wengert_autodiff::{Float, Tape, Tensor, Var};
}
