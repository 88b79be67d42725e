//! What the normalisation layers share: standardising over axes and broadcasting a per-channel vector.

use wengert_autodiff::{Float, Var};

/// `(x - mean) / sqrt(var + eps)` over `axes`, with `mean` and the biased `var` (divided by the
/// number of elements, as PyTorch's normalisation layers) kept with their reduced axes (size 1).
/// Returns `(x_hat, mean, var)`; all three are differentiable (batch norm's gradient flows
/// through the batch statistics).
pub(crate) fn standardize<'t, T: Float>(
    x: Var<'t, T>,
    axes: &[isize],
    eps: f64,
) -> (Var<'t, T>, Var<'t, T>, Var<'t, T>) {
    let mean = x.mean_axes(axes, true);
    let xc = x - mean;
    let var = (xc * xc).mean_axes(axes, true);
    (xc / (var + T::from_f64(eps)).sqrt(), mean, var)
}

/// `v` of shape `[c]` reshaped to `[1, c, 1, ..]` of rank `rank`, to scale channel axis 1.
pub(crate) fn per_channel<'t, T: Float>(v: Var<'t, T>, rank: usize) -> Var<'t, T> {
    let mut shape = vec![1; rank];
    shape[1] = v.numel();
    v.reshape(&shape)
}
