//! Per-feature scaling fitted on training data: [`Standardizer`] and [`MinMaxScaler`].

use wengert_autodiff::{Float, Tensor};

use crate::checkpoint::CheckpointError;
use crate::StateDict;

/// Two per-feature vectors as a [`StateDict`] (`[d]` tensors named `a` and `b`).
fn to_state<T: Float>(a: (&str, &[T]), b: (&str, &[T])) -> StateDict<T> {
    let mut s = StateDict::new();
    for (name, v) in [a, b] {
        s.tensors.insert(name.to_string(), Tensor::from_vec(v.to_vec(), &[v.len()]));
    }
    s
}

/// The inverse of [`to_state`]: both tensors present, one-dimensional, of equal length.
fn from_state<T: Float>(s: &StateDict<T>, a: &str, b: &str) -> Result<(Vec<T>, Vec<T>), CheckpointError> {
    let get = |name: &str| s.tensors.get(name).ok_or_else(|| CheckpointError::Missing { name: name.to_string() });
    let (ta, tb) = (get(a)?, get(b)?);
    let d = ta.numel();
    for (name, t) in [(a, ta), (b, tb)] {
        if t.shape() != [d] {
            return Err(CheckpointError::Shape {
                name: name.to_string(),
                expected: vec![d],
                found: t.shape().to_vec(),
            });
        }
    }
    Ok((ta.to_vec(), tb.to_vec()))
}

/// Checks that `x` is `[n, d]` and returns `(n, d)`.
#[track_caller]
fn rows_cols<T: Float>(who: &str, x: &Tensor<T>) -> (usize, usize) {
    assert_eq!(x.ndim(), 2, "{who}: expected features of shape [n, d], got {:?}", x.shape());
    (x.shape()[0], x.shape()[1])
}

/// Applies `(x - shift_j) / scale_j` column by column.
fn affine<T: Float>(x: &Tensor<T>, shift: &[T], scale: &[T], inverse: bool) -> Tensor<T> {
    let d = shift.len();
    let data = x
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let j = i % d;
            if inverse {
                v * scale[j] + shift[j]
            } else {
                (v - shift[j]) / scale[j]
            }
        })
        .collect();
    Tensor::from_vec(data, x.shape())
}

/// Standardisation `z = (x - mean_j) / std_j`, per feature `j`, with `mean` and the population
/// standard deviation (divisor `n`, as scikit-learn's `StandardScaler`) computed on training
/// rows. A feature with zero variance gets `std_j = 1` (again as scikit-learn), so it maps to
/// 0 instead of NaN. Statistics are accumulated in `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer<T: Float> {
    /// Per-feature mean.
    pub mean: Vec<T>,
    /// Per-feature standard deviation (1 where the feature is constant).
    pub std: Vec<T>,
}

