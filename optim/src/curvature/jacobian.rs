//! [`ModelJacobian`]: the Jacobian `J = d outputs / d theta` of a model on a batch, recorded once, with products
//! `J v` (forward mode) and `J^T u` (reverse mode).

use std::cell::RefCell;

use wengert_autodiff::functional::Linearization;
use wengert_autodiff::{Float, Tensor};
use wengert_nn::Module;

use super::OutputLoss;
use crate::objective::flatten_params;
use crate::stochastic::Closure;

pub use crate::objective::bind_flat;

/// The Jacobian `J` (`m x n`: `m` outputs, `n` trainable parameters) of a model's outputs on the batch a
/// [`Closure`] evaluates, at the model's current parameters.
///
/// Construction runs the closure once, recording `theta -> outputs` on a tape this owns
/// ([`Linearization`]); then [`ModelJacobian::jvp`] is one tangent sweep over the recording (true forward
/// mode, [`Tape::jvp`](wengert_autodiff::Tape::jvp)) and [`ModelJacobian::vjp`] one reverse sweep, and neither
/// grows the tape. Vectors over the parameters are flat, in the layout of [`flatten_params`].
pub struct ModelJacobian<T: Float> {
    lin: Linearization<T>,
    loss: OutputLoss<T>,
    outputs: Tensor<T>,
    theta: Vec<T>,
}

impl<T: Float> ModelJacobian<T> {
    /// Records the closure's forward pass at the model's current parameters.
    ///
    /// # Panics
    /// If the closure panics (e.g. shapes that do not fit).
    ///
    /// A model whose forward pass is random (dropout in training mode) is recorded with one draw: switch it to
    /// evaluation mode first for the curvature of the deterministic network.
    pub fn new(model: &dyn Module<T>, closure: &mut Closure<'_, T>) -> Self {
        let theta = flatten_params(model);
        let cell = RefCell::new(closure);
        let loss = RefCell::new(None);
        let lin = Linearization::new(
            |th| {
                let p = bind_flat(model, th);
                let eval = (cell.borrow_mut())(model, &p);
                *loss.borrow_mut() = Some(eval.loss);
                eval.outputs
            },
            &Tensor::from_vec(theta.clone(), &[theta.len()]),
        );
        let loss = loss.into_inner().expect("the closure ran");
        let outputs = lin.value();
        ModelJacobian { lin, loss, outputs, theta }
    }

    /// The outputs at the current parameters.
    pub fn outputs(&self) -> &Tensor<T> {
        &self.outputs
    }

    /// The loss the closure put on the outputs.
    pub fn loss(&self) -> &OutputLoss<T> {
        &self.loss
    }

    /// The flat trainable parameters the Jacobian was taken at.
    pub fn params(&self) -> &[T] {
        &self.theta
    }

    /// `n`, the number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.theta.len()
    }

    /// The loss value at the outputs.
    pub fn loss_value(&self) -> T {
        let tape = wengert_autodiff::Tape::new();
        self.loss.value(tape.constant(self.outputs.clone())).item()
    }

    /// The gradient of the loss with respect to the parameters, `J^T dL/d outputs` (one reverse sweep).
    pub fn loss_gradient(&self) -> Vec<T> {
        self.vjp(&self.loss.gradient(&self.outputs))
    }

    /// `J v`, with the outputs' shape.
    ///
    /// # Panics
    /// If `v.len()` is not [`ModelJacobian::num_params`].
    #[track_caller]
    pub fn jvp(&self, v: &[T]) -> Tensor<T> {
        assert_eq!(v.len(), self.theta.len(), "ModelJacobian::jvp: vector length vs parameters");
        self.lin.jvp(&Tensor::from_vec(v.to_vec(), &[v.len()]))
    }

    /// `J^T u` for `u` of the outputs' shape, as a flat parameter vector.
    ///
    /// # Panics
    /// If `u` does not have the outputs' shape.
    #[track_caller]
    pub fn vjp(&self, u: &Tensor<T>) -> Vec<T> {
        self.lin.vjp(u).into_vec()
    }
}
