//! # wengert-nn
//!
//! Modules, layers, losses, initialisation, data pipeline, datasets and checkpoints
//! on the wengert tape.
//!
//! | where | what |
//! |---|---|
//! | [`Param`], [`Parameters`], [`Module`], [`Bound`], [`Grads`] | parameters owned by a model, recorded on a fresh tape each step |
//! | [`LayerCapture`], [`CaptureKind`] | a capturing [`Bound`] collects each `Linear`/`Conv2d` layer's input and pre-activation output (for K-FAC) |
//! | [`Buffer`] | state that is saved but not trained (running statistics), visited by [`Parameters::visit_buffers`] |
//! | [`StateDict`] | named tensors plus metadata: what checkpoints store |
//! | [`data`] | `Dataset`/`TensorDataset` (class labels or regression targets), seeded `DataLoader`, augmentation (`RandomShift`), train/val/test and k-fold splits, `Standardizer` |
//! | [`datasets`] | bundled 8x8 `digits` (+ `digits_split`: last 360 rows as test, scaled by 1/16), CSV and MNIST-IDX loaders, seeded synthetic data |
//! | [`layers`] | `Linear` (`y = x W^T + b`, `W` as PyTorch `[out, in]`), `Conv1d`/`Conv2d`, `MaxPool2d`/`AvgPool2d`/`AdaptiveAvgPool2d`, `Flatten`/`Unflatten`, `BatchNorm1d`/`BatchNorm2d` (running statistics as buffers), `LayerNorm`, `RmsNorm`, `GroupNorm`, `Embedding`, `MultiHeadAttention`, `Residual`, `Sequential`, `Mlp`/`MlpConfig`, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, GELU (tanh approx.), seeded `Dropout`; PyTorch's `state_dict` names and default initialisations |
//! | [`init`] | Xavier/Glorot and He/Kaiming (uniform, normal), `scaled_normal` (`0.0001 * randn`), PyTorch's `Linear` default, `gain` |
//! | [`loss`] | `Reduction`; `mse`, `l1`, `huber`, `cross_entropy`, `nll`, `bce_with_logits`, `multiclass_hinge`, L2 regularisation `lambda R(W)` |
//! | [`metrics`] | `argmax`, `accuracy`, `ConfusionMatrix` (precision, recall, Display) |
//! | [`checkpoint`] | safetensors `save`/`load` of a `StateDict`, `save_model`/`load_model`, atomic writes |

mod buffer;
pub mod checkpoint;
pub mod data;
pub mod datasets;
pub mod init;
pub mod layers;
pub mod loss;
pub mod metrics;
mod module;
mod param;
mod state;

pub use buffer::Buffer;
pub use module::{join_name, Bound, CaptureKind, Grads, LayerCapture, Module, Parameters};
pub use param::{Param, ParamId};
pub use state::{f64_from_meta, f64_to_meta, StateDict};
