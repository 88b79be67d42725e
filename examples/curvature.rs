//! # The Hessian spectrum of the digits MLP, and the sharpness along training against `2 / lr`
//!
//! ```text
//! cargo run --release --example curvature               # full run
//! cargo run --release --example curvature -- --fast     # what the test runs (also WENGERT_FAST=1)
//! cargo run --release --example curvature -- --out DIR  # where the plots go (default target/curvature)
//! cargo run --release --example curvature -- --lr 0.5   # one gradient-descent learning rate (default 0.5 and 2)
//! ```
//!
//! A 64-32-10 tanh MLP (f64) on the bundled 8x8 digits, with the curvature toolkit of
//! `wengert::optim::curvature` on a fixed batch of training rows (512; 256 in fast mode):
//!
//! 1. **at initialisation**: the top eigenvalues of the loss Hessian `H` and of the Gauss-Newton matrix `G` by
//!    Lanczos, the most negative eigenvalue of `H`, Hutchinson's trace of `H` with its standard error, and the
//!    spectral density of `H` by stochastic Lanczos quadrature (Ghorbani et al. 2019, PyHessian);
//! 2. **training**: full-batch gradient descent with a fixed learning rate `lr` on that batch (0.5 and 2.0), measuring the
//!    sharpness `lambda_max(H)` every few steps. Gradient descent on a quadratic diverges for `lr > 2 /
//!    lambda_max` (the lecture's `alpha = 0.48` converges and `0.51` blows up on `0.1 w1^2 + 2 w2^2`); on a
//!    network the sharpness typically rises during training ("progressive sharpening") until it reaches
//!    `2 / lr` and then hovers there, the "edge of stability" (Cohen et al. 2021);
//!    With `lr = 0.5`, `2 / lr = 4` stays above the sharpness and the loss falls monotonically. With `lr = 2`,
//!    `2 / lr = 1` is below the sharpness at initialisation (about 1.17): the loss first rises and the sharpness
//!    spikes, then gradient descent is thrown to a flatter region with `lambda_max < 2 / lr` (the "catapult",
//!    Lewkowycz et al. 2020) and converges there: it cannot settle where `lambda_max > 2 / lr`;
//! 3. **after training** (the first rate): the same spectrum again, flatter, with fewer negative eigenvalues.
//!
//! Output: a table on stdout, `spectrum.svg` (log10 of the smoothed density at initialisation and after
//! training) and `sharpness.svg` (sharpness and `2 / lr` against the step, with the loss) in the output
//! directory.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::data::Dataset;
use wengert::nn::datasets::digits_split;
use wengert::nn::layers::{Activation, Mlp};
use wengert::nn::loss::{cross_entropy, Reduction};
use wengert::nn::{Bound, Module, Parameters};
use wengert::optim::curvature::{
    bottom_eigenpairs, hutchinson_trace, loss_sharpness, spectral_density, top_eigenpairs, Ggn, LanczosConfig,
    LossHessian, OutputLoss, SlqConfig, SpectralDensity,
};
use wengert::optim::first_order::{Optimizer, Sgd, SgdConfig};
use wengert::optim::stochastic::{closure, Evaluation};
use wengert::prelude::*;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Smaller batch, fewer steps, fewer Lanczos steps (CI).
    pub fast: bool,
    /// Output directory for the plots.
    pub out: PathBuf,
    /// Seed of the initialisation and of the probes.
    pub seed: u64,
    /// Learning rates of the gradient-descent runs (the first run's end point gets the second spectrum).
    pub lrs: Vec<f64>,
}

impl Options {
    /// `--fast` / `WENGERT_FAST=1`, `--out DIR`, `--seed N`, `--lr X` from the command line.
    pub fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
        Options {
            fast: args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1"),
            out: value("--out").map_or_else(|| PathBuf::from("target/curvature"), PathBuf::from),
            seed: value("--seed").and_then(|s| s.parse().ok()).unwrap_or(0),
            lrs: value("--lr").and_then(|s| s.parse().ok()).map_or_else(|| DEFAULT_LRS.to_vec(), |lr| vec![lr]),
        }
    }
}

/// The default gradient-descent learning rates: 0.5 (`2 / lr = 4`, above the sharpness all along) and 2.0
/// (`2 / lr = 1`, below the sharpness at initialisation, about 1.17: the loss first rises, the sharpness is
/// driven down below `2 / lr`, a "catapult", Lewkowycz et al. 2020, and then training converges).
pub const DEFAULT_LRS: [f64; 2] = [0.5, 2.0];

/// One gradient-descent run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The learning rate.
    pub lr: f64,
    /// `(step, loss, sharpness)` along training.
    pub sharpness: Vec<(usize, f64, f64)>,
    /// Training accuracy on the curvature batch at the end.
    pub train_accuracy: f64,
}

