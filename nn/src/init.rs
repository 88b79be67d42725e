//! Parameter initialisation, as PyTorch's `torch.nn.init`.
//!
//! Every random initialiser draws from a caller-supplied (seeded) generator, so a
//! model built twice from the same seed is bit-identical.
//!
//! Fans follow PyTorch (`_calculate_fan_in_and_fan_out`): for a weight of shape
//! `[out, in, k1, k2, ..]` the receptive field is `r = k1 * k2 * ..` (1 for a matrix),
//! `fan_in = in * r` and `fan_out = out * r`.
//!
//! | initialiser | distribution |
//! |---|---|
//! | [`xavier_uniform`] | `U(-a, a)`, `a = gain * sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio 2010) |
//! | [`xavier_normal`] | `N(0, s^2)`, `s = gain * sqrt(2 / (fan_in + fan_out))` |
//! | [`kaiming_uniform`] | `U(-a, a)`, `a = gain * sqrt(3 / fan_in)` (He et al. 2015, `mode='fan_in'`) |
//! | [`kaiming_normal`] | `N(0, s^2)`, `s = gain / sqrt(fan_in)` |
//! | [`scaled_normal`] | `scale * N(0, 1)`: the lectures' `0.0001 * randn(..)` |
//! | [`uniform`], [`normal`], [`zeros`], [`constant`] | as named |
//! | [`linear_default`] | PyTorch's `nn.Linear` default: `U(-1/sqrt(in), 1/sqrt(in))` for weight and bias |
//!
//! `gain` comes from [`gain`] (PyTorch's `calculate_gain`): `sqrt(2)` for ReLU.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use wengert_nn::init::{self, Nonlinearity};
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let w = init::kaiming_normal::<f32, _>(&[128, 64], init::gain(Nonlinearity::Relu), &mut rng);
//! assert_eq!(w.shape(), &[128, 64]);
//! ```

use rand::Rng;
use wengert_autodiff::{Float, Tensor};

/// The nonlinearity following a layer, for [`gain`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// Identity / linear layer / convolution: gain 1.
    Linear,
    /// Logistic sigmoid: gain 1.
    Sigmoid,
    /// Hyperbolic tangent: gain 5/3.
    Tanh,
    /// ReLU: gain `sqrt(2)`.
    Relu,
    /// Leaky ReLU with the given negative slope: gain `sqrt(2 / (1 + slope^2))`.
    LeakyRelu(f64),
    /// SELU: gain 3/4.
    Selu,
}

/// The recommended gain for `nonlinearity`, as PyTorch's `torch.nn.init.calculate_gain`.
pub fn gain(nonlinearity: Nonlinearity) -> f64 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

/// `(fan_in, fan_out)` of a weight of shape `[out, in, k..]`: `(in * r, out * r)` with `r = prod(k..)`.
///
/// # Panics
/// If `shape` has fewer than two axes (as PyTorch, fans are undefined for vectors).
#[track_caller]
pub fn fans(shape: &[usize]) -> (usize, usize) {
    assert!(shape.len() >= 2, "init::fans: needs a tensor with at least 2 axes, got shape {shape:?}");
    let receptive: usize = shape[2..].iter().product();
    (shape[1] * receptive, shape[0] * receptive)
}

/// Independent draws from `U(low, high)`.
pub fn uniform<T: Float, R: Rng + ?Sized>(shape: &[usize], low: f64, high: f64, rng: &mut R) -> Tensor<T> {
    Tensor::rand_uniform(shape, T::from_f64(low), T::from_f64(high), rng)
}

/// Independent draws from `N(mean, std^2)`.
pub fn normal<T: Float, R: Rng + ?Sized>(shape: &[usize], mean: f64, std: f64, rng: &mut R) -> Tensor<T> {
    Tensor::randn(shape, T::from_f64(mean), T::from_f64(std), rng)
}

/// `scale * N(0, 1)`: the lectures' small Gaussian `W = 0.0001 * randn(D, H)`.
/// (Fine for small nets; activations shrink layer by layer in deep ones.)
pub fn scaled_normal<T: Float, R: Rng + ?Sized>(shape: &[usize], scale: f64, rng: &mut R) -> Tensor<T> {
    normal(shape, 0.0, scale, rng)
}

/// All zeros (the usual bias initialisation).
pub fn zeros<T: Float>(shape: &[usize]) -> Tensor<T> {
    Tensor::zeros(shape)
}

/// Every entry equal to `value`.
pub fn constant<T: Float>(shape: &[usize], value: f64) -> Tensor<T> {
    Tensor::full(shape, T::from_f64(value))
}

/// Glorot/Xavier uniform: `U(-a, a)` with `a = gain * sqrt(6 / (fan_in + fan_out))`.
///
/// # Panics
/// If `shape` has fewer than two axes.
#[track_caller]
pub fn xavier_uniform<T: Float, R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor<T> {
    let (fan_in, fan_out) = fans(shape);
    let a = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
    uniform(shape, -a, a, rng)
}

/// Glorot/Xavier normal: `N(0, s^2)` with `s = gain * sqrt(2 / (fan_in + fan_out))`.
///
/// # Panics
/// If `shape` has fewer than two axes.
#[track_caller]
pub fn xavier_normal<T: Float, R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor<T> {
    let (fan_in, fan_out) = fans(shape);
    normal(shape, 0.0, gain * (2.0 / (fan_in + fan_out) as f64).sqrt(), rng)
}

/// He/Kaiming uniform, `mode='fan_in'`: `U(-a, a)` with `a = gain * sqrt(3 / fan_in)`
/// (so the standard deviation is `gain / sqrt(fan_in)`; `gain = sqrt(2)` for ReLU).
///
/// # Panics
/// If `shape` has fewer than two axes.
#[track_caller]
pub fn kaiming_uniform<T: Float, R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor<T> {
    let (fan_in, _) = fans(shape);
    let a = gain * (3.0 / fan_in as f64).sqrt();
    uniform(shape, -a, a, rng)
}

/// He/Kaiming normal, `mode='fan_in'`: `N(0, s^2)` with `s = gain / sqrt(fan_in)`.
///
/// # Panics
/// If `shape` has fewer than two axes.
#[track_caller]
pub fn kaiming_normal<T: Float, R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor<T> {
    let (fan_in, _) = fans(shape);
    normal(shape, 0.0, gain / (fan_in as f64).sqrt(), rng)
}

/// PyTorch's default `nn.Linear(in, out)` initialisation, `(weight [out, in], bias [out])`.
///
/// The weight is `kaiming_uniform` with `a = sqrt(5)`, i.e. gain `sqrt(2 / (1 + 5)) = sqrt(1/3)`,
/// giving the bound `sqrt(1/3) * sqrt(3 / in) = 1 / sqrt(in)`; the bias is `U(-1/sqrt(in), 1/sqrt(in))`.
/// The weight is drawn first, then the bias.
///
/// # Panics
/// If `in_features` is zero.
#[track_caller]
pub fn linear_default<T: Float, R: Rng + ?Sized>(
    in_features: usize,
    out_features: usize,
    rng: &mut R,
) -> (Tensor<T>, Tensor<T>) {
    assert!(in_features > 0, "init::linear_default: in_features must be positive");
    let bound = 1.0 / (in_features as f64).sqrt();
    let w = uniform(&[out_features, in_features], -bound, bound, rng);
    let b = uniform(&[out_features], -bound, bound, rng);
    (w, b)
}
