//! Datasets that need no network: the bundled 8x8 digits, loaders for files users bring (CSV,
//! MNIST-style IDX), and seeded synthetic generators.
//!
//! | where | what |
//! |---|---|
//! | [`digits`], [`digits_split`] | the 8x8 handwritten digits (1797 x 64, 10 classes), bundled; conventional last-360 test split |
//! | [`load_csv`], [`parse_csv`], [`CsvConfig`] | numeric CSV, optional header, target column by name or index |
//! | [`load_mnist`], [`load_idx_images`], [`load_idx_labels`] | MNIST / Fashion-MNIST IDX files, plain or gzipped |
//! | [`spirals`], [`blobs`], [`linear_regression`], [`sine_regression`], [`bernoulli`], [`bandit_draws`] | seeded synthetic data |
//! | [`LoadError`] | what is wrong with a file, naming the file |

mod csv;
mod digits;
mod error;
mod idx;
mod synthetic;

pub use csv::{load_csv, parse_csv, CsvConfig, TargetColumn, TargetKind, DEFAULT_MAX_CLASSES};
pub use digits::{digits, digits_split, DigitsSplit, DIGITS_LEN, DIGITS_TEST_LEN};
pub use error::LoadError;
pub use idx::{
    load_idx_images, load_idx_labels, load_mnist, parse_idx_images, parse_idx_labels, IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
};
pub use synthetic::{bandit_draws, bernoulli, blobs, linear_regression, sine_regression, spirals};
