//! The 8x8 handwritten digits, bundled into the crate (no network, no files at run time).

use std::sync::OnceLock;

use wengert_autodiff::Float;

use super::csv::{parse_csv, CsvConfig};
use crate::data::TensorDataset;

/// `nn/data/digits.csv`: UCI optical recognition of handwritten digits (CC BY 4.0), in the 8x8
/// form scikit-learn bundles; see `nn/data/README.md`.
const DIGITS_CSV: &str = include_str!("../../data/digits.csv");

/// Number of rows of [`digits`].
pub const DIGITS_LEN: usize = 1797;
/// Rows held out as the conventional test split ([`digits_split`]).
pub const DIGITS_TEST_LEN: usize = 360;

/// The 8x8 digits: 1797 rows of 64 pixel counts `0..=16` (row-major 8x8 image, unscaled) with
/// class labels `0..=9`. Class counts are 178 182 177 183 181 182 181 179 174 180.
///
/// ```
/// let ds = wengert_nn::datasets::digits::<f32>();
/// assert_eq!(ds.features().shape(), &[1797, 64]);
/// assert_eq!(ds.num_classes(), Some(10));
/// ```
pub fn digits<T: Float>() -> TensorDataset<T> {
    static CACHE: OnceLock<TensorDataset<f64>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            parse_csv::<f64>(DIGITS_CSV, "nn/data/digits.csv", &CsvConfig::default())
                .expect("the bundled digits.csv is well formed (checked by tests)")
        })
        .cast()
}

/// The conventional hold-out of the digits data: the first 1437 rows for training, the last 360
/// for testing.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitsSplit<T: Float> {
    /// The first 1437 rows.
    pub train: TensorDataset<T>,
    /// The last 360 rows.
    pub test: TensorDataset<T>,
}

/// [`digits`] with features scaled by `1/16` (into `[0, 1]`), split into the first 1437 rows for
/// training and the last 360 for testing, as in our examples.
///
/// ```
/// let s = wengert_nn::datasets::digits_split::<f64>();
/// assert_eq!((s.train.len(), s.test.len()), (1437, 360));
/// assert!(s.train.features().as_slice().iter().all(|&v| (0.0..=1.0).contains(&v)));
/// ```
pub fn digits_split<T: Float>() -> DigitsSplit<T> {
    let (train, test) = digits::<T>().scale_features(T::from_f64(1.0 / 16.0)).split_last(DIGITS_TEST_LEN);
    DigitsSplit { train, test }
}
