//! `softmax(x) = e^x / sum e^x` and `log_softmax(x) = x - logsumexp(x)` along an axis,
//! composites of primitives built on the stable [`Var::logsumexp`].

use super::or_panic;
use crate::tensor::normalize_axis;
use crate::{Float, Result, Var};

impl<'t, T: Float> Var<'t, T> {
    /// `x - logsumexp(x)` along `axis` (negative counts from the end): log-probabilities, finite
    /// for logits of any size.
    ///
    /// # Panics
    /// If `axis` is out of range; see [`Var::try_log_softmax`].
    #[track_caller]
    pub fn log_softmax(self, axis: isize) -> Self {
        or_panic(self.try_log_softmax(axis))
    }

    /// [`Var::log_softmax`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_log_softmax(self, axis: isize) -> Result<Self> {
        let ndim = self.shape().len();
        normalize_axis("log_softmax", axis, ndim)?;
        Ok(self - self.try_logsumexp(axis, true)?)
    }

    /// `e^x / sum e^x` along `axis` (negative counts from the end), computed as
    /// `exp(log_softmax(x))`.
    ///
    /// # Panics
    /// If `axis` is out of range; see [`Var::try_softmax`].
    #[track_caller]
    pub fn softmax(self, axis: isize) -> Self {
        or_panic(self.try_softmax(axis))
    }

    /// [`Var::softmax`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_softmax(self, axis: isize) -> Result<Self> {
        normalize_axis("softmax", axis, self.shape().len())?;
        Ok(self.try_log_softmax(axis)?.exp())
    }
}
