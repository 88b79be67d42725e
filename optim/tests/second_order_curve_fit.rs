//! Levenberg-Marquardt recovers known parameters of nonlinear curve fits from poor starting points, with
//! exact Jacobian products from the tape.

use wengert_autodiff::{Tensor, Var};
use wengert_optim::objective::{JvMode, LeastSquares, TapeLeastSquares};
use wengert_optim::second_order::levenberg_marquardt::{self, LmConfig};
use wengert_optim::second_order::{gauss_newton, StopReason, Tolerances};

fn ts(n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64).collect()
}

/// Residuals `model(t; p) - y` over the samples.
fn fit(
    t: Vec<f64>,
    truth: &[f64],
    model: for<'t> fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>,
    x0: &[f64],
    config: &LmConfig,
) -> Vec<f64> {
    let n = t.len();
    // data from the true parameters, evaluated through the same model
    let tape = wengert_autodiff::Tape::new();
    let tt = Tensor::from_vec(t.clone(), &[n]);
    let y = model(tape.constant(Tensor::from_vec(truth.to_vec(), &[truth.len()])), tape.constant(tt.clone())).value();
    let mut problem = TapeLeastSquares::new(move |p: Var<'_, f64>| {
        let tape = p.tape();
        model(p, tape.constant(tt.clone())) - tape.constant(y.clone())
    });
    let r = levenberg_marquardt::minimize(&mut problem, x0, config).unwrap();
    assert_eq!(r.stop, StopReason::GradientTolerance, "{r:?}");
    assert!(r.f < 1e-16, "{r:?}");
    assert!(r.counts.jvp + r.counts.vjp > 0);
    r.x
}

fn p(p: Var<'_, f64>, i: usize) -> Var<'_, f64> {
    p.slice(0, i..i + 1)
}

/// `a exp(-b t) + c`
fn exp_decay<'t>(q: Var<'t, f64>, t: Var<'t, f64>) -> Var<'t, f64> {
    p(q, 0) * (p(q, 1).neg() * t).exp() + p(q, 2)
}

/// `a exp(-(t - mu)^2 / (2 s^2))`
fn gaussian<'t>(q: Var<'t, f64>, t: Var<'t, f64>) -> Var<'t, f64> {
    p(q, 0) * ((t - p(q, 1)).square().neg() / (p(q, 2).square() * 2.0)).exp()
}

/// `(a + b t) / (1 + c t)`
fn rational<'t>(q: Var<'t, f64>, t: Var<'t, f64>) -> Var<'t, f64> {
    (p(q, 0) + p(q, 1) * t) / (p(q, 2) * t).add_scalar(1.0)
}

fn cfg() -> LmConfig {
    LmConfig { tol: Tolerances::default().with_grad_tol(1e-10).with_max_iter(500), ..Default::default() }
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < tol * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

#[test]
fn lm_fits_exponential_decay() {
    let truth = [5.0, 1.3, 0.5];
    let x = fit(ts(40, 0.0, 4.0), &truth, exp_decay, &[1.0, 0.1, 0.0], &cfg());
    assert_close(&x, &truth, 1e-7);
}

#[test]
fn lm_fits_a_gaussian_peak() {
    let truth = [3.0, 2.0, 0.7];
    // centre and width far off: the model is nearly flat in mu at the start
    let x = fit(ts(60, -2.0, 6.0), &truth, gaussian, &[1.0, 0.5, 2.0], &cfg());
    // the sign of s is not identifiable: compare |s|
    assert_close(&[x[0], x[1], x[2].abs()], &truth, 1e-7);
}

#[test]
fn lm_fits_a_rational_function() {
    let truth = [1.0, 3.0, 0.5];
    let x = fit(ts(30, 0.0, 5.0), &truth, rational, &[0.1, 0.1, 2.0], &cfg());
    assert_close(&x, &truth, 1e-7);
}

#[test]
fn levenberg_also_fits_exponential_decay() {
    let truth = [5.0, 1.3, 0.5];
    let c = LmConfig { damping: levenberg_marquardt::Damping::Identity, ..cfg() };
    let x = fit(ts(40, 0.0, 4.0), &truth, exp_decay, &[1.0, 0.1, 0.0], &c);
    assert_close(&x, &truth, 1e-7);
}

/// The exact `J v` (double vjp) agrees with `J^T u` through `u^T (J v) = (J^T u)^T v`, and with the
/// forward-difference mode to its accuracy.
#[test]
fn jacobian_products_are_consistent() {
    let tt = Tensor::from_vec(ts(7, 0.0, 2.0), &[7]);
    let tt2 = tt.clone();
    let mut exact = TapeLeastSquares::new(move |q: Var<'_, f64>| exp_decay(q, q.tape().constant(tt.clone())));
    let mut fd = TapeLeastSquares::new(move |q: Var<'_, f64>| exp_decay(q, q.tape().constant(tt2.clone())))
        .with_jv_mode(JvMode::ForwardDifference { step: 1e-7 });
    let x = [2.0, 0.7, -0.3];
    let v = [0.3, -1.1, 0.6];
    let u: Vec<f64> = (0..7).map(|i| (i as f64).cos()).collect();
    let (jv, jtu) = exact.with_jacobian(&x, |_, j| {
        let (mut jv, mut jtu) = (vec![0.0; 7], vec![0.0; 3]);
        j.jv(&v, &mut jv);
        j.jtu(&u, &mut jtu);
        (jv, jtu)
    });
    let lhs: f64 = u.iter().zip(&jv).map(|(a, b)| a * b).sum();
    let rhs: f64 = jtu.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0));
    // J v of a e^{-b t} + c in closed form: v0 e^{-bt} - v1 a t e^{-bt} + v2
    for (i, t) in ts(7, 0.0, 2.0).iter().enumerate() {
        let e = (-x[1] * t).exp();
        assert!((jv[i] - (v[0] * e - v[1] * x[0] * t * e + v[2])).abs() < 1e-13);
    }
    let jv_fd = fd.with_jacobian(&x, |_, j| {
        let mut out = vec![0.0; 7];
        j.jv(&v, &mut out);
        out
    });
    for (a, b) in jv.iter().zip(&jv_fd) {
        assert!((a - b).abs() < 1e-5, "{jv:?} vs {jv_fd:?}");
    }
}

/// Gauss-Newton with matrix-free CG solves a linear least-squares problem in one step.
#[test]
fn gauss_newton_solves_linear_least_squares_in_one_step() {
    let a = Tensor::from_vec((0..24).map(|k| ((k * 5 % 7) as f64) - 3.0 + 0.1 * k as f64).collect(), &[8, 3]);
    let b = Tensor::from_vec((0..8).map(|i| (i as f64).sin()).collect(), &[8, 1]);
    let mut problem = TapeLeastSquares::new(move |x: Var<'_, f64>| {
        let tape = x.tape();
        tape.constant(a.clone()).matmul(x.reshape(&[3, 1])) - tape.constant(b.clone())
    });
    let c = gauss_newton::GaussNewtonConfig {
        tol: Tolerances::default().with_grad_tol(1e-9),
        solver: gauss_newton::GnSolver::Cg(Default::default()),
        ..Default::default()
    };
    let r = gauss_newton::minimize(&mut problem, &[0.0; 3], &c).unwrap();
    assert_eq!((r.iterations, r.stop), (1, StopReason::GradientTolerance), "{r:?}");
}
