//! The shared driver of the second-order methods: the non-finite guard, no progress reported as such, config
//! validation, the budgets, and each method's own `Info`.

use wengert_autodiff::Var;
use wengert_optim::linalg::LinOp;
use wengert_optim::objective::{Objective, TapeObjective};
use wengert_optim::second_order::{
    bfgs, gradient_descent, lbfgs, newton, newton_cg, nonlinear_cg, trust_ncg, OptimError, Report, StopReason,
    Tolerances,
};

/// `f = |x|^2` with a hand-written gradient and Hessian that are NaN where `x_0 < 0.5` (the value stays
/// finite there): a method that steps into that region must stop with `NonFinite`, never report convergence.
struct NanGradientBelow;

impl NanGradientBelow {
    fn grad(x: &[f64], g: &mut [f64]) -> f64 {
        let bad = x[0] < 0.5;
        for (gi, xi) in g.iter_mut().zip(x) {
            *gi = if bad { f64::NAN } else { 2.0 * xi };
        }
        x.iter().map(|v| v * v).sum()
    }
}

/// `H = 2 I`.
struct TwoI(usize);

impl LinOp<f64> for TwoI {
    fn dim(&self) -> usize {
        self.0
    }
    fn apply(&self, v: &[f64], y: &mut [f64]) {
        for (y, v) in y.iter_mut().zip(v) {
            *y = 2.0 * v;
        }
    }
}

impl Objective<f64> for NanGradientBelow {
    fn value(&mut self, x: &[f64]) -> f64 {
        x.iter().map(|v| v * v).sum()
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
        Self::grad(x, g)
    }
    fn with_hessian<R>(
        &mut self,
        x: &[f64],
        g: &mut [f64],
        body: impl FnOnce(&[f64], &dyn LinOp<f64>) -> R,
    ) -> (f64, R) {
        let f = Self::grad(x, g);
        (f, body(g, &TwoI(x.len())))
    }
}

fn assert_stopped_finite<I: std::fmt::Debug>(name: &str, r: &Report<f64, I>, expect: Option<StopReason>) {
    assert_ne!(r.stop, StopReason::GradientTolerance, "{name}: a NaN gradient is not convergence: {r:?}");
    if let Some(s) = expect {
        assert_eq!(r.stop, s, "{name}: {r:?}");
    }
    assert!(r.x.iter().all(|v| v.is_finite()) && r.f.is_finite() && r.grad_norm.is_finite(), "{name}: {r:?}");
    // the reported point is outside the NaN region: the last finite point
    assert!(r.x[0] >= 0.5, "{name}: {r:?}");
}

/// Newton, Newton-CG and trust-region Newton-CG reported `GradientTolerance` on a NaN gradient (issue 14);
/// Armijo gradient descent too. Strong-Wolfe methods never accept a NaN gradient in the search, so they stop
/// without progress instead; none may claim convergence.
#[test]
fn a_nan_gradient_stops_every_method_with_non_finite_never_convergence() {
    let x0 = [2.0, 2.0];
    let t = Tolerances::default().with_grad_tol(1e-10).with_max_iter(200);
    let nf = Some(StopReason::NonFinite);
    let f = &mut NanGradientBelow;
    let r = newton::minimize(f, &x0, &newton::NewtonConfig { tol: t.clone(), ..Default::default() }).unwrap();
    assert_stopped_finite("newton", &r, nf);
    // the full Newton step lands on 0, where the gradient is NaN: the start stays the reported point
    assert_eq!((r.x.as_slice(), r.iterations), (&x0[..], 1));
    let r = newton_cg::minimize(f, &x0, &newton_cg::NewtonCgConfig { tol: t.clone(), ..Default::default() }).unwrap();
    assert_stopped_finite("newton_cg", &r, nf);
    let r = trust_ncg::minimize(f, &x0, &trust_ncg::TrustNcgConfig { tol: t.clone(), ..Default::default() }).unwrap();
    assert_stopped_finite("trust_ncg", &r, nf);
    let r = gradient_descent::minimize(f, &x0, &gradient_descent::GdConfig { tol: t.clone(), ..Default::default() })
        .unwrap();
    assert_stopped_finite("gradient_descent", &r, nf);
    let r = bfgs::minimize(f, &x0, &bfgs::BfgsConfig { tol: t.clone(), ..Default::default() }).unwrap();
    assert_stopped_finite("bfgs", &r, None);
    let r = lbfgs::minimize(f, &x0, &lbfgs::LbfgsConfig { tol: t.clone(), ..Default::default() }).unwrap();
    assert_stopped_finite("lbfgs", &r, None);
    let r = nonlinear_cg::minimize(f, &x0, &nonlinear_cg::NonlinearCgConfig { tol: t, ..Default::default() }).unwrap();
    assert_stopped_finite("nonlinear_cg", &r, None);
}