/// The spectrum at one point of training.
#[derive(Clone, Debug)]
pub struct Spectrum {
    /// The loss on the curvature batch.
    pub loss: f64,
    /// Top eigenvalues of the Hessian, descending.
    pub hessian_top: Vec<f64>,
    /// Residuals `||H x - lambda x||` of those Ritz pairs.
    pub hessian_top_residuals: Vec<f64>,
    /// The most negative eigenvalue of the Hessian.
    pub hessian_min: f64,
    /// Top eigenvalues of the Gauss-Newton matrix, descending.
    pub ggn_top: Vec<f64>,
    /// Hutchinson's estimate of `tr H` and its standard error.
    pub trace: (f64, f64),
    /// The SLQ density of `H`.
    pub density: SpectralDensity,
}

/// What the run measured.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Number of trainable parameters.
    pub parameters: usize,
    /// At initialisation.
    pub initial: Spectrum,
    /// After the first run.
    pub trained: Spectrum,
    /// The gradient-descent runs, one per learning rate.
    pub runs: Vec<Run>,
}

const TOP_K: usize = 5;

fn spectrum(model: &Mlp<f64>, x: &Tensor<f64>, labels: &[usize], opts: &Options) -> Spectrum {
    let mut c = closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::CrossEntropy { labels: labels.to_vec() },
    });
    let lanczos = LanczosConfig { max_iterations: if opts.fast { 60 } else { 120 }, tol: 1e-8, seed: opts.seed };
    let h = LossHessian::new(model, &mut c);
    let top = top_eigenpairs(&h, TOP_K, &lanczos).expect("finite Hessian products");
    let bottom = bottom_eigenpairs(&h, 1, &lanczos).expect("finite Hessian products");
    let trace = hutchinson_trace(&h, if opts.fast { 10 } else { 30 }, &mut StdRng::seed_from_u64(opts.seed))
        .expect("finite Hessian products");
    let slq =
        SlqConfig { steps: if opts.fast { 30 } else { 80 }, probes: if opts.fast { 2 } else { 4 }, seed: opts.seed };
    let density = spectral_density(&h, &slq).expect("finite Hessian products");
    let g = Ggn::new(model, &mut c);
    let ggn_top = top_eigenpairs(&g, TOP_K, &lanczos).expect("finite GGN products").values;
    Spectrum {
        loss: h.loss_value(),
        hessian_top: top.values,
        hessian_top_residuals: top.residuals,
        hessian_min: bottom.values[0],
        ggn_top,
        trace: (trace.trace, trace.standard_error),
        density,
    }
}

fn print_spectrum(name: &str, s: &Spectrum) {
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
    println!("{name}: loss {:.4}", s.loss);
    println!("  top eigenvalues of H:   {}", fmt(&s.hessian_top));
    println!("  top eigenvalues of G:   {}", fmt(&s.ggn_top));
    println!("  smallest eigenvalue of H: {:.4}", s.hessian_min);
    println!("  tr H (Hutchinson): {:.3} ± {:.3};  tr H (SLQ): {:.3}", s.trace.0, s.trace.1, s.density.trace());
}

/// Runs the three parts and writes the plots; see the module docs.
pub fn run(opts: &Options) -> Result<Summary, Box<dyn std::error::Error>> {
    let split = digits_split::<f64>();
    let rows = if opts.fast { 256 } else { 512 };
    let batch = split.train.batch(&(0..rows).collect::<Vec<_>>());
    let (x, labels) = (batch.x.clone(), batch.labels().to_vec());
    let init = Mlp::<f64>::new(&[64, 32, 10], Activation::Tanh, &mut StdRng::seed_from_u64(opts.seed));
    let parameters = init.num_trainable();
    println!("64-32-10 tanh MLP ({parameters} parameters), curvature on {rows} training digits");

    let initial = spectrum(&init, &x, &labels, opts);
    print_spectrum("at initialisation", &initial);

    let mut runs = Vec::new();
    let mut trained = None;
    for &lr in &opts.lrs {
        let mut model = Mlp::<f64>::new(&[64, 32, 10], Activation::Tanh, &mut StdRng::seed_from_u64(opts.seed));
        let run = train(&mut model, &x, &labels, lr, opts)?;
        if trained.is_none() {
            let s = spectrum(&model, &x, &labels, opts);
            print_spectrum(&format!("after training with lr = {lr}"), &s);
            trained = Some(s);
        }
        runs.push(run);
    }
    let trained = trained.ok_or("no learning rate given")?;

    std::fs::create_dir_all(&opts.out)?;
    plot_spectra(&opts.out.join("spectrum.svg"), &initial, &trained)?;
    plot_sharpness(&opts.out.join("sharpness.svg"), &runs)?;
    println!("plots: {}, {}", opts.out.join("spectrum.svg").display(), opts.out.join("sharpness.svg").display());
    Ok(Summary { parameters, initial, trained, runs })
}

