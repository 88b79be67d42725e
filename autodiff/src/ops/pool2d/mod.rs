//! 2-D pooling over NCHW inputs: `max_pool2d`, `avg_pool2d` and `adaptive_avg_pool2d`.
//!
//! All three are composites, so they need no rule of their own and are differentiable to any order:
//! max pooling gathers each window's argmax (the gradient is the gather's scatter-add), average pooling
//! is a depthwise convolution with a constant kernel, adaptive average pooling a product with a constant
//! pooling matrix.

mod adaptive_avg;
mod avg;
mod max;

use crate::error::arg_err;
use crate::Result;

/// Window size, stride and zero padding of `max_pool2d` / `avg_pool2d`, with PyTorch's defaults
/// (stride = kernel size, padding 0, `count_include_pad = true`, `ceil_mode = false`, dilation 1).
///
/// ```
/// use wengert_autodiff::ops::Pool2dArgs;
/// let a = Pool2dArgs::new(3).stride(2).padding(1);
/// assert_eq!((a.kernel, a.stride, a.padding, a.count_include_pad), ([3, 3], [2, 2], [1, 1], true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dArgs {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows, per axis.
    pub stride: [usize; 2],
    /// Implicit padding on both sides, per axis: `-inf` for max pooling, zeros for average pooling.
    /// At most half the window, as PyTorch requires.
    pub padding: [usize; 2],
    /// `avg_pool2d` only: divide by the whole window (`true`, PyTorch's default) or by the number of
    /// input (non-padding) entries in it.
    pub count_include_pad: bool,
}

impl Pool2dArgs {
    /// A `k x k` window with stride `k`, no padding.
    pub fn new(k: usize) -> Self {
        Pool2dArgs { kernel: [k, k], stride: [k, k], padding: [0, 0], count_include_pad: true }
    }
    /// The same stride on both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }
    /// The same padding on both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }
    /// Whether `avg_pool2d` counts padding in each window's divisor.
    pub fn count_include_pad(mut self, yes: bool) -> Self {
        self.count_include_pad = yes;
        self
    }

    /// Checks the arguments against input shape `x` (`[n, c, h, w]`) and returns the output size
    /// `o = floor((i + 2 p - k) / s) + 1` per axis.
    pub(crate) fn output_hw(&self, op: &'static str, x: &[usize]) -> Result<[usize; 2]> {
        let &[_, _, h, w] = x else {
            return arg_err(op, format!("input must be [batch, channels, height, width], got {x:?}"));
        };
        if self.kernel.contains(&0) || self.stride.contains(&0) || h == 0 || w == 0 {
            return arg_err(
                op,
                format!("kernel {:?}, stride {:?} and input {x:?} must be non-empty", self.kernel, self.stride),
            );
        }
        if (0..2).any(|a| 2 * self.padding[a] > self.kernel[a]) {
            return arg_err(
                op,
                format!("padding {:?} must be at most half the kernel {:?}", self.padding, self.kernel),
            );
        }
        let out =
            |i: usize, a: usize| (i + 2 * self.padding[a]).checked_sub(self.kernel[a]).map(|r| r / self.stride[a] + 1);
        match (out(h, 0), out(w, 1)) {
            (Some(oh), Some(ow)) => Ok([oh, ow]),
            _ => arg_err(
                op,
                format!("kernel {:?} is larger than the padded input {x:?} (padding {:?})", self.kernel, self.padding),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pool2dArgs;
    use crate::{Tape, Tensor};

    /// Max and mean of each window by the definition (padding skipped; `count_include_pad` divides by `kh kw`).
    fn naive(x: &Tensor<f64>, a: &Pool2dArgs) -> (Vec<f64>, Vec<f64>) {
        let s = x.shape();
        let [oh, ow] = a.output_hw("test", s).unwrap();
        let (mut mx, mut avg) = (Vec::new(), Vec::new());
        for nc in 0..s[0] * s[1] {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut m, mut sum, mut count) = (f64::NEG_INFINITY, 0.0, 0);
                    for i in 0..a.kernel[0] {
                        for j in 0..a.kernel[1] {
                            let y = (oy * a.stride[0] + i) as isize - a.padding[0] as isize;
                            let xx = (ox * a.stride[1] + j) as isize - a.padding[1] as isize;
                            if y >= 0 && xx >= 0 && (y as usize) < s[2] && (xx as usize) < s[3] {
                                let v = x.as_slice()[(nc * s[2] + y as usize) * s[3] + xx as usize];
                                (m, sum, count) = (m.max(v), sum + v, count + 1);
                            }
                        }
                    }
                    let div = if a.count_include_pad { a.kernel[0] * a.kernel[1] } else { count };
                    mx.push(m);
                    avg.push(sum / div as f64);
                }
            }
        }
        (mx, avg)
    }

    #[test]
    fn pools_match_the_definition_for_overlapping_and_padded_windows() {
        let x = Tensor::from_vec((0..2 * 3 * 7 * 6).map(|i| ((i * 37 + 5) % 23) as f64 - 11.0).collect(), &[2, 3, 7, 6]);
        let tape = Tape::new();
        let v = tape.constant(x.clone());
        for a in [
            Pool2dArgs::new(2),
            Pool2dArgs::new(3).stride(2).padding(1),
            Pool2dArgs::new(3).stride(1).padding(1).count_include_pad(false),
            Pool2dArgs { kernel: [2, 3], stride: [3, 1], padding: [1, 0], count_include_pad: false },
        ] {
            let (mx, avg) = naive(&x, &a);
            assert_eq!(v.max_pool2d(&a).value().to_vec(), mx, "{a:?}");
            let got = v.avg_pool2d(&a).value().to_vec();
            assert!(got.iter().zip(&avg).all(|(g, w)| (g - w).abs() < 1e-12), "{a:?}: {got:?} vs {avg:?}");
        }
    }
}
