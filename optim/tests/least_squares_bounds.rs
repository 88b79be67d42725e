//! Levenberg-Marquardt with bounds (`levenberg_marquardt::minimize_bounded`) against scipy's bounded least
//! squares. The reference solutions, costs and active masks were typed in from the output of
//! `tests/scripts/least_squares_bounds_reference.py` (scipy `least_squares`, `method='trf'` and `'dogbox'`
//! agreeing, tolerances 1e-15); each problem here is written as in that script.

use wengert_autodiff::{Tensor, Var};
use wengert_optim::objective::TapeLeastSquares;
use wengert_optim::second_order::lbfgsb::{ActiveBound, Bounds};
use wengert_optim::second_order::levenberg_marquardt::{self, LmConfig, LmInfo};
use wengert_optim::second_order::{OptimError, Report, StopReason};

use ActiveBound::{Free, Lower, Upper};

const INF: f64 = f64::INFINITY;

fn check(name: &str, r: &Report<f64, LmInfo<f64>>, x: &[f64], cost: f64, active: &[ActiveBound], bounds: &Bounds<f64>) {
    for (i, (&a, &b)) in r.x.iter().zip(x).enumerate() {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{name}: x[{i}] = {a} vs scipy {b}: {r:?}");
        assert!(a >= bounds.lower()[i] && a <= bounds.upper()[i], "{name}: x[{i}] = {a} outside the box");
    }
    assert!((r.f - cost).abs() <= 1e-12 * cost, "{name}: cost {} vs scipy {cost}", r.f);
    assert_eq!(r.info.active, active, "{name}: {r:?}");
    assert_ne!(r.stop, StopReason::NonFinite, "{name}");
    assert_ne!(r.stop, StopReason::MaxIterations, "{name}");
}

/// `r = (10 (x1 - x0^2), 1 - x0)` with `x0 <= 0.5`: the minimiser is on the bound, `(0.5, 0.25)`, cost 1/8.
#[test]
fn rosenbrock_with_an_upper_bound() {
    let bounds = Bounds::new(vec![-2.0, -1.0], vec![0.5, 2.0]).unwrap();
    for config in [LmConfig::default(), LmConfig::minpack(), LmConfig::levenberg()] {
        let mut p = TapeLeastSquares::new(|x: Var<'_, f64>| {
            let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
            wengert_autodiff::concat(&[(b - a * a) * 10.0, (1.0 - a)], 0)
        });
        let r = levenberg_marquardt::minimize_bounded(&mut p, &[-1.2, 1.0], &bounds, &config).unwrap();
        // scipy: x = [0.49999999999999994, 0.25], cost = 0.125, active_mask = [1, 0]
        check("rosenbrock", &r, &[0.49999999999999994, 0.25], 0.125, &[Upper, Free], &bounds);
    }
}

fn decay() -> TapeLeastSquares<f64, impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>> {
    let t: Vec<f64> = (0..12).map(|i| i as f64 * 0.5).collect();
    let y: Vec<f64> = t.iter().map(|&t| 3.0 * (-0.7 * t).exp() + 0.5 + 0.01 * (7.0 * t).sin()).collect();
    let (t, y) = (Tensor::from_vec(t, &[12]), Tensor::from_vec(y, &[12]));
    TapeLeastSquares::new(move |p: Var<'_, f64>| {
        let (a, b, c) = (p.slice(0, 0..1), p.slice(0, 1..2), p.slice(0, 2..3));
        a * (b * p.constant_like(t.clone())).neg().exp() + c - p.constant_like(y.clone())
    })
}

