//! The checks must fail, and point at the right entry, for deliberately wrong rules.

use wengert_autodiff::gradcheck::{gradcheck, hvp_check, Check, CheckMode, GradCheckConfig, Position};
use wengert_autodiff::{kernels, AutodiffError, InputGrads, Op, Result, Tensor, Var};

/// `y = x^3` with a wrong rule: `2 x^2` instead of `3 x^2`.
struct WrongCube;
impl Op<f64> for WrongCube {
    fn name(&self) -> &'static str {
        "wrong_cube"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
        Ok(kernels::map(x[0], |v| v * v * v))
    }
    fn backward<'t>(&self, x: &[Var<'t, f64>], _: Var<'t, f64>, g: Var<'t, f64>, _: &[bool]) -> InputGrads<'t, f64> {
        [Some(g * x[0].square() * 2.0)].into_iter().collect()
    }
}

/// `y = x^3` with a first-order-correct rule that breaks second order: the factor
/// `3 x^2` enters as a constant, so the recorded gradient does not depend on `x`.
struct ConstantRuleCube;
impl Op<f64> for ConstantRuleCube {
    fn name(&self) -> &'static str {
        "constant_rule_cube"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
        Ok(kernels::map(x[0], |v| v * v * v))
    }
    fn backward<'t>(&self, x: &[Var<'t, f64>], _: Var<'t, f64>, g: Var<'t, f64>, _: &[bool]) -> InputGrads<'t, f64> {
        let d = kernels::map(&x[0].value(), |v| 3.0 * v * v);
        [Some(g * g.constant_like(d))].into_iter().collect()
    }
}

/// `y = a * b` (same shapes) with a wrong rule for `b` only: `db = g * a * 1.1`.
struct WrongMulRhs;
impl Op<f64> for WrongMulRhs {
    fn name(&self) -> &'static str {
        "wrong_mul_rhs"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
        kernels::zip("wrong_mul_rhs", x[0], x[1], |a, b| a * b)
    }
    fn backward<'t>(&self, x: &[Var<'t, f64>], _: Var<'t, f64>, g: Var<'t, f64>, _: &[bool]) -> InputGrads<'t, f64> {
        [Some(g * x[1]), Some(g * x[0] * 1.1)].into_iter().collect()
    }
}

fn argmax_abs(t: &Tensor<f64>) -> usize {
    let s = t.as_slice();
    (0..s.len()).max_by(|&i, &j| s[i].abs().total_cmp(&s[j].abs())).unwrap()
}

fn x4() -> Tensor<f64> {
    Tensor::from_vec(vec![0.5, -1.7, 1.2, 0.9], &[4])
}

#[test]
fn gradcheck_fails_on_a_wrong_rule_and_reports_the_worst_entry() {
    let x = x4();
    let err = gradcheck(
        |v| v[0].tape().apply(WrongCube, &[v[0]]).unwrap().sum(),
        std::slice::from_ref(&x),
        &GradCheckConfig::default(),
    )
    .unwrap_err();
    // error = |2x^2 - 3x^2| = x^2, tolerance = atol + rtol 3x^2: the ratio grows with |x|.
    let k = argmax_abs(&x);
    assert_eq!(k, 1);
    match err {
        AutodiffError::GradCheck { check, input, at, analytic, numeric, error, tolerance } => {
            let xk = x.as_slice()[k];
            // A scalar output: the output index is empty, the input entry is [k].
            let want = Position::Jacobian { output: vec![], entry: vec![k] };
            assert_eq!((check, input, at), (Check::Gradient, 0, want));
            assert!((analytic - 2.0 * xk * xk).abs() < 1e-12, "{analytic}");
            assert!((numeric - 3.0 * xk * xk).abs() < 1e-6, "{numeric}");
            assert!((error - (analytic - numeric).abs()).abs() < 1e-15 && error > tolerance);
        }
        e => panic!("expected a GradCheck error, got {e}"),
    }
}

#[test]
fn gradcheck_passes_with_a_loose_enough_tolerance() {
    // The same wrong rule passes when the tolerance admits an error of x^2 <= 2.89: so
    // the tolerance is really used.
    let cfg = GradCheckConfig { atol: 3.0, ..GradCheckConfig::default() };
    let r = gradcheck(|v| v[0].tape().apply(WrongCube, &[v[0]]).unwrap().sum(), &[x4()], &cfg).unwrap();
    assert!(r.worst_ratio < 1.0 && r.max_error > 2.8, "{r}");
}

