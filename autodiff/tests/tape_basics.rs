//! Literal cases with the math in comments: what a symmetric finite difference cannot catch.

use wengert_autodiff::{Tape, Tensor};

#[test]
fn cube_first_second_third_derivatives() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(2.0));
    let y = x * x * x; // y = x^3
    let d1 = tape.grad_graph(y, &[x]).get(0).unwrap(); // 3x^2 = 12
    let d2 = tape.grad_graph(d1, &[x]).get(0).unwrap(); // 6x = 12
    let d3 = tape.grad(d2, &[x]).value(0); // 6
    assert_eq!(d1.item(), 12.0);
    assert_eq!(d2.item(), 12.0);
    assert_eq!(d3.item(), 6.0);
}

#[test]
fn fan_out_accumulates_and_off_path_is_none() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let z = tape.var(Tensor::from_vec(vec![5.0], &[1]));
    let y = (x * x + x.exp() + x).sum(); // dy/dx = 2x + e^x + 1
    let g = tape.grad(y, &[x, z]);
    let gx = g.value(0).to_vec();
    assert!((gx[0] - (2.0 + 1f64.exp() + 1.0)).abs() < 1e-12);
    assert!((gx[1] - (4.0 + 2f64.exp() + 1.0)).abs() < 1e-12);
    assert!(g.get(1).is_none());
    assert_eq!(g.value(1).to_vec(), vec![0.0]);
}

#[test]
fn in_place_accumulation_leaves_a_shared_gradient_alone() {
    // f = sum(3a) + sum(a + b): the add hands one gradient node to both a and b; a then gets 3 more,
    // which must not be added into the node b holds. df/da = 4, df/db = 1.
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let b = tape.var(Tensor::from_vec(vec![3.0, 4.0], &[2]));
    let f = a.mul_scalar(3.0).sum() + (a + b).sum();
    let g = tape.grad(f, &[a, b]);
    assert_eq!(g.value(0).to_vec(), vec![4.0, 4.0]);
    assert_eq!(g.value(1).to_vec(), vec![1.0, 1.0]);
    // x * x gives both of its inputs the same node g x: d/dx (x^2 + x) = 2x + 1
    let x = tape.var(Tensor::from_vec(vec![1.0, -2.0], &[2]));
    assert_eq!(tape.grad((x * x).sum(), &[x]).value(0).to_vec(), vec![2.0, -4.0]);
    assert_eq!(tape.grad((x * x + x).sum(), &[x]).value(0).to_vec(), vec![3.0, -3.0]);
}

#[test]
fn gradient_wrt_intermediate() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(3.0));
    let h = x * 2.0; // h = 2x
    let y = h * h; // y = h^2, dy/dh = 2h = 12, dy/dx = 8x = 24
    let g = tape.grad(y, &[h, x]);
    assert_eq!(g.value(0).item(), 12.0);
    assert_eq!(g.value(1).item(), 24.0);
}

#[test]
fn broadcasting_gradients_reduce_to_input_shape() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::ones(&[2, 3]));
    let b = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    let y = (a * b).sum(); // dy/db_j = sum_i a_ij = 2
    let g = tape.grad(y, &[a, b]);
    assert_eq!(g.value(1).to_vec(), vec![2.0, 2.0, 2.0]);
    assert_eq!(g.value(0).to_vec(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
}

#[test]
fn softmax_is_stable_for_huge_logits() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::from_vec(vec![1e4, -1e4, 0.0], &[1, 3]));
    let lp = x.log_softmax(-1);
    let y = lp.pick(&[0]).sum();
    let g = tape.grad(y, &[x]).value(0);
    assert!(lp.value().all_finite() && g.all_finite());
    assert_eq!(g.to_vec(), vec![0.0, 0.0, 0.0]); // 1 - softmax_0 = 0, -softmax_j = 0
}

#[test]
fn shape_mismatch_names_op_and_shapes() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[4]));
    let e = a.try_add(b).unwrap_err();
    assert_eq!(e.to_string(), "add: shape mismatch between [2, 3] and [4]");
    let e = a.try_matmul(a).unwrap_err();
    assert_eq!(e.to_string(), "matmul: shape mismatch between [2, 3] and [2, 3]");
}

#[test]
fn anomaly_mode_names_the_first_bad_op() {
    let tape = Tape::<f64>::with_anomaly_detection();
    let x = tape.var(Tensor::from_vec(vec![-1.0, 1.0], &[2]));
    let y = x.log().sum(); // log(-1) = NaN: the op is `log`
    let e = tape.try_grad(y, &[x]).err().expect("anomaly reported");
    let msg = e.to_string();
    assert!(msg.contains("forward of `log`") && msg.contains("[[2]]") && msg.contains("tape_basics.rs"), "{msg}");
}

#[test]
fn tanh_derivatives_to_third_order() {
    // tanh's rule is a fused op (tanh_grad) with a rule of its own: check three levels exactly.
    // t = tanh x: d1 = 1 - t^2, d2 = -2 t (1 - t^2), d3 = (1 - t^2)(6 t^2 - 2)
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(0.5));
    let t = 0.5f64.tanh();
    let d1 = tape.grad_graph(x.tanh(), &[x]).get(0).unwrap();
    let d2 = tape.grad_graph(d1, &[x]).get(0).unwrap();
    let d3 = tape.grad(d2, &[x]).value(0).item();
    assert!((d1.item() - (1.0 - t * t)).abs() < 1e-15);
    assert!((d2.item() - (-2.0 * t * (1.0 - t * t))).abs() < 1e-15);
    assert!((d3 - (1.0 - t * t) * (6.0 * t * t - 2.0)).abs() < 1e-14);
}
