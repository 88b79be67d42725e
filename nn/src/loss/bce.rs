//! Binary cross-entropy from logits.

use wengert_autodiff::{Float, Var};

use super::{same_shape, Reduction};

/// For logits `x` and targets `y` in `[0, 1]`:
/// `L_i = -(y_i log sigmoid(x_i) + (1 - y_i) log(1 - sigmoid(x_i))) = softplus(x_i) - x_i y_i`,
/// evaluated as `max(x_i, 0) - x_i y_i + log(1 + e^-abs(x_i))` (the softplus op), which never
/// overflows; then reduced (PyTorch's `BCEWithLogitsLoss()`). Gradient: `sigmoid(x_i) - y_i`.
///
/// # Panics
/// If `logits` and `targets` differ in shape.
#[track_caller]
pub fn bce_with_logits<'t, T: Float>(logits: Var<'t, T>, targets: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    same_shape("bce_with_logits", logits, targets);
    reduction.apply(logits.softplus() - logits * targets)
}
