//! L-BFGS-B against scipy's bounded results (`scripts/lbfgsb_reference.py`, whose output is typed in below),
//! on problems whose solutions have active bounds.

use wengert_autodiff::{Float, Var};
use wengert_optim::objective::TapeObjective;
use wengert_optim::second_order::lbfgsb::{self, Bounds, LbfgsbConfig};
use wengert_optim::second_order::{lbfgs, OptimError, StopReason, Tolerances};

/// Chained Rosenbrock `sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`.
fn rosen<T: Float>(x: Var<'_, T>) -> Var<'_, T> {
    let n = x.numel();
    let (a, b) = (x.slice(0, 0..n - 1), x.slice(0, 1..n));
    ((b - a * a).square().mul_scalar(T::from_f64(100.0)) + (a.neg().add_scalar(T::ONE)).square()).sum()
}

/// `1/2 x^T A x - b^T x` with the 6x6 SPD `A` of the script (`A_ii = 4 + i`, `A_ij = 1 / (1 + i + j)`).
fn quad(x: Var<'_, f64>) -> Var<'_, f64> {
    let a: Vec<f64> = (0..36)
        .map(|k| (k / 6, k % 6))
        .map(|(i, j)| if i == j { 4.0 + i as f64 } else { 1.0 / (1.0 + (i + j) as f64) })
        .collect();
    let b = [3.0, -2.0, 8.0, 0.5, -4.0, 9.0];
    let tape = x.tape();
    let ax = tape.constant(wengert_autodiff::Tensor::from_vec(a, &[6, 6])).matmul(x.reshape(&[6, 1])).reshape(&[6]);
    let bt = tape.constant(wengert_autodiff::Tensor::from_vec(b.to_vec(), &[6]));
    ((x * ax).sum() * 0.5) - (bt * x).sum()
}

const INF: f64 = f64::INFINITY;

fn config() -> LbfgsbConfig {
    LbfgsbConfig { tol: Tolerances::default().with_grad_tol(1e-10), ..Default::default() }
}

fn check(
    name: &str,
    r: &wengert_optim::second_order::Report<f64, lbfgsb::LbfgsbInfo>,
    x: &[f64],
    f: f64,
    active: usize,
    x_tol: f64,
) {
    // at 1e-10 the projected gradient may be below what f64 can resolve on a flat valley: then the search
    // stops without progress, at a point as stationary as scipy's
    assert!(matches!(r.stop, StopReason::GradientTolerance | StopReason::NoProgress), "{name}: {r:?}");
    assert!(r.grad_norm <= 1e-6, "{name}: projected gradient {r:?}");
    assert!((r.f - f).abs() <= 1e-10 * f.abs().max(1.0), "{name}: f = {} vs scipy {f}", r.f);
    for (i, (a, b)) in r.x.iter().zip(x).enumerate() {
        assert!((a - b).abs() <= x_tol, "{name}: x[{i}] = {a} vs scipy {b}");
    }
    assert_eq!(r.info.active_bounds, active, "{name}: {r:?}");
}

#[test]
fn rosenbrock_2d_in_a_box_stops_on_the_bound() {
    // scipy: nit 20 nfev 30, x = [0.5, 0.25], f = 0.25
    let b = Bounds::new(vec![-2.0, -1.0], vec![0.5, 2.0]).unwrap();
    let r = lbfgsb::minimize(&mut TapeObjective::new(rosen::<f64>), &[-1.2, 1.0], &b, &config()).unwrap();
    check("rosen2_box", &r, &[0.5, 0.25], 0.25, 1, 1e-9);
    assert!(r.iterations <= 40, "{r:?}");
}

#[test]
fn chained_rosenbrock_10d_with_an_upper_bound_on_every_third_variable() {
    // scipy: nit 28 nfev 39
    let x = [
        0.8,
        0.6658864908492786,
        0.4603336474427147,
        0.2244329428558917,
        0.06099738576419333,
        0.01386221544308785,
        0.010297192710659979,
        0.010206050746901047,
        0.010004122321542578,
        0.00010008258357809833,
    ];
    let lower = vec![-1.0; 10];
    let upper: Vec<f64> = (0..10).map(|i| if i % 3 == 0 { 0.8 } else { 2.0 }).collect();
    let b = Bounds::new(lower, upper).unwrap();
    let r = lbfgsb::minimize(&mut TapeObjective::new(rosen::<f64>), &[0.0; 10], &b, &config()).unwrap();
    check("rosen10_box", &r, &x, 6.001016394606178, 1, 1e-6);
}

#[test]
fn rosenbrock_5d_with_one_sided_bounds_and_free_variables() {
    // scipy: nit 16 nfev 22
    let x = [1.5, 1.1600215062509052, 0.8765300239061915, 0.5, 0.2500000000128447];
    let b = Bounds::new(vec![1.5, -INF, -INF, -INF, -INF], vec![INF, INF, INF, 0.5, INF]).unwrap();
    let r = lbfgsb::minimize(&mut TapeObjective::new(rosen::<f64>), &[2.0; 5], &b, &config()).unwrap();
    check("rosen5_lower", &r, &x, 148.55225975711602, 2, 1e-7);
}

#[test]
fn quadratic_in_the_unit_box_with_bounds_active_on_both_sides() {
    // scipy: nit 8 nfev 9
    let x = [0.6254529390472786, 0.0, 1.0, 0.009814657288402442, 0.0, 0.9744074806805543];
    let b = Bounds::new(vec![0.0; 6], vec![1.0; 6]).unwrap();
    let r = lbfgsb::minimize(&mut TapeObjective::new(quad), &[0.5; 6], &b, &config()).unwrap();
    check("quad6_unit_box", &r, &x, -10.159506223547634, 3, 1e-7);
}

/// Without finite bounds L-BFGS-B is L-BFGS (a different line search and first step): same minimiser.
#[test]
fn without_bounds_it_finds_the_unconstrained_minimum() {
    let b = Bounds::unbounded(2);
    let r = lbfgsb::minimize(&mut TapeObjective::new(rosen::<f64>), &[-1.2, 1.0], &b, &config()).unwrap();
    check("rosen2_free", &r, &[1.0, 1.0], 0.0, 0, 1e-8);
    let plain = lbfgs::minimize(
        &mut TapeObjective::new(rosen::<f64>),
        &[-1.2, 1.0],
        &lbfgs::LbfgsConfig { tol: Tolerances::default().with_grad_tol(1e-10), ..Default::default() },
    )
    .unwrap();
    assert!(r.iterations <= plain.iterations + 10, "{} vs L-BFGS {}", r.iterations, plain.iterations);
}

/// An infeasible start is projected into the box first; every iterate stays feasible.
#[test]
fn iterates_stay_in_the_box_from_an_infeasible_start() {
    let b = Bounds::new(vec![-2.0, -1.0], vec![0.5, 2.0]).unwrap();
    let mut outside = 0;
    let r = lbfgsb::minimize_observed(&mut TapeObjective::new(rosen::<f64>), &[3.0, -5.0], &b, &config(), &mut |it| {
        outside += it.x.iter().zip([(-2.0, 0.5), (-1.0, 2.0)]).filter(|(x, (l, u))| **x < *l || **x > *u).count()
    })
    .unwrap();
    assert_eq!(outside, 0);
    check("rosen2_box_infeasible_start", &r, &[0.5, 0.25], 0.25, 1, 1e-9);
}

#[test]
fn bad_bounds_are_rejected() {
    assert!(matches!(Bounds::new(vec![1.0], vec![0.0]), Err(OptimError::InvalidConfig(_))));
    assert!(matches!(Bounds::new(vec![f64::NAN], vec![0.0]), Err(OptimError::InvalidConfig(_))));
    assert!(matches!(Bounds::<f64>::new(vec![0.0], vec![1.0, 2.0]), Err(OptimError::InvalidConfig(_))));
    let b = Bounds::new(vec![0.0], vec![1.0]).unwrap();
    let e = lbfgsb::minimize(&mut TapeObjective::new(rosen::<f64>), &[0.5, 0.5], &b, &config()).unwrap_err();
    assert!(matches!(e, OptimError::InvalidConfig(_)), "{e:?}");
}