/// A Hessian with a NaN entry (finite value and gradient): the modified Cholesky used to retry forever
/// (NaN plus any shift is NaN); now Newton stops with `NonFinite` at once.
#[test]
fn a_nan_hessian_stops_newton_instead_of_hanging() {
    struct NanHessian;
    struct NanOp;
    impl LinOp<f64> for NanOp {
        fn dim(&self) -> usize {
            2
        }
        fn apply(&self, _: &[f64], y: &mut [f64]) {
            y.fill(f64::NAN);
        }
    }
    impl Objective<f64> for NanHessian {
        fn value(&mut self, x: &[f64]) -> f64 {
            x.iter().map(|v| v * v).sum()
        }
        fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
            g.iter_mut().zip(x).for_each(|(g, x)| *g = 2.0 * x);
            self.value(x)
        }
        fn with_hessian<R>(
            &mut self,
            x: &[f64],
            g: &mut [f64],
            body: impl FnOnce(&[f64], &dyn LinOp<f64>) -> R,
        ) -> (f64, R) {
            let f = self.value_grad(x, g);
            (f, body(g, &NanOp))
        }
    }
    let r = newton::minimize(&mut NanHessian, &[1.0, 2.0], &newton::NewtonConfig::default()).unwrap();
    assert_eq!((r.stop, r.iterations, r.x.as_slice()), (StopReason::NonFinite, 1, &[1.0, 2.0][..]), "{r:?}");
}

/// Finite (`f = 1`, `g = (1, 1)`) only at the start point, NaN anywhere else: every trial of a line search is
/// NaN until the step is so short that `x + alpha d` rounds to `x`.
struct FiniteOnlyAt([f64; 2]);

impl Objective<f64> for FiniteOnlyAt {
    fn value(&mut self, x: &[f64]) -> f64 {
        if x == self.0 {
            1.0
        } else {
            f64::NAN
        }
    }
    fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
        g.fill(1.0);
        self.value(x)
    }
    fn with_hessian<R>(
        &mut self,
        x: &[f64],
        g: &mut [f64],
        body: impl FnOnce(&[f64], &dyn LinOp<f64>) -> R,
    ) -> (f64, R) {
        let f = self.value_grad(x, g);
        (f, body(g, &TwoI(2)))
    }
}

/// Armijo used to shrink through the NaN trials until `x + alpha d` rounded to `x` (alpha about 1e-15 at
/// `|x| = 100`) and accept that unchanged point; gradient descent then repeated it for its whole budget
/// (issue 14). Now the search reports no progress and the run stops after one iteration.
#[test]
fn gradient_descent_stops_at_once_when_every_trial_is_nan() {
    let x0 = [100.0, 100.0];
    let cfg = gradient_descent::GdConfig { tol: Tolerances::default().with_max_iter(100_000), ..Default::default() };
    let r = gradient_descent::minimize(&mut FiniteOnlyAt(x0), &x0, &cfg).unwrap();
    assert_eq!((r.stop, r.iterations, r.x.as_slice()), (StopReason::NoProgress, 1, &x0[..]), "{r:?}");
    // the trials stop where the step underflows, before Armijo's 60-trial budget: 2 / sqrt(2) 0.1^k < 1e-14
    assert!(r.counts.function <= 1 + 16, "{r:?}");
}

