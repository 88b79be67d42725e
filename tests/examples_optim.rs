//! Keeps the optimisation examples alive: each example's `run(fast = true)` (the CI mode, same code path with
//! fewer iterations) runs here and its results are checked against what the example claims.

#[allow(dead_code)]
#[path = "../examples/curve_fit.rs"]
mod curve_fit;
#[allow(dead_code)]
#[path = "../examples/learning_rate_diagnostics.rs"]
mod learning_rate_diagnostics;
#[allow(dead_code)]
#[path = "../examples/newton_regression.rs"]
mod newton_regression;
#[allow(dead_code)]
#[path = "../examples/optimizer_zoo.rs"]
mod optimizer_zoo;
#[allow(dead_code)]
#[path = "../examples/second_order.rs"]
mod second_order;

#[test]
fn learning_rate_diagnostics_tells_the_four_regimes_apart() {
    use learning_rate_diagnostics::Diagnosis::*;
    let s = learning_rate_diagnostics::run(true);
    let got: Vec<(f64, _)> = s.runs.iter().map(|r| (r.alpha, r.diagnosis)).collect();
    assert_eq!(got, vec![(0.01, SlowProgress), (0.25, Healthy), (0.48, Oscillation), (0.51, Instability)]);
    // the steep coordinate w2 is multiplied by 1 - 4 alpha per step
    for r in &s.runs {
        let (w2_0, w2_1) = (r.path[0][1], r.path[1][1]);
        assert!((w2_1 - (1.0 - 4.0 * r.alpha) * w2_0).abs() < 1e-12, "alpha {}: {w2_0} -> {w2_1}", r.alpha);
    }
    // with noisy gradients every decaying schedule ends closer to the minimum than the constant rate
    let constant = &s.schedules[0];
    assert_eq!(constant.name, "constant");
    for sched in &s.schedules[1..] {
        assert!(
            sched.final_loss < 0.5 * constant.final_loss,
            "{}: {} vs {}",
            sched.name,
            sched.final_loss,
            constant.final_loss
        );
        let (first, last) = (sched.rates[sched.rates.len() / 2], sched.rates[sched.rates.len() - 1]);
        assert!(last < first, "{} does not decay: {first} -> {last}", sched.name);
    }
}

#[test]
fn optimizer_zoo_converges_where_the_lecture_says() {
    let s = optimizer_zoo::run(true);
    assert_eq!(s.rows.len(), 12, "every first-order optimiser has a row");
    let row = |name: &str| s.rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no row {name}"));
    // on the quadratic every method but Adadelta (whose steps start at sqrt(eps)) reaches the minimum
    for r in &s.rows {
        let converged = r.quadratic.steps.is_some();
        assert_eq!(converged, r.name != "Adadelta", "{}: {:?}", r.name, r.quadratic.steps);
        if let Some(k) = r.quadratic.steps {
            assert_eq!(r.quadratic.path.len(), k + 1);
            assert!(r.quadratic.final_distance < optimizer_zoo::TOL);
        }
        assert_eq!(r.quadratic.path[0], [-8.0, 2.0]);
        assert_eq!(r.rosenbrock.path[0], [-1.2, 1.0]);
    }
    // GD with lr 0.4 contracts w1 by 1 - 0.2 * 0.4 = 0.92 per step: 8 * 0.92^k < 1e-3 needs k = 108
    assert_eq!(row("SGD (GD)").quadratic.steps, Some(108));
    // heavy-ball momentum with tuned (alpha, rho) beats the best constant-rate GD on the ill-conditioned bowl
    assert!(row("Momentum").quadratic.steps.unwrap() < 108 / 2);
    // on Rosenbrock, the adaptive methods with momentum converge within the fast cap, plain SGD does not
    for name in ["Adam", "RMSProp-Nesterov"] {
        assert!(row(name).rosenbrock.steps.is_some_and(|k| k <= s.cap), "{name}");
    }
    assert!(row("SGD (GD)").rosenbrock.steps.is_none());
    assert!(row("SGD (GD)").rosenbrock.final_distance < 1.0, "SGD still made progress along the valley");
}

#[test]
fn newton_solves_linear_regression_in_one_step() {
    use wengert_optim::second_order::StopReason;
    let s = newton_regression::run(true);
    let newton = &s.methods[0];
    assert_eq!(newton.name, "Newton");
    assert_eq!(newton.iterations, 1);
    assert_eq!(newton.stop, Some(StopReason::GradientTolerance));
    assert!(newton.error < 1e-10, "Newton vs normal equations: {}", newton.error);
    let qr_vs_normal = s.qr.iter().zip(&s.normal_equations).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(qr_vs_normal < 1e-10, "QR vs normal equations: {qr_vs_normal}");
    // the noisy data still identify the generating weights
    for (a, b) in s.normal_equations.iter().zip([2.0, -1.0, 0.5, 3.0, 1.0]) {
        assert!((a - b).abs() < 0.1, "{:?}", s.normal_equations);
    }
    assert!(s.condition_number > 100.0, "the features are scaled to make X^T X ill-conditioned");
    // first-order methods are still far from the solution: GD after 2,000 iterations, SGD after 20 epochs
    for m in &s.methods[1..] {
        assert!(
            m.iterations > 100 && m.error > 1e3 * newton.error.max(1e-15),
            "{}: {} its, error {}",
            m.name,
            m.iterations,
            m.error
        );
    }
    assert_eq!(s.methods[1].stop, Some(StopReason::MaxIterations));
}

