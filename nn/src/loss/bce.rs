//! Binary cross-entropy from logits.

use wengert_autodiff::{AutodiffError, Float, Result, Var};

use super::Reduction;

/// For logits `x` and targets `y` in `[0, 1]`:
/// `L_i = -(y_i log sigmoid(x_i) + (1 - y_i) log(1 - sigmoid(x_i))) = softplus(x_i) - x_i y_i`,
/// evaluated as `max(x_i, 0) - x_i y_i + log(1 + e^-abs(x_i))` (the softplus op), which never
/// overflows; then reduced (PyTorch's `BCEWithLogitsLoss()`). Gradient: `sigmoid(x_i) - y_i`.
///
/// # Panics
/// If `logits` and `targets` differ in shape or a target is outside `[0, 1]` (see [`try_bce_with_logits`]).
#[track_caller]
pub fn bce_with_logits<'t, T: Float>(logits: Var<'t, T>, targets: Var<'t, T>, reduction: Reduction) -> Var<'t, T> {
    try_bce_with_logits(logits, targets, reduction).unwrap_or_else(|e| panic!("{e}"))
}

/// [`bce_with_logits`], with `Err(InvalidArgument)` instead of a panic if `logits` and `targets` differ in
/// shape or a target is outside `[0, 1]` (or NaN): such a target is no probability, and the loss would be
/// unbounded below.
pub fn try_bce_with_logits<'t, T: Float>(
    logits: Var<'t, T>,
    targets: Var<'t, T>,
    reduction: Reduction,
) -> Result<Var<'t, T>> {
    let err = |message: String| AutodiffError::InvalidArgument { op: "bce_with_logits", message };
    let (sx, sy) = (logits.shape(), targets.shape());
    if sx != sy {
        return Err(err(format!("prediction shape {:?} differs from target shape {:?}", sx.as_slice(), sy.as_slice())));
    }
    let y = targets.value();
    if let Some((i, t)) = y.as_slice().iter().enumerate().find(|(_, t)| !(**t >= T::ZERO && **t <= T::ONE)) {
        return Err(err(format!("target {t} (flat index {i}) is outside [0, 1]")));
    }
    Ok(reduction.apply(logits.softplus() - logits * targets))
}