#[test]
fn invalid_configs_are_rejected_before_the_run_naming_the_field() {
    let mut f = TapeObjective::new(|x: Var<'_, f64>| x.square().sum());
    let x0 = [1.0, 2.0];
    let invalid = |e: OptimError, field: &str| match e {
        OptimError::InvalidConfig(m) => assert!(m.contains(field), "{m}"),
        e => panic!("expected InvalidConfig naming {field}, got {e:?}"),
    };
    let t = Tolerances { grad_tol: f64::NAN, ..Default::default() };
    invalid(bfgs::minimize(&mut f, &x0, &bfgs::BfgsConfig { tol: t, ..Default::default() }).unwrap_err(), "grad_tol");
    let t = Tolerances { step_tol: -1.0, ..Default::default() };
    invalid(
        lbfgs::minimize(&mut f, &x0, &lbfgs::LbfgsConfig { tol: t, ..Default::default() }).unwrap_err(),
        "step_tol",
    );
    let cfg = newton::NewtonConfig { beta: 0.0, ..Default::default() };
    invalid(newton::minimize(&mut f, &x0, &cfg).unwrap_err(), "beta");
    let cfg = trust_ncg::TrustNcgConfig { eta: 0.5, ..Default::default() };
    invalid(trust_ncg::minimize(&mut f, &x0, &cfg).unwrap_err(), "eta");
    let cfg = trust_ncg::TrustNcgConfig { initial_radius: 2e3, ..Default::default() };
    invalid(trust_ncg::minimize(&mut f, &x0, &cfg).unwrap_err(), "initial_radius");
    let cfg = newton_cg::NewtonCgConfig { cg_max_iter_factor: 0, ..Default::default() };
    invalid(newton_cg::minimize(&mut f, &x0, &cfg).unwrap_err(), "cg_max_iter_factor");
    let cfg = nonlinear_cg::NonlinearCgConfig { restart: Some(0), ..Default::default() };
    invalid(nonlinear_cg::minimize(&mut f, &x0, &cfg).unwrap_err(), "restart");
    use wengert_optim::line_search::{wolfe::WolfeConfig, LineSearch};
    let line_search = LineSearch::StrongWolfe(WolfeConfig { c1: 0.95, ..WolfeConfig::default() });
    invalid(bfgs::minimize(&mut f, &x0, &bfgs::BfgsConfig { line_search, ..Default::default() }).unwrap_err(), "c1");
}

/// Every `f64` hyperparameter that `validate` checks refuses NaN, naming the field.
#[test]
fn nan_hyperparameters_are_rejected_naming_the_field() {
    use wengert_optim::line_search::LineSearch;
    use wengert_optim::line_search::{armijo::ArmijoConfig, more_thuente::MoreThuenteConfig, wolfe::WolfeConfig};
    use wengert_optim::second_order::levenberg_marquardt::LmConfig;
    use wengert_optim::second_order::robust_loss::{Loss, RobustLoss};
    let nan = f64::NAN;
    let named = |r: Result<(), OptimError>, field: &str| match r {
        Err(OptimError::InvalidConfig(m)) => assert!(m.contains(field), "{m}"),
        r => panic!("expected InvalidConfig naming {field}, got {r:?}"),
    };
    named(Tolerances { step_tol: nan, ..Default::default() }.validate(), "step_tol");
    named(Tolerances { f_rel_tol: nan, ..Default::default() }.validate(), "f_rel_tol");
    named(LineSearch::Armijo(ArmijoConfig { c1: nan, ..Default::default() }).validate(), "c1");
    named(LineSearch::StrongWolfe(WolfeConfig { c2: nan, ..Default::default() }).validate(), "c2");
    named(LineSearch::StrongWolfe(WolfeConfig { alpha_max: nan, ..Default::default() }).validate(), "alpha_max");
    for (c, field) in [
        (MoreThuenteConfig { ftol: nan, ..Default::default() }, "ftol"),
        (MoreThuenteConfig { gtol: nan, ..Default::default() }, "gtol"),
        (MoreThuenteConfig { xtol: nan, ..Default::default() }, "xtol"),
    ] {
        named(LineSearch::MoreThuente(c).validate(), field);
    }
    named(lbfgs::LbfgsConfig { curvature_eps: Some(nan), ..Default::default() }.validate(), "curvature_eps");
    named(newton::NewtonConfig { beta: nan, ..Default::default() }.validate(), "beta");
    named(trust_ncg::TrustNcgConfig { eta: nan, ..Default::default() }.validate(), "eta");
    named(trust_ncg::TrustNcgConfig { max_radius: nan, ..Default::default() }.validate(), "max_radius");
    let scaling = trust_ncg::Scaling::Diagonal(vec![1.0, nan]);
    named(trust_ncg::TrustNcgConfig { scaling, ..Default::default() }.validate(), "scaling");
    for (c, field) in [
        (LmConfig { ftol: nan, ..Default::default() }, "ftol"),
        (LmConfig { xtol: nan, ..Default::default() }, "xtol"),
        (LmConfig { gtol: nan, ..Default::default() }, "gtol"),
        (LmConfig { factor: nan, ..Default::default() }, "factor"),
        (LmConfig { loss: RobustLoss::new(Loss::Huber, nan), ..Default::default() }, "f_scale"),
    ] {
        named(c.validate(), field);
    }
}

#[test]
fn a_zero_iteration_budget_returns_the_evaluated_start() {
    let mut f = TapeObjective::new(|x: Var<'_, f64>| x.square().sum());
    let t = Tolerances::default().with_max_iter(0);
    let r = newton::minimize(&mut f, &[1.0, 2.0], &newton::NewtonConfig { tol: t, ..Default::default() }).unwrap();
    assert_eq!((r.stop, r.iterations, r.f, r.counts.hvp), (StopReason::MaxIterations, 0, 5.0, 0), "{r:?}");
}

/// Each method's `Info`: checked against what can be counted independently.
#[test]
fn each_method_reports_its_own_info() {
    // f = x^4/4 - x^2/2 + y^2: H is indefinite at (0.1, 1), so Newton must shift it
    fn indefinite(v: Var<'_, f64>) -> Var<'_, f64> {
        let (x, y) = (v.slice(0, 0..1), v.slice(0, 1..2));
        (x.square().square() * 0.25 - x.square() * 0.5 + y.square()).sum()
    }
    let mut f = TapeObjective::new(indefinite);
    let t = Tolerances::default().with_grad_tol(1e-10);
    let r =
        newton::minimize(&mut f, &[0.1, 1.0], &newton::NewtonConfig { tol: t.clone(), ..Default::default() }).unwrap();
    assert_eq!(r.stop, StopReason::GradientTolerance);
    // H_xx = 3 x^2 - 1 = -0.97 at the start: the shift is at least 0.97; near (1, 0) H is positive definite
    assert!(r.info.max_shift >= 0.97 && r.info.shifted_iterations >= 1, "{:?}", r.info);
    assert_eq!(r.info.last_shift, 0.0, "{:?}", r.info);

    // trust region and Newton-CG spend Hessian-vector products only in their CG loops
    fn rosen(x: Var<'_, f64>) -> Var<'_, f64> {
        let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
        ((b - a * a).square() * 100.0 + (a.neg() + 1.0).square()).sum()
    }
    let mut f = TapeObjective::new(rosen);
    let mut accepted = 0;
    let cfg = trust_ncg::TrustNcgConfig { tol: t.clone(), ..Default::default() };
    let r = trust_ncg::minimize_observed(&mut f, &[-1.2, 1.0], &cfg, &mut |_| accepted += 1).unwrap();
    assert_eq!(r.info.cg_iterations, r.counts.hvp, "{r:?}");
    assert!(r.info.radius > 0.0 && r.info.radius <= 1000.0, "{r:?}");
    // every iteration is a trial; the observer sees the accepted ones
    assert!(r.info.rejected > 0, "{r:?}");
    assert_eq!(r.iterations - r.info.rejected, accepted, "{r:?}");
    let r =
        newton_cg::minimize(&mut f, &[-1.2, 1.0], &newton_cg::NewtonCgConfig { tol: t, ..Default::default() }).unwrap();
    assert_eq!(r.info.cg_iterations, r.counts.hvp, "{r:?}");
    assert!(r.info.last_residual <= 0.5, "{r:?}");
}

/// Rosenbrock in `u = x_0 / 100`, `v = x_1 / 1e-4`: parameters of size 1e2 beside 1e-4, minimum (100, 1e-4).
fn badly_scaled_rosenbrock(x: Var<'_, f64>) -> Var<'_, f64> {
    let (a, b) = (x.slice(0, 0..1) * 0.01, x.slice(0, 1..2) * 1e4);
    ((b - a * a).square() * 100.0 + (a.neg() + 1.0).square()).sum()
}

/// Without scaling, trust-region Newton-CG shrinks its round region until its steps fall below the rounding of
/// the large parameter (radius ~7e-15 = eps 100) and stops without progress short of `grad_tol`; with
/// `d = (1e-2, 1e4)` it converges, in fewer iterations.
#[test]
fn trust_ncg_variable_scaling_unstalls_a_badly_scaled_problem() {
    use trust_ncg::{Scaling, TrustNcgConfig};
    let tol = Tolerances::default().with_grad_tol(1e-10);
    let x0 = [-120.0, 1e-4];
    let plain = TrustNcgConfig { tol: tol.clone(), ..Default::default() };
    let r = trust_ncg::minimize(&mut TapeObjective::new(badly_scaled_rosenbrock), &x0, &plain).unwrap();
    assert_eq!(r.stop, StopReason::NoProgress, "{r:?}");
    assert!(r.grad_norm > 1e-10 && r.info.radius < 1e-12, "{r:?}");
    let scaled = TrustNcgConfig { tol, scaling: Scaling::Diagonal(vec![1e-2, 1e4]), ..Default::default() };
    let s = trust_ncg::minimize(&mut TapeObjective::new(badly_scaled_rosenbrock), &x0, &scaled).unwrap();
    assert_eq!(s.stop, StopReason::GradientTolerance, "{s:?}");
    assert!((s.x[0] - 100.0).abs() < 1e-9 && (s.x[1] - 1e-4).abs() < 1e-15, "{s:?}");
    assert!(s.iterations < r.iterations, "{} vs {}", s.iterations, r.iterations);
    // a scaling of the wrong length or sign is refused
    let bad = TrustNcgConfig { scaling: Scaling::Diagonal(vec![1.0]), ..Default::default() };
    assert!(matches!(
        trust_ncg::minimize(&mut TapeObjective::new(badly_scaled_rosenbrock), &x0, &bad),
        Err(OptimError::InvalidConfig(_))
    ));
    let bad = TrustNcgConfig { scaling: Scaling::Diagonal(vec![1.0, -1.0]), ..Default::default() };
    assert!(matches!(
        trust_ncg::minimize(&mut TapeObjective::new(badly_scaled_rosenbrock), &x0, &bad),
        Err(OptimError::InvalidConfig(_))
    ));
}
