//! # Batch size: the variance of the stochastic gradient, and deterministic against stochastic descent
//!
//! ```text
//! cargo run --release --example batch_size [-- --fast] [-- --out DIR]
//! ```
//!
//! The lecture's quiz ("for small batches, GD performs more weight updates per second because each one
//! requires less computation; for large batches, GD converges in fewer weight updates because each
//! stochastic gradient is less noisy") made visible on its own example, `L(w1, w2) = 0.1 w1^2 + 2 w2^2`,
//! written as least squares over `n = 1024` samples:
//!
//! ```text
//! l_i(w) = 1/2 (x_i . w - y_i)^2,   x_i ~ N(0, diag(0.2, 4)),   y_i ~ N(0, 0.5^2)
//! L(w)   = 1/n sum_i l_i(w)  ~  0.1 w1^2 + 2 w2^2 + const
//! ```
//!
//! 1. The minibatch gradient `S = 1/m sum_{i in batch} dl_i/dw2` at `w = (3, 1)`, for `m = 1, 2, 4, ..., 256`
//!    (batches drawn without replacement): its variance over many draws against the theory
//!    `Var S = sigma^2 / m * (n - m) / (n - 1)`, with `sigma^2` the variance of the `n` per-sample gradients.
//!    Quadrupling the batch halves the noise's standard deviation.
//! 2. Gradient descent from `(3, 1)` with `alpha = 0.1`: full batch ("points steadily downhill") against
//!    minibatches of 8 ("on average points downhill"), the same number of steps.
//!
//! Writes `batch_size.svg` (variance against batch size on log axes, both paths, both loss curves) to the
//! output directory (default `target/batch_size`). Expected output:
//!
//! ```text
//!    m   Var S (measured)   Var S (theory)   ratio     (600 draws each, at w = [3.0, 1.0])
//!    1           36.27831         40.54018    0.89
//!    2           19.47048         20.25027    0.96
//!  ...
//!  256            0.12493          0.11889    1.05
//! full batch: loss 0.20388 after 60 steps (monotone: true); minibatch 8: loss 0.20867; minimum 0.12794
//! ```
//!
//! Both paths are still far from the minimum along the flat `w1` axis (curvature 0.2: each step removes
//! only 2% of the error there), the lecture's "very slow convergence" of badly conditioned problems.
//! ```

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;
use wengert::prelude::*;
use wengert::train::{plot_panels, Panel, Series, TrainError};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fewer draws per batch size (CI).
    pub fast: bool,
    /// Output directory for the plot.
    pub out: PathBuf,
}

/// What the run measured.
#[derive(Clone, Debug)]
pub struct Summary {
    /// `(m, measured Var S, theoretical Var S)` per batch size.
    pub variance: Vec<(usize, f64, f64)>,
    /// Full-batch loss per step (first entry: the start).
    pub gd_losses: Vec<f64>,
    /// Full-data loss along the minibatch path.
    pub sgd_losses: Vec<f64>,
    /// Full-data loss at the minimum of the sampled problem (least squares solution).
    pub min_loss: f64,
}

/// The sampled problem: `x: [n, 2]`, `y: [n]`.
pub struct Problem {
    x: Tensor<f64>,
    y: Tensor<f64>,
}

impl Problem {
    /// `n` samples, seeded.
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let x1 = Tensor::<f64>::randn(&[n], 0.0, 0.2f64.sqrt(), &mut rng);
        let x2 = Tensor::<f64>::randn(&[n], 0.0, 2.0, &mut rng);
        let x = (0..n).flat_map(|i| [x1.as_slice()[i], x2.as_slice()[i]]).collect();
        Problem { x: Tensor::from_vec(x, &[n, 2]), y: Tensor::<f64>::randn(&[n], 0.0, 0.5, &mut rng) }
    }

    fn rows(&self, idx: &[usize]) -> (Tensor<f64>, Tensor<f64>) {
        let x = idx.iter().flat_map(|&i| [self.x.as_slice()[2 * i], self.x.as_slice()[2 * i + 1]]).collect();
        let y = idx.iter().map(|&i| self.y.as_slice()[i]).collect();
        (Tensor::from_vec(x, &[idx.len(), 2]), Tensor::from_vec(y, &[idx.len()]))
    }

    /// Loss and gradient of `1/m sum_i 1/2 (x_i . w - y_i)^2` over rows `idx` (all rows when `None`).
    pub fn loss_and_grad(&self, w: [f64; 2], idx: Option<&[usize]>) -> (f64, [f64; 2]) {
        let (x, y) = match idx {
            Some(idx) => self.rows(idx),
            None => (self.x.clone(), self.y.clone()),
        };
        let tape = Tape::<f64>::new();
        let wv = tape.var(Tensor::from_vec(w.to_vec(), &[2, 1]));
        let m = y.numel();
        let r = tape.constant(x).matmul(wv).reshape(&[m]) - tape.constant(y);
        let loss = r.square().mean() * 0.5;
        let g = tape.grad(loss, &[wv]).value(0);
        (loss.value().item(), [g.as_slice()[0], g.as_slice()[1]])
    }

    /// The least-squares minimiser `(X^T X)^{-1} X^T y` (2 x 2 solve).
    pub fn minimiser(&self) -> [f64; 2] {
        let (x, y) = (self.x.as_slice(), self.y.as_slice());
        let (mut a, mut b, mut c, mut p, mut q) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..y.len() {
            let (u, v) = (x[2 * i], x[2 * i + 1]);
            a += u * u;
            b += u * v;
            c += v * v;
            p += u * y[i];
            q += v * y[i];
        }
        let det = a * c - b * b;
        [(c * p - b * q) / det, (a * q - b * p) / det]
    }
}

