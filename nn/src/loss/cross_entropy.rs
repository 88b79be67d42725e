//! Softmax cross-entropy from logits and integer labels (the softmax loss).

use wengert_autodiff::{Float, Var};

use super::{check_labels, nll, Reduction};

/// `L_i = -log(e^{s_{i,y_i}} / sum_j e^{s_ij}) = -log_softmax(s_i)_{y_i}` for logits `s` of shape
/// `[N, C]`, then reduced over the batch (PyTorch's `CrossEntropyLoss()`).
///
/// Computed as `nll(log_softmax(s), y)`; `log_softmax` subtracts the row maximum, so it is
/// stable for any logits. The gradient is `(softmax(s_i) - onehot(y_i)) / N` for `Mean`.
///
/// # Panics
/// If `logits` is not `[labels.len(), C]` or a label is `>= C`.
#[track_caller]
pub fn cross_entropy<'t, T: Float>(logits: Var<'t, T>, labels: &[usize], reduction: Reduction) -> Var<'t, T> {
    check_labels("cross_entropy", logits, labels);
    nll(logits.log_softmax(-1), labels, reduction)
}
