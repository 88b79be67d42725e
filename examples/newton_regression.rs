//! The lecture's question "Can you apply Newton's method for linear regression? What do you get as a
//! result?", answered by running it.
//!
//! For `J(theta) = (y - X theta)^T (y - X theta)` the gradient is `-2 X^T (y - X theta)` and the Hessian
//! `H = 2 X^T X` does not depend on `theta`, so the quadratic model Newton minimises *is* `J`. One step from
//! any `theta_0`,
//!
//! ```text
//! theta_1 = theta_0 - H^{-1} grad J(theta_0) = (X^T X)^{-1} X^T y,
//! ```
//!
//! lands on the normal-equation solution: **one Newton step** (plus the gradient evaluation that confirms
//! it). Here the Hessian is assembled from exact Hessian-vector products of the tape and the step solved by
//! Cholesky (`wengert_optim::second_order::newton`); the result is compared with the normal equations solved
//! directly (Cholesky of `X^T X`) and with the least-squares QR of `X`.
//!
//! Gradient descent on the same problem (Armijo line search, or the exact step along `-g`) needs thousands
//! of iterations because the features have different scales (`X^T X` has condition number in the
//! thousands), and minibatch SGD with a constant rate stops at a noise floor. As the lecture puts it:
//! **GD or SGD is not a way to solve a linear system** (use LU, QR, Cholesky, CG, ...).
//!
//! ```text
//! cargo run --release --example newton_regression        # WENGERT_FAST=1: GD capped at 2,000 iterations
//! ```
//!
//! Expected output: `cond(X^T X)` about 700; Newton stops after 1 iteration (gradient tolerance
//! `1e-8 ||grad J(theta_0)||`) at the normal-equation solution to about `1e-15`, QR agrees to `1e-14`; GD with
//! Armijo and steepest descent with exact steps need about 3,000 iterations (both hit the cap of 2,000 in fast
//! mode); SGD ends about `0.2` away from the solution.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use wengert::autodiff::{Tape, Tensor};
use wengert::nn::{Bound, Param};
use wengert::optim::first_order::{Optimizer, Sgd, SgdConfig};
use wengert::optim::linalg::cholesky::Cholesky;
use wengert::optim::linalg::qr::Qr;
use wengert::optim::linalg::DenseMatrix;
use wengert::optim::objective::TapeObjective;
use wengert::optim::second_order::gradient_descent::{self, GdConfig, GdStep};
use wengert::optim::second_order::newton::{self, NewtonConfig};
use wengert::optim::second_order::{Report, StopReason, Tolerances};

/// Rows of the data set.
const N: usize = 200;
/// Standard deviation of each feature: different scales make `X^T X` ill-conditioned.
const FEATURE_SCALES: [f64; 4] = [1.0, 5.0, 0.2, 2.0];
/// The weights generating `y` (last entry: intercept).
const TRUE_THETA: [f64; 5] = [2.0, -1.0, 0.5, 3.0, 1.0];
/// Standard deviation of the noise on `y`.
const NOISE: f64 = 0.1;

/// One method's result.
#[derive(Clone, Debug)]
pub struct MethodResult {
    /// Method name.
    pub name: String,
    /// Iterations (steps) taken.
    pub iterations: usize,
    /// Function, gradient and Hessian-vector-product evaluations.
    pub evaluations: usize,
    /// Why it stopped (`None` for SGD, which runs a fixed number of epochs).
    pub stop: Option<StopReason>,
    /// `max_i |theta_i - theta*_i|` against the normal-equation solution.
    pub error: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// What the example computes.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The normal-equation solution `(X^T X)^{-1} X^T y` (by Cholesky).
    pub normal_equations: Vec<f64>,
    /// The least-squares solution by QR of `X`.
    pub qr: Vec<f64>,
    /// Condition number of `X^T X` (ratio of extreme eigenvalues, by power iterations).
    pub condition_number: f64,
    /// Newton, gradient descent (Armijo), steepest descent with exact steps, minibatch SGD.
    pub methods: Vec<MethodResult>,
}

