//! Huber loss: quadratic near zero, linear in the tails.

use wengert_autodiff::kernels::map;
use wengert_autodiff::{Float, Var};

use super::{same_shape, Reduction};

/// With `d = x_i - y_i`: `L_i = 0.5 d^2` if `abs(d) < delta`, else `delta (abs(d) - 0.5 delta)`,
/// then reduced (PyTorch's `HuberLoss(delta=..)`; `delta = 1` is `SmoothL1Loss`).
///
/// The branch is chosen by a constant mask, so the gradient is `d` inside and
/// `delta sign(d)` outside; the second derivative is `1` inside and `0` outside.
///
/// # Panics
/// If `pred` and `target` differ in shape, or `delta <= 0`.
#[track_caller]
pub fn huber<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, delta: T, reduction: Reduction) -> Var<'t, T> {
    same_shape("huber", pred, target);
    assert!(delta > T::ZERO, "huber: delta must be positive, got {delta}");
    let d = pred - target;
    let inside = map(&d.value(), |v| if v.abs() < delta { T::ONE } else { T::ZERO });
    let half = T::from_f64(0.5);
    let quadratic = d.square() * half;
    let linear = (d.abs() - delta * half) * delta;
    reduction.apply(quadratic.where_(&inside, linear))
}
