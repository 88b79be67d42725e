//! [`Linear`]: the affine layer `y = x W^T + b`.

use rand::Rng;
use wengert_autodiff::{Float, Tensor, Var};

use crate::{init, join_name, Bound, CaptureKind, LayerCapture, Module, Param, Parameters};

/// A fully connected layer, `y = x W^T + b`, with `W` stored `[out, in]` as in PyTorch
/// (so weights move to and from PyTorch's `nn.Linear` unchanged).
///
/// Input `[.., in]` (leading axes are batch axes), output `[.., out]`. The product is
/// recorded as `x.matmul_t(W, false, true)`: the transpose is a stride swap, not a copy.
/// Parameters are named `weight` and `bias`.
///
/// With a capturing [`Bound`] (K-FAC), the forward pass records a [`LayerCapture`] of `x` and `y`.
///
/// Default initialisation as PyTorch: `W, b ~ U(-1/sqrt(in), 1/sqrt(in))` (see
/// [`init::linear_default`]).
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::{Tape, Tensor};
/// use wengert_nn::{layers::Linear, Bound, Module, Parameters};
///
/// let layer = Linear::<f64>::new(3, 2, &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let p = Bound::new(&tape, &layer);
/// let y = layer.forward(&p, tape.constant(Tensor::ones(&[5, 3])));
/// assert_eq!(y.shape().as_slice(), &[5, 2]);
/// assert_eq!(layer.num_parameters(), 3 * 2 + 2);
/// ```
#[derive(Clone, Debug)]
pub struct Linear<T: Float> {
    /// `W`, shape `[out, in]`.
    pub weight: Param<T>,
    /// `b`, shape `[out]`, if the layer has a bias.
    pub bias: Option<Param<T>>,
}

impl<T: Float> Linear<T> {
    /// A layer with bias, initialised as PyTorch's `nn.Linear(in, out)`.
    pub fn new<R: Rng + ?Sized>(in_features: usize, out_features: usize, rng: &mut R) -> Self {
        let (w, b) = init::linear_default(in_features, out_features, rng);
        Linear { weight: Param::new(w), bias: Some(Param::new(b)) }
    }

    /// A layer without bias (`y = x W^T`), weight initialised as PyTorch's `nn.Linear(in, out, bias=False)`.
    pub fn new_no_bias<R: Rng + ?Sized>(in_features: usize, out_features: usize, rng: &mut R) -> Self {
        let (w, _) = init::linear_default::<T, R>(in_features, out_features, rng);
        Linear { weight: Param::new(w), bias: None }
    }

    /// A layer with the given weight `[out, in]` and optional bias `[out]`.
    ///
    /// # Panics
    /// If `weight` is not a matrix or `bias` does not have shape `[out]`.
    #[track_caller]
    pub fn from_tensors(weight: Tensor<T>, bias: Option<Tensor<T>>) -> Self {
        assert!(weight.ndim() == 2, "Linear: weight must be [out, in], got {:?}", weight.shape());
        if let Some(b) = &bias {
            assert!(b.shape() == [weight.shape()[0]], "Linear: bias {:?} for weight {:?}", b.shape(), weight.shape());
        }
        Linear { weight: Param::new(weight), bias: bias.map(Param::new) }
    }

    /// Input width `in`.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Output width `out`.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl<T: Float> Parameters<T> for Linear<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        f(&join_name(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(&join_name(prefix, "bias"), b);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        f(&join_name(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(&join_name(prefix, "bias"), b);
        }
    }
}

impl<T: Float> Module<T> for Linear<T> {
    /// `y = x W^T + b`.
    ///
    /// # Panics
    /// If the last axis of `x` is not `in`, or the layer's parameters are not bound in `p`.
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        if s.len() < 2 || s[s.len() - 1] != self.in_features() {
            // The layer's own name (`layers.2`) from its weight's, so a user with ten layers knows which one.
            let name = p.name_of(&self.weight).map_or("", |n| n.strip_suffix("weight").unwrap_or(n));
            let name = name.strip_suffix('.').unwrap_or(name);
            let name = if name.is_empty() { String::new() } else { format!(" `{name}`") };
            panic!(
                "Linear{name} ({} -> {}): input of shape {:?}, expected [.., {}] (the data or the previous layer \
                 has another width)",
                self.in_features(),
                self.out_features(),
                s.as_slice(),
                self.in_features()
            );
        }
        let y = x.matmul_t(p.var(&self.weight), false, true);
        let s = match &self.bias {
            Some(b) => y + p.var(b),
            None => y,
        };
        if p.is_capturing() {
            p.capture(LayerCapture {
                kind: CaptureKind::Linear,
                input: x,
                output: s,
                weight: self.weight.id(),
                bias: self.bias.as_ref().map(Param::id),
            });
        }
        s
    }
}