impl<T: Float> Standardizer<T> {
    /// Fits mean and standard deviation on `x` of shape `[n, d]`.
    ///
    /// # Panics
    /// If `x` is not two-dimensional or has no rows.
    #[track_caller]
    pub fn fit(x: &Tensor<T>) -> Self {
        let (n, d) = rows_cols("Standardizer::fit", x);
        assert!(n > 0, "Standardizer::fit: no rows");
        let s = x.as_slice();
        let mut mean = vec![0.0f64; d];
        for row in s.chunks(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v.to_f64();
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0f64; d];
        for row in s.chunks(d) {
            for ((q, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *q += (v.to_f64() - m).powi(2);
            }
        }
        let std = var
            .iter()
            .map(|q| {
                let sd = (q / n as f64).sqrt();
                // A constant column would divide by zero; its centred values are all 0 anyway.
                T::from_f64(if sd > 0.0 && sd.is_finite() { sd } else { 1.0 })
            })
            .collect();
        Standardizer { mean: mean.into_iter().map(T::from_f64).collect(), std }
    }

    /// `(x - mean) / std` for `x` of shape `[m, d]`.
    ///
    /// # Panics
    /// If `x` is not `[m, d]` with the fitted `d`.
    #[track_caller]
    pub fn transform(&self, x: &Tensor<T>) -> Tensor<T> {
        let (_, d) = rows_cols("Standardizer::transform", x);
        assert_eq!(d, self.mean.len(), "Standardizer::transform: fitted on {} features, got {d}", self.mean.len());
        affine(x, &self.mean, &self.std, false)
    }

    /// `mean` and `std` as `[d]` tensors, for saving beside a model
    /// (`state.merge_prefixed("scaler", s.state_dict())`).
    pub fn state_dict(&self) -> StateDict<T> {
        to_state(("mean", &self.mean), ("std", &self.std))
    }

    /// The inverse of [`Standardizer::state_dict`] (`from_state_dict(&state.sub("scaler"))`).
    ///
    /// # Errors
    /// [`CheckpointError::Missing`] or [`CheckpointError::Shape`] if `mean` / `std` are absent
    /// or not one-dimensional of equal length.
    pub fn from_state_dict(state: &StateDict<T>) -> Result<Self, CheckpointError> {
        let (mean, std) = from_state(state, "mean", "std")?;
        Ok(Standardizer { mean, std })
    }

    /// `z * std + mean`: undoes [`Standardizer::transform`] (up to rounding).
    ///
    /// # Panics
    /// If `z` is not `[m, d]` with the fitted `d`.
    #[track_caller]
    pub fn inverse_transform(&self, z: &Tensor<T>) -> Tensor<T> {
        let (_, d) = rows_cols("Standardizer::inverse_transform", z);
        assert_eq!(
            d,
            self.mean.len(),
            "Standardizer::inverse_transform: fitted on {} features, got {d}",
            self.mean.len()
        );
        affine(z, &self.mean, &self.std, true)
    }
}

/// Min-max scaling `(x - min_j) / (max_j - min_j)` into `[0, 1]` on the training rows, per
/// feature `j` (scikit-learn's `MinMaxScaler` with the default range). A constant feature gets
/// range 1, so it maps to 0. For a known bound (pixel counts `0..16`) use
/// [`MinMaxScaler::from_bounds`] or [`TensorDataset::scale_features`](crate::data::TensorDataset::scale_features).
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler<T: Float> {
    /// Per-feature minimum.
    pub min: Vec<T>,
    /// Per-feature `max - min` (1 where the feature is constant).
    pub range: Vec<T>,
}

impl<T: Float> MinMaxScaler<T> {
    /// Fits per-feature minimum and maximum on `x` of shape `[n, d]`.
    ///
    /// # Panics
    /// If `x` is not two-dimensional or has no rows.
    #[track_caller]
    pub fn fit(x: &Tensor<T>) -> Self {
        let (n, d) = rows_cols("MinMaxScaler::fit", x);
        assert!(n > 0, "MinMaxScaler::fit: no rows");
        let mut lo = vec![T::INFINITY; d];
        let mut hi = vec![T::NEG_INFINITY; d];
        for row in x.as_slice().chunks(d) {
            for j in 0..d {
                lo[j] = lo[j].min(row[j]);
                hi[j] = hi[j].max(row[j]);
            }
        }
        let range = lo.iter().zip(&hi).map(|(&l, &h)| if h > l { h - l } else { T::ONE }).collect();
        MinMaxScaler { min: lo, range }
    }

    /// The same bounds `[lo, hi]` for all `d` features (`from_bounds(64, 0, 16)` for digits).
    ///
    /// # Panics
    /// If `hi <= lo`.
    #[track_caller]
    pub fn from_bounds(d: usize, lo: T, hi: T) -> Self {
        assert!(hi > lo, "MinMaxScaler::from_bounds: need hi > lo, got [{lo}, {hi}]");
        MinMaxScaler { min: vec![lo; d], range: vec![hi - lo; d] }
    }

    /// `(x - min) / range` for `x` of shape `[m, d]`.
    ///
    /// # Panics
    /// If `x` is not `[m, d]` with the fitted `d`.
    #[track_caller]
    pub fn transform(&self, x: &Tensor<T>) -> Tensor<T> {
        let (_, d) = rows_cols("MinMaxScaler::transform", x);
        assert_eq!(d, self.min.len(), "MinMaxScaler::transform: fitted on {} features, got {d}", self.min.len());
        affine(x, &self.min, &self.range, false)
    }

    /// `min` and `range` as `[d]` tensors, for saving beside a model.
    pub fn state_dict(&self) -> StateDict<T> {
        to_state(("min", &self.min), ("range", &self.range))
    }

    /// The inverse of [`MinMaxScaler::state_dict`].
    ///
    /// # Errors
    /// [`CheckpointError::Missing`] or [`CheckpointError::Shape`] if `min` / `range` are absent
    /// or not one-dimensional of equal length.
    pub fn from_state_dict(state: &StateDict<T>) -> Result<Self, CheckpointError> {
        let (min, range) = from_state(state, "min", "range")?;
        Ok(MinMaxScaler { min, range })
    }

    /// `z * range + min`: undoes [`MinMaxScaler::transform`] (up to rounding).
    ///
    /// # Panics
    /// If `z` is not `[m, d]` with the fitted `d`.
    #[track_caller]
    pub fn inverse_transform(&self, z: &Tensor<T>) -> Tensor<T> {
        let (_, d) = rows_cols("MinMaxScaler::inverse_transform", z);
        assert_eq!(
            d,
            self.min.len(),
            "MinMaxScaler::inverse_transform: fitted on {} features, got {d}",
            self.min.len()
        );
        affine(z, &self.min, &self.range, true)
    }
}
