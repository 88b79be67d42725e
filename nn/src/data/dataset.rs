//! [`Dataset`]: anything that gathers the features and targets of a set of rows into a [`Batch`];
//! [`TensorDataset`]: the in-memory one.

use wengert_autodiff::{kernels, Float, Tensor};

/// The targets of a dataset or batch: class labels for classification, a tensor for regression.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets<T: Float> {
    /// One class index per row (`0..num_classes`).
    Labels(Vec<usize>),
    /// Regression targets, first axis the row (`[n]` or `[n, k]`).
    Values(Tensor<T>),
}

impl<T: Float> Targets<T> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Labels(l) => l.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
        }
    }

    /// `true` if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class labels, or `None` for regression targets.
    pub fn labels(&self) -> Option<&[usize]> {
        match self {
            Targets::Labels(l) => Some(l),
            Targets::Values(_) => None,
        }
    }

    /// The regression targets, or `None` for class labels.
    pub fn values(&self) -> Option<&Tensor<T>> {
        match self {
            Targets::Labels(_) => None,
            Targets::Values(v) => Some(v),
        }
    }

    /// The targets of rows `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    #[track_caller]
    pub fn select(&self, indices: &[usize]) -> Targets<T> {
        let n = self.len();
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            panic!("Targets::select: row {i} out of range for {n} rows");
        }
        match self {
            Targets::Labels(l) => Targets::Labels(indices.iter().map(|&i| l[i]).collect()),
            Targets::Values(v) => Targets::Values(kernels::index_select(v, 0, indices).expect("rows checked above")),
        }
    }
}

/// A minibatch: the features of some rows (`x`, shape `[b, ...]`), their targets, and which rows they were.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<T: Float> {
    /// Features, first axis the row.
    pub x: Tensor<T>,
    /// Targets of the same rows.
    pub y: Targets<T>,
    /// Row indices in the dataset, in batch order.
    pub indices: Vec<usize>,
}

impl<T: Float> Batch<T> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// `true` if the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The class labels of a classification batch.
    ///
    /// # Panics
    /// If the targets are regression values.
    #[track_caller]
    pub fn labels(&self) -> &[usize] {
        self.y.labels().expect("Batch::labels: the targets are regression values, not class labels")
    }

    /// The regression targets of a regression batch.
    ///
    /// # Panics
    /// If the targets are class labels.
    #[track_caller]
    pub fn values(&self) -> &Tensor<T> {
        self.y.values().expect("Batch::values: the targets are class labels, not regression values")
    }

    /// The rows `range` of the batch (positions in the batch, not dataset indices), in order: one rank's
    /// shard of a global batch, for instance.
    ///
    /// # Panics
    /// If `range` reaches past the batch.
    #[track_caller]
    pub fn rows(&self, range: std::ops::Range<usize>) -> Batch<T> {
        let n = self.len();
        assert!(range.start <= range.end && range.end <= n, "Batch::rows: rows {range:?} of a batch of {n}");
        let positions: Vec<usize> = range.clone().collect();
        Batch {
            x: kernels::index_select(&self.x, 0, &positions).expect("rows checked above"),
            y: self.y.select(&positions),
            indices: self.indices[range].to_vec(),
        }
    }
}

/// A source of rows that can gather any set of them into a [`Batch`].
pub trait Dataset<T: Float> {
    /// Number of rows.
    fn len(&self) -> usize;

    /// `true` if there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// Implementations panic if an index is `>= len()`.
    fn batch(&self, indices: &[usize]) -> Batch<T>;
}

/// A dataset held in memory: features `[n, ...]` (usually `[n, d]`) and [`Targets`] for the same `n` rows.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDataset<T: Float> {
    features: Tensor<T>,
    targets: Targets<T>,
}