/// `y = a exp(-b t) + c` fitted to data of `3 exp(-0.7 t) + 0.5` (plus a small wiggle) with `b <= 0.55`,
/// `c <= 0.3`: both upper bounds active.
#[test]
fn exponential_decay_with_two_active_upper_bounds() {
    let bounds = Bounds::new(vec![0.0, 0.0, -INF], vec![INF, 0.55, 0.3]).unwrap();
    for config in [LmConfig::default(), LmConfig::minpack()] {
        let r = levenberg_marquardt::minimize_bounded(&mut decay(), &[1.0, 0.1, 0.0], &bounds, &config).unwrap();
        // scipy: x = [3.072195268790378, 0.5499999999999999, 0.29999999999999993], cost = 0.03675343068369851,
        // active_mask = [0, 1, 1]
        check("decay", &r, &[3.072195268790378, 0.55, 0.3], 0.03675343068369851, &[Free, Upper, Upper], &bounds);
    }
}

/// A linear problem `A x ~ b` on `[0, 1]^4` whose unconstrained solution leaves the box on both sides (a
/// bounded-variable least-squares problem with a unique solution).
#[test]
fn linear_least_squares_on_a_box() {
    let a: Vec<f64> = (0..8)
        .flat_map(|i| {
            (0..4).map(move |j| if (i + j) % 3 != 0 { 1.0 + (i + j) as f64 } else { 0.5 * (i as f64 - j as f64) })
        })
        .collect();
    let b = vec![4.0, -3.0, 7.0, 1.0, -6.0, 2.5, 30.0, -1.0];
    let (a, b) = (Tensor::from_vec(a, &[8, 4]), Tensor::from_vec(b, &[8]));
    let bounds = Bounds::new(vec![0.0; 4], vec![1.0; 4]).unwrap();
    let mut p = TapeLeastSquares::new(move |x: Var<'_, f64>| {
        x.constant_like(a.clone()).matmul(x.reshape(&[4, 1])).reshape(&[8]) - x.constant_like(b.clone())
    });
    let r = levenberg_marquardt::minimize_bounded(&mut p, &[0.5; 4], &bounds, &LmConfig::default()).unwrap();
    // scipy: x = [4.5e-23, 0.24188129899216126, 0.9999999999999999, 3.3e-23], cost = 277.84420492721165,
    // active_mask = [-1, 0, 1, -1]
    check(
        "linear",
        &r,
        &[0.0, 0.24188129899216126, 1.0, 0.0],
        277.84420492721165,
        &[Lower, Free, Upper, Lower],
        &bounds,
    );
}

/// An infeasible start is projected into the box; bounds of the wrong length are an error.
#[test]
fn an_infeasible_start_is_projected_and_wrong_bounds_are_errors() {
    let bounds = Bounds::new(vec![0.0, 0.0, -INF], vec![INF, 0.55, 0.3]).unwrap();
    let r = levenberg_marquardt::minimize_bounded(&mut decay(), &[-5.0, 2.0, 1.0], &bounds, &LmConfig::default());
    let r = r.unwrap();
    check(
        "decay from outside",
        &r,
        &[3.072195268790378, 0.55, 0.3],
        0.03675343068369851,
        &[Free, Upper, Upper],
        &bounds,
    );
    let short = Bounds::new(vec![0.0], vec![1.0]).unwrap();
    let e = levenberg_marquardt::minimize_bounded(&mut decay(), &[1.0, 0.1, 0.0], &short, &LmConfig::default());
    assert!(matches!(e, Err(OptimError::InvalidConfig(_))), "{e:?}");
}

/// Bounds that are not active change nothing: the bounded run equals the unbounded one.
#[test]
fn inactive_bounds_give_the_unbounded_fit() {
    let bounds = Bounds::new(vec![-100.0; 3], vec![100.0; 3]).unwrap();
    let free = levenberg_marquardt::minimize(&mut decay(), &[1.0, 0.1, 0.0], &LmConfig::default()).unwrap();
    let bounded =
        levenberg_marquardt::minimize_bounded(&mut decay(), &[1.0, 0.1, 0.0], &bounds, &LmConfig::default()).unwrap();
    for (a, b) in free.x.iter().zip(&bounded.x) {
        assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "{free:?} {bounded:?}");
    }
    assert_eq!(bounded.info.active, vec![Free; 3]);
}
