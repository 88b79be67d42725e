//! Convergence of every second-order / full-batch method on known problems, in f64 and f32.

use wengert_autodiff::{Float, Var};
use wengert_optim::objective::{ModelObjective, Objective, TapeLeastSquares, TapeObjective};
use wengert_optim::second_order::{
    bfgs, gauss_newton, gradient_descent, lbfgs, levenberg_marquardt, newton, newton_cg, nonlinear_cg, trust_ncg,
    Report, StopReason, Tolerances,
};

/// Chained Rosenbrock `sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`; minimum 0 at all ones.
fn rosen<T: Float>(x: Var<'_, T>) -> Var<'_, T> {
    let n = x.numel();
    let (a, b) = (x.slice(0, 0..n - 1), x.slice(0, 1..n));
    ((b - a * a).square().mul_scalar(T::from_f64(100.0)) + (a.neg().add_scalar(T::ONE)).square()).sum()
}

/// Rosenbrock as least squares: `r = (10 (x2 - x1^2), 1 - x1)`, `f = 1/2 |r|^2` (half of Rosenbrock).
fn rosen_residuals<T: Float>(x: Var<'_, T>) -> Var<'_, T> {
    let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
    wengert_autodiff::concat(&[(b - a * a).mul_scalar(T::from_f64(10.0)), a.neg().add_scalar(T::ONE)], 0)
}

fn assert_at_rosen_min<T: Float, I: std::fmt::Debug>(r: &Report<T, I>, grad_tol: f64, x_tol: f64) {
    assert_eq!(r.stop, StopReason::GradientTolerance, "{r:?}");
    assert!(r.grad_norm.to_f64() <= grad_tol, "{r:?}");
    for &xi in &r.x {
        assert!((xi.to_f64() - 1.0).abs() < x_tol, "{r:?}");
    }
}

const X0: [f64; 2] = [-1.2, 1.0];

fn tol(g: f64) -> Tolerances {
    Tolerances::default().with_grad_tol(g)
}

#[test]
fn gradient_descent_armijo_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let cfg = gradient_descent::GdConfig { tol: tol(1e-8).with_max_iter(200_000), ..Default::default() };
    let r = gradient_descent::minimize(&mut f, &X0, &cfg).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-7);
    // first-order: it takes thousands of iterations where Newton takes tens
    assert!(r.iterations > 1000, "{}", r.iterations);
}

#[test]
fn gradient_descent_exact_quadratic_step_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let cfg = gradient_descent::GdConfig {
        tol: tol(1e-8).with_max_iter(200_000),
        step: gradient_descent::GdStep::ExactQuadratic,
    };
    let r = gradient_descent::minimize(&mut f, &X0, &cfg).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-7);
    assert!(r.counts.hvp >= r.iterations);
}

#[test]
fn newton_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let r = newton::minimize(&mut f, &X0, &newton::NewtonConfig { tol: tol(1e-8), ..Default::default() }).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-9);
    assert!(r.iterations < 40, "{r:?}");
}

#[test]
fn newton_cg_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let r =
        newton_cg::minimize(&mut f, &X0, &newton_cg::NewtonCgConfig { tol: tol(1e-8), ..Default::default() }).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-7);
}

#[test]
fn trust_ncg_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let r =
        trust_ncg::minimize(&mut f, &X0, &trust_ncg::TrustNcgConfig { tol: tol(1e-8), ..Default::default() }).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-9);
}

#[test]
fn bfgs_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let r = bfgs::minimize(&mut f, &X0, &bfgs::BfgsConfig { tol: tol(1e-8), ..Default::default() }).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-8);
}

#[test]
fn lbfgs_reaches_rosenbrock_minimum() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let cfg = lbfgs::LbfgsConfig { tol: tol(1e-8), ..Default::default() };
    let r = lbfgs::minimize(&mut f, &X0, &cfg).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-8);
}

