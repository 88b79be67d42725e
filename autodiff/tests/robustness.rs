//! Bad and edge-case input (issue 14): empty tensors behave as in PyTorch, misuse returns `Err`
//! rather than panicking in the library, the tape's state survives a panic, and anomaly mode names
//! the op and the user's line where a non-finite value arises.

use std::panic::{catch_unwind, AssertUnwindSafe};

use wengert_autodiff::{kernels, AutodiffError, Phase, Tape, Tensor};

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

#[test]
fn broadcasting_over_an_empty_axis_gives_an_empty_result() {
    // [0, 3] + [3] and [0, 3] * [0, 1]: the leading axis is empty, the result is [0, 3].
    let e = Tensor::<f64>::zeros(&[0, 3]);
    let r = kernels::zip("add", &e, &t(&[1., 2., 3.], &[3]), |a, b| a + b).unwrap();
    assert_eq!(r.shape(), &[0, 3]);
    let r = kernels::zip("mul", &e, &Tensor::zeros(&[0, 1]), |a, b| a * b).unwrap();
    assert_eq!(r.shape(), &[0, 3]);
    assert_eq!(kernels::broadcast_to(&t(&[1., 2., 3.], &[3]), &[2, 0, 3]).unwrap().shape(), &[2, 0, 3]);
    assert_eq!(kernels::broadcast_to(&Tensor::<f64>::zeros(&[0, 1]), &[0, 4]).unwrap().shape(), &[0, 4]);
    // and their gradients: d/db sum(a + b) over an empty batch is 0.
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[0, 3]));
    let b = tape.var(t(&[1., 2., 3.], &[3]));
    let g = tape.grad((a + b).sum(), &[a, b]);
    assert_eq!(g.value(0).shape(), &[0, 3]);
    assert_eq!(g.value(1).to_vec(), vec![0.0; 3]);
}

#[test]
fn reductions_over_empty_axes_work_as_in_pytorch() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[3, 0]));
    // sum over the empty axis: zeros of the other axes; over a non-empty axis: an empty result.
    assert_eq!(x.sum_axes(&[1], false).value().to_vec(), vec![0.0; 3]);
    assert_eq!(x.sum_axes(&[0], false).value().shape(), &[0]);
    assert_eq!(x.sum_axes(&[0], true).value().shape(), &[1, 0]);
    assert_eq!(x.sum().item(), 0.0);
    // torch.empty(3, 0).mean() is nan, and so is the mean over an empty axis.
    assert!(x.mean().item().is_nan());
    assert!(x.mean_axes(&[1], false).value().as_slice().iter().all(|v| v.is_nan()));
    assert_eq!(x.mean_axes(&[0], false).value().shape(), &[0]);
    // softmax over an empty axis is empty; logsumexp over one is -inf (the log of an empty sum).
    assert_eq!(x.softmax(-1).value().shape(), &[3, 0]);
    assert_eq!(x.log_softmax(-1).value().shape(), &[3, 0]);
    assert_eq!(x.logsumexp(-1, false).value().to_vec(), vec![f64::NEG_INFINITY; 3]);
    let y = tape.var(Tensor::zeros(&[0, 4]));
    assert_eq!(y.softmax(-1).value().shape(), &[0, 4]);
    assert_eq!(y.logsumexp(-1, true).value().shape(), &[0, 1]);
    // Gradients of an empty batch: the right shape, and zero.
    let g = tape.grad(y.log_softmax(-1).sum() + y.sum_axes(&[0], false).sum(), &[y]).value(0);
    assert_eq!(g.shape(), &[0, 4]);
    let g = tape.grad(x.sum(), &[x]).value(0);
    assert_eq!(g.shape(), &[3, 0]);
}

#[test]
fn index_select_with_no_indices_is_empty_and_differentiable() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1., 2., 3., 4., 5., 6.], &[3, 2]));
    let y = x.index_select(0, &[]);
    assert_eq!(y.value().shape(), &[0, 2]);
    assert_eq!(x.index_select(1, &[]).value().shape(), &[3, 0]);
    assert_eq!(tape.grad(y.sum(), &[x]).value(0).to_vec(), vec![0.0; 6]);
    // An empty source along the selected axis with no indices is fine too.
    let e = tape.var(Tensor::zeros(&[0, 2]));
    assert_eq!(e.index_select(0, &[]).value().shape(), &[0, 2]);
}

