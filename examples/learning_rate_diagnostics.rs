//! Learning-rate diagnostics on the ill-conditioned quadratic of the lecture, then the learning-rate
//! schedules side by side.
//!
//! **Part 1.** Gradient descent `w <- w - alpha dL/dw` on `L(w1, w2) = 0.1 w1^2 + 2 w2^2` from `(-8, 2)` with
//! the lecture's three rates, plus a well-chosen one for reference. The Hessian is `diag(0.2, 4)`, so each
//! coordinate is multiplied per step by `1 - 0.2 alpha` (flat `w1`) and `1 - 4 alpha` (steep `w2`):
//!
//! | alpha | `1 - 0.2 alpha` | `1 - 4 alpha` | what the curve shows |
//! |---|---|---|---|
//! | 0.01 | 0.998 | 0.96 | slow progress: `w1` barely moves (too small) |
//! | 0.25 | 0.95 | 0 | healthy: `w2` solved in one step, `w1` decays steadily |
//! | 0.48 | 0.904 | -0.92 | oscillation: `w2` flips sign every step and decays slowly (too large) |
//! | 0.51 | 0.898 | -1.04 | instability: `w2` flips sign and grows, the loss explodes (much too large) |
//!
//! Each run is diagnosed from what a practitioner sees, the loss curve and the updates: the loss rising above
//! its start is *instability*; successive updates pointing in opposite directions (`dw_k . dw_{k-1} < 0`) in
//! most steps is *oscillation*; less than 90% of the loss removed is *slow progress*.
//!
//! On this quadratic the loss still falls fastest at `alpha = 0.48`: it is next to the best constant rate
//! `2 / (0.2 + 4) = 0.476`, which equalises the two contraction factors `|1 - 0.2 alpha| = |1 - 4 alpha|`. The
//! oscillation is the price (the lecture's "fast enough for `w1`, too fast for `w2`"): `w2` only shrinks by
//! 0.92 per step while flipping sign, and a rate just 6% larger (0.51) makes it grow without bound. A single
//! learning rate cannot suit both directions; momentum and per-coordinate scaling (see `optimizer_zoo`) can.
//!
//! **Part 2.** Every schedule of `wengert_optim::schedule` from `alpha0 = 0.4` over 400 steps, as a plot of
//! `alpha_k`, a table of values, and the lecture's reason for decaying ("to mitigate fluctuations: gradually
//! decrease the learning rate"): SGD with noisy gradients (Gaussian noise of standard deviation 1 added to the
//! exact gradient) on the same quadratic keeps fluctuating around the minimum with a constant rate and settles
//! as the rate decays (mean loss over the last quarter of the run).
//!
//! ```text
//! cargo run --release --example learning_rate_diagnostics        # WENGERT_FAST=1 for the CI mode
//! ```
//!
//! Expected output: a table with diagnoses `slow progress`, `healthy`, `oscillation`, `instability` for alpha
//! = 0.01, 0.25, 0.48, 0.51; a table of `alpha_k` per schedule; the noisy-SGD table where every decaying
//! schedule ends with a lower loss than the constant rate; and two SVG files in `target/examples/`
//! (`learning_rate_diagnostics.svg`, `learning_rate_schedules.svg`).

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::autodiff::{Tape, Tensor};
use wengert::nn::{Bound, Grads, Param};
use wengert::optim::first_order::{Optimizer, Sgd, SgdConfig};
use wengert::optim::schedule::{
    Constant, CosineAnnealing, Exponential, InverseSqrt, InverseTime, LinearDecay, LinearWarmup, Schedule, Scheduler,
    Sequential, StepDecay,
};
use wengert::train::{plot_panels, Panel, Series};

/// Curvatures of `L = 0.1 w1^2 + 2 w2^2`, written as `sum_i c_i w_i^2`.
const CURVATURE: [f64; 2] = [0.1, 2.0];
/// The starting point of every run.
const START: [f64; 2] = [-8.0, 2.0];

/// What a loss curve (and the updates behind it) says about the learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Diagnosis {
    /// Less than 90% of the initial loss removed: the rate is too small.
    SlowProgress,
    /// The loss fell and the updates keep the same direction.
    Healthy,
    /// Successive updates point in opposite directions in most steps: the rate is too large.
    Oscillation,
    /// The loss ended above where it started (or is not finite): the rate is much too large.
    Instability,
}

impl Diagnosis {
    fn describe(self) -> &'static str {
        match self {
            Diagnosis::SlowProgress => "slow progress (alpha too small)",
            Diagnosis::Healthy => "healthy",
            Diagnosis::Oscillation => "oscillation (alpha too large)",
            Diagnosis::Instability => "instability (alpha much too large)",
        }
    }
}

