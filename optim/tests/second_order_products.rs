//! The products the second-order methods are built on, now on the tape's two primitives (`J v` by forward mode
//! through `functional::Linearization`, every `H v` through `functional::HessianOperator`), against the
//! products of the code they replaced (the double-vjp `J v`, a tangent sweep over a hand-recorded gradient
//! graph), against reverse over reverse, and against closed forms.

use wengert_autodiff::{Tape, Tensor, Var};
use wengert_nn::Param;
use wengert_optim::objective::{LeastSquares, ModelObjective, Objective, TapeLeastSquares, TapeObjective};

/// Residuals of shape `[2, 3]` from `x` of length 4, nonlinear in every entry.
fn residuals(x: Var<'_, f64>) -> Var<'_, f64> {
    let a = x.constant_like(Tensor::from_vec((0..12).map(|i| (i as f64 * 0.37).sin()).collect(), &[3, 4]));
    let lin = a.matmul(x.reshape(&[4, 1])).reshape(&[3]);
    wengert_autodiff::concat(&[lin.sin() * x.slice(0, 0..3), lin.exp() - x.slice(0, 1..4).square()], 0).reshape(&[2, 3])
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

const X: [f64; 4] = [0.3, -0.7, 1.1, 0.4];

fn vectors(n: usize) -> Vec<Vec<f64>> {
    (0..4).map(|k| (0..n).map(|i| ((i * 3 + k * 5) as f64 * 0.61).cos()).collect()).collect()
}

/// `J v` the way it was computed before: `g(u) = J^T u` recorded with `u` a variable, `J v = d/du <g(u), v>`.
fn double_vjp(x: &[f64], v: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let xv = tape.var(Tensor::from_vec(x.to_vec(), &[x.len()]));
    let r = residuals(xv);
    let u = tape.var(Tensor::zeros(r.shape().as_slice()));
    let g = tape.vjp(r, &[xv], u, true).unwrap().get(0).unwrap();
    let s = (g * tape.constant(Tensor::from_vec(v.to_vec(), &[v.len()]))).sum();
    tape.grad(s, &[u]).value(0).into_vec()
}

#[test]
fn forward_mode_jv_equals_the_double_vjp_product_and_the_dense_jacobian() {
    let mut p = TapeLeastSquares::new(residuals);
    p.with_jacobian(&X, |r, j| {
        assert_eq!((j.rows(), j.cols(), r.len()), (6, 4, 6));
        // J by rows from J^T e_i (reverse mode), independent of J v
        let rows: Vec<Vec<f64>> = (0..6)
            .map(|i| {
                let mut e = vec![0.0; 6];
                e[i] = 1.0;
                let mut row = vec![0.0; 4];
                j.jtu(&e, &mut row);
                row
            })
            .collect();
        for v in vectors(4) {
            let mut jv = vec![0.0; 6];
            j.jv(&v, &mut jv);
            let old = double_vjp(&X, &v);
            assert!(max_diff(&jv, &old) <= 1e-14, "{jv:?} vs double vjp {old:?}");
            let dense: Vec<f64> = rows.iter().map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum()).collect();
            assert!(max_diff(&jv, &dense) <= 1e-14, "{jv:?} vs rows of J {dense:?}");
        }
    });
}

/// `H v` the way `TapeObjective` computed it before: the gradient graph recorded by hand, then one tangent sweep.
fn old_hvp(f: impl Fn(Var<'_, f64>) -> Var<'_, f64>, x: &[f64], v: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let xv = tape.var(Tensor::from_vec(x.to_vec(), &[x.len()]));
    let y = f(xv);
    let g = tape.grad_graph(y, &[xv]).get(0).unwrap();
    let t = tape.constant(Tensor::from_vec(v.to_vec(), &[v.len()]));
    tape.jvp(&[g], &[xv], &[t], false).unwrap().value(0).into_vec()
}

/// The same by reverse over reverse: `grad <g(x), v>`.
fn reverse_over_reverse(f: impl Fn(Var<'_, f64>) -> Var<'_, f64>, x: &[f64], v: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let xv = tape.var(Tensor::from_vec(x.to_vec(), &[x.len()]));
    let g = tape.grad_graph(f(xv), &[xv]).get(0).unwrap();
    let s = (g * tape.constant(Tensor::from_vec(v.to_vec(), &[v.len()]))).sum();
    tape.grad(s, &[xv]).value(0).into_vec()
}

fn half_sum_of_squares(x: Var<'_, f64>) -> Var<'_, f64> {
    residuals(x).square().sum() * 0.5
}

#[test]
fn objective_hessian_products_equal_the_old_ones_and_reverse_over_reverse() {
    let mut f = TapeObjective::new(half_sum_of_squares);
    let mut g = vec![0.0; 4];
    let (_, products) = f.with_hessian(&X, &mut g, |_, h| {
        vectors(4)
            .into_iter()
            .map(|v| {
                let mut hv = vec![0.0; 4];
                h.apply(&v, &mut hv);
                (v, hv)
            })
            .collect::<Vec<_>>()
    });
    for (v, hv) in products {
        let old = old_hvp(half_sum_of_squares, &X, &v);
        assert!(max_diff(&hv, &old) <= 1e-13, "{hv:?} vs old {old:?}");
        let rr = reverse_over_reverse(half_sum_of_squares, &X, &v);
        assert!(max_diff(&hv, &rr) <= 1e-12, "{hv:?} vs reverse over reverse {rr:?}");
    }
}

/// `S v = sum_i r_i grad^2 r_i v` is `H v - J^T J v` for `H` the Hessian of `1/2 ||r||^2`.
#[test]
fn residual_hessian_is_the_hessian_minus_the_gauss_newton_part() {
    let mut p = TapeLeastSquares::new(residuals);
    let mut f = TapeObjective::new(half_sum_of_squares);
    let r = p.residuals(&X);
    let mut g = vec![0.0; 4];
    for v in vectors(4) {
        let sv = p
            .with_residual_hessian(&X, &r, |s| {
                let mut out = vec![0.0; 4];
                s.apply(&v, &mut out);
                out
            })
            .unwrap();
        let (_, hv) = f.with_hessian(&X, &mut g, |_, h| {
            let mut out = vec![0.0; 4];
            h.apply(&v, &mut out);
            out
        });
        let jtjv = p.with_jacobian(&X, |_, j| {
            let (mut jv, mut out) = (vec![0.0; 6], vec![0.0; 4]);
            j.jv(&v, &mut jv);
            j.jtu(&jv, &mut out);
            out
        });
        let expected: Vec<f64> = hv.iter().zip(&jtjv).map(|(a, b)| a - b).collect();
        assert!(max_diff(&sv, &expected) <= 1e-12, "{sv:?} vs {expected:?}");
    }
}

/// A model's loss Hessian, now over one flat parameter vector: for the mean squared error of `X w + b` it is the
/// constant `(2/n) [X 1]^T [X 1]`.
#[test]
fn model_objective_hessian_products_match_the_closed_form() {
    let xs = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 3.0]];
    let ys = [2.5, -0.5, 1.5, 5.5, -1.5];
    let mut model = vec![Param::new(Tensor::zeros(&[2, 1])), Param::new(Tensor::zeros(&[1]))];
    let (w, b) = (model[0].clone(), model[1].clone());
    let xt = Tensor::from_vec(xs.iter().flatten().copied().collect(), &[5, 2]);
    let yt = Tensor::from_vec(ys.to_vec(), &[5, 1]);
    let mut obj = ModelObjective::new(&mut model, move |p, _m: &Vec<Param<f64>>| {
        let tape = p.tape();
        let pred = tape.constant(xt.clone()).matmul(p.var(&w)) + p.var(&b);
        (pred - tape.constant(yt.clone())).square().mean()
    });
    let x = [0.3, -0.2, 0.1];
    let mut g = vec![0.0; 3];
    let (f, hvs) = obj.with_hessian(&x, &mut g, |_, h| {
        assert_eq!(h.dim(), 3);
        vectors(3)
            .into_iter()
            .map(|v| {
                let mut hv = vec![0.0; 3];
                h.apply(&v, &mut hv);
                (v, hv)
            })
            .collect::<Vec<_>>()
    });
    // f and g in closed form: e = X w + b - y, f = mean e^2, g = (2/n) [X 1]^T e
    let e: Vec<f64> = xs.iter().zip(&ys).map(|(r, y)| r[0] * x[0] + r[1] * x[1] + x[2] - y).collect();
    let rows: Vec<[f64; 3]> = xs.iter().map(|r| [r[0], r[1], 1.0]).collect();
    assert!((f - e.iter().map(|v| v * v).sum::<f64>() / 5.0).abs() <= 1e-14);
    for k in 0..3 {
        let gk = 2.0 / 5.0 * rows.iter().zip(&e).map(|(r, e)| r[k] * e).sum::<f64>();
        assert!((g[k] - gk).abs() <= 1e-14, "g[{k}] = {} vs {gk}", g[k]);
    }
    for (v, hv) in hvs {
        for k in 0..3 {
            let want = 2.0 / 5.0 * rows.iter().map(|r| r[k] * (r[0] * v[0] + r[1] * v[1] + r[2] * v[2])).sum::<f64>();
            assert!((hv[k] - want).abs() <= 1e-13, "(H v)[{k}] = {} vs {want}", hv[k]);
        }
    }
}