/// Full-batch gradient descent with a fixed rate, measuring the sharpness every few steps.
fn train(
    model: &mut Mlp<f64>,
    x: &Tensor<f64>,
    labels: &[usize],
    lr: f64,
    opts: &Options,
) -> Result<Run, Box<dyn std::error::Error>> {
    let steps = if opts.fast { 150 } else { 1500 };
    let every = if opts.fast { 5 } else { 25 };
    let sharp_cfg = LanczosConfig { max_iterations: 40, tol: 1e-6, seed: opts.seed };
    let mut sgd = Sgd::new(SgdConfig::new(lr));
    let mut sharpness = Vec::new();
    println!("full-batch gradient descent, lr = {lr}: 2 / lr = {:.3}", 2.0 / lr);
    println!("{:>6} {:>10} {:>12}", "step", "loss", "lambda_max");
    for step in 0..=steps {
        if step % every == 0 {
            let mut c = closure(|m: &dyn Module<f64>, p| Evaluation {
                outputs: m.forward(p, p.tape().constant(x.clone())),
                loss: OutputLoss::CrossEntropy { labels: labels.to_vec() },
            });
            let s = loss_sharpness(&*model, &mut c, &sharp_cfg)?;
            let loss = LossHessian::new(&*model, &mut c).loss_value();
            if step % (every * 5) == 0 {
                println!("{step:>6} {loss:>10.5} {:>12.4}", s.lambda_max);
            }
            sharpness.push((step, loss, s.lambda_max));
        }
        if step == steps {
            break;
        }
        let tape = Tape::new();
        let p = Bound::new(&tape, &*model);
        let loss = cross_entropy(model.forward(&p, tape.constant(x.clone())), labels, Reduction::Mean);
        let grads = p.grad(loss);
        sgd.step(model, &grads)?;
    }
    let train_accuracy = {
        let tape = Tape::new();
        let p = Bound::new(&tape, &*model);
        let logits = model.forward(&p, tape.constant(x.clone())).value();
        wengert::nn::metrics::accuracy(&logits, labels)
    };
    println!("training accuracy on the curvature batch: {train_accuracy:.4}");
    Ok(Run { lr, sharpness, train_accuracy })
}

/// The smoothed log-density on a grid spanning both spectra.
fn density_curve(d: &SpectralDensity, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let sigma = (hi - lo) / 200.0;
    let grid: Vec<f64> = (0..=800).map(|i| lo + (hi - lo) * i as f64 / 800.0).collect();
    let dens = d.density(&grid, sigma);
    grid.into_iter().zip(dens).map(|(t, p)| (t, (p + 1e-8).log10())).collect()
}

fn plot_spectra(path: &Path, a: &Spectrum, b: &Spectrum) -> Result<(), Box<dyn std::error::Error>> {
    let (lo_a, hi_a) = a.density.range();
    let (lo_b, hi_b) = b.density.range();
    let pad = 0.05 * (hi_a.max(hi_b) - lo_a.min(lo_b));
    let (lo, hi) = (lo_a.min(lo_b) - pad, hi_a.max(hi_b) + pad);
    let curves = [
        ("at initialisation", density_curve(&a.density, lo, hi), BLUE),
        ("after training", density_curve(&b.density, lo, hi), RED),
    ];
    let ymax = curves.iter().flat_map(|c| c.1.iter().map(|p| p.1)).fold(f64::NEG_INFINITY, f64::max) + 0.5;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Hessian spectral density (SLQ), log10", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, -8.0..ymax)?;
    chart.configure_mesh().x_desc("eigenvalue").y_desc("log10 density").draw()?;
    for (name, pts, color) in curves {
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    root.present()?;
    Ok(())
}

fn plot_sharpness(path: &Path, runs: &[Run]) -> Result<(), Box<dyn std::error::Error>> {
    let last = runs.iter().flat_map(|r| r.sharpness.last()).map(|p| p.0).max().unwrap_or(1) as f64;
    let ymax =
        runs.iter().flat_map(|r| r.sharpness.iter().map(|p| p.2).chain([2.0 / r.lr])).fold(0.0, f64::max).min(10.0)
            * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("sharpness lambda_max(H) along gradient descent, and 2 / lr", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last, 0.0..ymax)?;
    chart.configure_mesh().x_desc("step").draw()?;
    const COLORS: [RGBColor; 4] = [RED, BLUE, GREEN, MAGENTA];
    for (i, r) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = r.sharpness.iter().map(|p| (p.0 as f64, p.2.min(ymax))).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(format!("lambda_max, lr = {}", r.lr))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        let two = 2.0 / r.lr;
        chart
            .draw_series(LineSeries::new([(0.0, two), (last, two)], color.stroke_width(1)))?
            .label(format!("2 / lr = {two:.3}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(1)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    root.present()?;
    Ok(())
}

#[allow(dead_code)]
fn main() {
    if let Err(e) = run(&Options::from_args()) {
        eprintln!("curvature failed: {e}");
        std::process::exit(1);
    }
}
