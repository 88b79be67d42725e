//! The multiclass SVM (hinge) loss.

use wengert_autodiff::{Float, Tensor, Var};

use super::{check_labels, Reduction};

/// `L_i = sum_{j != y_i} max(0, s_ij - s_{i,y_i} + margin)` for scores `s` of shape `[N, C]`
/// (the lectures' multiclass SVM loss with `margin = 1`; Weston & Watkins), then reduced over
/// the batch. With `Reduction::None` the result is `[N]`.
///
/// The `j = y_i` terms are masked out (they would each add `margin`).
///
/// # Panics
/// If `scores` is not `[labels.len(), C]` or a label is `>= C`.
#[track_caller]
pub fn multiclass_hinge<'t, T: Float>(
    scores: Var<'t, T>,
    labels: &[usize],
    margin: T,
    reduction: Reduction,
) -> Var<'t, T> {
    check_labels("multiclass_hinge", scores, labels);
    let classes = scores.shape()[1];
    let correct = scores.pick(labels).unsqueeze(1);
    let margins = (scores - correct + margin).relu();
    let others = Tensor::one_hot(labels, classes);
    let others = wengert_autodiff::kernels::map(&others, |v| T::ONE - v);
    reduction.apply((margins * scores.constant_like(others)).sum_axes(&[1], false))
}
