//! Line searches: the conditions they promise, and never returning a non-finite trial point.

use wengert_autodiff::{Float, Var};
use wengert_optim::linalg::{dot, DenseMatrix};
use wengert_optim::line_search::armijo::ArmijoConfig;
use wengert_optim::line_search::wolfe::WolfeConfig;
use wengert_optim::line_search::{exact, LineSearch, LineSearchError};
use wengert_optim::objective::{Objective, TapeObjective};

fn rosen<T: Float>(x: Var<'_, T>) -> Var<'_, T> {
    let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
    ((b - a * a).square().mul_scalar(T::from_f64(100.0)) + (a.neg().add_scalar(T::ONE)).square()).sum()
}

/// `f = sum x^2` inside `|x| < 2`, NaN outside (a log of a negative number): a long first step lands on NaN.
fn nan_beyond_radius(x: Var<'_, f64>) -> Var<'_, f64> {
    let r2 = x.square().sum();
    // (4 - |x|^2) is negative beyond radius 2, and its sqrt is NaN there
    r2 + (r2.neg().add_scalar(4.0)).sqrt() * 0.0
}

fn start<O: Objective<f64>>(f: &mut O, x: &[f64]) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; x.len()];
    let f0 = f.value_grad(x, &mut g);
    (f0, g)
}

#[test]
fn strong_wolfe_result_satisfies_both_conditions() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let x = [-1.2, 1.0];
    let (f0, g) = start(&mut f, &x);
    let d: Vec<f64> = g.iter().map(|v| -v).collect();
    let cfg = WolfeConfig::default();
    for alpha0 in [1.0, 1e-4, 1e-2] {
        let r = LineSearch::StrongWolfe(cfg.clone()).search(&mut f, &x, f0, &g, &d, alpha0).unwrap();
        let gn = r.g.clone().unwrap();
        assert!(r.f <= f0 + cfg.c1 * r.alpha * dot(&g, &d), "{r:?}");
        assert!(dot(&gn, &d).abs() <= cfg.c2 * dot(&g, &d).abs(), "{r:?}");
        // the returned gradient is the gradient at the returned point
        let (fr, gr) = start(&mut f, &r.x);
        assert_eq!((fr, gr), (r.f, gn));
    }
}

#[test]
fn armijo_result_satisfies_sufficient_decrease() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let x = [-1.2, 1.0];
    let (f0, g) = start(&mut f, &x);
    let d: Vec<f64> = g.iter().map(|v| -v).collect();
    let r = LineSearch::Armijo(ArmijoConfig::default()).search(&mut f, &x, f0, &g, &d, 1.0).unwrap();
    assert!(r.alpha < 1.0);
    assert!(r.f <= f0 + 1e-4 * r.alpha * dot(&g, &d));
    assert_eq!(f.value(&r.x), r.f);
}

#[test]
fn non_finite_trial_points_are_shrunk_never_returned() {
    let mut f = TapeObjective::new(nan_beyond_radius);
    let x = [1.0, 1.0];
    let (f0, g) = start(&mut f, &x);
    let d: Vec<f64> = g.iter().map(|v| -v).collect(); // -2x: alpha = 1 lands on (-1, -1); alpha = 2 on (-3, -3)
    assert!(f.value(&[-3.0, -3.0]).is_nan());
    for ls in [LineSearch::Armijo(ArmijoConfig::default()), LineSearch::StrongWolfe(WolfeConfig::default())] {
        for alpha0 in [2.0, 10.0, 1e6] {
            let r = ls.search(&mut f, &x, f0, &g, &d, alpha0).unwrap();
            assert!(r.f.is_finite() && r.f < f0, "{ls:?} {r:?}");
            assert!(r.x.iter().all(|v| v.is_finite()));
            if let Some(gn) = &r.g {
                assert!(gn.iter().all(|v| v.is_finite()));
            }
        }
    }
}

/// Counts evaluations that returned NaN, so the tests below know the NaN region was actually probed.
struct NanProbe<O> {
    inner: O,
    nan_seen: usize,
}

impl<O: Objective<f64>> Objective<f64> for NanProbe<O> {
    fn value(&mut self, x: &[f64]) -> f64 {
        let v = self.inner.value(x);
        self.nan_seen += v.is_nan() as usize;
        v
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
        let v = self.inner.value_grad(x, g);
        self.nan_seen += v.is_nan() as usize;
        v
    }
    fn with_hessian<R>(
        &mut self,
        x: &[f64],
        g: &mut [f64],
        body: impl FnOnce(&[f64], &dyn wengert_optim::linalg::LinOp<f64>) -> R,
    ) -> (f64, R) {
        self.inner.with_hessian(x, g, body)
    }
}

