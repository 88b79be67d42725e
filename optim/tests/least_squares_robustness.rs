//! Least-squares runs that used to hang (issue 14) return, and report what stopped them. Each run is made on a
//! thread with a deadline, so a regression fails the test instead of hanging the suite.

use std::sync::mpsc;
use std::time::Duration;

use wengert_autodiff::{Tensor, Var};
use wengert_optim::objective::TapeLeastSquares;
use wengert_optim::second_order::gauss_newton::{self, GaussNewtonConfig};
use wengert_optim::second_order::levenberg_marquardt::{self, LmConfig};
use wengert_optim::second_order::{Report, StopReason, Tolerances};

/// Runs `run` on its own thread and fails if it has not returned within 20 s.
fn within_deadline(what: &str, run: impl FnOnce() -> Report<f64> + Send + 'static) -> Report<f64> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(run()).unwrap());
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what} did not return within 20 s"))
}

/// `r(x) = sqrt(x^2) = |x|`: one Gauss-Newton step from `x = 1` lands on `x = 0`, where the tape's Jacobian is
/// `0.5 / sqrt(0) * 2 * 0 = inf * 0 = NaN`.
fn abs_by_sqrt(x: Var<'_, f64>) -> Var<'_, f64> {
    x.square().sqrt()
}

#[test]
fn gauss_newton_returns_when_the_jacobian_is_nan() {
    let r = within_deadline("Gauss-Newton", || {
        let mut p = TapeLeastSquares::new(abs_by_sqrt);
        let tol = Tolerances::default().with_grad_tol(0.0);
        gauss_newton::minimize(&mut p, &[1.0], &GaussNewtonConfig { tol, ..Default::default() }).unwrap().without_info()
    });
    assert_ne!(r.stop, StopReason::GradientTolerance, "{r:?}");
    assert!(r.x[0].is_finite() && r.f.is_finite(), "{r:?}");
}

#[test]
fn levenberg_marquardt_returns_when_the_jacobian_is_nan() {
    for config in [LmConfig::default(), LmConfig::levenberg()] {
        let r = within_deadline("Levenberg-Marquardt", move || {
            let mut p = TapeLeastSquares::new(abs_by_sqrt);
            levenberg_marquardt::minimize(&mut p, &[1.0], &config).unwrap().without_info()
        });
        // the driver's rule for derivative information that is not finite (it was NoProgress before LM moved
        // onto the driver): the run stops at the last finite point, x = 1
        assert_eq!((r.stop, r.x[0]), (StopReason::NonFinite, 1.0), "{r:?}");
        assert!(r.f.is_finite(), "{r:?}");
    }
}

/// A line `a + b t` through points off it: the residual at the fit is not zero, so the gradient never rounds
/// to exactly zero and only a no-progress rule can stop a run whose tolerances are all 0.
fn line_fit() -> impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> + Send {
    let t = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[4]);
    let y = Tensor::from_vec(vec![1.0, 2.9, 5.2, 6.8], &[4]);
    move |p: Var<'_, f64>| {
        let tt = p.constant_like(t.clone());
        p.slice(0, 0..1) + p.slice(0, 1..2) * tt - p.constant_like(y.clone())
    }
}

fn all_off() -> Tolerances {
    Tolerances { grad_tol: 0.0, step_tol: 0.0, f_rel_tol: 0.0, max_iter: usize::MAX, max_evals: usize::MAX }
}

#[test]
fn gauss_newton_with_every_tolerance_off_stops_when_f_stops_decreasing() {
    let r = within_deadline("Gauss-Newton", || {
        let mut p = TapeLeastSquares::new(line_fit());
        gauss_newton::minimize(&mut p, &[0.0, 0.0], &GaussNewtonConfig { tol: all_off(), ..Default::default() })
            .unwrap()
            .without_info()
    });
    assert_eq!(r.stop, StopReason::NoProgress, "{r:?}");
    // least-squares line through (0,1), (1,2.9), (2,5.2), (3,6.8): b = S_ty / S_tt = 9.85 / 5 = 1.97,
    // a = mean(y) - b mean(t) = 3.975 - 1.97 * 1.5 = 1.02
    assert!((r.x[0] - 1.02).abs() < 1e-12 && (r.x[1] - 1.97).abs() < 1e-12, "{r:?}");
}

#[test]
fn levenberg_marquardt_with_every_tolerance_off_stops_at_machine_precision() {
    let r = within_deadline("Levenberg-Marquardt", || {
        let mut p = TapeLeastSquares::new(line_fit());
        let config = LmConfig { tol: all_off(), ftol: 0.0, xtol: 0.0, gtol: 0.0, ..Default::default() };
        levenberg_marquardt::minimize(&mut p, &[0.0, 0.0], &config).unwrap().without_info()
    });
    assert_eq!(r.stop, StopReason::NoProgress, "{r:?}");
    assert!((r.x[0] - 1.02).abs() < 1e-12 && (r.x[1] - 1.97).abs() < 1e-12, "{r:?}");
    assert!(r.iterations < 20, "{r:?}");
}

/// After convergence Levenberg-Marquardt does not spend a run of rejected trials: on an exact fit the last
/// accepted step is followed by at most two trials.
#[test]
fn levenberg_marquardt_ends_without_a_run_of_rejected_trials() {
    let t = Tensor::from_vec((0..20).map(|i| i as f64 * 0.2).collect(), &[20]);
    // data of 5 exp(-1.3 t) + 0.5, fitted exactly
    let y = Tensor::from_vec((0..20).map(|i| 5.0 * (-1.3 * i as f64 * 0.2).exp() + 0.5).collect(), &[20]);
    let mut p = TapeLeastSquares::new(move |q: Var<'_, f64>| {
        let tt = q.constant_like(t.clone());
        q.slice(0, 0..1) * (q.slice(0, 1..2).neg() * tt).exp() + q.slice(0, 2..3) - q.constant_like(y.clone())
    });
    let mut last_accepted = 0;
    let mut observer = |it: &wengert_optim::second_order::Iteration<'_, f64>| last_accepted = it.k;
    let r =
        levenberg_marquardt::minimize_observed(&mut p, &[1.0, 0.1, 0.0], &LmConfig::default(), &mut observer).unwrap();
    assert!((r.x[0] - 5.0).abs() < 1e-10 && (r.x[1] - 1.3).abs() < 1e-10 && (r.x[2] - 0.5).abs() < 1e-10, "{r:?}");
    assert!(
        r.iterations - last_accepted <= 2,
        "{} trials after the last accepted step: {r:?}",
        r.iterations - last_accepted
    );
}
