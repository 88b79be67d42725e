//! Curvature of a model's loss as matrix-free operators: the loss on the model's outputs with its Hessian in
//! closed form ([`OutputLoss`]), from which Gauss-Newton and Fisher products are built.
//!
//! | where | what |
//! |---|---|
//! | [`output_loss`] | [`OutputLoss`]: cross-entropy, NLL, MSE, BCE on the outputs; `H_L v` in closed form, labels sampled from the model |

pub mod output_loss;

pub use output_loss::OutputLoss;
