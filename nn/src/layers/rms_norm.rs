//! [`RmsNorm`]: root-mean-square normalisation over the trailing axes.

use wengert_autodiff::{Float, Var};

use super::layer_norm::check_trailing;
use crate::{init, join_name, Bound, Module, Param, Parameters};

/// Root-mean-square layer normalisation (Zhang & Sennrich 2019), as PyTorch's
/// `nn.RMSNorm(normalized_shape)`:
///
/// `y = x / sqrt(mean(x^2) + eps) * weight`,
///
/// the mean over the trailing axes `normalized_shape`; no centring and no bias.
///
/// Parameter (PyTorch's name): `weight` of shape `normalized_shape`, initialised to ones.
/// `eps` defaults as PyTorch's `eps=None`: the machine epsilon of `T`
/// (`torch.finfo(x.dtype).eps`).
///
/// ```
/// use wengert_autodiff::{Tape, Tensor};
/// use wengert_nn::layers::RmsNorm;
/// use wengert_nn::{Bound, Module};
///
/// let n = RmsNorm::<f64>::new(&[2]).eps(0.0);
/// let tape = Tape::new();
/// let y = n.forward(&Bound::new(&tape, &n), tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2])));
/// // rms = sqrt((9 + 16) / 2)
/// assert!((y.value().to_vec()[0] - 3.0 / 12.5f64.sqrt()).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct RmsNorm<T: Float> {
    /// `weight`, of shape `normalized_shape`; `None` without affine parameters.
    pub weight: Option<Param<T>>,
    normalized_shape: Vec<usize>,
    eps: f64,
}

impl<T: Float> RmsNorm<T> {
    /// A layer over the trailing axes `normalized_shape`, `eps` = machine epsilon of `T`.
    ///
    /// # Panics
    /// If `normalized_shape` is empty.
    #[track_caller]
    pub fn new(normalized_shape: &[usize]) -> Self {
        assert!(!normalized_shape.is_empty(), "RmsNorm: normalized_shape must not be empty");
        RmsNorm {
            weight: Some(Param::new(init::constant(normalized_shape, 1.0))),
            normalized_shape: normalized_shape.to_vec(),
            eps: T::EPSILON.to_f64(),
        }
    }

    /// Sets `eps` (builder style).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Drops the weight (PyTorch's `elementwise_affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self
    }
}

impl<T: Float> Parameters<T> for RmsNorm<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        if let Some(w) = &self.weight {
            f(&join_name(prefix, "weight"), w);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        if let Some(w) = &mut self.weight {
            f(&join_name(prefix, "weight"), w);
        }
    }
}

impl<T: Float> Module<T> for RmsNorm<T> {
    /// See [`RmsNorm`].
    ///
    /// # Panics
    /// If the trailing axes of `x` are not `normalized_shape`.
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        check_trailing("RmsNorm", &s, &self.normalized_shape);
        let k = self.normalized_shape.len();
        let axes: Vec<isize> = (s.len() - k..s.len()).map(|a| a as isize).collect();
        let y = x / ((x * x).mean_axes(&axes, true) + T::from_f64(self.eps)).sqrt();
        match &self.weight {
            Some(w) => y * p.var(w),
            None => y,
        }
    }
}