/// The design matrix `X` (`N x 5`, last column ones) and targets `y`, seeded.
pub fn data() -> (Tensor<f64>, Tensor<f64>) {
    let mut rng = StdRng::seed_from_u64(42);
    let d = FEATURE_SCALES.len();
    let z = Tensor::<f64>::randn(&[N, d], 0.0, 1.0, &mut rng);
    let noise = Tensor::<f64>::randn(&[N], 0.0, NOISE, &mut rng);
    let mut x = Vec::with_capacity(N * (d + 1));
    let mut y = Vec::with_capacity(N);
    for i in 0..N {
        let row: Vec<f64> = (0..d).map(|j| z.as_slice()[i * d + j] * FEATURE_SCALES[j]).chain([1.0]).collect();
        y.push(row.iter().zip(TRUE_THETA).map(|(a, b)| a * b).sum::<f64>() + noise.as_slice()[i]);
        x.extend(row);
    }
    (Tensor::from_vec(x, &[N, d + 1]), Tensor::from_vec(y, &[N]))
}

/// Largest and smallest eigenvalue ratio of a symmetric positive definite matrix, by power iteration on `A`
/// and on `A^{-1}` (through its Cholesky factor).
fn condition_number(a: &DenseMatrix<f64>) -> f64 {
    let power = |apply: &dyn Fn(&[f64]) -> Vec<f64>| {
        let mut v = vec![1.0; a.rows()];
        let mut lambda = 0.0;
        for _ in 0..500 {
            let w = apply(&v);
            lambda = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            v = w.iter().map(|x| x / lambda).collect();
        }
        lambda
    };
    let chol = Cholesky::factor(a).expect("X^T X is positive definite");
    power(&|v| a.matvec(v)) * power(&|v| chol.solve(v))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn from_report<I>(name: &str, r: &Report<f64, I>, reference: &[f64], seconds: f64) -> MethodResult {
    MethodResult {
        name: name.to_string(),
        iterations: r.iterations,
        evaluations: r.counts.total(),
        stop: Some(r.stop),
        error: max_diff(&r.x, reference),
        seconds,
    }
}

/// Minibatch SGD (batch 20, constant rate) on the mean squared error, `epochs` passes; returns `theta`.
fn sgd(x: &Tensor<f64>, y: &Tensor<f64>, lr: f64, epochs: usize) -> Vec<f64> {
    let p = x.shape()[1];
    let mut rng = StdRng::seed_from_u64(7);
    let mut theta = vec![Param::new(Tensor::zeros(&[p, 1]))];
    let mut opt = Sgd::new(SgdConfig::new(lr));
    let mut order: Vec<usize> = (0..N).collect();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(20) {
            let xb: Vec<f64> = batch.iter().flat_map(|&i| x.as_slice()[i * p..(i + 1) * p].to_vec()).collect();
            let yb: Vec<f64> = batch.iter().map(|&i| y.as_slice()[i]).collect();
            let grads = {
                let tape = Tape::new();
                let b = Bound::new(&tape, &theta);
                let t = b.var(&theta[0]);
                let pred = t.constant_like(Tensor::from_vec(xb, &[batch.len(), p])).matmul(t);
                let r = pred - t.constant_like(Tensor::from_vec(yb, &[batch.len(), 1]));
                b.grad(r.square().mean())
            };
            opt.step(&mut theta, &grads).expect("finite gradients at a stable rate");
        }
    }
    theta[0].value().to_vec()
}

