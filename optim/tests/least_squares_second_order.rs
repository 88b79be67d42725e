//! The second-order term of least squares, `S = sum_i w_i grad^2 r_i`, from the tape against closed forms, and
//! the adaptive model of Levenberg-Marquardt against the Gauss-Newton model on a problem with large residuals.

use wengert_autodiff::{Tensor, Var};
use wengert_optim::objective::{Counted, LeastSquares, TapeLeastSquares};
use wengert_optim::second_order::levenberg_marquardt::{self, LmConfig};
use wengert_optim::second_order::StopReason;

/// `r = (x0^2 x1, sin x0 + x1^3)`.
fn residuals(x: Var<'_, f64>) -> Var<'_, f64> {
    let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
    wengert_autodiff::concat(&[a * a * b, a.sin() + b * b * b], 0)
}

#[test]
fn residual_hessian_matches_the_closed_form() {
    let (x0, x1) = (0.7_f64, -1.3_f64);
    let w = [2.0, -0.5];
    // grad^2 r_0 = [[2 x1, 2 x0], [2 x0, 0]], grad^2 r_1 = [[-sin x0, 0], [0, 6 x1]]
    let s = [[w[0] * 2.0 * x1 - w[1] * x0.sin(), w[0] * 2.0 * x0], [w[0] * 2.0 * x0, w[1] * 6.0 * x1]];
    let mut p = TapeLeastSquares::new(residuals);
    let mut counted = Counted::new(&mut p);
    let cols = counted
        .with_residual_hessian(&[x0, x1], &w, |h| {
            assert_eq!(h.dim(), 2);
            let mut cols = [[0.0; 2]; 2];
            for (j, col) in cols.iter_mut().enumerate() {
                let mut e = [0.0; 2];
                e[j] = 1.0;
                h.apply(&e, col);
            }
            cols
        })
        .expect("a tape problem gives S");
    for i in 0..2 {
        for j in 0..2 {
            assert!((cols[j][i] - s[i][j]).abs() <= 1e-14, "S[{i}][{j}] = {} vs {}", cols[j][i], s[i][j]);
        }
    }
    assert_eq!(counted.counts().hvp, 2);
}

/// Dennis & Schnabel's example of a large-residual problem (*Numerical Methods for Unconstrained Optimization
/// and Nonlinear Equations*, 1983, Example 10.2.5): `r_i = exp(x t_i) - y_i`, `t = (1, 2, 3)`, `y = (2, 4, -1)`.
/// Gauss-Newton converges only linearly there; Newton quadratically. The adaptive model reaches the minimiser
/// (gradient at rounding level) in fewer residual evaluations than the Gauss-Newton model alone.
#[test]
fn the_adaptive_model_beats_gauss_newton_when_residuals_are_large() {
    let make = || {
        TapeLeastSquares::new(move |x: Var<'_, f64>| {
            let t = x.constant_like(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
            let y = x.constant_like(Tensor::from_vec(vec![2.0, 4.0, -1.0], &[3]));
            (x * t).exp() - y
        })
    };
    let x0 = [1.0];
    let adaptive = levenberg_marquardt::minimize(&mut make(), &x0, &LmConfig::default()).unwrap();
    let gn = levenberg_marquardt::minimize(&mut make(), &x0, &LmConfig::minpack()).unwrap();
    assert!(adaptive.info.augmented_trials > 0, "{adaptive:?}");
    assert_eq!(gn.info.augmented_trials, 0);
    // the minimiser of sum (e^{x t_i} - y_i)^2: f'(x) = sum t_i e^{x t_i} (e^{x t_i} - y_i) = 0, by bisection
    let fp = |x: f64| {
        [(1.0, 2.0), (2.0, 4.0), (3.0, -1.0)].iter().map(|&(t, y)| t * (x * t).exp() * ((x * t).exp() - y)).sum::<f64>()
    };
    let (mut lo, mut hi) = (-2.0, 1.0);
    assert!(fp(lo) < 0.0 && fp(hi) > 0.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if fp(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let xs = 0.5 * (lo + hi);
    assert!((adaptive.x[0] - xs).abs() <= 1e-12 * xs.abs().max(1.0), "{} vs {xs}", adaptive.x[0]);
    assert!(
        adaptive.info.residual_evaluations < gn.info.residual_evaluations,
        "{} >= {}: {adaptive:?} {gn:?}",
        adaptive.info.residual_evaluations,
        gn.info.residual_evaluations
    );
    assert_ne!(adaptive.stop, StopReason::NonFinite);
}
