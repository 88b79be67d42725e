//! [`LayerNorm`]: normalisation over the trailing axes of each sample.

use wengert_autodiff::{Float, Var};

use super::normalize::standardize;
use crate::{init, join_name, Bound, Module, Param, Parameters};

/// Layer normalisation (Ba, Kiros & Hinton 2016), as PyTorch's `nn.LayerNorm(normalized_shape)`:
///
/// `y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias`,
///
/// with the mean and the biased variance over the trailing axes given by `normalized_shape`
/// (the same statistics in training and eval mode). Input `[.., *normalized_shape]`.
///
/// Parameters (PyTorch's names): `weight` and `bias`, each of shape `normalized_shape`,
/// initialised to ones and zeros; `eps = 1e-5`.
///
/// ```
/// use wengert_autodiff::{Tape, Tensor};
/// use wengert_nn::layers::LayerNorm;
/// use wengert_nn::{Bound, Module};
///
/// let ln = LayerNorm::<f64>::new(&[2]);
/// let tape = Tape::new();
/// let y = ln.forward(&Bound::new(&tape, &ln), tape.constant(Tensor::from_vec(vec![1.0, 3.0], &[1, 2])));
/// // mean 2, variance 1: y = [-1, 1] / sqrt(1 + 1e-5)
/// assert!((y.value().to_vec()[1] - 1.0 / (1.0f64 + 1e-5).sqrt()).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm<T: Float> {
    /// `weight`, of shape `normalized_shape`; `None` without affine parameters.
    pub weight: Option<Param<T>>,
    /// `bias`, of shape `normalized_shape`; `None` without affine parameters.
    pub bias: Option<Param<T>>,
    normalized_shape: Vec<usize>,
    eps: f64,
}

impl<T: Float> LayerNorm<T> {
    /// A layer over the trailing axes `normalized_shape`, with PyTorch's defaults (`eps = 1e-5`,
    /// affine parameters).
    ///
    /// # Panics
    /// If `normalized_shape` is empty.
    #[track_caller]
    pub fn new(normalized_shape: &[usize]) -> Self {
        assert!(!normalized_shape.is_empty(), "LayerNorm: normalized_shape must not be empty");
        LayerNorm {
            weight: Some(Param::new(init::constant(normalized_shape, 1.0))),
            bias: Some(Param::new(init::zeros(normalized_shape))),
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
        }
    }

    /// Sets `eps` (builder style).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Drops the affine parameters (PyTorch's `elementwise_affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self.bias = None;
        self
    }

    /// The trailing axes normalised over.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }
}

/// Asserts that `shape` ends with `trailing`, naming `layer`.
#[track_caller]
pub(crate) fn check_trailing(layer: &str, shape: &[usize], trailing: &[usize]) {
    assert!(
        shape.len() >= trailing.len() && shape[shape.len() - trailing.len()..] == *trailing,
        "{layer}: input of shape {shape:?} does not end with normalized_shape {trailing:?}"
    );
}

impl<T: Float> Parameters<T> for LayerNorm<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f(&join_name(prefix, "weight"), w);
            f(&join_name(prefix, "bias"), b);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        if let (Some(w), Some(b)) = (&mut self.weight, &mut self.bias) {
            f(&join_name(prefix, "weight"), w);
            f(&join_name(prefix, "bias"), b);
        }
    }
}

impl<T: Float> Module<T> for LayerNorm<T> {
    /// See [`LayerNorm`].
    ///
    /// # Panics
    /// If the trailing axes of `x` are not `normalized_shape`.
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        check_trailing("LayerNorm", &s, &self.normalized_shape);
        let k = self.normalized_shape.len();
        let axes: Vec<isize> = (s.len() - k..s.len()).map(|a| a as isize).collect();
        let (x_hat, _, _) = standardize(x, &axes, self.eps);
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => x_hat * p.var(w) + p.var(b),
            _ => x_hat,
        }
    }
}
