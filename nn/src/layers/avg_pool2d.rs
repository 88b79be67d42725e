//! [`AvgPool2d`]: the mean of each window.

use wengert_autodiff::ops::Pool2dArgs;
use wengert_autodiff::{Float, Var};

use crate::{Bound, Module, Param, Parameters};

/// 2-D average pooling, as PyTorch's `nn.AvgPool2d(kernel_size, stride, padding, count_include_pad)`:
/// `y[n, c, i, j] = (1 / k^2) sum_{a, b} x[n, c, i s + a - p, j s + b - p]` (padding counts as zeros;
/// with `count_include_pad = false` the divisor is the number of non-padding entries). Input
/// `[N, C, H, W]`, no parameters; a depthwise convolution with a constant kernel on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window, stride, padding and divisor rule.
    pub args: Pool2dArgs,
}

impl AvgPool2d {
    /// `k x k` windows with stride `k`, no padding (PyTorch's defaults for `AvgPool2d(k)`).
    pub fn new(k: usize) -> Self {
        AvgPool2d { args: Pool2dArgs::new(k) }
    }

    /// Windows, stride, padding and divisor rule as given.
    pub fn with_args(args: Pool2dArgs) -> Self {
        AvgPool2d { args }
    }
}

impl<T: Float> Parameters<T> for AvgPool2d {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for AvgPool2d {
    /// See [`AvgPool2d`].
    ///
    /// # Panics
    /// If `x` is not `[N, C, H, W]` or the window does not fit (the op's error names the shapes).
    #[track_caller]
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        x.avg_pool2d(&self.args)
    }
}
