//! [`Fisher`]: the true (Monte-Carlo) and the empirical Fisher information matrix as matrix-free operators.

use rand::Rng;
use wengert_autodiff::{Float, Tensor};
use wengert_nn::Module;

use super::ModelJacobian;
use crate::linalg::LinOp;
use crate::stochastic::Closure;

/// Which Fisher a [`Fisher`] operator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FisherKind {
    /// `F = c sum_n E_{y ~ p_n}[grad nll_n grad nll_n^T]`, estimated with `samples` draws of the targets from the
    /// model ([`OutputLoss::sample`](super::OutputLoss::sample)). Unbiased; its expectation is the GGN
    /// ([`Ggn`](super::Ggn)) for all four losses.
    MonteCarlo {
        /// Target draws averaged.
        samples: usize,
    },
    /// `F_emp = c sum_n grad nll_n(y_n) grad nll_n(y_n)^T` with the data's own targets: the outer products of
    /// the per-example gradients. Not a curvature matrix in general (Kunstner, Balles & Hennig 2019, "Limitations
    /// of the empirical Fisher approximation for natural gradient descent").
    Empirical,
}

/// A Fisher information matrix of a model's loss on the batch a [`Closure`] evaluates, at the model's current
/// parameters, as `J^T M J` with `J` the Jacobian of the outputs ([`ModelJacobian`]) and `M` built from
/// per-row gradients of the loss with respect to the outputs:
///
/// `M u = 1/S sum_s c^-1 sum_n g_n^(s) <g_n^(s), u_n>`, `g^(s) = dL^(s)/d outputs`,
///
/// `n` over the rows of the batch, `c` = [`OutputLoss::nll_scale`](super::OutputLoss::nll_scale) (so that
/// `c^-1 g_n g_n^T = c grad nll_n grad nll_n^T` per row) and `L^(s)` the loss with sampled targets
/// ([`FisherKind::MonteCarlo`]) or the data's ([`FisherKind::Empirical`], `S = 1`). The per-example parameter
/// gradients are never formed: `F v = J^T M J v` costs one forward and one reverse sweep, as the GGN.
///
/// Where the Fisher equals the GGN: the true Fisher `E[F_MC]` is exactly `G` for cross-entropy, NLL (on
/// normalised log-probabilities), MSE (Gaussian with variance 1/2) and BCE, whose outputs are natural
/// parameters of an exponential family (Martens 2020, section 9.2). The empirical Fisher equals neither.
pub struct Fisher<T: Float> {
    jac: ModelJacobian<T>,
    grads: Vec<Tensor<T>>,
    kind: FisherKind,
}

impl<T: Float> Fisher<T> {
    /// The empirical Fisher at the model's current parameters.
    ///
    /// # Panics
    /// If the closure panics (outputs whose shape does not fit the loss's labels or targets).
    pub fn empirical(model: &dyn Module<T>, closure: &mut Closure<'_, T>) -> Self {
        let jac = ModelJacobian::new(model, closure);
        let g = jac.loss().gradient(jac.outputs());
        Fisher { jac, grads: vec![g], kind: FisherKind::Empirical }
    }

    /// The Monte-Carlo estimate of the true Fisher with `samples` draws of the targets from the model.
    ///
    /// # Panics
    /// If `samples` is zero, or the closure panics.
    #[track_caller]
    pub fn monte_carlo<R: Rng + ?Sized>(
        model: &dyn Module<T>,
        closure: &mut Closure<'_, T>,
        samples: usize,
        rng: &mut R,
    ) -> Self {
        assert!(samples > 0, "Fisher::monte_carlo: samples must be positive");
        let jac = ModelJacobian::new(model, closure);
        let grads = (0..samples).map(|_| jac.loss().sample(jac.outputs(), rng).gradient(jac.outputs())).collect();
        Fisher { jac, grads, kind: FisherKind::MonteCarlo { samples } }
    }

    /// Which Fisher this is.
    pub fn kind(&self) -> FisherKind {
        self.kind
    }

    /// The Jacobian of the outputs.
    pub fn jacobian(&self) -> &ModelJacobian<T> {
        &self.jac
    }
}

impl<T: Float> LinOp<T> for Fisher<T> {
    fn dim(&self) -> usize {
        self.jac.num_params()
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        let jv = self.jac.jvp(v);
        let u = jv.as_slice();
        let rows = self.jac.loss().batch_size().max(1);
        let width = u.len() / rows;
        let w = T::ONE / (self.jac.loss().nll_scale() * T::from_usize(self.grads.len()));
        let mut mu = vec![T::ZERO; u.len()];
        for g in &self.grads {
            let g = g.as_slice();
            for n in 0..rows {
                let r = n * width..(n + 1) * width;
                let d = crate::linalg::dot(&g[r.clone()], &u[r.clone()]) * w;
                for (o, &gi) in mu[r.clone()].iter_mut().zip(&g[r]) {
                    *o += d * gi;
                }
            }
        }
        y.copy_from_slice(&self.jac.vjp(&Tensor::from_vec(mu, jv.shape())));
    }
}
