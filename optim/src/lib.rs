//! # wengert-optim
//!
//! First- and second-order optimisation fed by the wengert tape.
//!
//! | where | what |
//! |---|---|
//! | [`first_order`] | SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam, ... over [`wengert_nn::Parameters`] |
//! | [`schedule`] | learning-rate schedules (closed forms, sequences, reduce-on-plateau) with saved counters |
//! | [`clip`] | gradient clipping by global norm and by value |
//! | [`line_search`] | Armijo backtracking, strong Wolfe |
//! | [`second_order`] | Newton, Newton-CG, trust region, BFGS, L-BFGS, nonlinear CG, Gauss-Newton, Levenberg-Marquardt |
//! | [`curvature`] | a model's curvature as matrix-free operators: [`curvature::OutputLoss`] (cross-entropy, NLL, MSE, BCE with `H_L` in closed form, labels sampled from the model), Gauss-Newton `J^T H_L J`, true and empirical Fisher, the loss Hessian; Hutchinson trace/diagonal, Lanczos eigenpairs, stochastic Lanczos quadrature, sharpness and `2 / lambda_max` |
//! | [`stochastic`] | minibatch second-order optimisers stepped with a closure ([`stochastic::StochasticOptimizer`]): Hessian-free, K-FAC, Shampoo, Sophia, AdaHessian |
//! | [`linalg`] | matrix-free operators, CG / PCG, Jacobi, Gauss-Seidel, LU, QR, Cholesky |
//! | [`error`] | [`OptimError`], the one error type of the crate (first- and second-order) |
//! | [`objective`] | objectives with exact gradients / Hessian-vector products / Jacobian products from the tape: closures, `nn` models, least squares |

pub mod clip;
pub mod curvature;
pub mod error;
pub mod first_order;
pub mod linalg;
pub mod line_search;
pub mod objective;
pub mod schedule;
pub mod second_order;
pub mod stochastic;

pub use error::OptimError;
