//! First-order optimisers: one algorithm per file, all running on the [`FirstOrder`] engine behind the
//! object-safe [`Optimizer`] trait.
//!
//! | file | optimiser | config (defaults follow) | reference |
//! |---|---|---|---|
//! | [`sgd`] | [`Sgd`] (momentum, dampening, L2, Nesterov) | [`SgdConfig`] (PyTorch) | Goodfellow Alg. 8.1; PyTorch `SGD` |
//! | [`momentum`] | [`Momentum`] `v <- rho v - alpha g; w <- w + v` | [`MomentumConfig`] | Goodfellow Alg. 8.2 |
//! | [`nesterov`] | [`Nesterov`] (look-ahead form) | [`NesterovConfig`] | Goodfellow Alg. 8.3 |
//! | [`adagrad`] | [`Adagrad`] | [`AdagradConfig`] (PyTorch) | Goodfellow Alg. 8.4 |
//! | [`rmsprop`] | [`RmsProp`] (centred, momentum) | [`RmsPropConfig`] (PyTorch) | Goodfellow Alg. 8.5 |
//! | [`rmsprop_nesterov`] | [`RmsPropNesterov`] | [`RmsPropNesterovConfig`] | Goodfellow Alg. 8.6 |
//! | [`adam`] | [`Adam`] (AMSGrad option) | [`AdamConfig`] (PyTorch) | Goodfellow Alg. 8.7 |
//! | [`adamw`] | [`AdamW`] | [`AdamWConfig`] (PyTorch) | Loshchilov & Hutter |
//! | [`adamax`] | [`Adamax`] | [`AdamaxConfig`] (PyTorch) | Kingma & Ba Sec. 7.1 |
//! | [`nadam`] | [`NAdam`] | [`NAdamConfig`] (PyTorch) | Dozat 2016 |
//! | [`adadelta`] | [`Adadelta`] | [`AdadeltaConfig`] (PyTorch) | Zeiler 2012 |
//! | [`sign_descent`] | [`SignDescent`] | [`SignDescentConfig`] | lecture "normalising gradients" |
//!
//! Frozen parameters and parameters without a gradient are skipped. A step checks every gradient first and
//! refuses a non-finite one with [`OptimError::NonFinite`] naming the parameter, before writing anything.
//! Parameter groups (by name prefix) carry their own config; state is keyed by hierarchical parameter name and
//! saves/loads through [`Optimizer::state_dict`] / [`Optimizer::load_state_dict`] bit-exactly.
//!
//! ```
//! use wengert_autodiff::{Tape, Tensor};
//! use wengert_nn::{Bound, Param, Parameters};
//! use wengert_optim::first_order::{Adam, AdamConfig, Optimizer};
//!
//! // minimise (w - 3)^2 over a plain list of parameters
//! let mut params = vec![Param::new(Tensor::from_vec(vec![0.0f64], &[1]))];
//! let mut opt = Adam::new(AdamConfig::new(0.1));
//! for _ in 0..300 {
//!     let grads = {
//!         let tape = Tape::new();
//!         let p = Bound::new(&tape, &params);
//!         let w = p.var(&params[0]);
//!         p.grad(((w - 3.0) * (w - 3.0)).sum())
//!     };
//!     opt.step(&mut params, &grads).unwrap();
//! }
//! assert!((params[0].value().as_slice()[0] - 3.0).abs() < 1e-3);
//! ```
//!
//! ## Rosenbrock from (-1.2, 1)
//!
//! `f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`, minimum at (1, 1). The test `optim/tests/first_order_rosenbrock.rs`
//! checks that each optimiser, with the hyperparameters below, ends within the tolerance (max-norm distance
//! to (1, 1)) after the given number of steps:
//!
//! ROSENBROCK_TABLE

pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod adamw;
mod engine;
mod error;
pub mod momentum;
pub mod nadam;
pub mod nesterov;
pub mod rmsprop;
pub mod rmsprop_nesterov;
pub mod sgd;
pub mod sign_descent;

pub use adadelta::{Adadelta, AdadeltaConfig};
pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use adamax::{Adamax, AdamaxConfig};
pub use adamw::{AdamW, AdamWConfig};
pub use engine::{Algorithm, FirstOrder, LookAhead, Optimizer};
pub use error::OptimError;
#[doc(hidden)]
pub use error::check as error_check;
pub use momentum::{Momentum, MomentumConfig};
pub use nadam::{NAdam, NAdamConfig};
pub use nesterov::{Nesterov, NesterovConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use rmsprop_nesterov::{RmsPropNesterov, RmsPropNesterovConfig};
pub use sgd::{Sgd, SgdConfig};
pub use sign_descent::{SignDescent, SignDescentConfig};
