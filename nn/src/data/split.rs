//! Hold-out splits by fractions and k-fold cross-validation, as index sets.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use wengert_autodiff::Float;

use super::dataset::TensorDataset;

/// Fractions for [`train_val_test_split`]: 60 % train, 20 % validation, 20 % test (lectures).
pub const SPLIT_60_20_20: [f64; 3] = [0.6, 0.2, 0.2];
/// Fractions for [`train_val_test_split`]: 80 % train, 10 % validation, 10 % test (lectures).
pub const SPLIT_80_10_10: [f64; 3] = [0.8, 0.1, 0.1];

/// Row indices of a train / validation / test split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitIndices {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub val: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

impl SplitIndices {
    /// `(train, val, test)` subsets of `dataset`.
    ///
    /// # Panics
    /// If an index is out of range for `dataset`.
    #[track_caller]
    pub fn apply<T: Float>(
        &self,
        dataset: &TensorDataset<T>,
    ) -> (TensorDataset<T>, TensorDataset<T>, TensorDataset<T>) {
        (dataset.subset(&self.train), dataset.subset(&self.val), dataset.subset(&self.test))
    }
}

/// Shuffles `0..n` with `seed` and cuts it into train / validation / test parts of
/// `round(n f_train)`, `round(n f_val)` and the remaining rows, e.g. `[0.6, 0.2, 0.2]` or
/// `[0.8, 0.1, 0.1]` as in the lectures. Each part is returned in ascending row order.
///
/// # Panics
/// If a fraction is negative or not finite, or the fractions do not sum to 1 (within `1e-9`).
#[track_caller]
pub fn train_val_test_split(n: usize, fractions: [f64; 3], seed: u64) -> SplitIndices {
    assert!(
        fractions.iter().all(|f| f.is_finite() && *f >= 0.0) && (fractions.iter().sum::<f64>() - 1.0).abs() <= 1e-9,
        "train_val_test_split: fractions must be non-negative and sum to 1, got {fractions:?}"
    );
    let n_train = ((n as f64) * fractions[0]).round() as usize;
    let n_val = (((n as f64) * fractions[1]).round() as usize).min(n - n_train.min(n));
    let n_train = n_train.min(n);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed));
    let part = |r: std::ops::Range<usize>| {
        let mut v = idx[r].to_vec();
        v.sort_unstable();
        v
    };
    SplitIndices { train: part(0..n_train), val: part(n_train..n_train + n_val), test: part(n_train + n_val..n) }
}

/// [`train_val_test_split`] within each class: the rows of every label are shuffled (with
/// `seed` and the label) and cut by the same fractions, so each part keeps the class
/// proportions up to rounding (one row per class). Parts are returned in ascending row order.
///
/// # Panics
/// As [`train_val_test_split`].
#[track_caller]
pub fn stratified_split(labels: &[usize], fractions: [f64; 3], seed: u64) -> SplitIndices {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_class = vec![Vec::new(); k];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut out = SplitIndices { train: Vec::new(), val: Vec::new(), test: Vec::new() };
    for (c, rows) in by_class.iter().enumerate() {
        let s = train_val_test_split(rows.len(), fractions, seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        out.train.extend(s.train.iter().map(|&i| rows[i]));
        out.val.extend(s.val.iter().map(|&i| rows[i]));
        out.test.extend(s.test.iter().map(|&i| rows[i]));
    }
    for part in [&mut out.train, &mut out.val, &mut out.test] {
        part.sort_unstable();
    }
    out
}

/// One fold of k-fold cross-validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fold {
    /// Rows to train on (all rows not in `val`), ascending.
    pub train: Vec<usize>,
    /// Rows held out in this fold, ascending.
    pub val: Vec<usize>,
}

/// The `k` folds of k-fold cross-validation over `n` rows: the rows (shuffled with `seed`, or in
/// order with `None`) are cut into `k` consecutive parts, the first `n mod k` of size
/// `floor(n/k) + 1` and the rest `floor(n/k)` (as scikit-learn's `KFold`); fold `i` validates on
/// part `i` and trains on the others. Every row is validated on exactly once.
///
/// # Panics
/// If `k < 2` or `k > n`.
#[track_caller]
pub fn k_fold(n: usize, k: usize, seed: Option<u64>) -> Vec<Fold> {
    assert!(k >= 2 && k <= n, "k_fold: need 2 <= k <= n, got k = {k}, n = {n}");
    let mut idx: Vec<usize> = (0..n).collect();
    if let Some(s) = seed {
        idx.shuffle(&mut StdRng::seed_from_u64(s));
    }
    let (q, r) = (n / k, n % k);
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let end = start + q + usize::from(i < r);
        let mut val = idx[start..end].to_vec();
        val.sort_unstable();
        let mut train: Vec<usize> = idx[..start].iter().chain(&idx[end..]).copied().collect();
        train.sort_unstable();
        folds.push(Fold { train, val });
        start = end;
    }
    folds
}
