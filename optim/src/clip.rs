//! Gradient clipping on [`Grads`], before an optimiser step.
//!
//! * [`clip_grad_norm`]: as PyTorch's `clip_grad_norm_` with `norm_type = 2`: the global norm
//!   `n = sqrt(sum_p ||g_p||^2)` over all parameters; if `n > max_norm` every gradient is scaled by
//!   `max_norm / (n + 1e-6)`. Returns `n` (before clipping).
//! * [`clip_grad_value`]: as `clip_grad_value_`: every element clamped to `[-clip, clip]`.
//!
//! Both take the parameters as well as the gradients so that the norm is summed in the parameters' visiting
//! order: the result is deterministic, which bit-exact resumption needs.

use wengert_autodiff::Float;
use wengert_nn::{Grads, Parameters};

use crate::first_order::OptimError;

/// Scales all gradients of `params` so that their global L2 norm is at most `max_norm`; returns the norm
/// before clipping (accumulated in `f64`, in visiting order).
///
/// Frozen parameters and parameters without a gradient are ignored. A non-finite norm is refused with
/// [`OptimError::NonFinite`] naming the first parameter whose gradient is not finite, and nothing is changed.
///
/// # Panics
/// If `max_norm` is negative or NaN.
///
/// ```
/// use wengert_autodiff::Tensor;
/// use wengert_nn::{Grads, Param};
/// use wengert_optim::clip::clip_grad_norm;
///
/// let params = vec![Param::new(Tensor::zeros(&[2])), Param::new(Tensor::zeros(&[1]))];
/// let mut grads = Grads::new();
/// grads.insert(&params[0], Tensor::from_vec(vec![3.0f64, 0.0], &[2]));
/// grads.insert(&params[1], Tensor::from_vec(vec![4.0], &[1]));
/// let norm = clip_grad_norm(&params, &mut grads, 1.0).unwrap();
/// assert_eq!(norm, 5.0);                                   // sqrt(3^2 + 4^2)
/// let g = grads.get(&params[1]).unwrap().as_slice()[0];
/// assert!((g - 4.0 / (5.0 + 1e-6)).abs() < 1e-12);         // scaled by 1 / (5 + 1e-6)
/// ```
#[track_caller]
pub fn clip_grad_norm<T: Float, P: Parameters<T> + ?Sized>(
    params: &P,
    grads: &mut Grads<T>,
    max_norm: T,
) -> Result<T, OptimError> {
    assert!(max_norm >= T::ZERO, "clip_grad_norm: max_norm = {max_norm} must be >= 0");
    let mut sq = 0.0f64;
    let mut bad = None;
    let mut order = Vec::new();
    params.visit("", &mut |name, p| {
        if p.is_frozen() {
            return;
        }
        if let Some(g) = grads.get(p) {
            let s: f64 = g.as_slice().iter().map(|x| x.to_f64() * x.to_f64()).sum();
            if !s.is_finite() && bad.is_none() {
                bad = Some(name.to_string());
            }
            sq += s;
            order.push(p.clone());
        }
    });
    if let Some(param) = bad {
        return Err(OptimError::NonFinite { param });
    }
    let norm = sq.sqrt();
    let coef = max_norm.to_f64() / (norm + 1e-6);
    if coef < 1.0 {
        let c = T::from_f64(coef);
        for p in &order {
            if let Some(g) = grads.get_mut(p) {
                g.data_mut().iter_mut().for_each(|x| *x *= c);
            }
        }
    }
    Ok(T::from_f64(norm))
}

/// Clamps every gradient element of `params` to `[-clip, clip]`.
///
/// A NaN gradient element is refused with [`OptimError::NonFinite`] (nothing is changed); infinities are
/// clamped, as in PyTorch.
///
/// # Panics
/// If `clip` is negative or NaN.
#[track_caller]
pub fn clip_grad_value<T: Float, P: Parameters<T> + ?Sized>(
    params: &P,
    grads: &mut Grads<T>,
    clip: T,
) -> Result<(), OptimError> {
    assert!(clip >= T::ZERO, "clip_grad_value: clip = {clip} must be >= 0");
    let mut bad = None;
    let mut order = Vec::new();
    params.visit("", &mut |name, p| {
        if p.is_frozen() {
            return;
        }
        if let Some(g) = grads.get(p) {
            if bad.is_none() && g.as_slice().iter().any(|x| x.is_nan()) {
                bad = Some(name.to_string());
            }
            order.push(p.clone());
        }
    });
    if let Some(param) = bad {
        return Err(OptimError::NonFinite { param });
    }
    for p in &order {
        if let Some(g) = grads.get_mut(p) {
            g.data_mut().iter_mut().for_each(|x| *x = x.max(-clip).min(clip));
        }
    }
    Ok(())
}