#[test]
fn try_grad_with_an_input_recorded_after_the_output_is_an_error() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1., 2.], &[2]));
    let y = (x * x).sum();
    let z = tape.var(t(&[3.], &[1]));
    let e = tape.try_grad(y, &[z]).err().expect("an error, not a panic");
    assert!(e.to_string().contains("recorded after"), "{e}");
    assert!(tape.try_grad(y, &[x, z]).is_err());
    // the tape is left usable
    assert_eq!(tape.grad(y, &[x]).value(0).to_vec(), vec![2.0, 4.0]);
    // a variable forgotten by `truncate` is refused too
    let mark = tape.len();
    let w = tape.var(t(&[1.], &[1]));
    let u = w * 2.0;
    tape.truncate(mark);
    assert!(tape.try_grad(y, &[u]).is_err());
    assert!(u.try_add(u).is_err());
    let other = Tape::<f64>::new();
    let o = other.var(t(&[1., 2.], &[2]));
    assert!(tape.try_grad(y, &[o]).is_err(), "a variable of another tape is refused");
}

#[test]
fn public_kernels_return_errors_on_bad_axes_and_overflowing_sizes() {
    let x = t(&[1., 2., 3., 4.], &[4]);
    assert!(matches!(kernels::pad(&x, 1, 0, 4), Err(AutodiffError::InvalidArgument { op: "pad", .. })));
    assert!(kernels::pad(&x, 0, usize::MAX, 4).is_err());
    assert!(kernels::pad(&x, 0, 1, usize::MAX).is_err());
    assert_eq!(kernels::pad(&x, 0, 1, 6).unwrap().to_vec(), vec![0., 1., 2., 3., 4., 0.]);
    let r = kernels::index_add(&[4], 1, &[0], &x);
    assert!(matches!(r, Err(AutodiffError::InvalidArgument { op: "index_add", .. })), "{r:?}");
    assert!(kernels::index_add(&[4], 0, &[9], &t(&[1.], &[1])).is_err());
    assert!(kernels::scatter_add(&[4], 3, &[0], &t(&[1.], &[1])).is_err());
    assert!(kernels::slice(&x, 2, 0, 1).is_err());
    assert!(kernels::concat(&[&x, &x], 1).is_err());
}

#[test]
fn no_grad_restores_the_tape_when_its_closure_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1., 2.], &[2]));
    let r = catch_unwind(AssertUnwindSafe(|| tape.no_grad(|| panic!("user code fails"))));
    assert!(r.is_err());
    // Recording works again: the gradient is there, not silently `None`.
    let g = tape.grad((x * x).sum(), &[x]);
    assert_eq!(g.get(0).map(|g| g.value().to_vec()), Some(vec![2.0, 4.0]));
}

#[test]
fn anomaly_mode_names_the_rule_whose_backward_is_not_finite_and_the_users_line() {
    let tape = Tape::<f64>::with_anomaly_detection();
    let x = tape.var(t(&[0.0, 4.0], &[2]));
    // sqrt(0) = 0 is finite; its rule g / (2 sqrt x) divides by zero.
    let line = line!() + 1;
    let y = x.sqrt().sum();
    let e = tape.try_grad(y, &[x]).err().expect("anomaly reported");
    match &e {
        AutodiffError::NonFinite { op, phase, location, .. } => {
            assert_eq!((*op, *phase), ("sqrt", Phase::Backward), "{e}");
            assert!(location.starts_with(&format!("{}:{line}:", file!())), "{location}");
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("backward of `sqrt`") && msg.contains("robustness.rs"), "{msg}");
    // The same in create-graph mode (the rule's ops are recorded then).
    let tape = Tape::<f64>::with_anomaly_detection();
    let x = tape.var(t(&[0.0, 4.0], &[2]));
    let y = x.sqrt().sum();
    let e = catch_unwind(AssertUnwindSafe(|| tape.grad_graph(y, &[x]))).err().expect("panics");
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("backward of `sqrt`") && msg.contains("robustness.rs"), "{msg}");
    // A forward anomaly is still named as such.
    let tape = Tape::<f64>::with_anomaly_detection();
    let x = tape.var(t(&[-1.0], &[1]));
    let _ = x.log();
    assert!(matches!(tape.check(), Err(AutodiffError::NonFinite { op: "log", phase: Phase::Forward, .. })));
}