impl<T: Float> TensorDataset<T> {
    /// A dataset of `features` (first axis the row) and `targets`.
    ///
    /// # Panics
    /// If `features` is a scalar or the number of rows differs between features and targets.
    #[track_caller]
    pub fn new(features: Tensor<T>, targets: Targets<T>) -> Self {
        assert!(features.ndim() >= 1, "TensorDataset::new: features must have a row axis, got a scalar");
        let n = features.shape()[0];
        assert_eq!(
            n,
            targets.len(),
            "TensorDataset::new: {n} rows of features but {} targets (features shape {:?})",
            targets.len(),
            features.shape()
        );
        TensorDataset { features, targets }
    }

    /// Number of rows (also [`Dataset::len`]; inherent so no trait import is needed).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// `true` if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The features, first axis the row.
    pub fn features(&self) -> &Tensor<T> {
        &self.features
    }

    /// The targets.
    pub fn targets(&self) -> &Targets<T> {
        &self.targets
    }

    /// The class labels, or `None` for a regression dataset.
    pub fn labels(&self) -> Option<&[usize]> {
        self.targets.labels()
    }

    /// Splits into features and targets.
    pub fn into_parts(self) -> (Tensor<T>, Targets<T>) {
        (self.features, self.targets)
    }

    /// Number of features per row (the product of the non-row axes).
    pub fn num_features(&self) -> usize {
        self.features.shape()[1..].iter().product()
    }

    /// `1 + max label` for a classification dataset (0 if empty), `None` for regression.
    pub fn num_classes(&self) -> Option<usize> {
        self.labels().map(|l| l.iter().max().map_or(0, |m| m + 1))
    }

    /// How many rows carry each label `0..num_classes`, `None` for regression.
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        let k = self.num_classes()?;
        let mut c = vec![0; k];
        for &l in self.labels()? {
            c[l] += 1;
        }
        Some(c)
    }

    /// A new dataset of rows `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    #[track_caller]
    pub fn subset(&self, indices: &[usize]) -> Self {
        let b = self.batch(indices);
        TensorDataset { features: b.x, targets: b.y }
    }

    /// `(first n - k rows, last k rows)`: the conventional fixed hold-out (the digits test set is the last 360).
    ///
    /// # Panics
    /// If `k > len()`.
    #[track_caller]
    pub fn split_last(&self, k: usize) -> (Self, Self) {
        let n = self.len();
        assert!(k <= n, "TensorDataset::split_last: {k} rows requested from {n}");
        let head: Vec<usize> = (0..n - k).collect();
        let tail: Vec<usize> = (n - k..n).collect();
        (self.subset(&head), self.subset(&tail))
    }

    /// The same dataset with every feature multiplied by `factor` (`1/16` for digits pixel counts).
    pub fn scale_features(&self, factor: T) -> Self {
        TensorDataset { features: kernels::map(&self.features, |v| v * factor), targets: self.targets.clone() }
    }

    /// The same dataset with features replaced by `f(features)` (e.g. a fitted
    /// [`Standardizer`](crate::data::Standardizer)'s transform).
    ///
    /// # Panics
    /// If `f` changes the number of rows.
    #[track_caller]
    pub fn map_features(&self, f: impl FnOnce(&Tensor<T>) -> Tensor<T>) -> Self {
        TensorDataset::new(f(&self.features), self.targets.clone())
    }

    /// The same rows converted to another float type.
    pub fn cast<U: Float>(&self) -> TensorDataset<U> {
        let targets = match &self.targets {
            Targets::Labels(l) => Targets::Labels(l.clone()),
            Targets::Values(v) => Targets::Values(v.cast()),
        };
        TensorDataset { features: self.features.cast(), targets }
    }
}

impl<T: Float> Dataset<T> for TensorDataset<T> {
    fn len(&self) -> usize {
        TensorDataset::len(self)
    }

    /// # Panics
    /// If an index is `>= len()`.
    #[track_caller]
    fn batch(&self, indices: &[usize]) -> Batch<T> {
        let y = self.targets.select(indices);
        let x = kernels::index_select(&self.features, 0, indices).expect("rows checked by Targets::select");
        Batch { x, y, indices: indices.to_vec() }
    }
}
