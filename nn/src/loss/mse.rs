//! Mean squared error (L2 loss).

use wengert_autodiff::{Float, Var};

use super::{same_shape, Reduction};

/// `L_i = (x_i - y_i)^2` elementwise, then reduced (`Mean` is PyTorch's `MSELoss()`).
///
/// # Panics
/// If `pred` and `target` differ in shape.
#[track_caller]
pub fn mse<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    same_shape("mse", pred, target);
    reduction.apply((pred - target).square())
}
