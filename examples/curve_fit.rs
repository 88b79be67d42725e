//! Nonlinear least squares `min_p 1/2 ||r(p)||^2`, `r_i = model(t_i; p) - y_i`, with the three methods of the
//! lecture, each from a good and a poor start:
//!
//! ```text
//! Gauss-Newton:         J^T J delta = -J^T r                      (then a line search on 1/2 ||r||^2)
//! Levenberg:            (J^T J + lambda I) delta = -J^T r
//! Levenberg-Marquardt:  (J^T J + lambda D^2) delta = -J^T r,   D = diag(column norms of J)
//! ```
//!
//! Both in MINPACK's trust-region form: `lambda` is chosen so that `||D delta||` fits a radius that grows after
//! a step whose reduction of `||r||^2` matches the model's prediction and shrinks after one that does not:
//! `lambda = 0` is Gauss-Newton, large `lambda` a short gradient step, scaled per variable for Marquardt.
//! The Jacobian `J` comes from exact tape products (`wengert_optim::objective::TapeLeastSquares`), no finite
//! differences.
//!
//! | problem | model | true `p` | data |
//! |---|---|---|---|
//! | exponential decay | `a exp(-b t) + c` | `(2.5, 1.3, 0.5)` | 40 points on `[0, 4]` |
//! | Gaussian peak | `A exp(-(t - mu)^2 / (2 s^2))` | `(3, 1.5, 0.4)` | 50 points on `[-1, 4]` |
//! | rational | `(p0 + p1 t) / (1 + p2 t)` | `(1, 3, 0.5)` | 40 points on `[0, 5]` |
//!
//! `y` carries seeded Gaussian noise of standard deviation 0.01, so the least-squares fit is within a few
//! `1e-3` of the true parameters; a fit counts as *recovered* when every parameter is within 0.05 of the
//! truth (for the Gaussian, `|s|` is compared: the model is even in `s`).
//!
//! ```text
//! cargo run --release --example curve_fit           # WENGERT_FAST=1: 100 iterations at most instead of 500
//! ```
//!
//! Expected output: one row per (problem, start, method) with iterations, final `||r||` (about
//! `0.01 sqrt(m)`, the noise level, when recovered), recovered parameters, stop reason and whether the truth
//! was recovered, and `target/examples/curve_fit.svg` with the data and the fits from the poor starts. From
//! the good starts all three methods recover every model in 4 to 6 iterations. From the
//! poor starts the damped methods recover all three, while Gauss-Newton fails on two: on the exponential decay
//! it collapses `a` to 0 and stalls with `||r||` near 8, and on the Gaussian started narrow and off the peak
//! (`mu = 2.5, s = 0.2`, where `J` is nearly rank deficient) its steps run away; Levenberg and
//! Levenberg-Marquardt damp those steps until the model reaches the data (the sign of `s` may flip: the model
//! is even in `s`).

use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::autodiff::{Tensor, Var};
use wengert::optim::objective::TapeLeastSquares;
use wengert::optim::second_order::gauss_newton::{self, GaussNewtonConfig};
use wengert::optim::second_order::levenberg_marquardt::{self, LmConfig};
use wengert::optim::second_order::{Report, StopReason, Tolerances};
use wengert::train::{plot_panels, Panel, Series};

/// The three test models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// `a exp(-b t) + c`.
    ExponentialDecay,
    /// `A exp(-(t - mu)^2 / (2 s^2))`.
    GaussianPeak,
    /// `(p0 + p1 t) / (1 + p2 t)`.
    Rational,
}

impl Model {
    /// All models, in table order.
    pub const ALL: [Model; 3] = [Model::ExponentialDecay, Model::GaussianPeak, Model::Rational];

