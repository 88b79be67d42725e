//! `logsumexp(x, axis) = m + ln sum_i e^(x_i - m)`, a composite of primitives.
//!
//! The shift `m = max_i x_i` is taken as a constant: the identity holds for every
//! `m`, so every derivative is exact, while `x - m <= 0` keeps `e^(x - m)` from
//! overflowing (logits of ±1e4 give finite values and gradients).

use super::or_panic;
use crate::tensor::{kernels, normalize_axes};
use crate::{Float, Result, Var};

impl<'t, T: Float> Var<'t, T> {
    /// `ln sum exp(self)` over `axis` (negative counts from the end), computed stably; `keepdim`
    /// keeps the axis as size 1. Over an empty axis it is `-inf`, the log of an empty sum.
    ///
    /// # Panics
    /// If `axis` is out of range; see [`Var::try_logsumexp`].
    #[track_caller]
    pub fn logsumexp(self, axis: isize, keepdim: bool) -> Self {
        or_panic(self.try_logsumexp(axis, keepdim))
    }

    /// [`Var::logsumexp`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_logsumexp(self, axis: isize, keepdim: bool) -> Result<Self> {
        let ax = normalize_axes("logsumexp", &[axis], self.shape().len())?;
        let m = kernels::reduce(&self.value(), &ax, T::NEG_INFINITY, |a, b| a.max(b));
        // Rows that are all -inf keep a zero shift, so they give -inf rather than NaN.
        let m = kernels::map(&m, |v| if v.is_finite() { v } else { T::ZERO });
        let m = self.constant_like(m);
        let lse = (self - m).exp().sum_axes(&[axis], true).log() + m;
        if keepdim {
            Ok(lse)
        } else {
            let mut s = lse.shape();
            s.remove(ax[0]);
            Ok(lse.reshape(&s))
        }
    }
}
