//! `clamp(x, lo, hi) = min(max(x, lo), hi)`.
//!
//! Rule: `dx = g * [lo <= x <= hi]` (the gradient passes at the bounds, as PyTorch).

use super::{grads, record};
use crate::error::arg_err;
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Clamp<T> {
    lo: T,
    hi: T,
}

impl<T: Float> Clamp<T> {
    /// `[lo <= x <= hi]`.
    fn mask(&self, x: &Tensor<T>) -> Tensor<T> {
        let (lo, hi) = (self.lo, self.hi);
        map(x, |v| if v >= lo && v <= hi { T::ONE } else { T::ZERO })
    }
}

impl<T: Float> Op<T> for Clamp<T> {
    fn name(&self) -> &'static str {
        "clamp"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let (lo, hi) = (self.lo, self.hi);
        if lo > hi {
            return arg_err("clamp", format!("lower bound {lo} exceeds upper bound {hi}"));
        }
        Ok(map(x[0], |v| {
            if v < lo {
                lo
            } else if v > hi {
                hi
            } else {
                v
            }
        }))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * g.constant_like(self.mask(&x[0].value())))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * t.constant_like(self.mask(&x[0].value())))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Each element clamped into `[lo, hi]` (use `±INFINITY` for a one-sided clamp).
    ///
    /// # Panics
    /// If `lo > hi`; see [`Var::try_clamp`].
    #[track_caller]
    pub fn clamp(self, lo: T, hi: T) -> Self {
        record(Clamp { lo, hi }, &[self])
    }

    /// [`Var::clamp`], or an error naming the bounds if `lo > hi`.
    #[track_caller]
    pub fn try_clamp(self, lo: T, hi: T) -> Result<Self> {
        self.tape().apply(Clamp { lo, hi }, &[self])
    }
}
