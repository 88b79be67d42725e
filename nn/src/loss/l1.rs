//! Mean absolute error (L1 loss).

use wengert_autodiff::{Float, Var};

use super::{same_shape, Reduction};

/// `L_i = abs(x_i - y_i)` elementwise, then reduced. The gradient at `x_i = y_i` is `0`
/// (subgradient, as PyTorch).
///
/// # Panics
/// If `pred` and `target` differ in shape.
#[track_caller]
pub fn l1<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    same_shape("l1", pred, target);
    reduction.apply((pred - target).abs())
}
