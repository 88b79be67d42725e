//! Curvature of a model's loss as matrix-free operators that plug into the existing conjugate gradient, trust
//! region and every other [`LinOp`](crate::linalg::LinOp) consumer, and the estimators built on them.
//!
//! Vectors over the parameters are flat: the trainable parameters in visiting order, the layout of
//! [`flatten_params`](crate::objective::flatten_params). Every operator is built from a model and a
//! [`Closure`](crate::stochastic::Closure) that evaluates a batch (a minibatch or the full data).
//!
//! | where | what |
//! |---|---|
//! | [`output_loss`] | [`OutputLoss`]: cross-entropy, NLL, MSE, BCE on the outputs; `H_L v` in closed form, labels sampled from the model |
//! | [`jacobian`] | [`ModelJacobian`]: `J v` (forward mode) and `J^T u` (reverse mode) of the outputs, recorded once |
//! | [`ggn`] | [`Ggn`]: the generalised Gauss-Newton matrix `G = J^T H_L J` |
//! | [`fisher`] | [`Fisher`]: the true Fisher (Monte Carlo, targets sampled from the model; `E = G`) and the empirical Fisher |
//! | [`hessian`] | [`LossHessian`]: `d^2 L / d theta^2`, the tape's exact Hessian-vector product |
//! | [`hutchinson`] | [`hutchinson_trace`], [`hutchinson_diagonal`]: Rademacher estimates with standard errors |
//! | [`lanczos`] | [`top_eigenpairs`], [`bottom_eigenpairs`]: Lanczos with full reorthogonalisation |
//! | [`slq`] | [`spectral_density`]: stochastic Lanczos quadrature, the smoothed eigenvalue density |
//! | [`sharpness`](mod@sharpness) | [`sharpness()`], [`loss_sharpness`]: `lambda_max` and the largest stable learning rate `2 / lambda_max` |
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use wengert_autodiff::Tensor;
//! use wengert_nn::{layers::{Activation, Mlp}, Module};
//! use wengert_optim::curvature::{loss_sharpness, LanczosConfig, OutputLoss};
//! use wengert_optim::stochastic::Evaluation;
//!
//! let model = Mlp::<f64>::new(&[3, 8, 2], Activation::Tanh, &mut StdRng::seed_from_u64(0));
//! let x = Tensor::randn(&[16, 3], 0.0, 1.0, &mut StdRng::seed_from_u64(1));
//! let labels: Vec<usize> = (0..16).map(|i| i % 2).collect();
//! let s = loss_sharpness(&model, &mut |m, p| Evaluation {
//!     outputs: m.forward(p, p.tape().constant(x.clone())),
//!     loss: OutputLoss::CrossEntropy { labels: labels.clone() },
//! }, &LanczosConfig::default()).unwrap();
//! assert!(s.lambda_max > 0.0);
//! assert_eq!(s.max_stable_learning_rate, 2.0 / s.lambda_max);
//! ```

pub mod fisher;
pub mod ggn;
pub mod hessian;
pub mod hutchinson;
pub mod jacobian;
pub mod lanczos;
pub mod output_loss;
pub mod sharpness;
pub mod slq;

pub use fisher::{Fisher, FisherKind};
pub use ggn::Ggn;
pub use hessian::LossHessian;
pub use hutchinson::{hutchinson_diagonal, hutchinson_trace, rademacher, DiagonalEstimate, TraceEstimate};
pub use jacobian::{bind_flat, ModelJacobian};
pub use lanczos::{bottom_eigenpairs, top_eigenpairs, Eigenpairs, LanczosConfig};
pub use output_loss::OutputLoss;
pub use sharpness::{loss_sharpness, sharpness, Sharpness};
pub use slq::{spectral_density, SlqConfig, SpectralDensity};