/// Rosenbrock, NaN beyond radius 1.6 (the minimum (1, 1) is inside, at radius 1.41).
fn rosen_nan_beyond(x: Var<'_, f64>) -> Var<'_, f64> {
    rosen(x) + (x.square().sum().neg().add_scalar(1.6 * 1.6)).sqrt() * 0.0
}

#[test]
fn methods_never_report_nan_on_a_function_nan_beyond_a_radius() {
    use wengert_optim::second_order::{bfgs, gradient_descent, lbfgs, nonlinear_cg, Report, StopReason, Tolerances};
    let tol = Tolerances::default().with_grad_tol(1e-8).with_max_iter(100_000);
    let mut total_nan = 0;
    for method in 0..5 {
        let mut f = NanProbe { inner: TapeObjective::new(rosen_nan_beyond), nan_seen: 0 };
        let x0 = [-1.2, 0.9];
        let r = match method {
            0 => lbfgs::minimize(&mut f, &x0, &lbfgs::LbfgsConfig { tol: tol.clone(), ..Default::default() })
                .map(Report::without_info),
            1 => bfgs::minimize(&mut f, &x0, &bfgs::BfgsConfig { tol: tol.clone(), ..Default::default() })
                .map(Report::without_info),
            4 => {
                use wengert_optim::line_search::{more_thuente::MoreThuenteConfig, LineSearch};
                let line_search = LineSearch::MoreThuente(MoreThuenteConfig::default());
                lbfgs::minimize(
                    &mut f,
                    &x0,
                    &lbfgs::LbfgsConfig { tol: tol.clone(), line_search, ..Default::default() },
                )
                .map(Report::without_info)
            }
            2 => nonlinear_cg::minimize(
                &mut f,
                &x0,
                &nonlinear_cg::NonlinearCgConfig { tol: tol.clone(), ..Default::default() },
            )
            .map(Report::without_info),
            _ => gradient_descent::minimize(
                &mut f,
                &x0,
                &gradient_descent::GdConfig { tol: tol.clone(), ..Default::default() },
            )
            .map(Report::without_info),
        }
        .unwrap();
        assert_eq!(r.stop, StopReason::GradientTolerance, "method {method}: {r:?}");
        assert!(r.f.is_finite() && r.f < 1e-12 && r.x.iter().all(|v| v.is_finite()), "method {method}: {r:?}");
        total_nan += f.nan_seen;
    }
    assert!(total_nan > 0, "no method probed the NaN region: the test does not test anything");
}

#[test]
fn an_ascent_direction_is_rejected() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let x = [-1.2, 1.0];
    let (f0, g) = start(&mut f, &x);
    for ls in [LineSearch::Armijo(ArmijoConfig::default()), LineSearch::StrongWolfe(WolfeConfig::default())] {
        assert_eq!(ls.search(&mut f, &x, f0, &g, &g, 1.0).unwrap_err(), LineSearchError::NotDescent);
    }
}

#[test]
fn exact_step_minimises_a_quadratic_along_the_direction() {
    // f = 1/2 x^T A x - b^T x with A SPD; along d, phi'(alpha) = 0 at the exact step
    let a = DenseMatrix::from_vec(3, 3, vec![4.0, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 2.0]);
    let b = [1.0, -2.0, 0.5];
    let x = [0.3, 0.1, -0.7];
    let g: Vec<f64> = a.matvec(&x).iter().zip(&b).map(|(ax, bi)| ax - bi).collect();
    let d = [-1.0, 0.5, 0.25];
    let alpha = exact::quadratic_step(&a, &g, &d).unwrap();
    let xn: Vec<f64> = x.iter().zip(&d).map(|(xi, di)| xi + alpha * di).collect();
    let gn: Vec<f64> = a.matvec(&xn).iter().zip(&b).map(|(ax, bi)| ax - bi).collect();
    assert!(dot(&gn, &d).abs() < 1e-14, "{}", dot(&gn, &d));
    // negative curvature: no minimiser along d
    let neg = DenseMatrix::from_vec(2, 2, vec![-1.0, 0.0, 0.0, 1.0]);
    assert_eq!(exact::quadratic_step(&neg, &[1.0, 0.0], &[-1.0, 0.0]), None);
}

/// A first trial step of 0 (or negative, NaN, infinite) is an error of every search, not an accepted step
/// of length 0 (Armijo returned `Ok` for `alpha0 = 0`, issue 14).
#[test]
fn a_first_step_that_is_not_positive_and_finite_is_an_error() {
    use wengert_optim::line_search::more_thuente::MoreThuenteConfig;
    let mut f = TapeObjective::new(rosen::<f64>);
    let x = [-1.2, 1.0];
    let (f0, g) = start(&mut f, &x);
    let d: Vec<f64> = g.iter().map(|v| -v).collect();
    let searches = [
        LineSearch::Armijo(ArmijoConfig::default()),
        LineSearch::StrongWolfe(WolfeConfig::default()),
        LineSearch::MoreThuente(MoreThuenteConfig::default()),
    ];
    for ls in &searches {
        for alpha0 in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = ls.search(&mut f, &x, f0, &g, &d, alpha0).unwrap_err();
            match e {
                LineSearchError::BadInitialStep { alpha0: a } => assert!(a == alpha0 || a.is_nan(), "{ls:?}: {e}"),
                e => panic!("{ls:?}, alpha0 = {alpha0}: {e:?}"),
            }
        }
    }
}

/// Armijo gives up as soon as `x + alpha d` rounds to `x`, instead of accepting the unchanged point (whose
/// value passes the inequality once `c1 alpha g^T d` is below the rounding of `f`).
#[test]
fn armijo_never_returns_the_unchanged_point() {
    let mut f = TapeObjective::new(|x: Var<'_, f64>| x.square().sum());
    let x = [1.0, 0.0];
    let (f0, g) = start(&mut f, &x);
    // a descent direction (g^T d = -2e-20) too short to move x at all: 1 - 1e-20 rounds to 1
    let d = [-1e-20, 0.0];
    let e = LineSearch::Armijo(ArmijoConfig::default()).search(&mut f, &x, f0, &g, &d, 1.0).unwrap_err();
    assert!(matches!(e, LineSearchError::NoAcceptableStep { .. }), "{e:?}");
}
