//! `max(x, axes, keepdim)` and `min(x, axes, keepdim)` reductions.
//!
//! Rule: the gradient flows to the extreme entries, split evenly among ties
//! (as JAX and PyTorch's `amax`): `dx = broadcast(g) * [x == out] / count`. The mask
//! is piecewise constant, so it has no derivative of its own.

use smallvec::SmallVec;

use super::sum::reduced_shape;
use super::sum::Sum;
use super::{grads, or_panic, record};
use crate::error::arg_err;
use crate::tensor::{kernels, normalize_axes};
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Extreme {
    axes: SmallVec<[usize; 4]>,
    keepdim: bool,
    max: bool,
}

impl Extreme {
    /// `[x == out] / count`: each extreme entry's share of the gradient, ties splitting it evenly.
    fn share<T: Float>(&self, x: &Tensor<T>, out: &Tensor<T>) -> Tensor<T> {
        let out = out.reshape(&reduced_shape(x.shape(), &self.axes, true));
        let hit = kernels::zip("max", x, &out, |a, m| if a == m { T::ONE } else { T::ZERO }).expect("broadcasts");
        let count = kernels::reduce(&hit, &self.axes, T::ZERO, |a, b| a + b);
        kernels::zip("max", &hit, &count, |h, c| h / c).expect("broadcasts")
    }
}

impl<T: Float> Op<T> for Extreme {
    fn name(&self) -> &'static str {
        if self.max {
            "max"
        } else {
            "min"
        }
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        if x[0].numel() == 0 {
            return arg_err(Op::<T>::name(self), "reduction over an empty tensor");
        }
        let r = if self.max {
            kernels::reduce(x[0], &self.axes, T::NEG_INFINITY, |a, b| if b > a || b.is_nan() { b } else { a })
        } else {
            kernels::reduce(x[0], &self.axes, T::INFINITY, |a, b| if b < a || b.is_nan() { b } else { a })
        };
        Ok(r.reshape(&reduced_shape(x[0].shape(), &self.axes, self.keepdim)))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let shape = x[0].shape();
        let kept = reduced_shape(&shape, &self.axes, true);
        let share = self.share(&x[0].value(), &out.value());
        grads([Some(g.reshape(&kept).broadcast_to(&shape) * g.constant_like(share))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        // The tangent of the extreme entries, shared evenly among ties: sum(t * [x == out] / count).
        let share = self.share(&x[0].value(), &out.value());
        t[0].map(|t| record(Sum { axes: self.axes.clone(), keepdim: self.keepdim }, &[t * t.constant_like(share)]))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Maximum over `axes` (negative count from the end); `keepdim` keeps them as size 1.
    ///
    /// # Panics
    /// If an axis is out of range or the tensor is empty; see [`Var::try_max_axes`].
    #[track_caller]
    pub fn max_axes(self, axes: &[isize], keepdim: bool) -> Self {
        or_panic(self.try_max_axes(axes, keepdim))
    }

    /// [`Var::max_axes`], or an error naming the bad axis or the empty tensor.
    #[track_caller]
    pub fn try_max_axes(self, axes: &[isize], keepdim: bool) -> Result<Self> {
        let axes = normalize_axes("max", axes, self.shape().len())?;
        self.tape().apply(Extreme { axes, keepdim, max: true }, &[self])
    }

    /// Minimum over `axes` (negative count from the end); `keepdim` keeps them as size 1.
    ///
    /// # Panics
    /// If an axis is out of range or the tensor is empty; see [`Var::try_min_axes`].
    #[track_caller]
    pub fn min_axes(self, axes: &[isize], keepdim: bool) -> Self {
        or_panic(self.try_min_axes(axes, keepdim))
    }

    /// [`Var::min_axes`], or an error naming the bad axis or the empty tensor.
    #[track_caller]
    pub fn try_min_axes(self, axes: &[isize], keepdim: bool) -> Result<Self> {
        let axes = normalize_axes("min", axes, self.shape().len())?;
        self.tape().apply(Extreme { axes, keepdim, max: false }, &[self])
    }

    /// Maximum of all elements, as a scalar.
    ///
    /// # Panics
    /// If the tensor is empty (as PyTorch's `max`); see [`Var::try_max`].
    #[track_caller]
    pub fn max(self) -> Self {
        or_panic(self.try_max())
    }

    /// [`Var::max`], or an error for an empty tensor.
    #[track_caller]
    pub fn try_max(self) -> Result<Self> {
        let axes = (0..self.shape().len()).collect();
        self.tape().apply(Extreme { axes, keepdim: false, max: true }, &[self])
    }

    /// Minimum of all elements, as a scalar.
    ///
    /// # Panics
    /// If the tensor is empty; see [`Var::try_min`].
    #[track_caller]
    pub fn min(self) -> Self {
        or_panic(self.try_min())
    }

    /// [`Var::min`], or an error for an empty tensor.
    #[track_caller]
    pub fn try_min(self) -> Result<Self> {
        let axes = (0..self.shape().len()).collect();
        self.tape().apply(Extreme { axes, keepdim: false, max: false }, &[self])
    }
}
