//! Literal cases for the functional API, with the math in comments.

use wengert_autodiff::functional::{self, HessianOperator, Linearization};
use wengert_autodiff::{Float, Tape, Tensor, Var};

fn close(a: &Tensor<f64>, b: &[f64], tol: f64) {
    assert_eq!(a.numel(), b.len(), "sizes differ: {a} vs {b:?}");
    for (i, (x, y)) in a.as_slice().iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "entry {i}: {x} vs {y} (all: {a} vs {b:?})");
    }
}

fn cube_grad_at_two<T: Float>() -> T {
    // d/dx x^3 = 3x^2 = 12 at x = 2
    functional::grad(|x| x * x * x, &Tensor::scalar(T::from_f64(2.0))).item()
}

#[test]
fn grad_of_cube_in_f32_and_f64() {
    assert_eq!(cube_grad_at_two::<f32>(), 12.0);
    assert_eq!(cube_grad_at_two::<f64>(), 12.0);
}

#[test]
fn value_and_grad_and_off_path_argument() {
    // f(a, b) = sum a^2 (b unused): value |a|^2, df/da = 2a, df/db = 0 (dense zeros)
    let a = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]);
    let b = Tensor::from_vec(vec![5.0, 6.0], &[2]);
    let (v, g) = functional::value_and_grad_many(|x| x[0].square().sum(), &[a, b]);
    assert_eq!(v, 14.0);
    assert_eq!(g[0].to_vec(), vec![2.0, -4.0, 6.0]);
    assert_eq!(g[1].to_vec(), vec![0.0, 0.0]);
}

/// `0.5 xᵀ A x` for the 3x3 matrix `A` below.
fn quadratic<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
    let a = x.constant_like(Tensor::from_vec(vec![4.0, 1.0, -2.0, 1.0, 3.0, 0.0, -2.0, 0.0, 5.0], &[3, 3]));
    let x = x.reshape(&[3, 1]);
    x.matmul_t(a.matmul(x), true, false).sum() * 0.5
}

#[test]
fn hvp_of_quadratic_is_a_times_v_exactly() {
    // f(x) = 0.5 xᵀ A x with A symmetric: ∇f = A x, H = A, so H v = A v for every x and v.
    let x = Tensor::from_vec(vec![0.3, -1.7, 2.2], &[3]);
    let v = Tensor::from_vec(vec![1.0, 2.0, -1.0], &[3]);
    // A v = [4 + 2 + 2, 1 + 6 + 0, -2 + 0 - 5] = [8, 7, -7]
    assert_eq!(functional::hvp(quadratic, &x, &v).to_vec(), vec![8.0, 7.0, -7.0]);
    let op = HessianOperator::new(quadratic, &x);
    assert_eq!(op.apply(&v).to_vec(), vec![8.0, 7.0, -7.0]);
    assert_eq!(op.to_dense().to_vec(), vec![4.0, 1.0, -2.0, 1.0, 3.0, 0.0, -2.0, 0.0, 5.0]);
    // ∇f(x) = A x
    close(op.gradient(), &[4.0 * 0.3 - 1.7 - 4.4, 0.3 - 5.1, -0.6 + 11.0], 1e-14);
}

#[test]
fn hessian_operator_does_not_grow_its_tape() {
    // Conjugate gradient calls apply many times at one point; memory must stay flat.
    let x = Tensor::from_vec(vec![0.5, -0.25, 1.0], &[3]);
    let op = HessianOperator::new(|x| (x.tanh() * x.exp()).sum() + x.square().sum(), &x);
    let len = op.tape_len();
    let v = Tensor::from_vec(vec![1.0, 1.0, 1.0], &[3]);
    let first = op.apply(&v);
    for _ in 0..50 {
        assert_eq!(op.apply(&v), first);
    }
    assert_eq!(op.tape_len(), len);
    assert_eq!(op.dim(), 3);
}