#[test]
fn lbfgs_with_more_thuente_reaches_rosenbrock_minimum() {
    use wengert_optim::line_search::{more_thuente::MoreThuenteConfig, LineSearch};
    let mut f = TapeObjective::new(rosen::<f64>);
    let line_search = LineSearch::MoreThuente(MoreThuenteConfig::default());
    let cfg = lbfgs::LbfgsConfig { tol: tol(1e-8), line_search, ..Default::default() };
    let r = lbfgs::minimize(&mut f, &X0, &cfg).unwrap();
    assert_at_rosen_min(&r, 1e-8, 1e-8);
}

#[test]
fn nonlinear_cg_both_betas_reach_rosenbrock_minimum() {
    for beta in [nonlinear_cg::CgBeta::PolakRibierePlus, nonlinear_cg::CgBeta::FletcherReeves] {
        let mut f = TapeObjective::new(rosen::<f64>);
        let cfg = nonlinear_cg::NonlinearCgConfig { tol: tol(1e-8).with_max_iter(100_000), beta, ..Default::default() };
        let r = nonlinear_cg::minimize(&mut f, &X0, &cfg).unwrap();
        assert_at_rosen_min(&r, 1e-8, 1e-8);
    }
}

#[test]
fn gauss_newton_dense_and_cg_reach_rosenbrock_minimum() {
    for solver in [gauss_newton::GnSolver::Dense, gauss_newton::GnSolver::Cg(Default::default())] {
        let mut p = TapeLeastSquares::new(rosen_residuals::<f64>);
        let cfg = gauss_newton::GaussNewtonConfig { tol: tol(1e-10), solver, ..Default::default() };
        let r = gauss_newton::minimize(&mut p, &X0, &cfg).unwrap();
        assert_at_rosen_min(&r, 1e-10, 1e-9);
        assert!(r.counts.jvp > 0 && r.counts.vjp > 0);
    }
}

#[test]
fn levenberg_and_marquardt_reach_rosenbrock_minimum() {
    for base in [levenberg_marquardt::LmConfig::levenberg(), levenberg_marquardt::LmConfig::default()] {
        let mut p = TapeLeastSquares::new(rosen_residuals::<f64>);
        let cfg = levenberg_marquardt::LmConfig { tol: tol(1e-10), ..base };
        let r = levenberg_marquardt::minimize(&mut p, &X0, &cfg).unwrap();
        assert_at_rosen_min(&r, 1e-10, 1e-9);
    }
}

#[test]
fn f32_methods_reach_rosenbrock_minimum() {
    let x0 = [-1.2_f32, 1.0];
    let t = Tolerances::default().with_grad_tol(1e-3);
    let mut f = TapeObjective::new(rosen::<f32>);
    let rs = [
        bfgs::minimize(&mut f, &x0, &bfgs::BfgsConfig { tol: t.clone(), ..Default::default() }).unwrap().without_info(),
        lbfgs::minimize(&mut f, &x0, &lbfgs::LbfgsConfig { tol: t.clone(), ..Default::default() })
            .unwrap()
            .without_info(),
        newton::minimize(&mut f, &x0, &newton::NewtonConfig { tol: t.clone(), ..Default::default() })
            .unwrap()
            .without_info(),
        newton_cg::minimize(&mut f, &x0, &newton_cg::NewtonCgConfig { tol: t.clone(), ..Default::default() })
            .unwrap()
            .without_info(),
        trust_ncg::minimize(&mut f, &x0, &trust_ncg::TrustNcgConfig { tol: t.clone(), ..Default::default() })
            .unwrap()
            .without_info(),
    ];
    for r in &rs {
        assert_at_rosen_min(r, 1e-3, 1e-2);
    }
    let mut p = TapeLeastSquares::new(rosen_residuals::<f32>);
    let r = levenberg_marquardt::minimize(&mut p, &x0, &levenberg_marquardt::LmConfig { tol: t, ..Default::default() })
        .unwrap();
    assert_at_rosen_min(&r, 1e-3, 1e-2);
}

