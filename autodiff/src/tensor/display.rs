use std::fmt;

use super::Tensor;
use crate::Float;

/// How many leading and trailing entries of each axis are shown.
const EDGE: usize = 3;

impl<T: Float> Tensor<T> {
    fn fmt_axis(&self, f: &mut fmt::Formatter<'_>, axis: usize, offset: usize, stride: usize) -> fmt::Result {
        if self.ndim() == 0 {
            return write!(f, "{:.4}", self.as_slice()[0]);
        }
        let n = self.shape()[axis];
        let inner = stride / n.max(1);
        write!(f, "[")?;
        for i in 0..n {
            if n > 2 * EDGE && i == EDGE {
                write!(f, "..., ")?;
            }
            if n > 2 * EDGE && i >= EDGE && i < n - EDGE {
                continue;
            }
            if axis + 1 == self.ndim() {
                write!(f, "{:.4}", self.as_slice()[offset + i])?;
            } else {
                self.fmt_axis(f, axis + 1, offset + i * inner, inner)?;
            }
            if i + 1 < n {
                write!(f, ", ")?;
            }
        }
        write!(f, "]")
    }
}

/// Shows the shape and the values, eliding the middle of long axes.
///
/// ```
/// use wengert_autodiff::Tensor;
/// let t = Tensor::from_vec(vec![1.0_f32, 2.0, 3.0], &[3]);
/// assert_eq!(t.to_string(), "Tensor<f32>[3] [1.0000, 2.0000, 3.0000]");
/// ```
impl<T: Float> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?} ", T::DTYPE, self.shape())?;
        self.fmt_axis(f, 0, 0, self.numel())
    }
}

impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