/// One gradient-descent run of part 1.
#[derive(Clone, Debug)]
pub struct RateRun {
    /// The learning rate.
    pub alpha: f64,
    /// `L(w_k)` for `k = 0..=steps`.
    pub losses: Vec<f64>,
    /// `w_k` for `k = 0..=steps`.
    pub path: Vec<[f64; 2]>,
    /// Fraction of steps whose update reverses the previous one (`dw_k . dw_{k-1} < 0`).
    pub reversals: f64,
    /// The diagnosis.
    pub diagnosis: Diagnosis,
}

/// Noisy SGD under one schedule (part 2).
#[derive(Clone, Debug)]
pub struct ScheduleRun {
    /// Schedule name.
    pub name: String,
    /// `alpha_k` for `k = 0..=steps`.
    pub rates: Vec<f64>,
    /// Mean loss over the last quarter of the noisy-SGD run.
    pub final_loss: f64,
}

/// Everything the example computes.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Part 1, one run per rate (0.01, 0.25, 0.48, 0.51).
    pub runs: Vec<RateRun>,
    /// Part 2, one entry per schedule; the first is the constant rate.
    pub schedules: Vec<ScheduleRun>,
}

/// `L(w)` and `dL/dw` recorded on a tape, for the optimiser.
fn loss_and_grads(params: &Vec<Param<f64>>) -> (f64, Grads<f64>) {
    let tape = Tape::new();
    let p = Bound::new(&tape, params);
    let w = p.var(&params[0]);
    let loss = (w.square() * w.constant_like(Tensor::from_vec(CURVATURE.to_vec(), &[2]))).sum();
    (loss.item(), p.grad(loss))
}

fn point(params: &[Param<f64>]) -> [f64; 2] {
    let w = params[0].value().as_slice();
    [w[0], w[1]]
}

/// Part 1: plain gradient descent with a constant rate, diagnosed from its curve.
pub fn gradient_descent(alpha: f64, steps: usize) -> RateRun {
    let mut params = vec![Param::new(Tensor::from_vec(START.to_vec(), &[2]))];
    let mut opt = Sgd::new(SgdConfig::new(alpha));
    let (mut losses, mut path) = (Vec::new(), vec![point(&params)]);
    for _ in 0..steps {
        let (loss, grads) = loss_and_grads(&params);
        losses.push(loss);
        opt.step(&mut params, &grads).expect("gradients of a quadratic are finite");
        path.push(point(&params));
    }
    losses.push(loss_and_grads(&params).0);

    let updates: Vec<[f64; 2]> = path.windows(2).map(|w| [w[1][0] - w[0][0], w[1][1] - w[0][1]]).collect();
    let reversed = updates.windows(2).filter(|u| u[0][0] * u[1][0] + u[0][1] * u[1][1] < 0.0).count();
    let reversals = reversed as f64 / (updates.len().max(2) - 1) as f64;
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    let diagnosis = if !last.is_finite() || last > first {
        Diagnosis::Instability
    } else if reversals > 0.5 {
        Diagnosis::Oscillation
    } else if last > 0.1 * first {
        Diagnosis::SlowProgress
    } else {
        Diagnosis::Healthy
    };
    RateRun { alpha, losses, path, reversals, diagnosis }
}

/// The schedules compared in part 2, all from `alpha0 = 0.4` over `horizon` steps.
pub fn schedules(horizon: u64) -> Vec<(&'static str, Box<dyn Schedule>)> {
    let a0 = 0.4;
    let warm = horizon / 10;
    vec![
        ("constant", Box::new(Constant::new(a0)) as Box<dyn Schedule>),
        ("step decay t=0.5 every 20%", Box::new(StepDecay::new(a0, 0.5, (horizon / 5).max(1)))),
        ("exponential", Box::new(Exponential::new(a0, 0.01f64.powf(1.0 / horizon as f64)))),
        ("inverse time", Box::new(InverseTime::new(a0, 10.0 / horizon as f64))),
        ("t/sqrt(k) t=1", Box::new(InverseSqrt::new(a0, 1.0))),
        ("linear to alpha0/100", Box::new(LinearDecay::new(a0, a0 / 100.0, horizon))),
        ("cosine", Box::new(CosineAnnealing::new(a0, 0.0, horizon))),
        (
            "warm-up + cosine",
            Box::new(Sequential::new(
                vec![
                    Box::new(LinearWarmup::new(a0, 0.1, warm)),
                    Box::new(CosineAnnealing::new(a0, 0.0, horizon - warm)),
                ],
                vec![warm],
            )),
        ),
    ]
}