/// Runs both experiments; see the module docs.
pub fn run(opts: &Options) -> Result<Summary, TrainError> {
    let n = 1024;
    let problem = Problem::new(n, 10);
    let w0 = [3.0, 1.0];
    let mut rng = StdRng::seed_from_u64(11);

    // 1. variance of the minibatch gradient along w2
    let per_sample: Vec<f64> = (0..n).map(|i| problem.loss_and_grad(w0, Some(&[i])).1[1]).collect();
    let mean = per_sample.iter().sum::<f64>() / n as f64;
    let sigma2 = per_sample.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n as f64;
    let draws = if opts.fast { 150 } else { 600 };
    println!("   m   Var S (measured)   Var S (theory)   ratio     ({draws} draws each, at w = {w0:?})");
    let mut variance = Vec::new();
    for m in (0..9).map(|k| 1usize << k) {
        let s: Vec<f64> =
            (0..draws).map(|_| problem.loss_and_grad(w0, Some(&sample(&mut rng, n, m).into_vec())).1[1]).collect();
        let sm = s.iter().sum::<f64>() / draws as f64;
        let measured = s.iter().map(|v| (v - sm).powi(2)).sum::<f64>() / (draws - 1) as f64;
        let theory = sigma2 / m as f64 * (n - m) as f64 / (n - 1) as f64;
        println!("{m:>4}   {measured:>16.5}   {theory:>14.5}   {:>5.2}", measured / theory);
        variance.push((m, measured, theory));
    }

    // 2. deterministic and stochastic descent paths
    let (alpha, steps, batch) = (0.1, 60, 8);
    let full_loss = |w: [f64; 2]| problem.loss_and_grad(w, None).0;
    let (mut gd, mut sgd) = (vec![w0], vec![w0]);
    let (mut gd_losses, mut sgd_losses) = (vec![full_loss(w0)], vec![full_loss(w0)]);
    for _ in 0..steps {
        let w = *gd.last().unwrap();
        let (_, g) = problem.loss_and_grad(w, None);
        let w = [w[0] - alpha * g[0], w[1] - alpha * g[1]];
        gd.push(w);
        gd_losses.push(full_loss(w));
        let w = *sgd.last().unwrap();
        let (_, g) = problem.loss_and_grad(w, Some(&sample(&mut rng, n, batch).into_vec()));
        let w = [w[0] - alpha * g[0], w[1] - alpha * g[1]];
        sgd.push(w);
        sgd_losses.push(full_loss(w));
    }
    let min_loss = full_loss(problem.minimiser());
    let monotone = gd_losses.windows(2).all(|p| p[1] <= p[0]);
    println!(
        "full batch: loss {:.5} after {steps} steps (monotone: {monotone}); minibatch {batch}: loss {:.5}; minimum {min_loss:.5}",
        gd_losses[steps], sgd_losses[steps]
    );

    let var_panel = Panel {
        title: "variance of the minibatch gradient dL/dw2".into(),
        x_label: "log2(batch size)".into(),
        y_label: "log10(Var S)".into(),
        series: vec![
            Series::new("measured", variance.iter().map(|&(m, v, _)| ((m as f64).log2(), v.log10())).collect()),
            Series::new(
                "sigma^2/m (n-m)/(n-1)",
                variance.iter().map(|&(m, _, t)| ((m as f64).log2(), t.log10())).collect(),
            ),
        ],
    };
    let path_panel = Panel {
        title: format!("descent paths, alpha = {alpha}"),
        x_label: "w1".into(),
        y_label: "w2".into(),
        series: vec![
            Series::new("full batch", gd.iter().map(|w| (w[0], w[1])).collect()),
            Series::new(&format!("minibatch {batch}"), sgd.iter().map(|w| (w[0], w[1])).collect()),
        ],
    };
    let loss_panel = Panel {
        title: "loss on all data".into(),
        x_label: "step".into(),
        y_label: "L(w)".into(),
        series: vec![
            Series::new("full batch", gd_losses.iter().enumerate().map(|(k, &l)| (k as f64, l)).collect()),
            Series::new(
                &format!("minibatch {batch}"),
                sgd_losses.iter().enumerate().map(|(k, &l)| (k as f64, l)).collect(),
            ),
        ],
    };
    plot_panels(opts.out.join("batch_size.svg"), &[var_panel, path_panel, loss_panel])?;
    println!("plot: {}", opts.out.join("batch_size.svg").display());
    Ok(Summary { variance, gd_losses, sgd_losses, min_loss })
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let opts = Options {
        fast: args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1"),
        out: out.unwrap_or_else(|| PathBuf::from("target/batch_size")),
    };
    if let Err(e) = run(&opts) {
        eprintln!("batch_size failed: {e}");
        std::process::exit(1);
    }
}
