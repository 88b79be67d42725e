//! `avg_pool2d(x)`: the mean of each window, as PyTorch's `avg_pool2d`.
//!
//! A composite: a depthwise convolution of every plane with the constant kernel `1 / (kh kw)`, whose
//! gradient is the transposed convolution; with `count_include_pad = false` each output is then
//! rescaled by `kh kw / count`, `count` being the input entries in its window.

use super::Pool2dArgs;
use crate::error::or_panic;
use crate::ops::Conv2dArgs;
use crate::{Float, Result, Tensor, Var};

impl<'t, T: Float> Var<'t, T> {
    /// 2-D average pooling of `self` `[n, c, h, w]` (as PyTorch's `avg_pool2d`, `ceil_mode = false`):
    /// `y[n, c, oy, ox] = (1 / m) sum_{i < kh, j < kw} x[n, c, oy s0 + i - p0, ox s1 + j - p1]`, zeros as padding,
    /// where `m = kh kw` with `count_include_pad` (PyTorch's default), else the number of non-padding entries
    /// in the window. Output size `floor((in + 2 p - k) / s) + 1` per axis; any stride works.
    ///
    /// ```
    /// use wengert_autodiff::{ops::Pool2dArgs, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec((0..16).map(f64::from).collect(), &[1, 1, 4, 4]));
    /// let y = x.avg_pool2d(&Pool2dArgs::new(2));
    /// assert_eq!(y.value().to_vec(), vec![2.5, 4.5, 10.5, 12.5]);
    /// // with padding 1 and a 2x2 window the corner window holds one input entry: 0 / 4, or 0 / 1
    /// let p = x.avg_pool2d(&Pool2dArgs::new(2).padding(1).count_include_pad(false));
    /// assert_eq!(p.value().to_vec()[..3], [0.0, 1.5, 3.0]);
    /// ```
    ///
    /// # Panics
    /// If the input is not rank 4 or the arguments do not fit it; see [`Var::try_avg_pool2d`].
    #[track_caller]
    pub fn avg_pool2d(self, args: &Pool2dArgs) -> Self {
        or_panic(self.try_avg_pool2d(args))
    }

    /// [`Var::avg_pool2d`], or an error naming the shape and arguments that do not fit.
    #[track_caller]
    pub fn try_avg_pool2d(self, args: &Pool2dArgs) -> Result<Self> {
        let s = self.shape();
        let [oh, ow] = args.output_hw("avg_pool2d", &s)?;
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let [kh, kw] = args.kernel;
        let kernel = self.constant_like(Tensor::full(&[1, 1, kh, kw], T::ONE / T::from_usize(kh * kw)));
        let conv = Conv2dArgs { stride: args.stride, padding: args.padding, ..Conv2dArgs::new() };
        let y = self.reshape(&[n * c, 1, h, w]).try_conv2d(kernel, None, &conv)?.reshape(&[n, c, oh, ow]);
        if args.count_include_pad || args.padding == [0, 0] {
            return Ok(y);
        }
        // Input entries in window `o` along an axis of length `len`: the window [o s - p, o s - p + k) cut to [0, len).
        let count = |o: usize, a: usize, len: usize| {
            let start = o * args.stride[a];
            (start + args.kernel[a]).min(len + args.padding[a]) - start.max(args.padding[a])
        };
        let scale: Vec<T> = (0..oh * ow)
            .map(|i| T::from_usize(kh * kw) / T::from_usize(count(i / ow, 0, h) * count(i % ow, 1, w)))
            .collect();
        Ok(y * self.constant_like(Tensor::from_vec(scale, &[oh, ow])))
    }
}