#[test]
fn hessian_of_a_known_function() {
    // f(x, y) = x^2 y + sin(x y):
    //   f_xx = 2y - y^2 sin(xy), f_xy = 2x + cos(xy) - xy sin(xy), f_yy = -x^2 sin(xy)
    let (x, y) = (0.7_f64, -1.3_f64);
    let h = functional::hessian(
        |v| {
            let (x, y) = (v.slice(0, 0..1), v.slice(0, 1..2));
            (x.square() * y + (x * y).sin()).sum()
        },
        &Tensor::from_vec(vec![x, y], &[2]),
    );
    let s = (x * y).sin();
    let fxy = 2.0 * x + (x * y).cos() - x * y * s;
    close(&h, &[2.0 * y - y * y * s, fxy, fxy, -x * x * s], 1e-14);
}

/// `g(x0, x1, x2) = [x0 x1, sin x2, x0 + x2^2]`: R^3 -> R^3.
fn map3<'t>(v: Var<'t, f64>) -> Var<'t, f64> {
    let (a, b, c) = (v.slice(0, 0..1), v.slice(0, 1..2), v.slice(0, 2..3));
    wengert_autodiff::concat(&[a * b, c.sin(), a + c.square()], 0)
}

#[test]
fn jacobian_of_a_known_map_by_rows_and_by_columns() {
    // J = [[x1, x0, 0], [0, 0, cos x2], [1, 0, 2 x2]]
    let x = Tensor::from_vec(vec![2.0, -3.0, 0.5], &[3]);
    let expected = [-3.0, 2.0, 0.0, 0.0, 0.0, 0.5f64.cos(), 1.0, 0.0, 1.0];
    let lin = Linearization::new(map3, &x);
    close(&lin.jacobian_by_rows(), &expected, 1e-15);
    close(&lin.jacobian_by_columns(), &expected, 1e-15);
    let j = functional::jacobian(map3, &x);
    assert_eq!(j.shape(), &[3, 3]);
    close(&j, &expected, 1e-15);
}

#[test]
fn jacobian_of_wide_and_tall_maps() {
    // Wide (m = 1 < n = 3), built by rows: f(x) = [sum x^2], J = 2 xᵀ.
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    let j = functional::jacobian(|v| v.square().sum().reshape(&[1]), &x);
    assert_eq!((j.shape(), j.to_vec()), (&[1usize, 3][..], vec![2.0, 4.0, 6.0]));
    // Tall (m = 4 > n = 2), built by columns: f(x) = outer(x, [1, 2]) flattened row-major,
    // f = [x0, 2 x0, x1, 2 x1], so J = [[1, 0], [2, 0], [0, 1], [0, 2]].
    let x = Tensor::from_vec(vec![5.0, -1.0], &[2]);
    let j = functional::jacobian(|v| v.outer(v.constant_like(Tensor::from_vec(vec![1.0, 2.0], &[2]))).flatten(), &x);
    assert_eq!(j.shape(), &[4, 2]);
    assert_eq!(j.to_vec(), vec![1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 2.0]);
}

#[test]
fn jvp_equals_finite_differences() {
    // J t ≈ (f(x + h t) - f(x - h t)) / 2h, error O(h^2)
    let x = Tensor::from_vec(vec![0.4, -0.9, 1.1], &[3]);
    let t = Tensor::from_vec(vec![0.3, 1.0, -0.5], &[3]);
    let (y, jt) = functional::jvp(map3, &x, &t);
    let h = 1e-5;
    let shift = |s: f64| {
        let xs: Vec<f64> = x.as_slice().iter().zip(t.as_slice()).map(|(a, b)| a + s * b).collect();
        let tape = Tape::new();
        map3(tape.constant(Tensor::from_vec(xs, &[3]))).value()
    };
    let (fp, fm) = (shift(h), shift(-h));
    let fd: Vec<f64> = fp.as_slice().iter().zip(fm.as_slice()).map(|(a, b)| (a - b) / (2.0 * h)).collect();
    close(&jt, &fd, 1e-9);
    // and y is f(x)
    close(&y, &[0.4 * -0.9, 1.1f64.sin(), 0.4 + 1.21], 1e-15);
    // Linearity in t: J (2t) = 2 J t, and J t agrees with the dense Jacobian.
    let (_, jt2) = functional::jvp(map3, &x, &Tensor::from_vec(t.as_slice().iter().map(|v| 2.0 * v).collect(), &[3]));
    close(&jt2, &jt.as_slice().iter().map(|v| 2.0 * v).collect::<Vec<_>>(), 1e-15);
}

