//! `sum(x, axes, keepdim)` and the composite `mean = sum / n`.
//!
//! Rule: `dx = broadcast_to(reshape(g, keepdim shape), shape(x))` (no reshape when the reduced axes are
//! leading ones, e.g. a sum of all elements).

use smallvec::SmallVec;

use super::{grads, or_panic, record};
use crate::tensor::{kernels, normalize_axes};
use crate::{Float, InputGrads, Op, Result, Shape, Tensor, Var};

pub(crate) struct Sum {
    pub(crate) axes: SmallVec<[usize; 4]>,
    pub(crate) keepdim: bool,
}

/// Shape after reducing `axes` of `shape`, with or without keeping them as size 1.
pub(crate) fn reduced_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Shape {
    shape
        .iter()
        .enumerate()
        .filter_map(|(d, &n)| match (axes.contains(&d), keepdim) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl<T: Float> Op<T> for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let r = kernels::reduce(x[0], &self.axes, T::ZERO, |a, b| a + b);
        Ok(r.reshape(&reduced_shape(x[0].shape(), &self.axes, self.keepdim)))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let shape = x[0].shape();
        // Reducing leading axes leaves the trailing ones, against which `g` broadcasts as it is.
        let leading = self.axes.iter().copied().eq(0..self.axes.len());
        let g = if leading { g } else { g.reshape(&reduced_shape(&shape, &self.axes, true)) };
        grads([Some(g.broadcast_to(&shape))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(Sum { axes: self.axes.clone(), keepdim: self.keepdim }, &[t]))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Sum over `axes` (negative axes count from the end); `keepdim` keeps them as size 1.
    ///
    /// # Panics
    /// If an axis is out of range; see [`Var::try_sum_axes`].
    #[track_caller]
    pub fn sum_axes(self, axes: &[isize], keepdim: bool) -> Self {
        or_panic(self.try_sum_axes(axes, keepdim))
    }

    /// [`Var::sum_axes`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_sum_axes(self, axes: &[isize], keepdim: bool) -> Result<Self> {
        let axes = normalize_axes("sum", axes, self.shape().len())?;
        self.tape().apply(Sum { axes, keepdim }, &[self])
    }

    /// Sum of all elements, as a scalar.
    #[track_caller]
    pub fn sum(self) -> Self {
        let axes = (0..self.shape().len()).collect();
        record(Sum { axes, keepdim: false }, &[self])
    }

    /// Mean over `axes`: `sum_axes(axes) / n`, with `n` the number of entries reduced. A mean
    /// over an empty axis is NaN (`0 / 0`), as in PyTorch.
    ///
    /// # Panics
    /// If an axis is out of range; see [`Var::try_mean_axes`].
    #[track_caller]
    pub fn mean_axes(self, axes: &[isize], keepdim: bool) -> Self {
        or_panic(self.try_mean_axes(axes, keepdim))
    }

    /// [`Var::mean_axes`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_mean_axes(self, axes: &[isize], keepdim: bool) -> Result<Self> {
        let shape = self.shape();
        let norm = normalize_axes("mean", axes, shape.len())?;
        let n: usize = norm.iter().map(|&a| shape[a]).product();
        Ok(self.try_sum_axes(axes, keepdim)?.mul_scalar(T::ONE / T::from_usize(n)))
    }

    /// Mean of all elements, as a scalar: NaN for an empty tensor, as in PyTorch.
    #[track_caller]
    pub fn mean(self) -> Self {
        let n = self.numel();
        self.sum().mul_scalar(T::ONE / T::from_usize(n))
    }
}