/// One config serves problems of both float types (issue 15): the same `LbfgsConfig` value runs an f64 and an
/// f32 Rosenbrock. Each tolerance is compared in the problem's type: `1e-3` rounds up in f32
/// (`1e-3_f32 = 1.00000005e-3`), so a gradient norm of exactly `1e-3_f32` meets `grad_tol = 1e-3` in an f32
/// run, as it met the former `1e-3_f32` setting, where a comparison in f64 would not.
#[test]
fn one_config_serves_f32_and_f64_problems_and_tolerances_compare_in_the_problem_s_type() {
    let cfg = lbfgs::LbfgsConfig { tol: tol(1e-3), ..Default::default() };
    let r64 = lbfgs::minimize(&mut TapeObjective::new(rosen::<f64>), &X0, &cfg).unwrap();
    let r32 = lbfgs::minimize(&mut TapeObjective::new(rosen::<f32>), &[-1.2_f32, 1.0], &cfg).unwrap();
    assert_at_rosen_min(&r64, 1e-3, 1e-2);
    assert_at_rosen_min(&r32, 1e-3, 1e-2);
    let (t, g32) = (tol(1e-3), 1e-3_f32);
    assert!(f64::from(g32) > 1e-3);
    assert_eq!(t.check(1, &[0.0_f32], &[1.0], 1.0, 0.5, g32, 0), Some(StopReason::GradientTolerance));
    assert_eq!(t.check(1, &[0.0_f64], &[1.0], 1.0, 0.5, f64::from(g32), 0), None);
}

/// Linear regression `J(theta) = |y - X theta|^2`: a quadratic, so one Newton step lands on the
/// normal-equation solution `theta = (X^T X)^-1 X^T y`.
#[test]
fn newton_solves_linear_regression_in_one_step() {
    use wengert_autodiff::Tensor;
    use wengert_optim::linalg::{cholesky::Cholesky, DenseMatrix};
    let (m, n) = (20, 3);
    let xs: Vec<f64> = (0..m * n).map(|k| ((k * 37 % 11) as f64 - 5.0) / 3.0 + (k % n) as f64 * 0.1).collect();
    let ys: Vec<f64> = (0..m).map(|i| (i as f64 * 0.7).sin() + 2.0).collect();
    let xt = Tensor::from_vec(xs.clone(), &[m, n]);
    let yt = Tensor::from_vec(ys.clone(), &[m, 1]);
    let mut f = TapeObjective::new(move |theta: Var<'_, f64>| {
        let tape = theta.tape();
        let pred = tape.constant(xt.clone()).matmul(theta.reshape(&[n, 1]));
        (tape.constant(yt.clone()) - pred).square().sum()
    });
    let r = newton::minimize(&mut f, &[5.0, -3.0, 0.5], &newton::NewtonConfig { tol: tol(1e-8), ..Default::default() })
        .unwrap();
    assert_eq!(r.iterations, 1, "{r:?}");
    assert_eq!(r.stop, StopReason::GradientTolerance);
    let a = DenseMatrix::from_vec(m, n, xs);
    let theta = Cholesky::factor(&a.gram()).unwrap().solve(&a.matvec_t(&ys));
    for (t, e) in r.x.iter().zip(&theta) {
        assert!((t - e).abs() < 1e-10, "{:?} vs {theta:?}", r.x);
    }
}

/// Newton on a function whose Hessian is indefinite at the start still descends (modified Cholesky).
#[test]
fn newton_modifies_an_indefinite_hessian() {
    // f = x^4/4 - x^2/2 + y^2, H(0.1, 1) has a negative eigenvalue; minima at (+-1, 0)
    let mut f = TapeObjective::new(|v: Var<'_, f64>| {
        let (x, y) = (v.slice(0, 0..1), v.slice(0, 1..2));
        (x.square().square() * 0.25 - x.square() * 0.5 + y.square()).sum()
    });
    let r =
        newton::minimize(&mut f, &[0.1, 1.0], &newton::NewtonConfig { tol: tol(1e-10), ..Default::default() }).unwrap();
    assert_eq!(r.stop, StopReason::GradientTolerance);
    assert!((r.x[0] - 1.0).abs() < 1e-8 && r.x[1].abs() < 1e-8, "{r:?}");
}