/// Solves the regression every way, prints the comparison; `fast` caps gradient descent at 2,000 iterations
/// (instead of 50,000) and SGD at 20 epochs (instead of 200).
pub fn run(fast: bool) -> Summary {
    let (x, y) = data();
    let p = x.shape()[1];
    let xm = DenseMatrix::from_vec(N, p, x.to_vec());

    // the normal equations X^T X theta = X^T y, by Cholesky; and least squares by QR of X
    let normal_equations =
        Cholesky::factor(&xm.gram()).expect("X has full column rank").solve(&xm.matvec_t(y.as_slice()));
    let qr = Qr::factor(&xm).expect("X is tall").solve_least_squares(y.as_slice()).expect("full column rank");
    let condition_number = condition_number(&xm.gram());

    // J(theta) = (y - X theta)^T (y - X theta), recorded on the tape
    let (xc, yc) = (x.clone(), y.reshape(&[N, 1]));
    let mut objective = TapeObjective::new(move |theta| {
        let r = theta.constant_like(yc.clone()) - theta.constant_like(xc.clone()).matmul(theta.reshape(&[p, 1]));
        r.square().sum()
    });
    let theta0 = vec![0.0; p];
    // stop at ||grad J|| <= 1e-8 ||grad J(theta_0)||, grad J(0) = -2 X^T y: an absolute tolerance is below what
    // a line search comparing values of J can resolve at this scale
    let g0 = 2.0 * xm.matvec_t(y.as_slice()).iter().map(|v| v * v).sum::<f64>().sqrt();
    let tol = Tolerances::default().with_grad_tol(1e-8 * g0);
    let mut methods = Vec::new();

    let t = Instant::now();
    let r = newton::minimize(&mut objective, &theta0, &NewtonConfig { tol: tol.clone(), ..NewtonConfig::default() })
        .expect("finite start");
    methods.push(from_report("Newton", &r, &normal_equations, t.elapsed().as_secs_f64()));

    let max_iter = if fast { 2_000 } else { 50_000 };
    for (name, step) in
        [("GD, Armijo line search", GdConfig::default().step), ("steepest descent, exact step", GdStep::ExactQuadratic)]
    {
        let config = GdConfig { tol: tol.clone().with_max_iter(max_iter), step };
        let t = Instant::now();
        let r = gradient_descent::minimize(&mut objective, &theta0, &config).expect("finite start");
        methods.push(from_report(name, &r, &normal_equations, t.elapsed().as_secs_f64()));
    }

    let epochs = if fast { 20 } else { 200 };
    let t = Instant::now();
    let theta = sgd(&x, &y, 5e-3, epochs);
    methods.push(MethodResult {
        name: format!("SGD, batch 20, lr 5e-3, {epochs} epochs"),
        iterations: epochs * N / 20,
        evaluations: epochs * N / 20,
        stop: None,
        error: max_diff(&theta, &normal_equations),
        seconds: t.elapsed().as_secs_f64(),
    });

    println!("Linear regression, {N} rows, 4 features with scales {FEATURE_SCALES:?} + intercept");
    println!("cond(X^T X) = {condition_number:.3e}");
    println!("normal equations (Cholesky of X^T X): {normal_equations:.6?}");
    println!("least squares (QR of X):              {qr:.6?}   max diff {:.1e}", max_diff(&qr, &normal_equations));
    println!("generating weights:                   {TRUE_THETA:?}");
    println!();
    println!(
        "{:<38} {:>10} {:>8} {:>20} {:>14} {:>10}",
        "method", "iterations", "evals", "stop", "max|theta-theta*|", "time"
    );
    for m in &methods {
        let stop = m.stop.map_or("fixed budget".to_string(), |s| format!("{s:?}"));
        println!(
            "{:<38} {:>10} {:>8} {:>20} {:>14.3e} {:>8.2} ms",
            m.name,
            m.iterations,
            m.evaluations,
            stop,
            m.error,
            1e3 * m.seconds
        );
    }
    println!();
    println!("Newton solves linear regression in one step: its quadratic model is the loss itself.");
    println!("GD or SGD is not a way to solve a linear system: use Cholesky, QR, LU or CG.");
    Summary { normal_equations, qr, condition_number, methods }
}

fn main() {
    let fast = std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1");
    run(fast);
}
