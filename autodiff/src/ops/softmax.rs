//! `softmax(x) = e^x / sum e^x` and `log_softmax(x) = x - logsumexp(x)` along an axis,
//! composites of primitives built on the stable [`Var::logsumexp`].

use crate::{Float, Var};

impl<'t, T: Float> Var<'t, T> {
    /// `x - logsumexp(x)` along `axis`: log-probabilities, finite for logits of any size.
    ///
    /// # Panics
    /// If `axis` is out of range.
    #[track_caller]
    pub fn log_softmax(self, axis: isize) -> Self {
        self - self.logsumexp(axis, true)
    }

    /// `e^x / sum e^x` along `axis`, computed as `exp(log_softmax(x))`.
    ///
    /// # Panics
    /// If `axis` is out of range.
    #[track_caller]
    pub fn softmax(self, axis: isize) -> Self {
        self.log_softmax(axis).exp()
    }
}
