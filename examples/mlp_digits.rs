//! # An MLP on the bundled digits (the comparison for the CNN of `quickstart`)
//!
//! ```text
//! cargo run --release --example mlp_digits               # full run, about 10 s
//! cargo run --release --example mlp_digits -- --fast     # 2 epochs (what CI runs; also WENGERT_FAST=1)
//! cargo run --release --example mlp_digits -- --out DIR  # where the curves go (default target/mlp_digits)
//! ```
//!
//! Trains a 64-128-10 ReLU network with Adam on the 8x8 digits bundled in `wengert-nn` (1437 rows: the
//! last 287 held out for validation, the rest for training; the conventional last 360 rows for the final
//! test) with [`wengert::train::Trainer`]:
//!
//! - a progress bar per epoch (only when stderr is a terminal) and one line per epoch with the training
//!   loss smoothed by the lecture's exponential moving average (`beta = 0.9`) and the validation loss and
//!   accuracy (validated every 15 iterations);
//! - the learning rate decays linearly from `5e-3` to `5e-4` over the run (the lecture's
//!   `a_k = (1 - k/tau) a_0 + (k/tau) a_T`, `wengert::optim::schedule::LinearDecay`);
//! - early stopping after 15 validations without improvement, the best parameters kept and restored;
//! - at the end: test accuracy, confusion matrix, and in the output directory `curves.svg` (open it in a
//!   browser), `train.csv` (per step: loss, smoothed loss, learning rate), `val.csv` (per validation) and
//!   `best.safetensors` (the best parameters).
//!
//! Expected output (full run, about half a second of training on 2 cores, plus the build):
//!
//! ```text
//! training a 64-128-10 ReLU MLP on 1150 digits (287 for validation), up to 50 epochs
//! epoch   1/50  loss (EMA) 0.9359  val loss 0.7199  val accuracy 0.9129  [0.0s]
//! ...
//! epoch  28/50  loss (EMA) 0.0088  val loss 0.1063  val accuracy 0.9686  [0.4s]
//!   t\p |  0  1  2  3  4  5  6  7  8  9 | recall
//! ...
//! test accuracy 0.9056 (best validation accuracy 0.9721 at iteration 765), stopped early
//! ```
//!
//! The last 360 rows were written by other people than the first 1437, hence the gap between validation
//! and test accuracy (scikit-learn's `MLPClassifier(128)` reaches 0.919 on the same split, see
//! `shared/anchors`). The CNN of the `quickstart` example reaches 0.97 and more on the same test rows.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::data::Dataset;
use wengert::nn::datasets::digits_split;
use wengert::nn::layers::{Activation, Mlp};
use wengert::nn::metrics::ConfusionMatrix;
use wengert::nn::{Bound, Module};
use wengert::optim::first_order::{Adam, AdamConfig};
use wengert::optim::schedule::LinearDecay;
use wengert::prelude::*;
use wengert::train::{plot_history, TrainConfig, TrainError, Trainer};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Few epochs, same code path (CI).
    pub fast: bool,
    /// Output directory for curves, CSV and the best checkpoint.
    pub out: PathBuf,
    /// Seed of the initialisation and of the minibatch order.
    pub seed: u64,
}

impl Options {
    /// `--fast` / `WENGERT_FAST=1`, `--out DIR`, `--seed N` from the command line.
    pub fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
        Options {
            fast: args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1"),
            out: value("--out").map_or_else(|| PathBuf::from("target/mlp_digits"), PathBuf::from),
            seed: value("--seed").and_then(|s| s.parse().ok()).unwrap_or(0),
        }
    }
}

/// What the run achieved.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Accuracy on the 360 test rows, with the restored best parameters.
    pub test_accuracy: f64,
    /// Best validation accuracy seen.
    pub best_val_accuracy: f64,
    /// Epochs run (early stopping may cut the run short).
    pub epochs_run: u64,
    /// Optimiser steps taken.
    pub iterations: u64,
}

/// Trains, evaluates and writes the curves; see the module docs.
pub fn run(opts: &Options) -> Result<Summary, TrainError> {
    let split = digits_split::<f32>();
    let (train, val) = split.train.split_last(287);
    let mut model = Mlp::<f32>::new(&[64, 128, 10], Activation::Relu, &mut StdRng::seed_from_u64(opts.seed));
    let (lr0, lr_end) = (5e-3, 5e-4);
    let mut opt = Adam::new(AdamConfig::new(lr0));

    let epochs = if opts.fast { 2 } else { 50 };
    let config = TrainConfig::new(epochs)
        .batch_size(32)
        .seed(opts.seed)
        .val_every(15)
        .ema_beta(0.9)
        .patience(15)
        .best_checkpoint(opts.out.join("best.safetensors"));
    let tau = epochs * train.len().div_ceil(32) as u64;
    let mut trainer = Trainer::new(config).schedule(LinearDecay::new(lr0, lr_end, tau));
    println!(
        "training a 64-128-10 ReLU MLP on {} digits ({} for validation), up to {epochs} epochs",
        train.len(),
        val.len()
    );
    let report = trainer.fit(&mut model, &mut opt, &train, Some(&val))?;

    let test = split.test.batch(&(0..split.test.len()).collect::<Vec<_>>());
    let logits = {
        let tape = Tape::new();
        let p = Bound::new(&tape, &model);
        model.forward(&p, tape.constant(test.x.clone())).value()
    };
    let confusion = ConfusionMatrix::from_logits(&logits, test.labels(), 10);
    let best = report.best.as_ref().expect("a validation set was given");
    println!("{confusion}");
    println!(
        "test accuracy {:.4} (best validation accuracy {:.4} at iteration {}){}",
        confusion.accuracy(),
        best.val_metric,
        best.iteration,
        if report.stopped_early { ", stopped early" } else { "" }
    );
    report.history.write_csv(&opts.out)?;
    plot_history(opts.out.join("curves.svg"), &report.history)?;
    println!(
        "curves: {}  history: {}, {}",
        opts.out.join("curves.svg").display(),
        opts.out.join("train.csv").display(),
        opts.out.join("val.csv").display()
    );
    let best_val_accuracy = report.history.validations.iter().map(|v| v.metric).fold(0.0, f64::max);
    Ok(Summary {
        test_accuracy: confusion.accuracy(),
        best_val_accuracy,
        epochs_run: report.epochs_run,
        iterations: report.iterations,
    })
}

#[allow(dead_code)]
fn main() {
    if let Err(e) = run(&Options::from_args()) {
        eprintln!("mlp_digits failed: {e}");
        std::process::exit(1);
    }
}