#[test]
fn gradcheck_locates_a_wrong_rule_in_the_second_input_and_output_entry() {
    // Non-scalar output y = a * b: J_b = diag(a), wrong by 10%: worst where |a| is largest.
    let a = Tensor::from_vec(vec![0.3, -2.0, 1.0], &[3]);
    let b = Tensor::from_vec(vec![1.0, 0.5, -0.7], &[3]);
    let err =
        gradcheck(|v| v[0].tape().apply(WrongMulRhs, &[v[0], v[1]]).unwrap(), &[a, b], &GradCheckConfig::default())
            .unwrap_err();
    // Jacobian block of b: the worst is d y[1] / d b[1].
    let msg = err.to_string();
    assert!(msg.starts_with("gradient check failed at d output[1] / d input 1[1]: analytic"), "{msg}");
    match err {
        AutodiffError::GradCheck { check: Check::Gradient, input: 1, at, analytic, numeric, .. } => {
            assert_eq!(at, Position::Jacobian { output: vec![1], entry: vec![1] });
            assert!((analytic - (-2.2)).abs() < 1e-12 && (numeric - (-2.0)).abs() < 1e-6);
        }
        e => panic!("expected a gradient error on input 1, got {e}"),
    }
}

#[test]
fn projected_gradcheck_fails_on_a_wrong_rule() {
    let x = Tensor::from_vec((0..100).map(|i| 0.5 + (i as f64) / 50.0).collect(), &[100]);
    let cfg = GradCheckConfig::default();
    let err = gradcheck(|v| v[0].tape().apply(WrongCube, &[v[0]]).unwrap(), &[x], &cfg).unwrap_err();
    match err {
        AutodiffError::GradCheck { check: Check::Gradient, input: 0, at: Position::Direction(n), .. } => {
            assert!(n < cfg.projections)
        }
        e => panic!("expected a gradient error, got {e}"),
    }
}

#[test]
fn hvp_check_fails_on_a_rule_that_uses_a_constant_where_it_needs_a_var() {
    let x = x4();
    let cfg = GradCheckConfig::default();
    fn f<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        v[0].tape().apply(ConstantRuleCube, &[v[0]]).unwrap().sum()
    }
    // First order is right...
    let r = gradcheck(f, std::slice::from_ref(&x), &cfg).unwrap();
    assert_eq!((r.mode, r.checked), (CheckMode::Full, 4));
    // ...but the recorded gradient is constant in x, so H v = 0 instead of 6 x v.
    let err = hvp_check(f, std::slice::from_ref(&x), &cfg).unwrap_err();
    let k = argmax_abs(&x);
    match err {
        AutodiffError::GradCheck { check: Check::Hvp, input: 0, at, analytic, numeric, .. } => {
            // The worst entry is the diagonal one at the largest |x|.
            let e = vec![k];
            assert_eq!(at, Position::Hessian { grad_input: 0, grad_entry: e.clone(), entry: e });
            assert_eq!(analytic, 0.0);
            assert!((numeric - 6.0 * x.as_slice()[k]).abs() < 1e-6, "{numeric}");
        }
        e => panic!("expected an hvp error, got {e}"),
    }
}

#[test]
fn hvp_check_fails_in_projected_mode_and_for_non_scalar_outputs() {
    let x = Tensor::from_vec((0..80).map(|i| -1.0 + (i as f64) / 40.0).collect(), &[80]);
    let err = hvp_check(|v| v[0].tape().apply(ConstantRuleCube, &[v[0]]).unwrap(), &[x], &GradCheckConfig::default())
        .unwrap_err();
    let projected = matches!(err, AutodiffError::GradCheck { check: Check::Hvp, input: 0, at: Position::Direction(n), .. } if n < 8);
    assert!(projected, "{err}");
}

#[test]
fn passing_reports_count_what_was_compared() {
    // f(a, b) = a b^T (outer product), 2 + 3 inputs, 6 outputs: a full Jacobian of 30 entries.
    let a = Tensor::from_vec(vec![1.0, -2.0], &[2]);
    let b = Tensor::from_vec(vec![0.5, 3.0, -1.0], &[3]);
    let cfg = GradCheckConfig::default();
    let r = gradcheck(|v| v[0].outer(v[1]), &[a.clone(), b.clone()], &cfg).unwrap();
    assert_eq!((r.check, r.mode, r.checked), (Check::Gradient, CheckMode::Full, 30));
    assert!(r.worst_ratio < 1.0);
    // Second order over 5 input entries: 5 directions x 5 entries of H v.
    let r = hvp_check(|v| v[0].outer(v[1]), &[a, b], &cfg).unwrap();
    assert_eq!((r.check, r.checked), (Check::Hvp, 25));
    assert!(r.to_string().contains("hvp check passed"), "{r}");
}

#[test]
fn no_inputs_is_an_invalid_argument() {
    let err = gradcheck(|v| v[0], &[], &GradCheckConfig::default()).unwrap_err();
    assert!(matches!(err, AutodiffError::InvalidArgument { .. }), "{err}");
}
