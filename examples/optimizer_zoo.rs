//! Every first-order optimiser of `wengert_optim::first_order` on the two surfaces of the lecture's comparison
//! figures, with trajectories drawn over contour plots and a table of steps to converge.
//!
//! - the ill-conditioned quadratic `L(w1, w2) = 0.1 w1^2 + 2 w2^2` (Hessian `diag(0.2, 4)`, condition number
//!   20) from `(-8, 2)`: one learning rate is too slow for `w1` or too fast for `w2`; momentum and the
//!   per-coordinate scalings (AdaGrad, RMSProp, Adam, ...) are the cures the lecture introduces;
//! - Rosenbrock `f(x, y) = (1 - x)^2 + 100 (y - x^2)^2` from `(-1.2, 1)`, minimum at `(1, 1)`, with the
//!   hyperparameters of the table in the `wengert_optim::first_order` docs (checked there by a test).
//!
//! Gradients come from the tape (`Bound::grad`); the look-ahead forms (Nesterov, RMSProp with Nesterov
//! momentum) take their gradient at the interim point through `FirstOrder::step_look_ahead`; sign descent
//! runs with its inverse-time schedule. A run has converged when the max-norm distance to the minimiser is
//! below `1e-3`.
//!
//! ```text
//! cargo run --release --example optimizer_zoo        # WENGERT_FAST=1: step cap 1,500 instead of 25,000
//! ```
//!
//! Expected output (full mode, cap 25,000): a table with one row per optimiser, its hyperparameters on each
//! problem, the steps to converge (or `>cap`) and the final distance. On the quadratic, plain GD (`lr = 0.4`)
//! needs 108 steps (`w1` shrinks by `1 - 0.2 * 0.4 = 0.92` per step), heavy-ball momentum with tuned
//! `(lr, rho) = (0.65, 0.4)` 27, Nesterov 57, the adaptive methods 60 to 300, and Adadelta does not get there
//! (its steps start at `sqrt(eps)` and grow slowly). On Rosenbrock the step counts are those of the
//! `first_order` docs table: about 1,100-1,900 for RMSProp-Nesterov, Adam and AdamW, 3,000-5,600 for momentum,
//! Nesterov, Adamax and NAdam, 8,000-9,000 for SGD, AdaGrad and RMSProp, about 20,000 for Adadelta, and sign
//! descent is still `4e-2` away at the cap. The picture `target/examples/optimizer_zoo.svg` shows both panels;
//! the README's `docs/optimizer_zoo.svg` is a copy of it.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use wengert::autodiff::{Tape, Tensor, Var};
use wengert::nn::{Bound, Grads, Param};
use wengert::optim::first_order::*;
use wengert::optim::schedule::{InverseTime, Scheduler};

/// One of the two test surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `0.1 w1^2 + 2 w2^2` from `(-8, 2)`.
    Quadratic,
    /// `(1 - x)^2 + 100 (y - x^2)^2` from `(-1.2, 1)`.
    Rosenbrock,
}

impl Problem {
    fn start(self) -> [f64; 2] {
        match self {
            Problem::Quadratic => [-8.0, 2.0],
            Problem::Rosenbrock => [-1.2, 1.0],
        }
    }

    fn minimum(self) -> [f64; 2] {
        match self {
            Problem::Quadratic => [0.0, 0.0],
            Problem::Rosenbrock => [1.0, 1.0],
        }
    }

    /// The loss recorded on the tape, `w` of shape `[2]`.
    fn loss<'t>(self, w: Var<'t, f64>) -> Var<'t, f64> {
        match self {
            Problem::Quadratic => (w.square() * w.constant_like(Tensor::from_vec(vec![0.1, 2.0], &[2]))).sum(),
            Problem::Rosenbrock => {
                let (x, y) = (w.slice(0, 0..1), w.slice(0, 1..2));
                ((1.0 - x).square() + (y - x.square()).square() * 100.0).sum()
            }
        }
    }

    /// The loss as a plain function, for the contour lines.
    fn value(self, x: f64, y: f64) -> f64 {
        match self {
            Problem::Quadratic => 0.1 * x * x + 2.0 * y * y,
            Problem::Rosenbrock => (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2),
        }
    }

    /// Plot window `(x range, y range)`.
    fn window(self) -> ((f64, f64), (f64, f64)) {
        match self {
            Problem::Quadratic => ((-9.0, 9.0), (-3.0, 3.0)),
            Problem::Rosenbrock => ((-2.0, 2.0), (-1.0, 3.0)),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::Quadratic => "L = 0.1 w1^2 + 2 w2^2",
            Problem::Rosenbrock => "Rosenbrock (1 - x)^2 + 100 (y - x^2)^2",
        }
    }
}

