//! # The one-armed bandit: training loss against generalisation error
//!
//! ```text
//! cargo run --release --example bandit [-- --fast] [-- --out DIR]
//! ```
//!
//! The lecture's example (Optimization lecture, "Training and Generalization error"): ten pulls of a
//! one-armed bandit, `1, 0, 0, 0, 0, 0, 0, 1, 1, 0`, drawn from `p_data = (1 - p, p)`. The model is
//! `p_model = (1 - lambda, lambda)`; maximum likelihood minimises the cross-entropy on the training set
//!
//! ```text
//! L(lambda) = 1/10 sum_i -y_i log(lambda) - (1 - y_i) log(1 - lambda) = -0.3 log(lambda) - 0.7 log(1 - lambda)
//! ```
//!
//! which we do by gradient descent on the tape (`lambda <- lambda - alpha dL/dlambda`, from 0.5). The
//! generalisation error is the cross-entropy against the true distribution,
//! `CE(lambda) = -p log(lambda) - (1 - p) log(1 - lambda)`, which we cannot compute in practice (p is
//! unknown) and estimate with an independent test set.
//!
//! The lecture's figures, `L(lambda_hat) = 0.27` and `CE(lambda_hat) = 0.29`, use base-10 logarithms (in
//! nats `L(0.3)` would be 0.61): `L(0.3) = -0.3 log10 0.3 - 0.7 log10 0.7 = 0.2653`. The lecture does not
//! state `p`; any `p` in `[0.346, 0.373)` gives `CE(0.3) = 0.29` to two decimals, and we take `p = 0.36`
//! (`CE(0.3) = 0.287374`). The test `tests/examples_smoke.rs` asserts both printed figures.
//!
//! Expected output:
//!
//! ```text
//! gradient descent: lambda_hat = 0.300000 after 15 steps (maximum likelihood: 3/10 = 0.3)
//! training error        L(lambda_hat) = 0.27   (0.265295, base-10 logs)
//! generalisation error CE(lambda_hat) = 0.29   (0.287374, p = 0.36)
//! test-set estimates of CE: n = 10: 0.1917, n = 100: 0.2984, n = 1000: 0.2830, n = 10000: 0.2858, n = 100000: 0.2878
//! ```
//!
//! Also writes `bandit.svg` (both curves against lambda, and the descent) into the output directory
//! (default `target/bandit`).

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert::prelude::*;
use wengert::train::{plot_panels, Panel, Series, TrainError};

/// The ten observed pulls of the lecture.
pub const PULLS: [f64; 10] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0];
/// The true success probability (not stated in the lecture; see the module docs).
pub const P_TRUE: f64 = 0.36;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fewer test-set sizes (CI).
    pub fast: bool,
    /// Output directory for the plot.
    pub out: PathBuf,
}

impl Options {
    /// `--fast` / `WENGERT_FAST=1` and `--out DIR` from the command line.
    pub fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).map(PathBuf::from);
        Options {
            fast: args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1"),
            out: out.unwrap_or_else(|| PathBuf::from("target/bandit")),
        }
    }
}

/// The results.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The maximum-likelihood estimate found by gradient descent.
    pub lambda_hat: f64,
    /// Gradient-descent steps taken.
    pub steps: usize,
    /// `L(lambda_hat)`, base-10 logs.
    pub training_error: f64,
    /// `CE(lambda_hat)` against `p = P_TRUE`, base-10 logs.
    pub generalisation_error: f64,
    /// `(n_test, test error)` estimates of the generalisation error.
    pub test_estimates: Vec<(usize, f64)>,
}

/// Mean cross-entropy of the pulls `y` under `p_model = (1 - lambda, lambda)`, in base-10 logs, on the tape:
/// `1/n sum_i -y_i log10(lambda) - (1 - y_i) log10(1 - lambda)`.
pub fn cross_entropy<'t>(lambda: Var<'t, f64>, y: &[f64]) -> Var<'t, f64> {
    let tape = lambda.tape();
    let n = y.len();
    let y = tape.constant(Tensor::from_vec(y.to_vec(), &[n]));
    let log10 = std::f64::consts::LN_10;
    let lam = lambda.broadcast_to(&[n]);
    let per_pull = -(y * lam.log()) - (-y + 1.0) * (-lam + 1.0).log();
    per_pull.mean() * (1.0 / log10)
}