#[test]
fn jvp_many_and_vjp_agree_by_duality() {
    // <u, J t> = <Jᵀ u, t> for every u, t
    let xs = [Tensor::from_vec(vec![0.5, 1.5], &[2]), Tensor::from_vec(vec![-1.0, 2.0, 0.3], &[3])];
    let ts = [Tensor::from_vec(vec![1.0, -2.0], &[2]), Tensor::from_vec(vec![0.5, 0.25, -1.0], &[3])];
    let u = Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5, 3.0, -2.0], &[2, 3]);
    let (_, jt) = functional::jvp_many(|x| (x[0].reshape(&[2, 1]) * x[1].exp()).tanh(), &xs, &ts);
    let (_, vj) = functional::vjp_many(|x| (x[0].reshape(&[2, 1]) * x[1].exp()).tanh(), &xs, &u);
    let lhs: f64 = u.as_slice().iter().zip(jt.as_slice()).map(|(a, b)| a * b).sum();
    let rhs: f64 =
        vj.iter().zip(&ts).map(|(g, t)| g.as_slice().iter().zip(t.as_slice()).map(|(a, b)| a * b).sum::<f64>()).sum();
    assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
}

#[test]
fn jvp_of_a_function_not_depending_on_x_is_zero() {
    // f(x) = c: J = 0
    let (y, jt) =
        functional::jvp(|x| x.constant_like(Tensor::ones(&[2])), &Tensor::scalar(1.0_f64), &Tensor::scalar(1.0));
    assert_eq!((y.to_vec(), jt.to_vec()), (vec![1.0, 1.0], vec![0.0, 0.0]));
}

#[test]
fn third_derivative_by_nested_grad_graph() {
    // f(x) = e^(2x) sin x; with D = d/dx: f''' = e^(2x) (2 sin x + 11 cos x)
    // (f' = e^(2x)(2 sin + cos), f'' = e^(2x)(3 sin + 4 cos), f''' = e^(2x)(2 sin + 11 cos))
    let x0 = 0.6_f64;
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(x0));
    let f = (x * 2.0).exp() * x.sin();
    let d1 = tape.grad_graph(f, &[x]).get(0).unwrap();
    let d2 = tape.grad_graph(d1, &[x]).get(0).unwrap();
    let d3 = tape.grad(d2, &[x]).value(0).item();
    let e = (2.0 * x0).exp();
    assert!((d1.item() - e * (2.0 * x0.sin() + x0.cos())).abs() < 1e-12);
    assert!((d2.item() - e * (3.0 * x0.sin() + 4.0 * x0.cos())).abs() < 1e-12);
    assert!((d3 - e * (2.0 * x0.sin() + 11.0 * x0.cos())).abs() < 1e-12, "{d3}");
}

#[test]
fn hvp_many_is_the_joint_hessian() {
    // f(a, b) = sum a^2 b over a, b in R^2: H = [[2b, 2a], [2a, 0]] blockwise diagonal per entry.
    // H [va; vb] = [2 b va + 2 a vb, 2 a va]
    let a = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    let b = Tensor::from_vec(vec![3.0, -1.0], &[2]);
    let va = Tensor::from_vec(vec![1.0, 1.0], &[2]);
    let vb = Tensor::from_vec(vec![2.0, 0.5], &[2]);
    let hv = functional::hvp_many(|x| (x[0].square() * x[1]).sum(), &[a, b], &[va, vb]);
    assert_eq!(hv[0].to_vec(), vec![2.0 * 3.0 + 2.0 * 2.0, -2.0 + 2.0 * 2.0 * 0.5]);
    assert_eq!(hv[1].to_vec(), vec![2.0, 4.0]);
}

#[test]
#[should_panic(expected = "must return a scalar")]
fn grad_of_non_scalar_panics_with_a_message() {
    functional::grad(|x| x * 2.0, &Tensor::from_vec(vec![1.0_f64, 2.0], &[2]));
}

/// `y = x^3` with only a reverse rule: forward mode falls back to the double-vjp construction.
struct CubeWithoutJvp;