/// `dL/dw` at the current parameters, from the tape.
fn grads(problem: Problem, params: &Vec<Param<f64>>) -> Grads<f64> {
    let tape = Tape::new();
    let p = Bound::new(&tape, params);
    p.grad(problem.loss(p.var(&params[0])))
}

/// How an optimiser is stepped.
enum Driver {
    /// `opt.step(params, grads at params)`.
    Plain(Box<dyn Optimizer<f64>>),
    /// Goodfellow Alg. 8.3: gradient at the look-ahead point.
    Nesterov(Nesterov<f64>),
    /// Goodfellow Alg. 8.6: gradient at the look-ahead point.
    RmsPropNesterov(RmsPropNesterov<f64>),
    /// Sign descent with a per-step inverse-time schedule (a constant rate cannot converge: every step has
    /// length `lr` per coordinate).
    Sign(SignDescent<f64>, Scheduler<InverseTime>),
}

impl Driver {
    /// One step; `false` if the optimiser refused it (a diverging run reaches non-finite gradients, which a
    /// step rejects before writing anything).
    fn step(&mut self, problem: Problem, params: &mut Vec<Param<f64>>) -> bool {
        let at = |p: &Vec<Param<f64>>| grads(problem, p);
        match self {
            Driver::Plain(o) => {
                let g = at(params);
                o.step(params, &g).is_ok()
            }
            Driver::Nesterov(o) => o.step_look_ahead(params, at).is_ok(),
            Driver::RmsPropNesterov(o) => o.step_look_ahead(params, at).is_ok(),
            Driver::Sign(o, s) => {
                let g = at(params);
                let ok = o.step(params, &g).is_ok();
                s.step(o);
                ok
            }
        }
    }
}

