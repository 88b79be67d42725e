//! [`LossHessian`]: the Hessian of a model's loss with respect to its parameters as a matrix-free operator.

use std::cell::RefCell;

use wengert_autodiff::functional::HessianOperator;
use wengert_autodiff::{Float, Tensor};
use wengert_nn::Module;

use super::jacobian::bind_flat;
use crate::linalg::LinOp;
use crate::objective::flatten_params;
use crate::stochastic::Closure;

/// The Hessian `H = d^2 L / d theta^2` of a model's loss on the batch a [`Closure`] evaluates, at the model's
/// current parameters, over the flat trainable parameters (layout of [`flatten_params`]).
///
/// A thin wrapper of [`HessianOperator`], the tape's one Hessian-vector product: construction records the loss
/// and its gradient graph once, each `H v` is one tangent sweep over both (forward over reverse), exact to
/// rounding. Unlike the GGN, `H` may be indefinite away from a minimum.
pub struct LossHessian<T: Float> {
    op: HessianOperator<T>,
}

impl<T: Float> LossHessian<T> {
    /// Records the loss and its gradient at the model's current parameters.
    ///
    /// # Panics
    /// If the closure panics (outputs whose shape does not fit the loss's labels or targets).
    pub fn new(model: &dyn Module<T>, closure: &mut Closure<'_, T>) -> Self {
        let theta = flatten_params(model);
        let cell = RefCell::new(closure);
        let op = HessianOperator::new(
            |th| {
                let p = bind_flat(model, th);
                let eval = (cell.borrow_mut())(model, &p);
                eval.loss.value(eval.outputs)
            },
            &Tensor::from_vec(theta.clone(), &[theta.len()]),
        );
        LossHessian { op }
    }

    /// The loss at the current parameters.
    pub fn loss_value(&self) -> T {
        self.op.value()
    }

    /// The gradient of the loss, flat.
    pub fn gradient(&self) -> &[T] {
        self.op.gradient().as_slice()
    }

    /// The underlying operator.
    pub fn operator(&self) -> &HessianOperator<T> {
        &self.op
    }
}

impl<T: Float> LinOp<T> for LossHessian<T> {
    fn dim(&self) -> usize {
        self.op.dim()
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        y.copy_from_slice(self.op.apply(&Tensor::from_vec(v.to_vec(), self.op.shape())).as_slice());
    }
}