/// Methods run directly on an `nn` model: parameters are flattened through `Parameters::visit`.
#[test]
fn lbfgs_and_trust_ncg_fit_a_model_through_model_objective() {
    use wengert_autodiff::Tensor;
    use wengert_nn::Param;
    // model: two parameters w (2x1) and b (1); data y = X [2, -1] + 0.5
    let xs = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, -1.0, 0.5, 3.0], &[5, 2]);
    let ys = Tensor::from_vec(vec![2.5, -0.5, 1.5, 5.5, -1.5], &[5, 1]);
    for which in 0..2 {
        let mut model = vec![Param::new(Tensor::zeros(&[2, 1])), Param::new(Tensor::zeros(&[1]))];
        let (w, b) = (model[0].clone(), model[1].clone());
        let (xs, ys) = (xs.clone(), ys.clone());
        let mut obj = ModelObjective::new(&mut model, move |p, _m: &Vec<Param<f64>>| {
            let tape = p.tape();
            let pred = tape.constant(xs.clone()).matmul(p.var(&w)) + p.var(&b);
            (pred - tape.constant(ys.clone())).square().mean()
        });
        let x0 = obj.params();
        assert_eq!(x0.len(), 3);
        let r = if which == 0 {
            lbfgs::minimize(&mut obj, &x0, &lbfgs::LbfgsConfig { tol: tol(1e-10), ..Default::default() })
                .unwrap()
                .without_info()
        } else {
            trust_ncg::minimize(&mut obj, &x0, &trust_ncg::TrustNcgConfig { tol: tol(1e-10), ..Default::default() })
                .unwrap()
                .without_info()
        };
        assert_eq!(r.stop, StopReason::GradientTolerance, "{r:?}");
        obj.load(&r.x);
        drop(obj);
        let got: Vec<f64> = model.iter().flat_map(|p| p.value().to_vec()).collect();
        for (g, e) in got.iter().zip([2.0, -1.0, 0.5]) {
            assert!((g - e).abs() < 1e-8, "{got:?}");
        }
    }
}

#[test]
fn observer_sees_every_iteration_and_f_decreases() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let mut seen: Vec<(usize, f64)> = Vec::new();
    let r =
        bfgs::minimize_observed(&mut f, &X0, &bfgs::BfgsConfig::default(), &mut |it| seen.push((it.k, it.f))).unwrap();
    assert_eq!(seen.len(), r.iterations);
    assert!(seen.windows(2).all(|w| w[1].0 == w[0].0 + 1 && w[1].1 <= w[0].1));
    assert_eq!(seen.last().unwrap().1, r.f);
}

#[test]
fn iteration_and_evaluation_budgets_stop_the_run() {
    let mut f = TapeObjective::new(rosen::<f64>);
    let cfg = lbfgs::LbfgsConfig { tol: tol(1e-12).with_max_iter(5), ..Default::default() };
    let r = lbfgs::minimize(&mut f, &X0, &cfg).unwrap();
    assert_eq!((r.stop, r.iterations), (StopReason::MaxIterations, 5));
    let mut t = tol(1e-12);
    t.max_evals = 20;
    let r = bfgs::minimize(&mut f, &X0, &bfgs::BfgsConfig { tol: t, ..Default::default() }).unwrap();
    assert_eq!(r.stop, StopReason::MaxEvaluations);
    assert!(r.counts.total() >= 20);
    let mut t = tol(1e-12);
    t.step_tol = 1e-3;
    let r = newton::minimize(&mut f, &X0, &newton::NewtonConfig { tol: t, ..Default::default() }).unwrap();
    assert_eq!(r.stop, StopReason::StepTolerance);
    let mut t = tol(1e-12);
    t.f_rel_tol = 1e-2;
    let r =
        gradient_descent::minimize(&mut f, &X0, &gradient_descent::GdConfig { tol: t, ..Default::default() }).unwrap();
    assert_eq!(r.stop, StopReason::FunctionTolerance);
}

#[test]
fn a_non_finite_start_is_an_error() {
    let mut f = TapeObjective::new(|x: Var<'_, f64>| x.log().sum());
    let e = bfgs::minimize(&mut f, &[-1.0, 1.0], &Default::default()).unwrap_err();
    assert_eq!(e, wengert_optim::second_order::OptimError::NonFiniteStart);
    // the objective is still usable after the error: log 1 + log 1 = 0
    assert_eq!(f.value(&[1.0, 1.0]), 0.0);
}