/// One optimiser with its hyperparameters on each problem.
struct Entry {
    name: &'static str,
    quadratic: (&'static str, fn() -> Driver),
    rosenbrock: (&'static str, fn() -> Driver),
}

fn plain<O: Optimizer<f64> + 'static>(o: O) -> Driver {
    Driver::Plain(Box::new(o))
}

/// The zoo. Rosenbrock settings are those of the `first_order` docs table. Quadratic settings, for Hessian
/// eigenvalues `mu = 0.2`, `L = 4` (`kappa = 20`): GD `lr = 0.4`, just below the best constant rate
/// `2 / (mu + L) = 0.476`; heavy-ball momentum with Polyak's optimal `lr = 4 / (sqrt L + sqrt mu)^2 = 0.67`,
/// `rho = ((sqrt kappa - 1) / (sqrt kappa + 1))^2 = 0.40` (with the lecture's `rho = 0.9` the best possible
/// rate is `sqrt 0.9 = 0.95` per step, slower than GD's 0.905 on this bowl); Nesterov with `lr = 1 / L`,
/// `rho = (sqrt kappa - 1) / (sqrt kappa + 1) = 0.63`; the adaptive methods with a rate of the size of the
/// distance to travel per few steps.
fn zoo() -> Vec<Entry> {
    vec![
        Entry {
            name: "SGD (GD)",
            quadratic: ("lr=0.4", || plain(Sgd::new(SgdConfig::new(0.4)))),
            rosenbrock: ("lr=2e-3", || plain(Sgd::new(SgdConfig::new(2e-3)))),
        },
        Entry {
            name: "Momentum",
            quadratic: ("lr=0.65 rho=0.4", || plain(Momentum::new(MomentumConfig::new(0.65, 0.4)))),
            rosenbrock: ("lr=5e-4 rho=0.9", || plain(Momentum::new(MomentumConfig::new(5e-4, 0.9)))),
        },
        Entry {
            name: "Nesterov",
            quadratic: ("lr=0.25 rho=0.6", || Driver::Nesterov(Nesterov::new(NesterovConfig::new(0.25, 0.6)))),
            rosenbrock: ("lr=5e-4 rho=0.9", || Driver::Nesterov(Nesterov::new(NesterovConfig::new(5e-4, 0.9)))),
        },
        Entry {
            name: "AdaGrad",
            quadratic: ("lr=1", || plain(Adagrad::new(AdagradConfig::new(1.0)))),
            rosenbrock: ("lr=0.5", || plain(Adagrad::new(AdagradConfig::new(0.5)))),
        },
        Entry {
            name: "RMSProp",
            quadratic: ("lr=0.05", || plain(RmsProp::new(RmsPropConfig::new(0.05)))),
            rosenbrock: ("lr=1e-3", || plain(RmsProp::new(RmsPropConfig::new(1e-3)))),
        },
        Entry {
            name: "RMSProp-Nesterov",
            quadratic: ("lr=0.05", || Driver::RmsPropNesterov(RmsPropNesterov::new(RmsPropNesterovConfig::new(0.05)))),
            rosenbrock: ("lr=1e-3", || Driver::RmsPropNesterov(RmsPropNesterov::new(RmsPropNesterovConfig::new(1e-3)))),
        },
        Entry {
            name: "Adam",
            quadratic: ("lr=0.3", || plain(Adam::new(AdamConfig::new(0.3)))),
            rosenbrock: ("lr=0.1", || plain(Adam::new(AdamConfig::new(0.1)))),
        },
        Entry {
            name: "AdamW",
            quadratic: ("lr=0.3 wd=1e-4", || {
                plain(AdamW::new(AdamWConfig { weight_decay: 1e-4, ..AdamWConfig::new(0.3) }))
            }),
            rosenbrock: ("lr=0.1 wd=1e-4", || {
                plain(AdamW::new(AdamWConfig { weight_decay: 1e-4, ..AdamWConfig::new(0.1) }))
            }),
        },
        Entry {
            name: "Adamax",
            quadratic: ("lr=0.3", || plain(Adamax::new(AdamaxConfig::new(0.3)))),
            rosenbrock: ("lr=0.1", || plain(Adamax::new(AdamaxConfig::new(0.1)))),
        },
        Entry {
            name: "NAdam",
            quadratic: ("lr=0.3", || plain(NAdam::new(NAdamConfig::new(0.3)))),
            rosenbrock: ("lr=1e-2", || plain(NAdam::new(NAdamConfig::new(1e-2)))),
        },
        Entry {
            name: "Adadelta",
            quadratic: ("lr=1", || plain(Adadelta::new(AdadeltaConfig::new(1.0)))),
            rosenbrock: ("lr=1e-2", || plain(Adadelta::new(AdadeltaConfig::new(1e-2)))),
        },
        Entry {
            name: "Sign descent",
            quadratic: ("lr_k=0.5/(1+0.05k)", || {
                Driver::Sign(SignDescent::new(SignDescentConfig::new(0.5)), Scheduler::new(InverseTime::new(0.5, 0.05)))
            }),
            rosenbrock: ("lr_k=1e-2/(1+1e-2k)", || {
                Driver::Sign(
                    SignDescent::new(SignDescentConfig::new(1e-2)),
                    Scheduler::new(InverseTime::new(1e-2, 1e-2)),
                )
            }),
        },
    ]
}

/// One optimiser on one problem.
#[derive(Clone, Debug)]
pub struct Run {
    /// Hyperparameters, as printed.
    pub settings: String,
    /// Steps until the max-norm distance to the minimiser was below [`TOL`], if within the cap.
    pub steps: Option<usize>,
    /// Max-norm distance to the minimiser at the end.
    pub final_distance: f64,
    /// The iterates `w_0, w_1, ...` (up to convergence or the cap).
    pub path: Vec<[f64; 2]>,
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Optimiser name.
    pub name: &'static str,
    /// On the quadratic.
    pub quadratic: Run,
    /// On Rosenbrock.
    pub rosenbrock: Run,
}

/// What the example computes.
#[derive(Clone, Debug)]
pub struct Summary {
    /// One row per optimiser, in the order of the table.
    pub rows: Vec<Row>,
    /// The step cap used.
    pub cap: usize,
}

/// Convergence tolerance on the max-norm distance to the minimiser.
pub const TOL: f64 = 1e-3;

fn run_one(problem: Problem, settings: &str, mut driver: Driver, cap: usize) -> Run {
    let mut params = vec![Param::new(Tensor::from_vec(problem.start().to_vec(), &[2]))];
    let min = problem.minimum();
    let at = |p: &[Param<f64>]| {
        let w = p[0].value().as_slice();
        [w[0], w[1]]
    };
    let dist = |w: [f64; 2]| (w[0] - min[0]).abs().max((w[1] - min[1]).abs());
    let mut path = vec![at(&params)];
    let mut steps = None;
    for k in 0..=cap {
        let w = *path.last().expect("path starts with w_0");
        if dist(w) < TOL {
            steps = Some(k);
            break;
        }
        if k == cap || !driver.step(problem, &mut params) {
            break;
        }
        path.push(at(&params));
    }
    let final_distance = dist(*path.last().expect("non-empty"));
    Run { settings: settings.to_string(), steps, final_distance, path }
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("examples")
}

/// Runs every optimiser on both problems, prints the table and draws `target/examples/optimizer_zoo.svg`;
/// `fast` caps the runs at 1,500 steps instead of 25,000.
pub fn run(fast: bool) -> Summary {
    let cap = if fast { 1_500 } else { 25_000 };
    let rows: Vec<Row> = zoo()
        .into_iter()
        .map(|e| Row {
            name: e.name,
            quadratic: run_one(Problem::Quadratic, e.quadratic.0, (e.quadratic.1)(), cap),
            rosenbrock: run_one(Problem::Rosenbrock, e.rosenbrock.0, (e.rosenbrock.1)(), cap),
        })
        .collect();

    let steps = |r: &Run| r.steps.map_or(format!(">{cap}"), |s| s.to_string());
    println!("Steps until max-norm distance to the minimiser < {TOL:e} (cap {cap})");
    println!(
        "{:<17} | {:<20} {:>7} {:>10} | {:<20} {:>7} {:>10}",
        "optimiser", "quadratic", "steps", "distance", "rosenbrock", "steps", "distance"
    );
    for r in &rows {
        println!(
            "{:<17} | {:<20} {:>7} {:>10.2e} | {:<20} {:>7} {:>10.2e}",
            r.name,
            r.quadratic.settings,
            steps(&r.quadratic),
            r.quadratic.final_distance,
            r.rosenbrock.settings,
            steps(&r.rosenbrock),
            r.rosenbrock.final_distance
        );
    }

    let path = out_dir().join("optimizer_zoo.svg");
    match draw(&path, &rows) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    Summary { rows, cap }
}

/// Contour segments of `f` at `level` on a `n x n` grid over the window (marching squares; each cell crossed
/// by the level set contributes one segment, or two at a saddle).
fn contour(problem: Problem, level: f64, n: usize) -> Vec<[(f64, f64); 2]> {
    let ((x0, x1), (y0, y1)) = problem.window();
    let (hx, hy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
    let v = |i: usize, j: usize| problem.value(x0 + i as f64 * hx, y0 + j as f64 * hy) - level;
    let mut segments = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let mut crossings = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (corners[e], corners[(e + 1) % 4]);
                let (fa, fb) = (v(a.0, a.1), v(b.0, b.1));
                if (fa < 0.0) != (fb < 0.0) {
                    let t = fa / (fa - fb);
                    let lerp = |p: usize, q: usize, o: f64, h: f64| o + (p as f64 + t * (q as f64 - p as f64)) * h;
                    crossings.push((lerp(a.0, b.0, x0, hx), lerp(a.1, b.1, y0, hy)));
                }
            }
            for pair in crossings.chunks_exact(2) {
                segments.push([pair[0], pair[1]]);
            }
        }
    }
    segments
}