#[test]
fn curve_fit_levenberg_marquardt_recovers_every_model_from_both_starts() {
    use curve_fit::{Method, Model};
    let s = curve_fit::run(true);
    assert_eq!(s.fits.len(), 18);
    for model in Model::ALL {
        for poor in [false, true] {
            for method in [Method::Levenberg, Method::LevenbergMarquardt] {
                let f = s.get(model, poor, method);
                assert!(f.recovered, "{model:?} poor={poor} {method:?}: {:?} ({})", f.params, f.outcome);
                // at the fit the residual is the noise: ||r|| ~ 0.01 sqrt(m) with m = 40 or 50 points
                assert!(f.residual_norm > 0.04 && f.residual_norm < 0.1, "{model:?}: ||r|| = {}", f.residual_norm);
            }
            if !poor {
                let gn = s.get(model, false, Method::GaussNewton);
                assert!(gn.recovered && gn.iterations.unwrap() <= 10, "{model:?}: {gn:?}");
            }
        }
    }
    // Gauss-Newton from the poor starts of the exponential decay and the Gaussian does not reach the data
    for model in [Model::ExponentialDecay, Model::GaussianPeak] {
        let gn = s.get(model, true, Method::GaussNewton);
        assert!(!gn.recovered && (gn.residual_norm.is_nan() || gn.residual_norm >= 1.0), "{model:?}: {gn:?}");
    }
    // every method that recovers a model reaches the same least-squares fit, parameter by parameter with its sign
    // (the Gaussian is even in its width s = p[2] alone), to the accuracy the stopping rules give (grad_tol 1e-8,
    // step_tol 1e-12: measured worst 7e-10 relative)
    for model in Model::ALL {
        let lm = &s.get(model, false, Method::LevenbergMarquardt).params;
        for f in s.fits.iter().filter(|f| f.model == model && f.recovered) {
            for (i, (a, b)) in f.params.iter().zip(lm).enumerate() {
                let (a, b) = if model == Model::GaussianPeak && i == 2 { (a.abs(), b.abs()) } else { (*a, *b) };
                let rel = (a - b).abs() / b.abs().max(1.0);
                assert!(rel < 1e-8, "{model:?} {:?}: {:?} vs {lm:?} ({rel:e})", f.method, f.params);
            }
        }
    }
}

/// The anchor's closed-form gradient (`scipy_second_order.py`, `fg`):
/// `G = [X^T (P - Y) / n + lambda W; sum_i (P - Y)_i / n]` with `P = softmax(X W + b)`.
fn logreg_gradient(w: &[f64], x: &[f64], labels: &[usize]) -> Vec<f64> {
    let (n, d, k) = (labels.len(), 64, 10);
    let mut g = vec![0.0; (d + 1) * k];
    for (i, &y) in labels.iter().enumerate() {
        let z: Vec<f64> =
            (0..k).map(|c| w[d * k + c] + (0..d).map(|j| x[i * d + j] * w[j * k + c]).sum::<f64>()).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        for c in 0..k {
            let r = (e[c] / s - if c == y { 1.0 } else { 0.0 }) / n as f64;
            for j in 0..d {
                g[j * k + c] += x[i * d + j] * r;
            }
            g[d * k + c] += r;
        }
    }
    for (j, gj) in g.iter_mut().enumerate().take(d * k) {
        *gj += second_order::LAMBDA * w[j];
    }
    g
}

#[test]
fn second_order_example_minimises_the_anchors_function() {
    use rand::{Rng, SeedableRng};
    use wengert_optim::objective::{Objective, TapeObjective};
    let (x, labels) = second_order::data();
    assert_eq!((x.shape(), labels.len()), (&[1797, 64][..], 1797));
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let w: Vec<f64> = (0..650).map(|_| rng.random_range(-0.5..0.5)).collect();
    let (xc, lc) = (x.clone(), labels.clone());
    let mut f = TapeObjective::new(move |v| second_order::loss(v, &xc, &lc));
    let mut g = vec![0.0; 650];
    f.value_grad(&w, &mut g);
    let expected = logreg_gradient(&w, x.as_slice(), &labels);
    for (a, b) in g.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn second_order_methods_beat_first_order_per_iteration_on_digits() {
    use second_order::Method;
    let s = second_order::run(true);
    assert_eq!(s.runs.iter().map(|r| r.method).collect::<Vec<_>>(), Method::ALL);
    let ln10 = 10f64.ln();
    for r in &s.runs {
        // the zero start gives a uniform softmax: f(0) = ln 10
        assert!((r.trace[0].1 - ln10).abs() < 1e-12, "{:?}", r.method);
        assert!(r.loss < 0.7 && r.accuracy > 0.9, "{:?}: loss {}, accuracy {}", r.method, r.loss, r.accuracy);
        let uses_hvp = matches!(r.method, Method::NewtonCg | Method::TrustNcg);
        assert_eq!(r.counts.hvp > 0, uses_hvp, "{:?}", r.method);
    }
    let loss = |m: Method| s.runs.iter().find(|r| r.method == m).unwrap().loss;
    // same 20-iteration budget: L-BFGS is ahead of gradient descent; 3 Newton-CG iterations are too
    assert!(loss(Method::Lbfgs) < loss(Method::GradientDescent));
    assert!(loss(Method::NewtonCg) < loss(Method::GradientDescent));
}