/// Noisy SGD: exact gradient plus `N(0, 1)` noise per component, rate from `schedule`; returns the rates used
/// and the mean loss over the last quarter of the run.
fn noisy_sgd(schedule: Box<dyn Schedule>, steps: usize, seed: u64) -> (Vec<f64>, f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut params = vec![Param::new(Tensor::from_vec(START.to_vec(), &[2]))];
    let mut opt = Sgd::new(SgdConfig::new(schedule.lr_at(0)));
    let mut sched = Scheduler::new(schedule);
    let mut rates = vec![sched.lr()];
    let mut tail = Vec::new();
    for k in 0..steps {
        let (loss, mut grads) = loss_and_grads(&params);
        if k >= steps - steps / 4 {
            tail.push(loss);
        }
        let noise = Tensor::<f64>::randn(&[2], 0.0, 1.0, &mut rng);
        let g = grads.get_mut(&params[0]).expect("w has a gradient");
        for (g, n) in g.data_mut().iter_mut().zip(noise.as_slice()) {
            *g += n;
        }
        opt.step(&mut params, &grads).expect("finite gradients");
        sched.step(&mut opt);
        rates.push(sched.lr());
    }
    (rates, tail.iter().sum::<f64>() / tail.len() as f64)
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("examples")
}

/// Runs both parts, prints the tables and writes the plots; `fast` shortens the runs (same code path).
pub fn run(fast: bool) -> Summary {
    let steps = if fast { 60 } else { 100 };
    let runs: Vec<RateRun> = [0.01, 0.25, 0.48, 0.51].iter().map(|&a| gradient_descent(a, steps)).collect();

    println!("Gradient descent on L = 0.1 w1^2 + 2 w2^2 from (-8, 2), {steps} steps");
    println!("{:>6} {:>12} {:>12} {:>11}  diagnosis", "alpha", "L_0", "L_end", "reversals");
    for r in &runs {
        let (l0, l1) = (r.losses[0], r.losses[r.losses.len() - 1]);
        println!(
            "{:>6} {:>12.4e} {:>12.4e} {:>10.0}%  {}",
            r.alpha,
            l0,
            l1,
            100.0 * r.reversals,
            r.diagnosis.describe()
        );
    }

    let horizon = if fast { 200 } else { 400 };
    let schedule_runs: Vec<ScheduleRun> = schedules(horizon as u64)
        .into_iter()
        .map(|(name, s)| {
            let (rates, final_loss) = noisy_sgd(s, horizon, 7);
            ScheduleRun { name: name.to_string(), rates, final_loss }
        })
        .collect();

    println!("\nSchedules from alpha0 = 0.4 over {horizon} steps, and noisy SGD (gradient + N(0, 1)) under each");
    let ks = [0, horizon / 10, horizon / 4, horizon / 2, horizon];
    print!("{:<28}", "schedule");
    for k in ks {
        print!(" {:>10}", format!("k={k}"));
    }
    println!(" {:>16}", "mean late loss");
    for s in &schedule_runs {
        print!("{:<28}", s.name);
        for k in ks {
            print!(" {:>10.5}", s.rates[k]);
        }
        println!(" {:>16.4e}", s.final_loss);
    }

    let dir = out_dir();
    let curve = |f: &dyn Fn(&RateRun, usize) -> f64| -> Vec<Series> {
        runs.iter()
            .map(|r| {
                Series::new(&format!("alpha = {}", r.alpha), (0..r.path.len()).map(|k| (k as f64, f(r, k))).collect())
            })
            .collect()
    };
    let diagnostics = [
        Panel {
            title: "loss curves".into(),
            x_label: "step k".into(),
            y_label: "log10 L(w_k)".into(),
            series: curve(&|r, k| r.losses[k].log10()),
        },
        Panel {
            title: "steep coordinate w2".into(),
            x_label: "step k".into(),
            y_label: "w2 (clipped to [-4, 4])".into(),
            series: curve(&|r, k| r.path[k][1].clamp(-4.0, 4.0)),
        },
    ];
    // two panels of four, so that every curve of a panel has its own colour
    let rates: Vec<Panel> = schedule_runs
        .chunks(4)
        .map(|group| Panel {
            title: "learning-rate schedules".into(),
            x_label: "step k".into(),
            y_label: "alpha_k".into(),
            series: group
                .iter()
                .map(|s| Series::new(&s.name, s.rates.iter().enumerate().map(|(k, &a)| (k as f64, a)).collect()))
                .collect(),
        })
        .collect();
    for (file, panels) in
        [("learning_rate_diagnostics.svg", &diagnostics[..]), ("learning_rate_schedules.svg", &rates[..])]
    {
        match plot_panels(dir.join(file), panels) {
            Ok(()) => println!("wrote {}", dir.join(file).display()),
            Err(e) => eprintln!("could not write {file}: {e}"),
        }
    }
    Summary { runs, schedules: schedule_runs }
}

fn main() {
    let fast = std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1");
    run(fast);
}
