//! Classification metrics: [`argmax`], [`accuracy`] and the [`ConfusionMatrix`].
//!
//! These read plain tensors (`var.value()`), not tape variables: metrics are not
//! differentiated.
//!
//! ```
//! use wengert_autodiff::Tensor;
//! use wengert_nn::metrics::{accuracy, argmax, ConfusionMatrix};
//!
//! let logits = Tensor::from_vec(vec![2.0_f32, 1.0, 0.0, 3.0, 0.5, 0.1], &[3, 2]);
//! assert_eq!(argmax(&logits), vec![0, 1, 0]);
//! assert_eq!(accuracy(&logits, &[0, 1, 1]), 2.0 / 3.0);
//! let cm = ConfusionMatrix::from_logits(&logits, &[0, 1, 1], 2);
//! assert_eq!(cm.get(1, 0), 1); // one true `1` predicted as `0`
//! ```

use std::fmt;

use wengert_autodiff::{Float, Tensor};

/// The index of the largest entry of each row of a `[N, C]` tensor (the first one on ties;
/// NaN is never chosen over a number).
///
/// # Panics
/// If `scores` is not a matrix with at least one column.
#[track_caller]
pub fn argmax<T: Float>(scores: &Tensor<T>) -> Vec<usize> {
    let s = scores.shape();
    assert!(s.len() == 2 && s[1] > 0, "argmax: expected [N, C] with C > 0, got {s:?}");
    scores
        .as_slice()
        .chunks(s[1])
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// The fraction of rows whose [`argmax`] equals the label: `1/N sum_i [argmax(s_i) = y_i]`
/// (`0` for an empty batch).
///
/// # Panics
/// If `scores` is not `[labels.len(), C]`.
#[track_caller]
pub fn accuracy<T: Float>(scores: &Tensor<T>, labels: &[usize]) -> f64 {
    let pred = argmax(scores);
    assert!(pred.len() == labels.len(), "accuracy: {} rows but {} labels", pred.len(), labels.len());
    if labels.is_empty() {
        return 0.0;
    }
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len() as f64
}

/// Counts of (true class, predicted class) pairs: row = truth, column = prediction
/// (as scikit-learn's `confusion_matrix`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix { classes, counts: vec![0; classes * classes] }
    }

    /// The matrix of predicted vs true labels.
    ///
    /// # Panics
    /// If the slices differ in length or a label is `>= classes`.
    #[track_caller]
    pub fn from_predictions(predicted: &[usize], truth: &[usize], classes: usize) -> Self {
        let mut cm = Self::new(classes);
        cm.add(predicted, truth);
        cm
    }

    /// The matrix of `argmax(scores)` vs `labels`.
    ///
    /// # Panics
    /// If `scores` is not `[labels.len(), C]` or a label or prediction is `>= classes`.
    #[track_caller]
    pub fn from_logits<T: Float>(scores: &Tensor<T>, labels: &[usize], classes: usize) -> Self {
        Self::from_predictions(&argmax(scores), labels, classes)
    }

    /// Adds a batch of predictions (accumulating over batches).
    ///
    /// # Panics
    /// If the slices differ in length or a label is `>= classes`.
    #[track_caller]
    pub fn add(&mut self, predicted: &[usize], truth: &[usize]) {
        assert!(
            predicted.len() == truth.len(),
            "ConfusionMatrix: {} predictions, {} labels",
            predicted.len(),
            truth.len()
        );
        for (&p, &t) in predicted.iter().zip(truth) {
            assert!(
                p < self.classes && t < self.classes,
                "ConfusionMatrix: label {t} / prediction {p} out of range for {} classes",
                self.classes
            );
            self.counts[t * self.classes + p] += 1;
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How many samples of true class `truth` were predicted as `predicted`.
    ///
    /// # Panics
    /// If either index is `>= classes`.
    #[track_caller]
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        assert!(truth < self.classes && predicted < self.classes, "ConfusionMatrix::get: index out of range");
        self.counts[truth * self.classes + predicted]
    }

    /// Total number of samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Fraction on the diagonal: `trace / total` (`0` if empty).
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes).map(|c| self.get(c, c)).sum();
        ratio(correct, self.total()).unwrap_or(0.0)
    }

    /// Precision of class `c`: `TP / (TP + FP)`, the fraction of predictions `c` that are right;
    /// `None` if `c` was never predicted.
    pub fn precision(&self, c: usize) -> Option<f64> {
        let predicted: u64 = (0..self.classes).map(|t| self.get(t, c)).sum();
        ratio(self.get(c, c), predicted)
    }

    /// Recall of class `c`: `TP / (TP + FN)`, the fraction of true `c` found; `None` if no sample is `c`.
    pub fn recall(&self, c: usize) -> Option<f64> {
        let actual: u64 = (0..self.classes).map(|p| self.get(c, p)).sum();
        ratio(self.get(c, c), actual)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl fmt::Display for ConfusionMatrix {
    /// A table with true classes as rows and predictions as columns, then recall per row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.counts.iter().max().map_or(1, |m| m.to_string().len()).max(self.classes.to_string().len());
        write!(f, "{:>5} |", "t\\p")?;
        for c in 0..self.classes {
            write!(f, " {c:>width$}")?;
        }
        writeln!(f, " | recall")?;
        for t in 0..self.classes {
            write!(f, "{t:>5} |")?;
            for p in 0..self.classes {
                write!(f, " {:>width$}", self.get(t, p))?;
            }
            match self.recall(t) {
                Some(r) => writeln!(f, " | {r:.3}")?,
                None => writeln!(f, " |    -")?,
            }
        }
        write!(f, "accuracy {:.4} ({} samples)", self.accuracy(), self.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        let s = Tensor::from_vec(vec![1.0, 3.0, 3.0, f64::NAN, -1.0, -2.0, 0.0, 0.0, 0.0], &[3, 3]);
        assert_eq!(argmax(&s), vec![1, 1, 0]);
    }

    /// truth 0 0 1 1 2 2, predicted 0 1 1 1 2 0:
    /// precision(0) = 1/2, recall(0) = 1/2, precision(1) = 2/3, recall(1) = 1, recall(2) = 1/2.
    #[test]
    fn confusion_matrix_counts_precision_recall_and_display() {
        let mut cm = ConfusionMatrix::from_predictions(&[0, 1, 1], &[0, 0, 1], 3);
        cm.add(&[1, 2, 0], &[1, 2, 2]);
        assert_eq!(cm.total(), 6);
        assert_eq!((cm.get(0, 0), cm.get(0, 1), cm.get(2, 0)), (1, 1, 1));
        assert_eq!(cm.precision(0), Some(0.5));
        assert_eq!(cm.recall(0), Some(0.5));
        assert_eq!(cm.precision(1), Some(2.0 / 3.0));
        assert_eq!(cm.recall(1), Some(1.0));
        assert_eq!(cm.recall(2), Some(0.5));
        assert!((cm.accuracy() - 4.0 / 6.0).abs() < 1e-15);
        let empty = ConfusionMatrix::new(2);
        assert_eq!((empty.precision(0), empty.recall(1), empty.accuracy()), (None, None, 0.0));
        let text = cm.to_string();
        assert!(text.contains("accuracy 0.6667 (6 samples)"), "{text}");
        assert_eq!(text.lines().count(), 1 + 3 + 1);
    }

    #[test]
    fn accuracy_agrees_with_the_confusion_matrix() {
        let s = Tensor::from_vec(vec![0.1f32, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4], &[4, 2]);
        let y = [1, 0, 0, 0];
        assert_eq!(accuracy(&s, &y), 0.75);
        assert_eq!(ConfusionMatrix::from_logits(&s, &y, 2).accuracy(), 0.75);
    }

    #[test]
    #[should_panic(expected = "out of range for 2 classes")]
    fn confusion_matrix_rejects_a_bad_label() {
        ConfusionMatrix::from_predictions(&[0], &[2], 2);
    }
}
