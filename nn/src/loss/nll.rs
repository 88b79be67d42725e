//! Negative log-likelihood from log-probabilities.

use wengert_autodiff::{Float, Var};

use super::{check_labels, Reduction};

/// `L_i = -logp_{i, y_i}` for log-probabilities `logp` of shape `[N, C]` and integer labels,
/// then reduced over the batch (PyTorch's `NLLLoss()`).
///
/// # Panics
/// If `log_probs` is not `[labels.len(), C]` or a label is `>= C`.
#[track_caller]
pub fn nll<'t, T: Float>(log_probs: Var<'t, T>, labels: &[usize], reduction: Reduction) -> Var<'t, T> {
    check_labels("nll", log_probs, labels);
    reduction.apply(-log_probs.pick(labels))
}
