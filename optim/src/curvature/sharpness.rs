//! The sharpness `lambda_max` of a loss and the largest stable learning rate `2 / lambda_max`.

use wengert_autodiff::Float;
use wengert_nn::Module;

use super::lanczos::{top_eigenpairs, LanczosConfig};
use super::LossHessian;
use crate::linalg::LinOp;
use crate::stochastic::Closure;
use crate::OptimError;

/// The largest eigenvalue of a curvature operator and the learning rate at which gradient descent stops
/// being stable.
#[derive(Clone, Debug, PartialEq)]
pub struct Sharpness {
    /// `lambda_max`, the algebraically largest eigenvalue (the "sharpness", Cohen et al. 2021).
    pub lambda_max: f64,
    /// `2 / lambda_max` (infinite if `lambda_max <= 0`).
    pub max_stable_learning_rate: f64,
    /// Residual `||A x - lambda_max x||` of the Ritz pair.
    pub residual: f64,
    /// Operator products used.
    pub iterations: usize,
}

/// `lambda_max` of a symmetric operator by Lanczos ([`top_eigenpairs`] with `k = 1`) and `2 / lambda_max`.
///
/// Gradient descent `w <- w - alpha grad L` on a quadratic `L = 1/2 w^T A w` multiplies the component of `w`
/// along an eigenvector of eigenvalue `lambda` by `1 - alpha lambda` per step: it converges iff
/// `|1 - alpha lambda| < 1` for every eigenvalue, i.e. `alpha < 2 / lambda_max`, oscillates (sign flips) for
/// `1 / lambda_max < alpha < 2 / lambda_max`, and diverges above. The lecture's quadratic
/// `L = 0.1 w1^2 + 2 w2^2` has `lambda_max = 4`: `alpha = 0.48` converges while oscillating, `0.51` blows up.
/// Near a minimum of a non-quadratic loss the same holds for its Hessian, and training with a fixed rate tends
/// to the "edge of stability" `lambda_max ≈ 2 / alpha` (Cohen et al. 2021, "Gradient descent on neural networks
/// typically occurs at the edge of stability").
pub fn sharpness<T: Float>(op: &dyn LinOp<T>, cfg: &LanczosConfig) -> Result<Sharpness, OptimError> {
    let top = top_eigenpairs(op, 1, cfg)?;
    let lambda_max = top.values[0];
    let max_stable_learning_rate = if lambda_max > 0.0 { 2.0 / lambda_max } else { f64::INFINITY };
    Ok(Sharpness { lambda_max, max_stable_learning_rate, residual: top.residuals[0], iterations: top.iterations })
}

/// [`sharpness`] of the Hessian of a model's loss on the batch the closure evaluates ([`LossHessian`]) at the
/// model's current parameters. `Err(NonFiniteStart)` if the loss or its gradient is not finite.
///
/// # Panics
/// If the closure panics.
pub fn loss_sharpness<T: Float>(
    model: &dyn Module<T>,
    closure: &mut Closure<'_, T>,
    cfg: &LanczosConfig,
) -> Result<Sharpness, OptimError> {
    let h = LossHessian::new(model, closure);
    if !h.loss_value().is_finite() || h.gradient().iter().any(|g| !g.is_finite()) {
        return Err(OptimError::NonFiniteStart);
    }
    sharpness(&h, cfg)
}
