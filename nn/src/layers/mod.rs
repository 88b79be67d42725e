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
//! | [`Conv1d`], [`Conv2d`] ([`Conv`]) | `y = bias + sum weight * x` over each window (cross-correlation), PyTorch's weight layout `[out, in / groups, k..]` |
//! | [`MaxPool2d`], [`AvgPool2d`] | the max / mean of each `k x k` window |
//! | [`AdaptiveAvgPool2d`] | the mean over an adaptive grid of windows to a fixed output size |
//! | [`Flatten`], [`Unflatten`] | `[N, C, H, W] -> [N, C H W]` and back |
//! | [`BatchNorm1d`], [`BatchNorm2d`] ([`BatchNorm`]) | `(x - E[x]) / sqrt(Var[x] + eps) * weight + bias` per channel; batch statistics and running-statistics updates in training mode, running statistics in eval mode |
//! | [`LayerNorm`] | the same over the trailing axes of each sample |
//! | [`RmsNorm`] | `x / sqrt(mean(x^2) + eps) * weight` over the trailing axes |
//! | [`GroupNorm`] | standardised over groups of channels of each sample, then per-channel affine |
//! | [`Embedding`] | `y = weight[idx]`, optional padding index without gradient |
//! | [`MultiHeadAttention`] ([`AttentionMask`]) | `softmax(Q K^T / sqrt(d) + M) V` per head, PyTorch's parameter layout, causal and key-padding masks |
//! | [`Residual`] | `y = x + f(x)` |
//!
//! [`Activation`] names a nonlinearity for builders.

mod activation;
mod adaptive_avg_pool2d;
mod attention;
mod avg_pool2d;
mod batch_norm;
mod conv;
mod dropout;
mod embedding;
mod flatten;
mod gelu;
mod group_norm;
mod layer_norm;
mod linear;
mod max_pool2d;
mod mlp;
mod normalize;
mod residual;
mod rms_norm;
mod sequential;

pub use activation::{Activation, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
pub use adaptive_avg_pool2d::AdaptiveAvgPool2d;
pub use attention::{AttentionMask, MultiHeadAttention};
pub use avg_pool2d::AvgPool2d;
pub use batch_norm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use conv::{Conv, Conv1d, Conv2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::{Flatten, Unflatten};
pub use gelu::{gelu, Gelu};
pub use group_norm::GroupNorm;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use max_pool2d::MaxPool2d;
pub use mlp::{Mlp, MlpConfig};
pub use residual::Residual;
pub use rms_norm::RmsNorm;
pub use sequential::Sequential;
