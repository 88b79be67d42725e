//! [`Ggn`]: the generalised Gauss-Newton matrix `G = J^T H_L J` as a matrix-free operator.

use wengert_autodiff::{Float, Tape, Tensor};
use wengert_nn::Module;

use super::{ModelJacobian, OutputLoss};
use crate::linalg::LinOp;
use crate::stochastic::Closure;

/// The generalised Gauss-Newton matrix `G = J^T H_L J` (Schraudolph 2002, "Fast curvature matrix-vector
/// products for second-order gradient descent"; Martens 2010) of a model's loss on the batch a [`Closure`]
/// evaluates, at the model's current parameters: `J` the Jacobian of the outputs with respect to the
/// trainable parameters, `H_L` the Hessian of the loss with respect to the outputs ([`OutputLoss::hessian_vec`],
/// closed form).
///
/// `G v` is `J v` by one forward-mode sweep over the recorded forward pass, `H_L` on the outputs, and `J^T` by
/// one reverse sweep: about the cost of two gradients, with no second-order tape. `G` is symmetric positive
/// semi-definite (all four `H_L` are), equals the Hessian when the model is linear in its parameters
/// (the dropped term `sum_i dL/df_i d^2 f_i/dtheta^2` vanishes), and equals the true Fisher of the model's
/// predictive distribution ([`Fisher`](super::Fisher), [`OutputLoss::sample`]).
///
/// "Minibatch or full data" is the closure's choice: it evaluates whichever rows it is given.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::Tensor;
/// use wengert_nn::{layers::{Activation, Mlp}, Module};
/// use wengert_optim::curvature::{Ggn, OutputLoss};
/// use wengert_optim::linalg::LinOp;
/// use wengert_optim::stochastic::Evaluation;
///
/// let model = Mlp::<f64>::new(&[3, 4, 2], Activation::Tanh, &mut StdRng::seed_from_u64(0));
/// let x = Tensor::randn(&[5, 3], 0.0, 1.0, &mut StdRng::seed_from_u64(1));
/// let g = Ggn::new(&model, &mut |m, p| Evaluation {
///     outputs: m.forward(p, p.tape().constant(x.clone())),
///     loss: OutputLoss::CrossEntropy { labels: vec![0, 1, 1, 0, 1] },
/// });
/// let v = vec![1.0; g.dim()];
/// let mut gv = vec![0.0; g.dim()];
/// g.apply(&v, &mut gv);
/// let vgv: f64 = v.iter().zip(&gv).map(|(a, b)| a * b).sum();
/// assert!(vgv >= 0.0); // positive semi-definite
/// ```
pub struct Ggn<T: Float> {
    jac: ModelJacobian<T>,
}

impl<T: Float> Ggn<T> {
    /// Records the closure's forward pass at the model's current parameters.
    ///
    /// # Panics
    /// If the closure panics (outputs whose shape does not fit the loss's labels or targets).
    pub fn new(model: &dyn Module<T>, closure: &mut Closure<'_, T>) -> Self {
        Ggn { jac: ModelJacobian::new(model, closure) }
    }

    /// The GGN of an already recorded Jacobian.
    pub fn from_jacobian(jac: ModelJacobian<T>) -> Self {
        Ggn { jac }
    }

    /// The Jacobian (for the loss value, its gradient, `J v`, `J^T u`).
    pub fn jacobian(&self) -> &ModelJacobian<T> {
        &self.jac
    }

    /// The loss the closure put on the outputs.
    pub fn loss(&self) -> &OutputLoss<T> {
        self.jac.loss()
    }
}

impl<T: Float> LinOp<T> for Ggn<T> {
    fn dim(&self) -> usize {
        self.jac.num_params()
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        let hjv = output_hessian_vec(self.jac.loss(), self.jac.outputs(), self.jac.jvp(v));
        y.copy_from_slice(&self.jac.vjp(&hjv));
    }
}

/// `H_L u` at the outputs, `u` of the outputs' shape, outside any tape of the caller's.
pub(crate) fn output_hessian_vec<T: Float>(loss: &OutputLoss<T>, outputs: &Tensor<T>, u: Tensor<T>) -> Tensor<T> {
    let tape = Tape::new();
    loss.hessian_vec(tape.constant(outputs.clone()), tape.constant(u)).value()
}
