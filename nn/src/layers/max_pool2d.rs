//! [`MaxPool2d`]: the largest value of each window.

use wengert_autodiff::ops::Pool2dArgs;
use wengert_autodiff::{Float, Var};

use crate::{Bound, Module, Param, Parameters};

/// 2-D max pooling, as PyTorch's `nn.MaxPool2d(kernel_size, stride, padding)`:
/// `y[n, c, i, j] = max_{a, b} x[n, c, i s + a - p, j s + b - p]` over each `k x k` window (stride
/// defaults to the kernel size; padding counts as `-inf`). Input `[N, C, H, W]`, no parameters.
/// The gradient goes to each window's maximum (the tape's gather), so it is differentiable again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window, stride and padding.
    pub args: Pool2dArgs,
}

impl MaxPool2d {
    /// `k x k` windows with stride `k`, no padding (PyTorch's defaults for `MaxPool2d(k)`).
    pub fn new(k: usize) -> Self {
        MaxPool2d { args: Pool2dArgs::new(k) }
    }

    /// Windows, stride and padding as given.
    pub fn with_args(args: Pool2dArgs) -> Self {
        MaxPool2d { args }
    }
}

impl<T: Float> Parameters<T> for MaxPool2d {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for MaxPool2d {
    /// See [`MaxPool2d`].
    ///
    /// # Panics
    /// If `x` is not `[N, C, H, W]` or the window does not fit (the op's error names the shapes).
    #[track_caller]
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        x.max_pool2d(&self.args)
    }
}
