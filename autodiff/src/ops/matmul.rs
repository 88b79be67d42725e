//! `matmul(a, b, ta, tb) = op(a) op(b)`, where `op` transposes the last two axes when
//! its flag is set; leading (batch) axes broadcast. Transposes are stride swaps in the
//! kernel, never copies.
//!
//! Rule, for `C = A B`: `dA = G B^T`, `dB = A^T G`; with transposed operands:
//! `C = A^T B`: `dA = B G^T`, `dB = A G`; `C = A B^T`: `dA = G B`, `dB = G^T A`;
//! `C = A^T B^T`: `dA = B^T G^T`, `dB = G^T A^T`. Each is again a `matmul` with flags,
//! reduced over broadcast batch axes with `sum_to`.

use super::{grads, or_panic};
use crate::error::arg_err;
use crate::tensor::kernels;
use crate::{AutodiffError, Float, InputGrads, Op, Result, Tensor, Var};

/// The matmul op with its transpose flags (public so custom ops can record it directly).
pub struct MatMul {
    /// Transpose the last two axes of the left operand.
    pub ta: bool,
    /// Transpose the last two axes of the right operand.
    pub tb: bool,
}

impl<T: Float> Op<T> for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::matmul(x[0], x[1], self.ta, self.tb)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let (a, b) = (x[0], x[1]);
        let da = || match (self.ta, self.tb) {
            (false, false) => g.matmul_t(b, false, true),
            (true, false) => b.matmul_t(g, false, true),
            (false, true) => g.matmul_t(b, false, false),
            (true, true) => b.matmul_t(g, true, true),
        };
        let db = || match (self.ta, self.tb) {
            (false, false) => a.matmul_t(g, true, false),
            (true, false) => a.matmul_t(g, false, false),
            (false, true) => g.matmul_t(a, true, false),
            (true, true) => g.matmul_t(a, true, true),
        };
        grads([needs[0].then(|| da().sum_to(&a.shape())), needs[1].then(|| db().sum_to(&b.shape()))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        // d(op(A) op(B)) = op(dA) op(B) + op(A) op(dB)
        let (ta, tb) = (self.ta, self.tb);
        super::tangent_sum([t[0].map(|da| da.matmul_t(x[1], ta, tb)), t[1].map(|db| x[0].matmul_t(db, ta, tb))], out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Matrix product `self @ other` as NumPy's `@` (`numpy.matmul`): over the last two axes, batch
    /// axes broadcast; a rank-1 left operand is a row vector and a rank-1 right operand a column
    /// vector, whose axis is dropped from the result: `[m, k] @ [k]` is `[m]` (`A x`), `[k] @ [k, n]`
    /// is `[n]`, `[k] @ [k]` a scalar.
    ///
    /// # Panics
    /// If an operand is a scalar, the inner dimensions differ or the batch axes do not broadcast;
    /// see [`Var::try_matmul`].
    #[track_caller]
    pub fn matmul(self, other: Self) -> Self {
        or_panic(self.try_matmul_t(other, false, false))
    }

    /// [`Var::matmul`], or an error naming both shapes.
    #[track_caller]
    pub fn try_matmul(self, other: Self) -> Result<Self> {
        self.try_matmul_t(other, false, false)
    }

    /// `op(self) @ op(other)`, transposing either operand's last two axes without a copy
    /// (`x.matmul_t(w, false, true)` is `x W^T`, the linear layer). Vectors are taken as in
    /// [`Var::matmul`] (transposing one changes nothing).
    ///
    /// # Panics
    /// If the shapes do not agree; see [`Var::try_matmul_t`].
    #[track_caller]
    pub fn matmul_t(self, other: Self, ta: bool, tb: bool) -> Self {
        or_panic(self.try_matmul_t(other, ta, tb))
    }

    /// [`Var::matmul_t`], or an error naming both shapes.
    #[track_caller]
    pub fn try_matmul_t(self, other: Self, ta: bool, tb: bool) -> Result<Self> {
        let (sa, sb) = (self.shape(), other.shape());
        let (ra, rb) = (sa.len(), sb.len());
        if sa.len() >= 2 && sb.len() >= 2 {
            return self.tape().apply(MatMul { ta, tb }, &[self, other]);
        }
        if sa.is_empty() || sb.is_empty() {
            return arg_err(
                "matmul",
                format!("operands must have rank >= 1, got {:?} and {:?}", sa.as_slice(), sb.as_slice()),
            );
        }
        // A vector is a matrix of one row (left) or one column (right), and that axis is dropped.
        let a = if sa.len() == 1 { self.try_reshape(&[1, sa[0]])? } else { self };
        let b = if sb.len() == 1 { other.try_reshape(&[sb[0], 1])? } else { other };
        let op = MatMul { ta: ta && sa.len() > 1, tb: tb && sb.len() > 1 };
        let c = self.tape().apply(op, &[a, b]).map_err(|e| match e {
            AutodiffError::ShapeMismatch { .. } => AutodiffError::ShapeMismatch { op: "matmul", lhs: sa, rhs: sb },
            e => e,
        })?;
        let mut s = c.shape();
        if ra == 1 {
            s.remove(s.len() - 2);
        }
        if rb == 1 {
            s.pop();
        }
        c.try_reshape(&s)
    }
}