impl wengert_autodiff::Op<f64> for CubeWithoutJvp {
    fn name(&self) -> &'static str {
        "cube_without_jvp"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> wengert_autodiff::Result<Tensor<f64>> {
        Ok(wengert_autodiff::kernels::map(x[0], |v| v * v * v))
    }
    fn backward<'t>(
        &self,
        x: &[Var<'t, f64>],
        _: Var<'t, f64>,
        g: Var<'t, f64>,
        _: &[bool],
    ) -> wengert_autodiff::InputGrads<'t, f64> {
        [Some(g * x[0] * x[0] * 3.0)].into_iter().collect()
    }
}

fn cube_op<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
    x.tape().apply(CubeWithoutJvp, &[x]).unwrap()
}

#[test]
fn an_op_without_a_jvp_rule_falls_back_to_double_vjp_at_orders_1_and_2() {
    // f(x) = x^3: J t = 3 x^2 t; for sum x^3, H = diag(6 x)
    let x = Tensor::from_vec(vec![1.0, -2.0], &[2]);
    let t = Tensor::from_vec(vec![0.5, 1.0], &[2]);
    assert_eq!(functional::jvp(cube_op, &x, &t).1.to_vec(), vec![1.5, 12.0]);
    for mode in [functional::HvpMode::ForwardOverReverse, functional::HvpMode::ReverseOverForward] {
        let hv = functional::hvp_many_with(
            mode,
            |x| cube_op(x[0]).sum(),
            std::slice::from_ref(&x),
            std::slice::from_ref(&t),
        );
        assert_eq!(hv[0].to_vec(), vec![3.0, -12.0], "{mode:?}");
    }
    let tape = Tape::new();
    let xv = tape.dual(x.clone(), t.clone());
    let _ = cube_op(xv);
    assert_eq!(tape.ops_without_jvp(), vec!["cube_without_jvp"]);
    let tape = Tape::new();
    let xv = tape.dual(x, t);
    let _ = xv * xv * xv;
    assert!(tape.ops_without_jvp().is_empty());
}

#[test]
fn forward_mode_keeps_no_reverse_tape() {
    // A 3-layer tanh chain: the forward-mode run records no op; the reverse-ready run records all of them.
    fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
        let w = x.constant_like(Tensor::from_vec((0..16).map(|i| (i as f64 * 0.37).sin()).collect(), &[4, 4]));
        let h = w.matmul(x.reshape(&[4, 1])).tanh();
        let h = w.matmul(h).tanh();
        w.matmul(h).tanh().sum()
    }
    let x = Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.4], &[4]);
    let t = Tensor::from_vec(vec![1.0, 0.0, -1.0, 2.0], &[4]);
    let tape = Tape::new();
    let y = f(tape.dual(x.clone(), t.clone()));
    assert_eq!(tape.recorded_ops(), 0);
    let jt = y.tangent().unwrap().item();
    // <∇f, t> by reverse mode
    let g = functional::grad(f, &x);
    let expect: f64 = g.as_slice().iter().zip(t.as_slice()).map(|(a, b)| a * b).sum();
    assert!((jt - expect).abs() < 1e-14, "{jt} vs {expect}");
    let tape = Tape::new();
    let _ = f(tape.var(x));
    assert!(tape.recorded_ops() >= 7);
}

#[test]
fn the_three_hvp_modes_agree_and_hessian_operator_modes_too() {
    use functional::HvpMode::*;
    fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
        (x.tanh() * x.exp()).sum() + (x.sin() * x.slice(0, 0..1)).sum()
    }
    let x = Tensor::from_vec(vec![0.3, -0.7, 1.1], &[3]);
    let v = Tensor::from_vec(vec![1.0, 2.0, -0.5], &[3]);
    let hv: Vec<_> = [ForwardOverReverse, ReverseOverForward, ReverseOverReverse]
        .into_iter()
        .map(|m| {
            functional::hvp_many_with(m, |x| f(x[0]), std::slice::from_ref(&x), std::slice::from_ref(&v)).remove(0)
        })
        .collect();
    let ops: Vec<_> = [ForwardOverReverse, ReverseOverForward, ReverseOverReverse]
        .into_iter()
        .map(|m| HessianOperator::with_mode(m, f, &x).apply(&v))
        .collect();
    for h in hv.iter().chain(&ops) {
        close(h, &hv[2].to_vec(), 1e-13);
    }
}