    fn name(self) -> &'static str {
        match self {
            Model::ExponentialDecay => "exponential decay",
            Model::GaussianPeak => "Gaussian peak",
            Model::Rational => "rational",
        }
    }

    /// The generating parameters.
    pub fn truth(self) -> [f64; 3] {
        match self {
            Model::ExponentialDecay => [2.5, 1.3, 0.5],
            Model::GaussianPeak => [3.0, 1.5, 0.4],
            Model::Rational => [1.0, 3.0, 0.5],
        }
    }

    /// `(good start, poor start)`.
    pub fn starts(self) -> ([f64; 3], [f64; 3]) {
        match self {
            Model::ExponentialDecay => ([2.0, 1.0, 0.3], [0.1, 8.0, -2.0]),
            Model::GaussianPeak => ([2.5, 1.3, 0.5], [1.0, 2.5, 0.2]),
            Model::Rational => ([1.2, 2.5, 0.4], [0.0, 10.0, 5.0]),
        }
    }

    /// Sample points `(count, first, last)`.
    fn grid(self) -> (usize, f64, f64) {
        match self {
            Model::ExponentialDecay => (40, 0.0, 4.0),
            Model::GaussianPeak => (50, -1.0, 4.0),
            Model::Rational => (40, 0.0, 5.0),
        }
    }

    /// The model at the sample points `t` (a tape constant), parameters `p` of shape `[3]`.
    fn eval<'t>(self, p: Var<'t, f64>, t: Var<'t, f64>) -> Var<'t, f64> {
        let (a, b, c) = (p.slice(0, 0..1), p.slice(0, 1..2), p.slice(0, 2..3));
        match self {
            Model::ExponentialDecay => a * (-(b * t)).exp() + c,
            Model::GaussianPeak => a * (-((t - b).square() / (c.square() * 2.0))).exp(),
            Model::Rational => (a + b * t) / (c * t + 1.0),
        }
    }

    /// The same model on plain numbers (to generate the data).
    fn value(self, p: [f64; 3], t: f64) -> f64 {
        match self {
            Model::ExponentialDecay => p[0] * (-p[1] * t).exp() + p[2],
            Model::GaussianPeak => p[0] * (-(t - p[1]).powi(2) / (2.0 * p[2] * p[2])).exp(),
            Model::Rational => (p[0] + p[1] * t) / (1.0 + p[2] * t),
        }
    }

    /// Seeded data `(t, y)` with noise of standard deviation 0.01.
    pub fn data(self, seed: u64) -> (Tensor<f64>, Tensor<f64>) {
        let (m, t0, t1) = self.grid();
        let t = Tensor::linspace(t0, t1, m);
        let noise = Tensor::<f64>::randn(&[m], 0.0, 0.01, &mut StdRng::seed_from_u64(seed));
        let y: Vec<f64> =
            t.as_slice().iter().zip(noise.as_slice()).map(|(&t, e)| self.value(self.truth(), t) + e).collect();
        (t, Tensor::from_vec(y, &[m]))
    }

    /// Whether `p` is within 0.05 of the truth in every parameter (`|s|` for the Gaussian width).
    pub fn recovered(self, p: &[f64]) -> bool {
        let mut p = p.to_vec();
        if self == Model::GaussianPeak {
            p[2] = p[2].abs();
        }
        p.iter().zip(self.truth()).all(|(a, b)| (a - b).abs() < 0.05)
    }
}

/// The three methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Gauss-Newton with an Armijo line search, dense `J^T J` by Cholesky.
    GaussNewton,
    /// Levenberg, `J^T J + lambda I`.
    Levenberg,
    /// Levenberg-Marquardt, `J^T J + lambda D^2` with `D` the column norms of `J` (MINPACK's scaling).
    LevenbergMarquardt,
}

impl Method {
    /// All methods, in table order.
    pub const ALL: [Method; 3] = [Method::GaussNewton, Method::Levenberg, Method::LevenbergMarquardt];

    fn name(self) -> &'static str {
        match self {
            Method::GaussNewton => "Gauss-Newton",
            Method::Levenberg => "Levenberg",
            Method::LevenbergMarquardt => "Levenberg-Marquardt",
        }
    }
}

/// One fit.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The model.
    pub model: Model,
    /// `true` for the poor start.
    pub poor_start: bool,
    /// The method.
    pub method: Method,
    /// Iterations (for Levenberg(-Marquardt) including rejected trials); `None` if the method could not run.
    pub iterations: Option<usize>,
    /// Final `||r||` (NaN if the method could not run).
    pub residual_norm: f64,
    /// Final parameters.
    pub params: Vec<f64>,
    /// Why it stopped, or the error.
    pub outcome: String,
    /// Whether the truth was recovered ([`Model::recovered`]).
    pub recovered: bool,
}

/// What the example computes.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Every (model, start, method), in table order.
    pub fits: Vec<Fit>,
}

impl Summary {
    /// The fit of `model` from the good or poor start with `method`.
    ///
    /// # Panics
    /// Never for the values [`run`] produces (every combination is present).
    pub fn get(&self, model: Model, poor_start: bool, method: Method) -> &Fit {
        self.fits
            .iter()
            .find(|f| f.model == model && f.poor_start == poor_start && f.method == method)
            .expect("run fits every combination")
    }
}