/// `CE(p_data, p_model) = -p log10(lambda) - (1 - p) log10(1 - lambda)`.
pub fn cross_entropy_against(p: f64, lambda: f64) -> f64 {
    -p * lambda.log10() - (1.0 - p) * (1.0 - lambda).log10()
}

/// Runs the example; see the module docs.
pub fn run(opts: &Options) -> Result<Summary, TrainError> {
    // gradient descent on L(lambda) from 0.5; L''(0.3) = (0.3/0.09 + 0.7/0.49) / ln 10 = 2.07, so alpha = 0.4
    // contracts the error by |1 - 0.4 * 2.07| = 0.17 per step.
    let (alpha, tol) = (0.4, 1e-10);
    let mut lambda = 0.5;
    let mut path = vec![lambda];
    let mut steps = 0;
    while steps < 200 {
        let tape = Tape::<f64>::new();
        let l = tape.var(Tensor::scalar(lambda));
        let loss = cross_entropy(l, &PULLS);
        let g = tape.grad(loss, &[l]).value(0).item();
        lambda -= alpha * g;
        steps += 1;
        path.push(lambda);
        if g.abs() < tol {
            break;
        }
    }
    let training_error = {
        let tape = Tape::<f64>::new();
        cross_entropy(tape.var(Tensor::scalar(lambda)), &PULLS).value().item()
    };
    let generalisation_error = cross_entropy_against(P_TRUE, lambda);
    println!("training set {:?}: L(lambda) = -0.3 log10(lambda) - 0.7 log10(1 - lambda)", PULLS.map(|y| y as u8));
    println!("gradient descent: lambda_hat = {lambda:.6} after {steps} steps (maximum likelihood: 3/10 = 0.3)");
    println!("training error        L(lambda_hat) = {training_error:.2}   ({training_error:.6}, base-10 logs)");
    println!(
        "generalisation error CE(lambda_hat) = {generalisation_error:.2}   ({generalisation_error:.6}, p = {P_TRUE})"
    );

    // the test error on n fresh pulls estimates CE(lambda_hat)
    let mut rng = StdRng::seed_from_u64(4);
    let sizes: &[usize] = if opts.fast { &[10, 1000] } else { &[10, 100, 1000, 10_000, 100_000] };
    let mut test_estimates = Vec::new();
    for &n in sizes {
        let pulls: Vec<f64> = (0..n).map(|_| if rng.random::<f64>() < P_TRUE { 1.0 } else { 0.0 }).collect();
        let tape = Tape::<f64>::new();
        let e = cross_entropy(tape.constant(Tensor::scalar(lambda)), &pulls).value().item();
        test_estimates.push((n, e));
    }
    let est: Vec<String> = test_estimates.iter().map(|(n, e)| format!("n = {n}: {e:.4}")).collect();
    println!("test-set estimates of CE: {}", est.join(", "));

    let grid: Vec<f64> = (1..100).map(|i| i as f64 / 100.0).collect();
    let training_curve = grid.iter().map(|&l| (l, cross_entropy_against(0.3, l))).collect();
    let ce_curve = grid.iter().map(|&l| (l, cross_entropy_against(P_TRUE, l))).collect();
    let curves = Panel {
        title: "one-armed bandit".into(),
        x_label: "lambda".into(),
        y_label: "cross-entropy (log10)".into(),
        series: vec![
            Series::new("training loss L(lambda)", training_curve),
            Series::new(&format!("generalisation error CE(lambda), p = {P_TRUE}"), ce_curve),
        ],
    };
    let descent = Panel {
        title: "gradient descent".into(),
        x_label: "step".into(),
        y_label: "lambda".into(),
        series: vec![Series::new("lambda_k", path.iter().enumerate().map(|(k, &l)| (k as f64, l)).collect())],
    };
    plot_panels(opts.out.join("bandit.svg"), &[curves, descent])?;
    println!("plot: {}", opts.out.join("bandit.svg").display());
    Ok(Summary { lambda_hat: lambda, steps, training_error, generalisation_error, test_estimates })
}

#[allow(dead_code)]
fn main() {
    if let Err(e) = run(&Options::from_args()) {
        eprintln!("bandit failed: {e}");
        std::process::exit(1);
    }
}
