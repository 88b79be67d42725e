//! `adaptive_avg_pool2d(x, [oh, ow])`: average pooling to a fixed output size, as PyTorch's.
//!
//! Output row `i` averages input rows `floor(i h / oh) .. ceil((i + 1) h / oh)`, and likewise for columns.
//! A composite: each `h w` plane times a constant `[h w, oh ow]` pooling matrix, whose gradient is the
//! product with its transpose.

use crate::error::arg_err;
use crate::error::or_panic;
use crate::{Float, Result, Tensor, Var};

/// The pooling matrix `P[(y, x), (oy, ox)] = 1 / (rows(oy) cols(ox))` for `y` in `rows(oy)`, `x` in `cols(ox)`.
fn pooling_matrix<T: Float>([h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Tensor<T> {
    let window = |o: usize, len: usize, out: usize| (o * len / out)..((o + 1) * len).div_ceil(out);
    let mut p = vec![T::ZERO; h * w * oh * ow];
    for oy in 0..oh {
        let rows = window(oy, h, oh);
        for ox in 0..ow {
            let cols = window(ox, w, ow);
            let v = T::ONE / T::from_usize(rows.len() * cols.len());
            for y in rows.clone() {
                for x in cols.clone() {
                    p[(y * w + x) * oh * ow + oy * ow + ox] = v;
                }
            }
        }
    }
    Tensor::from_vec(p, &[h * w, oh * ow])
}

impl<'t, T: Float> Var<'t, T> {
    /// Adaptive 2-D average pooling of `self` `[n, c, h, w]` to `[n, c, oh, ow]` (as PyTorch's
    /// `adaptive_avg_pool2d`): `y[.., oy, ox]` is the mean of `x[.., floor(oy h / oh) .. ceil((oy + 1) h / oh),
    /// floor(ox w / ow) .. ceil((ox + 1) w / ow)]`. Windows may overlap when the sizes do not divide.
    ///
    /// ```
    /// use wengert_autodiff::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec((0..6).map(f64::from).collect(), &[1, 1, 2, 3]));
    /// // columns 0..2 and 1..3 of both rows
    /// assert_eq!(x.adaptive_avg_pool2d([1, 2]).value().to_vec(), vec![2.0, 3.0]);
    /// ```
    ///
    /// # Panics
    /// If the input is not rank 4 or a size is 0; see
    /// [`Var::try_adaptive_avg_pool2d`].
    #[track_caller]
    pub fn adaptive_avg_pool2d(self, output: [usize; 2]) -> Self {
        or_panic(self.try_adaptive_avg_pool2d(output))
    }

    /// [`Var::adaptive_avg_pool2d`], or an error naming the shape and output size.
    #[track_caller]
    pub fn try_adaptive_avg_pool2d(self, output: [usize; 2]) -> Result<Self> {
        let s = self.shape();
        let op = "adaptive_avg_pool2d";
        let &[n, c, h, w] = s.as_slice() else {
            return arg_err(op, format!("input must be [batch, channels, height, width], got {:?}", s.as_slice()));
        };
        let [oh, ow] = output;
        if oh == 0 || ow == 0 || h == 0 || w == 0 {
            return arg_err(op, format!("output size {output:?} and input {:?} must be non-empty", s.as_slice()));
        }
        if [oh, ow] == [1, 1] {
            return Ok(self.mean_axes(&[2, 3], true));
        }
        let p = self.constant_like(pooling_matrix([h, w], [oh, ow]));
        self.reshape(&[n * c, h * w]).try_matmul(p)?.try_reshape(&[n, c, oh, ow])
    }
}
