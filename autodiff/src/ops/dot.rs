//! `dot(a, b) = sum_i a_i b_i` and `outer(a, b)_ij = a_i b_j` for rank-1 operands,
//! composites of `mul`, `sum` and `reshape`.

use super::or_panic;
use crate::error::arg_err;
use crate::{Float, Result, Var};

impl<'t, T: Float> Var<'t, T> {
    /// Inner product of two rank-1 variables of equal length, as a scalar.
    ///
    /// # Panics
    /// If the operands are not rank 1 of equal length; see [`Var::try_dot`].
    #[track_caller]
    pub fn dot(self, other: Self) -> Self {
        or_panic(self.try_dot(other))
    }

    /// [`Var::dot`], or an error naming both shapes.
    #[track_caller]
    pub fn try_dot(self, other: Self) -> Result<Self> {
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 1 || a != b {
            return arg_err("dot", format!("needs two rank-1 operands of equal length, got {a:?} and {b:?}"));
        }
        Ok((self * other).sum())
    }

    /// Outer product of two rank-1 variables: shape `[n, m]`.
    ///
    /// # Panics
    /// If either operand is not rank 1; see [`Var::try_outer`].
    #[track_caller]
    pub fn outer(self, other: Self) -> Self {
        or_panic(self.try_outer(other))
    }

    /// [`Var::outer`], or an error naming both shapes.
    #[track_caller]
    pub fn try_outer(self, other: Self) -> Result<Self> {
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 1 || b.len() != 1 {
            return arg_err("outer", format!("needs rank-1 operands, got {a:?} and {b:?}"));
        }
        Ok(self.reshape(&[a[0], 1]) * other.reshape(&[1, b[0]]))
    }
}
