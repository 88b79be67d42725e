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
//! Frozen parameters and parameters without a gradient are skipped. A step checks everything before writing
//! anything: a non-finite gradient is refused with [`OptimError::NonFinite`], an update that would make a
//! parameter or its state non-finite (an overflowing momentum, `0 / 0` with `eps = 0`) with
//! [`OptimError::NonFiniteUpdate`], each naming the parameter; on `Err` no parameter and no state has changed.
//! Learning rates are checked wherever they enter (configs, [`Optimizer::set_learning_rate`], state dicts):
//! finite and `>= 0`.
//!
//! A plain tensor or slice needs no [`Param`](wengert_nn::Param): [`FirstOrder::step_tensor`] and
//! [`FirstOrder::step_slice`] step it directly, for a user minimising a function of their own.
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
//! | optimiser | hyperparameters (others default) | steps to tol | ceiling | tol |
//! |---|---|---|---|---|
//! | [`Sgd`] | `lr = 2e-3` | 8,361 | 9,200 | 1e-3 |
//! | [`Sgd`] momentum | `lr = 5e-4, momentum = 0.9` | 3,246 | 3,600 | 1e-3 |
//! | [`Sgd`] nesterov | `lr = 5e-4, momentum = 0.9` | 3,287 | 3,600 | 1e-3 |
//! | [`Momentum`] | `lr = 5e-4, momentum = 0.9` | 3,246 | 3,600 | 1e-3 |
//! | [`Nesterov`] (look-ahead) | `lr = 5e-4, momentum = 0.9` | 3,288 | 3,600 | 1e-3 |
//! | [`Adagrad`] | `lr = 0.5` | 8,781 | 9,700 | 1e-3 |
//! | [`RmsProp`] | `lr = 1e-3` | 8,149 | 9,000 | 1e-3 |
//! | [`RmsProp`] centred | `lr = 1e-3` | 7,038 | 7,800 | 1e-3 |
//! | [`RmsProp`] momentum | `lr = 1e-3, momentum = 0.9` | 1,120 | 1,250 | 1e-3 |
//! | [`RmsPropNesterov`] (look-ahead) | `lr = 1e-3` | 1,085 | 1,200 | 1e-3 |
//! | [`Adam`] | `lr = 0.1` | 1,209 | 1,350 | 1e-3 |
//! | [`Adam`] AMSGrad | `lr = 0.1` | 1,582 | 1,750 | 1e-3 |
//! | [`AdamW`] | `lr = 0.1, weight_decay = 1e-4` | 1,862 | 2,050 | 1e-3 |
//! | [`Adamax`] | `lr = 0.1` | 3,011 | 3,350 | 1e-3 |
//! | [`NAdam`] | `lr = 1e-2` | 5,635 | 6,200 | 1e-3 |
//! | [`Adadelta`] | `lr = 1e-2` (diverges or stalls for `lr >= 0.03`) | 19,841 | 22,000 | 1e-3 |
//! | [`SignDescent`] | `lr_k = 1e-2 / (1 + 1e-2 k)` ([`InverseTime`](crate::schedule::InverseTime) per step) | 109,945 | 121,000 | 1e-2 |

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
pub use engine::{Algorithm, Buffer, FirstOrder, LookAhead, Optimizer};
#[doc(hidden)]
pub use error::check as error_check;
pub use error::OptimError;
pub use momentum::{Momentum, MomentumConfig};
pub use nadam::{NAdam, NAdamConfig};
pub use nesterov::{Nesterov, NesterovConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use rmsprop_nesterov::{RmsPropNesterov, RmsPropNesterovConfig};
pub use sgd::{Sgd, SgdConfig};
pub use sign_descent::{SignDescent, SignDescentConfig};
