//! [`AdaptiveAvgPool2d`]: average pooling to a fixed output size.

use wengert_autodiff::{Float, Var};

use crate::{Bound, Module, Param, Parameters};

/// Adaptive average pooling, as PyTorch's `nn.AdaptiveAvgPool2d(output_size)`: output cell `(i, j)`
/// of an `[N, C, H, W]` input is the mean of rows `floor(i H / oh) .. ceil((i + 1) H / oh)` and the
/// matching columns, so any input size maps to `[N, C, oh, ow]` (`[1, 1]` is global average pooling).
/// No parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    /// `[oh, ow]`.
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    /// Pools to `[oh, ow]`.
    pub fn new(output_size: [usize; 2]) -> Self {
        AdaptiveAvgPool2d { output_size }
    }
}

impl<T: Float> Parameters<T> for AdaptiveAvgPool2d {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for AdaptiveAvgPool2d {
    /// See [`AdaptiveAvgPool2d`].
    ///
    /// # Panics
    /// If `x` is not `[N, C, H, W]` or an output size is zero (the op's error names the shapes).
    #[track_caller]
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        x.adaptive_avg_pool2d(self.output_size)
    }
}
