//! `permute(x, perm)`: output axis `i` is input axis `perm[i]`; `transpose` swaps two axes.
//!
//! Rule: `dx = permute(g, perm^-1)`.

use super::{grads, or_panic, record};
use crate::error::arg_err;
use crate::tensor::{kernels, normalize_axis};
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Permute(Vec<usize>);

impl<T: Float> Op<T> for Permute {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::permute(x[0], &self.0)
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let mut inv = vec![0; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inv[p] = i;
        }
        grads([Some(record(Permute(inv), &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(Permute(self.0.clone()), &[t]))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Axes reordered: output axis `i` is input axis `perm[i]` (negative counts from the end),
    /// as `torch.permute`.
    ///
    /// # Panics
    /// If `perm` is not a permutation of the axes; see [`Var::try_permute`].
    #[track_caller]
    pub fn permute(self, perm: &[isize]) -> Self {
        or_panic(self.try_permute(perm))
    }

    /// [`Var::permute`], or an error if `perm` is not a permutation of the axes.
    #[track_caller]
    pub fn try_permute(self, perm: &[isize]) -> Result<Self> {
        let ndim = self.shape().len();
        let perm = perm.iter().map(|&a| normalize_axis("permute", a, ndim)).collect::<Result<Vec<_>>>()?;
        self.tape().apply(Permute(perm), &[self])
    }

    /// Axes `a` and `b` swapped (negative counts from the end).
    ///
    /// # Panics
    /// If either axis is out of range; see [`Var::try_transpose`].
    #[track_caller]
    pub fn transpose(self, a: isize, b: isize) -> Self {
        or_panic(self.try_transpose(a, b))
    }

    /// [`Var::transpose`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_transpose(self, a: isize, b: isize) -> Result<Self> {
        let ndim = self.shape().len();
        let (a, b) = (normalize_axis("transpose", a, ndim)?, normalize_axis("transpose", b, ndim)?);
        let mut perm: Vec<usize> = (0..ndim).collect();
        perm.swap(a, b);
        self.tape().apply(Permute(perm), &[self])
    }

    /// The last two axes swapped (the matrix transpose). For products, prefer
    /// [`Var::matmul_t`], which transposes without copying.
    ///
    /// # Panics
    /// If the rank is below 2; see [`Var::try_t`].
    #[track_caller]
    pub fn t(self) -> Self {
        or_panic(self.try_t())
    }

    /// [`Var::t`], or an error for a rank below 2.
    #[track_caller]
    pub fn try_t(self) -> Result<Self> {
        if self.shape().len() < 2 {
            return arg_err("t", format!("needs rank >= 2, got shape {:?}", self.shape().as_slice()));
        }
        self.try_transpose(-2, -1)
    }
}
