//! `dot(a, b) = sum_i a_i b_i` and `outer(a, b)_ij = a_i b_j` for rank-1 operands,
//! composites of `mul`, `sum` and `reshape`.

use crate::{Float, Var};

impl<'t, T: Float> Var<'t, T> {
    /// Inner product of two rank-1 variables of equal length, as a scalar.
    ///
    /// # Panics
    /// If the operands are not rank 1 of equal length.
    #[track_caller]
    pub fn dot(self, other: Self) -> Self {
        let (a, b) = (self.shape(), other.shape());
        assert!(a.len() == 1 && a == b, "dot: needs two rank-1 operands of equal length, got {a:?} and {b:?}");
        (self * other).sum()
    }

    /// Outer product of two rank-1 variables: shape `[n, m]`.
    ///
    /// # Panics
    /// If either operand is not rank 1.
    #[track_caller]
    pub fn outer(self, other: Self) -> Self {
        let (a, b) = (self.shape(), other.shape());
        assert!(a.len() == 1 && b.len() == 1, "outer: needs rank-1 operands, got {a:?} and {b:?}");
        self.reshape(&[a[0], 1]) * other.reshape(&[1, b[0]])
    }
}