fn fit(model: Model, poor_start: bool, method: Method, max_iter: usize) -> Fit {
    let (t, y) = model.data(11);
    let mut problem = TapeLeastSquares::new(move |p: Var<'_, f64>| {
        model.eval(p, p.constant_like(t.clone())) - p.constant_like(y.clone())
    });
    let (good, poor) = model.starts();
    let x0 = if poor_start { poor } else { good };
    let tol = Tolerances { step_tol: 1e-12, ..Tolerances::default().with_grad_tol(1e-8).with_max_iter(max_iter) };
    let result: Result<Report<f64>, _> = match method {
        Method::GaussNewton => {
            gauss_newton::minimize(&mut problem, &x0, &GaussNewtonConfig { tol, ..GaussNewtonConfig::default() })
                .map(Report::without_info)
        }
        Method::Levenberg => {
            levenberg_marquardt::minimize(&mut problem, &x0, &LmConfig { tol, ..LmConfig::levenberg() })
                .map(Report::without_info)
        }
        Method::LevenbergMarquardt => {
            levenberg_marquardt::minimize(&mut problem, &x0, &LmConfig { tol, ..LmConfig::default() })
                .map(Report::without_info)
        }
    };
    match result {
        Ok(r) => {
            let residual_norm = (2.0 * r.f).sqrt();
            let ok = residual_norm.is_finite() && model.recovered(&r.x);
            Fit {
                model,
                poor_start,
                method,
                iterations: Some(r.iterations),
                residual_norm,
                outcome: stop_name(r.stop).to_string(),
                recovered: ok,
                params: r.x,
            }
        }
        Err(e) => Fit {
            model,
            poor_start,
            method,
            iterations: None,
            residual_norm: f64::NAN,
            params: x0.to_vec(),
            outcome: format!("error: {e}"),
            recovered: false,
        },
    }
}

fn stop_name(s: StopReason) -> &'static str {
    match s {
        StopReason::GradientTolerance => "gradient tol",
        StopReason::StepTolerance => "step tol",
        StopReason::FunctionTolerance => "function tol",
        StopReason::MaxIterations => "max iterations",
        StopReason::MaxEvaluations => "max evaluations",
        StopReason::NoProgress => "no progress",
        StopReason::NonFinite => "non-finite",
    }
}

/// Fits every model from both starts with every method and prints the table; `fast` allows 100 iterations
/// instead of 500.
pub fn run(fast: bool) -> Summary {
    let max_iter = if fast { 100 } else { 500 };
    let mut fits = Vec::new();
    for model in Model::ALL {
        for poor_start in [false, true] {
            for method in Method::ALL {
                fits.push(fit(model, poor_start, method, max_iter));
            }
        }
    }
    println!(
        "{:<18} {:<23} {:<20} {:>6} {:>10}  {:<30} {:<15} recovered",
        "problem", "start", "method", "iters", "||r||", "parameters", "stop"
    );
    for f in &fits {
        let (good, poor) = f.model.starts();
        let start =
            format!("{}{:?}", if f.poor_start { "poor " } else { "good " }, if f.poor_start { poor } else { good });
        let params = format!("[{}]", f.params.iter().map(|p| format!("{p:.4}")).collect::<Vec<_>>().join(", "));
        println!(
            "{:<18} {:<23} {:<20} {:>6} {:>10.3e}  {:<30} {:<15} {}",
            f.model.name(),
            start,
            f.method.name(),
            f.iterations.map_or("-".to_string(), |k| k.to_string()),
            f.residual_norm,
            params,
            f.outcome,
            if f.recovered { "yes" } else { "no" }
        );
    }
    for model in Model::ALL {
        println!("true parameters of the {}: {:?}", model.name(), model.truth());
    }
    let summary = Summary { fits };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("examples").join("curve_fit.svg");
    match plot_panels(&path, &panels(&summary)) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    summary
}

/// One panel per model: the data, and the curves fitted from the poor start by Gauss-Newton and by
/// Levenberg-Marquardt (a failed fit is clipped to the data's range widened by half of it).
fn panels(summary: &Summary) -> Vec<Panel> {
    Model::ALL
        .iter()
        .map(|&model| {
            let (t, y) = model.data(11);
            let (lo, hi) =
                y.as_slice().iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let clip = |v: f64| v.clamp(lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo));
            let (t0, t1) = (t.as_slice()[0], t.as_slice()[t.numel() - 1]);
            let curve = |method: Method| {
                let p = &summary.get(model, true, method).params;
                let p = [p[0], p[1], p[2]];
                let pts = (0..=200).map(|i| t0 + (t1 - t0) * i as f64 / 200.0).map(|t| (t, clip(model.value(p, t))));
                Series::new(&format!("{} from the poor start", method.name()), pts.collect())
            };
            Panel {
                title: model.name().into(),
                x_label: "t".into(),
                y_label: "y".into(),
                series: vec![
                    Series::new("data", t.as_slice().iter().copied().zip(y.as_slice().iter().copied()).collect()),
                    curve(Method::GaussNewton),
                    curve(Method::LevenbergMarquardt),
                ],
            }
        })
        .collect()
}

fn main() {
    let fast = std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1");
    run(fast);
}
