//! [`History`]: every minibatch loss and every validation of a run, written out as CSV.

use std::fmt::Write as _;
use std::path::Path;

/// One optimiser step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Iteration, 0-based, counted over all epochs.
    pub iteration: u64,
    /// Epoch, 0-based.
    pub epoch: u64,
    /// Mean loss of the minibatch (the "average mini-batch error" of the lecture).
    pub loss: f64,
    /// Bias-corrected exponential moving average of `loss` ([`Ema::value`](super::Ema::value)).
    pub smoothed_loss: f64,
    /// Learning rate used for this step.
    pub lr: f64,
}

/// One evaluation on the validation set.
#[derive(Clone, Debug, PartialEq)]
pub struct ValRecord {
    /// Number of optimiser steps taken before this validation.
    pub iteration: u64,
    /// Epoch during (or at the end of) which it ran, 0-based.
    pub epoch: u64,
    /// Mean loss over the validation set.
    pub loss: f64,
    /// The metric (accuracy by default) over the validation set.
    pub metric: f64,
}

/// The sharpness of the training loss at the end of an epoch ([`SharpnessLog`](super::SharpnessLog)).
#[derive(Clone, Debug, PartialEq)]
pub struct SharpnessRecord {
    /// Number of optimiser steps taken before it was measured.
    pub iteration: u64,
    /// Epoch at whose end it was measured, 0-based.
    pub epoch: u64,
    /// `lambda_max`, the largest eigenvalue of the loss's Hessian.
    pub lambda_max: f64,
    /// The learning rate of the epoch's last step: stable on the local quadratic model while
    /// `lr < 2 / lambda_max`.
    pub lr: f64,
}

impl SharpnessRecord {
    /// `2 / lambda_max`, the largest stable learning rate (infinite if `lambda_max <= 0`).
    pub fn max_stable_learning_rate(&self) -> f64 {
        if self.lambda_max > 0.0 {
            2.0 / self.lambda_max
        } else {
            f64::INFINITY
        }
    }
}

/// The curves of a run: training loss per step, validation loss and metric per validation, sharpness per
/// epoch when asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Name of the validation metric (`"accuracy"`).
    pub metric_name: String,
    /// One record per optimiser step.
    pub steps: Vec<StepRecord>,
    /// One record per validation.
    pub validations: Vec<ValRecord>,
    /// One record per epoch with [`TrainConfig::sharpness`](super::TrainConfig::sharpness) set.
    pub sharpness: Vec<SharpnessRecord>,
}

impl History {
    /// An empty history whose metric is called `metric_name`.
    pub fn new(metric_name: &str) -> Self {
        History { metric_name: metric_name.to_string(), ..Default::default() }
    }

    /// The validation with the lowest loss (first of equals), if any.
    pub fn best_validation(&self) -> Option<&ValRecord> {
        self.validations.iter().fold(None, |best: Option<&ValRecord>, v| match best {
            Some(b) if b.loss <= v.loss => Some(b),
            _ => Some(v),
        })
    }

    /// The steps as CSV: `iteration,epoch,loss,smoothed_loss,lr`, one row per step, floats in the shortest
    /// form that reads back exactly.
    pub fn steps_csv(&self) -> String {
        let mut s = String::from("iteration,epoch,loss,smoothed_loss,lr\n");
        for r in &self.steps {
            let _ = writeln!(s, "{},{},{:?},{:?},{:?}", r.iteration, r.epoch, r.loss, r.smoothed_loss, r.lr);
        }
        s
    }

    /// The validations as CSV: `iteration,epoch,val_loss,val_<metric>`.
    pub fn validations_csv(&self) -> String {
        let mut s = format!("iteration,epoch,val_loss,val_{}\n", self.metric_name);
        for r in &self.validations {
            let _ = writeln!(s, "{},{},{:?},{:?}", r.iteration, r.epoch, r.loss, r.metric);
        }
        s
    }

    /// The sharpness records as CSV: `iteration,epoch,lambda_max,max_stable_lr,lr`.
    pub fn sharpness_csv(&self) -> String {
        let mut s = String::from("iteration,epoch,lambda_max,max_stable_lr,lr\n");
        for r in &self.sharpness {
            let _ = writeln!(
                s,
                "{},{},{:?},{:?},{:?}",
                r.iteration,
                r.epoch,
                r.lambda_max,
                r.max_stable_learning_rate(),
                r.lr
            );
        }
        s
    }

    /// Writes `train.csv` ([`History::steps_csv`]) and `val.csv` ([`History::validations_csv`]) into `dir`,
    /// creating it if needed, and `sharpness.csv` ([`History::sharpness_csv`]) when there are records.
    ///
    /// # Errors
    /// Any I/O error.
    pub fn write_csv(&self, dir: impl AsRef<Path>) -> std::io::Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("train.csv"), self.steps_csv())?;
        if !self.sharpness.is_empty() {
            std::fs::write(dir.join("sharpness.csv"), self.sharpness_csv())?;
        }
        std::fs::write(dir.join("val.csv"), self.validations_csv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        let mut h = History::new("accuracy");
        for i in 0..3 {
            h.steps.push(StepRecord {
                iteration: i,
                epoch: 0,
                loss: 1.0 / (i + 1) as f64,
                smoothed_loss: 0.5,
                lr: 0.1,
            });
        }
        h.validations.push(ValRecord { iteration: 1, epoch: 0, loss: 0.7, metric: 0.5 });
        h.validations.push(ValRecord { iteration: 2, epoch: 0, loss: 0.3, metric: 0.8 });
        h.validations.push(ValRecord { iteration: 3, epoch: 0, loss: 0.3, metric: 0.9 });
        h
    }

    #[test]
    fn csv_rows_read_back_exactly() {
        let h = sample();
        let csv = h.steps_csv();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows[0], "iteration,epoch,loss,smoothed_loss,lr");
        assert_eq!(rows.len(), 4);
        let loss: f64 = rows[3].split(',').nth(2).unwrap().parse().unwrap();
        assert_eq!(loss, 1.0 / 3.0);
        assert!(h.validations_csv().starts_with("iteration,epoch,val_loss,val_accuracy\n"));
    }

    #[test]
    fn best_validation_is_the_first_lowest_loss() {
        assert_eq!(sample().best_validation().unwrap().iteration, 2);
        assert!(History::new("accuracy").best_validation().is_none());
    }
}
