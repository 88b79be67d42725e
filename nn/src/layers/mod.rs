//! Layers: one file each, every one documenting its formula.
//!
//! | layer | formula |
//! |---|---|
//! | [`Linear`] | `y = x W^T + b`, `W` stored `[out, in]` as PyTorch |
//! | [`Sequential`] | `y = f_n(.. f_0(x))`, children named `0`, `1`, .. |
//! | [`Mlp`] ([`MlpConfig`]) | `Linear -> act -> .. -> Linear` in a `Sequential` named `layers` |
//! | [`Relu`], [`LeakyRelu`], [`Sigmoid`], [`Tanh`], [`Softplus`] | the tape op of the same name |
//! | [`Gelu`] ([`gelu`]) | `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` |
//! | [`Dropout`] | `x * Bernoulli(1 - p) / (1 - p)` in training mode, `x` in eval mode |
//!
//! [`Activation`] names a nonlinearity for builders.

mod activation;
mod dropout;
mod gelu;
mod linear;
mod mlp;
mod sequential;

pub use activation::{Activation, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
pub use dropout::Dropout;
pub use gelu::{gelu, Gelu};
pub use linear::Linear;
pub use mlp::{Mlp, MlpConfig};
pub use sequential::Sequential;
