//! `max_pool2d(x)`: the maximum of each window, as PyTorch's `max_pool2d` (padding counts as `-inf`).
//!
//! A composite: the argmax of every window is found on the values, and the output is
//! `gather(x, argmax)` over each `h w` plane. Its gradient is therefore the gather's rule, a scatter-add
//! routing `g` to the argmax, and that rule's rule is a gather again: derivatives of any order work
//! (the argmax is piecewise constant).

use crate::error::or_panic;
use rayon::prelude::*;

use super::Pool2dArgs;
use crate::tensor::parallel;
use crate::{Float, Result, Var};

/// Planes of at least this many output elements go to rayon's pool.
const PAR_OUTPUTS: usize = 1 << 14;

/// For each input plane of size `h x w`, the flat index in its plane of every window's maximum (the first
/// one on ties; a NaN wins, so it propagates, as in PyTorch: `v > best || isnan(v)`).
fn argmax<T: Float>(x: &[T], [h, w]: [usize; 2], [oh, ow]: [usize; 2], a: &Pool2dArgs) -> Vec<usize> {
    let mut idx = vec![0; x.len() / (h * w) * oh * ow];
    // Each window cut to the input: rows y0..y1, columns x0..x1 (never empty: padding <= kernel / 2).
    let span = |o: usize, ax: usize, len: usize| {
        let start = o * a.stride[ax];
        (start.saturating_sub(a.padding[ax]), (start + a.kernel[ax] - a.padding[ax]).min(len))
    };
    let cols: Vec<(usize, usize)> = (0..ow).map(|ox| span(ox, 1, w)).collect();
    let fill = |plane: &[T], out: &mut [usize]| {
        for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
            let (y0, y1) = span(oy, 0, h);
            for (o, &(x0, x1)) in out_row.iter_mut().zip(&cols) {
                let (mut best, mut at) = (plane[y0 * w + x0], y0 * w + x0);
                for y in y0..y1 {
                    for (i, &v) in plane[y * w + x0..y * w + x1].iter().enumerate() {
                        // A select rather than a branch: on data the comparison is unpredictable.
                        let take = v > best || v.is_nan();
                        best = if take { v } else { best };
                        at = if take { y * w + x0 + i } else { at };
                    }
                }
                *o = at;
            }
        }
    };
    if parallel::split(idx.len(), PAR_OUTPUTS) {
        idx.par_chunks_mut(oh * ow).zip(x.par_chunks(h * w)).for_each(|(o, p)| fill(p, o));
    } else {
        idx.chunks_mut(oh * ow).zip(x.chunks(h * w)).for_each(|(o, p)| fill(p, o));
    }
    idx
}

impl<'t, T: Float> Var<'t, T> {
    /// 2-D max pooling of `self` `[n, c, h, w]` (as PyTorch's `max_pool2d`, `ceil_mode = false`):
    /// `y[n, c, oy, ox] = max_{i < kh, j < kw} x[n, c, oy s0 + i - p0, ox s1 + j - p1]`, padding as `-inf`,
    /// output size `floor((in + 2 p - k) / s) + 1` per axis. Any stride works, also overlapping windows.
    ///
    /// The gradient goes to each window's maximum (the first on ties): `dx = scatter_add(g, argmax)`.
    ///
    /// ```
    /// use wengert_autodiff::{ops::Pool2dArgs, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec((0..16).map(f64::from).collect(), &[1, 1, 4, 4]));
    /// let y = x.max_pool2d(&Pool2dArgs::new(2));
    /// assert_eq!(y.value().to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
    /// ```
    ///
    /// # Panics
    /// If the input is not rank 4 or the arguments do not fit it; see [`Var::try_max_pool2d`].
    #[track_caller]
    pub fn max_pool2d(self, args: &Pool2dArgs) -> Self {
        or_panic(self.try_max_pool2d(args))
    }

    /// [`Var::max_pool2d`], or an error naming the shape and arguments that do not fit.
    #[track_caller]
    pub fn try_max_pool2d(self, args: &Pool2dArgs) -> Result<Self> {
        let s = self.shape();
        let [oh, ow] = args.output_hw("max_pool2d", &s)?;
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let idx = argmax(self.value().as_slice(), [h, w], [oh, ow], args);
        let y = self.reshape(&[n * c, h * w]).try_gather(1, &idx, &[n * c, oh * ow])?;
        y.try_reshape(&[n, c, oh, ow])
    }
}
