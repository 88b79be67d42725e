//! `permute(x, perm)`: output axis `i` is input axis `perm[i]`; `transpose` swaps two axes.
//!
//! Rule: `dx = permute(g, perm^-1)`.

use super::grads;
use crate::tensor::kernels;
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
        grads([Some(g.permute(&inv))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.permute(&self.0))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Axes reordered: output axis `i` is input axis `perm[i]`.
    ///
    /// # Panics
    /// If `perm` is not a permutation of `0..ndim`; see [`Var::try_permute`].
    #[track_caller]
    pub fn permute(self, perm: &[usize]) -> Self {
        self.try_permute(perm).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Var::permute`], or an error if `perm` is not a permutation of the axes.
    #[track_caller]
    pub fn try_permute(self, perm: &[usize]) -> Result<Self> {
        self.tape().apply(Permute(perm.to_vec()), &[self])
    }

    /// Axes `a` and `b` swapped.
    ///
    /// # Panics
    /// If either axis is out of range.
    #[track_caller]
    pub fn transpose(self, a: usize, b: usize) -> Self {
        let mut perm: Vec<usize> = (0..self.shape().len()).collect();
        assert!(a < perm.len() && b < perm.len(), "transpose: axes ({a}, {b}) out of range for rank {}", perm.len());
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// The last two axes swapped (the matrix transpose). For products, prefer
    /// [`Var::matmul_t`], which transposes without copying.
    ///
    /// # Panics
    /// If the rank is below 2.
    #[track_caller]
    pub fn t(self) -> Self {
        let n = self.shape().len();
        assert!(n >= 2, "t: needs rank >= 2, got shape {:?}", self.shape().as_slice());
        self.transpose(n - 2, n - 1)
    }
}
