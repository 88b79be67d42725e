//! `one_hot(labels, classes)`: a `[n, classes]` matrix with a `1` at each label.
//! Labels are integers, so it is a constant (no gradient).

use super::or_panic;
use crate::error::{AutodiffError, Result};
use crate::{Float, Tape, Tensor, Var};

impl<T: Float> Tensor<T> {
    /// `[labels.len(), classes]` with `1` at `(i, labels[i])`, `0` elsewhere.
    ///
    /// # Panics
    /// If a label is `>= classes`; see [`Tensor::try_one_hot`].
    #[track_caller]
    pub fn one_hot(labels: &[usize], classes: usize) -> Self {
        or_panic(Self::try_one_hot(labels, classes))
    }

    /// [`Tensor::one_hot`], or an error naming the bad label and the number of classes.
    pub fn try_one_hot(labels: &[usize], classes: usize) -> Result<Self> {
        let mut d = vec![T::ZERO; labels.len() * classes];
        for (i, &l) in labels.iter().enumerate() {
            if l >= classes {
                return Err(AutodiffError::IndexOutOfRange { op: "one_hot", index: l, bound: classes });
            }
            d[i * classes + l] = T::ONE;
        }
        Tensor::try_from_vec(d, &[labels.len(), classes])
    }
}

impl<T: Float> Tape<T> {
    /// [`Tensor::one_hot`] recorded as a constant.
    ///
    /// # Panics
    /// If a label is `>= classes`; see [`Tape::try_one_hot`].
    #[track_caller]
    pub fn one_hot(&self, labels: &[usize], classes: usize) -> Var<'_, T> {
        or_panic(self.try_one_hot(labels, classes))
    }

    /// [`Tape::one_hot`], or an error naming the bad label and the number of classes.
    #[track_caller]
    pub fn try_one_hot(&self, labels: &[usize], classes: usize) -> Result<Var<'_, T>> {
        Ok(self.constant(Tensor::try_one_hot(labels, classes)?))
    }
}
