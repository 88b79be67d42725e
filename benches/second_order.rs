//! Full-batch second-order methods against scipy on the same problems, exact derivatives from the tape.
//!
//! The workloads of `../shared/anchors/scipy_second_order.py` (run it beside this bench and compare ratios):
//!
//! * multinomial logistic regression on the digits data: 1797 x 64 features scaled by 1/16, plus a bias row,
//!   10 classes, `f(W) = mean_i -log softmax(x_i W + b)_{y_i} + 1e-3 / 2 |W|^2` (the bias is not
//!   regularised), from `W = 0`, to `||grad f|| <= 1e-6` (L-BFGS also on relative decrease `2.2e-9`, as
//!   scipy's L-BFGS-B defaults); optimum `f = 0.2619`. scipy: trust-ncg 9 it / 99 ms,
//!   Newton-CG 14 it / 207 ms, L-BFGS-B 146 it / 1606 ms.
//! * L-BFGS on the 1000-dimensional chained Rosenbrock from `(-1.2, 1, -1.2, 1, ...)`, `||grad f|| <= 1e-5` or
//!   relative decrease `<= 2.2e-9` (scipy L-BFGS-B defaults).
//!   scipy L-BFGS-B: 4936 it / 794 ms.
//!
//! Each method's run is checked before it is timed: it must stop for the stated reason at the known optimum
//! (digits `f = 0.261865`, scipy's value to six digits; Rosenbrock `f = 0` at `x = 1`), and prints its
//! iterations and final `f` once, so the time is for the same optimum as the peer's.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use wengert::optim::objective::TapeObjective;
use wengert::optim::second_order::{lbfgs, newton_cg, trust_ncg, Report, StopReason, Tolerances};
use wengert::prelude::*;

const LAMBDA: f64 = 1e-3;
/// The digits problem's optimal value (scipy's trust-ncg, Newton-CG and L-BFGS-B all reach it to 6 digits).
const DIGITS_OPTIMUM: f64 = 0.261865;

fn digits() -> (Tensor<f64>, Vec<usize>) {
    let ds = wengert::nn::datasets::digits::<f64>().scale_features(1.0 / 16.0);
    let labels = ds.labels().expect("digits has labels").to_vec();
    (ds.features().clone(), labels)
}

/// The logistic-regression loss over `w` = 65 x 10 row-major (last row the bias), as scipy's script.
fn logreg<'t>(w: Var<'t, f64>, x: &Tensor<f64>, labels: &[usize]) -> Var<'t, f64> {
    let (d, k) = (x.shape()[1], 10);
    let w = w.reshape(&[d + 1, k]);
    let (wm, b) = (w.slice(0, 0..d), w.slice(0, d..d + 1));
    let z = w.tape().constant(x.clone()).matmul(wm) + b;
    z.log_softmax(1).pick(labels).mean().neg() + wm.square().sum().mul_scalar(0.5 * LAMBDA)
}

fn rosen<T: Float>(x: Var<'_, T>) -> Var<'_, T> {
    let n = x.numel();
    let (a, b) = (x.slice(0, 0..n - 1), x.slice(0, 1..n));
    ((b - a * a).square().mul_scalar(T::from_f64(100.0)) + (a.neg().add_scalar(T::ONE)).square()).sum()
}

/// Prints the run and asserts that it stopped for one of `stops` with `f` within `2e-6` of `optimum` (its 6 digits).
fn check<I: std::fmt::Debug>(name: &str, r: &Report<f64, I>, optimum: f64, stops: &[StopReason]) {
    eprintln!(
        "{name}: {} it, f = {:.6}, |g| = {:.1e}, counts {:?}, stop {:?}",
        r.iterations, r.f, r.grad_norm, r.counts, r.stop
    );
    assert!(stops.contains(&r.stop), "{name} stopped for {:?}, expected one of {stops:?}", r.stop);
    assert!((r.f - optimum).abs() <= 2e-6, "{name} ended at f = {}, the optimum is {optimum}", r.f);
}

fn bench(c: &mut Criterion) {
    let (x, labels) = digits();
    let n = 65 * 10;
    let w0 = vec![0.0; n];
    let tol = Tolerances::default().with_grad_tol(1e-6).with_max_iter(10_000);
    let mut g = c.benchmark_group("second_order");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));

    let run_tr = || {
        let mut f = TapeObjective::new(|w| logreg(w, &x, &labels));
        trust_ncg::minimize(&mut f, &w0, &trust_ncg::TrustNcgConfig { tol: tol.clone(), ..Default::default() }).unwrap()
    };
    check("digits trust-ncg", &run_tr(), DIGITS_OPTIMUM, &[StopReason::GradientTolerance]);
    g.bench_function("digits_logreg_trust_ncg", |b| b.iter(run_tr));

    let run_ncg = || {
        let mut f = TapeObjective::new(|w| logreg(w, &x, &labels));
        newton_cg::minimize(&mut f, &w0, &newton_cg::NewtonCgConfig { tol: tol.clone(), ..Default::default() }).unwrap()
    };
    check("digits newton-cg", &run_ncg(), DIGITS_OPTIMUM, &[StopReason::GradientTolerance]);
    g.bench_function("digits_logreg_newton_cg", |b| b.iter(run_ncg));

    // scipy's L-BFGS-B also stops on relative decrease, ftol = 2.2e-9 (its default `factr` 1e7 x eps)
    let lbfgs_tol = Tolerances { f_rel_tol: 2.220446049250313e-9, ..tol.clone() };
    let run_lbfgs = || {
        let mut f = TapeObjective::new(|w| logreg(w, &x, &labels));
        lbfgs::minimize(&mut f, &w0, &lbfgs::LbfgsConfig { tol: lbfgs_tol.clone(), ..Default::default() }).unwrap()
    };
    let stops = [StopReason::GradientTolerance, StopReason::FunctionTolerance];
    check("digits l-bfgs", &run_lbfgs(), DIGITS_OPTIMUM, &stops);
    g.bench_function("digits_logreg_lbfgs", |b| b.iter(run_lbfgs));

    let x0: Vec<f64> = (0..1000).map(|i| if i % 2 == 0 { -1.2 } else { 1.0 }).collect();
    let run_rosen = || {
        let mut f = TapeObjective::new(rosen::<f64>);
        let cfg = lbfgs::LbfgsConfig {
            tol: Tolerances::default().with_grad_tol(1e-5).with_max_iter(15_000),
            ..Default::default()
        };
        lbfgs::minimize(&mut f, &x0, &cfg).unwrap()
    };
    let r = run_rosen();
    check("rosenbrock-1000d l-bfgs", &r, 0.0, &stops);
    let off = r.x.iter().map(|v| (v - 1.0).abs()).fold(0.0, f64::max);
    assert!(off <= 1e-3, "rosenbrock-1000d l-bfgs ended {off} away from x = 1");
    g.bench_function("rosenbrock_1000d_lbfgs", |b| b.iter(run_rosen));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
