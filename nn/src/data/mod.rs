//! The data pipeline: datasets held in memory, minibatch iteration, splits and feature scaling.
//!
//! | where | what |
//! |---|---|
//! | [`Dataset`], [`TensorDataset`], [`Targets`], [`Batch`] | features `[n, d]` with class labels or regression targets, gathered into batches |
//! | [`DataLoader`] | seeded, reproducible minibatch iteration (reshuffled per epoch), optional drop-last |
//! | [`train_val_test_split`], [`stratified_split`], [`k_fold`] | index sets for hold-out splits (60/20/20, 80/10/10) and k-fold cross-validation |
//! | [`Transform`], [`RandomShift`] | data augmentation of training batches: random +-k pixel shifts of images |
//! | [`Standardizer`], [`MinMaxScaler`] | per-feature `(x - mean) / std` and `(x - min) / (max - min)` fitted on training data |
//!
//! ```
//! use wengert_autodiff::Tensor;
//! use wengert_nn::data::{DataLoader, TensorDataset, Targets};
//!
//! let x = Tensor::<f64>::from_vec((0..10).map(|i| i as f64).collect(), &[5, 2]);
//! let ds = TensorDataset::new(x, Targets::Labels(vec![0, 1, 0, 1, 1]));
//! let loader = DataLoader::new(2).shuffle(7).drop_last(false);
//! let sizes: Vec<usize> = loader.epoch(&ds, 0).map(|b| b.len()).collect();
//! assert_eq!(sizes, vec![2, 2, 1]);
//! ```

mod augment;
mod dataset;
mod loader;
mod scale;
mod split;

pub use augment::{RandomShift, Transform};
pub use dataset::{Batch, Dataset, Targets, TensorDataset};
pub use loader::{DataLoader, Epoch};
pub use scale::{MinMaxScaler, Standardizer};
pub use split::{k_fold, stratified_split, train_val_test_split, Fold, SplitIndices, SPLIT_60_20_20, SPLIT_80_10_10};
