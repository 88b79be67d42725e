//! Softmax cross-entropy from logits and integer labels (the softmax loss).

use wengert_autodiff::{Float, Var};

use super::{check_labels, nll, Reduction};

/// `L_i = -log(e^{s_{i,y_i}} / sum_j e^{s_ij}) = -log_softmax(s_i)_{y_i}` for logits `s` of shape
/// `[N, C]`, then reduced over the batch (PyTorch's `CrossEntropyLoss()`).
///
/// Computed as `nll(log_softmax(s), y)`; `log_softmax` subtracts the row maximum, so it is
/// stable for any finite logits. The gradient is `(softmax(s_i) - onehot(y_i)) / N` for `Mean`.
///
/// A logit of `+inf` is taken as the largest finite value (by [`Var::clamp`], whose gradient there is 0):
/// `+inf` on the correct class gives loss 0 and a finite (zero) gradient, the limit of log-sum-exp, rather
/// than `inf - inf = NaN`; `+inf` on a wrong class gives a loss of about `T::MAX`.
///
/// # Panics
/// If `logits` is not `[labels.len(), C]` or a label is `>= C`.
#[track_caller]
pub fn cross_entropy<'t, T: Float>(logits: Var<'t, T>, labels: &[usize], reduction: Reduction) -> Var<'t, T> {
    check_labels("cross_entropy", logits, labels);
    let logits =
        if logits.value().as_slice().contains(&T::INFINITY) { logits.clamp(T::NEG_INFINITY, T::MAX) } else { logits };
    nll(logits.log_softmax(-1), labels, reduction)
}