const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
];

/// Two panels (quadratic, Rosenbrock): contour lines at log-spaced levels, each trajectory (at most 300
/// points, evenly subsampled, clipped to the window), start and minimiser marked.
fn draw(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
    let root = SVGBackend::new(path, (1400, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    for (area, problem) in panels.iter().zip([Problem::Quadratic, Problem::Rosenbrock]) {
        let ((x0, x1), (y0, y1)) = problem.window();
        let mut chart = ChartBuilder::on(area)
            .caption(problem.title(), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart.configure_mesh().disable_mesh().draw()?;
        let levels: Vec<f64> = match problem {
            Problem::Quadratic => (0..10).map(|i| 0.05 * 2f64.powi(i)).collect(),
            Problem::Rosenbrock => (0..12).map(|i| 0.1 * 2.5f64.powi(i)).collect(),
        };
        for level in levels {
            chart.draw_series(
                contour(problem, level, 80).into_iter().map(|s| PathElement::new(s.to_vec(), RGBColor(200, 200, 200))),
            )?;
        }
        for (i, row) in rows.iter().enumerate() {
            let run = if problem == Problem::Quadratic { &row.quadratic } else { &row.rosenbrock };
            let every = run.path.len().div_ceil(300).max(1);
            let mut pts: Vec<(f64, f64)> = run
                .path
                .iter()
                .step_by(every)
                .chain(run.path.last())
                .take_while(|w| w[0].is_finite() && w[1].is_finite())
                .map(|w| (w[0].clamp(x0, x1), w[1].clamp(y0, y1)))
                .collect();
            pts.dedup();
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                .label(row.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        let (s, m) = (problem.start(), problem.minimum());
        chart
            .draw_series([Circle::new((s[0], s[1]), 5, BLACK.filled()), Circle::new((m[0], m[1]), 5, RED.filled())])?;
        if problem == Problem::Rosenbrock {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(("sans-serif", 13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

fn main() {
    let fast = std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1");
    run(fast);
}
