//! One API vocabulary (issue 15): axes are `isize` everywhere with negative axes counting from the
//! end, `matmul` takes vectors as NumPy's `@`, and every op that can fail on shapes has a `try_`
//! form that returns the error instead of panicking.

use wengert_autodiff::{concat, stack, try_concat, try_stack, AutodiffError, Tape, Tensor};

fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), s)
}

#[test]
fn negative_axes_count_from_the_end_in_every_op() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1., 2., 3., 4., 5., 6.], &[2, 3]));
    // [[1, 2, 3], [4, 5, 6]]
    assert_eq!(x.slice(-1, 1..3).value().to_vec(), vec![2., 3., 5., 6.]);
    assert_eq!(x.index_select(-2, &[1]).value().to_vec(), vec![4., 5., 6.]);
    assert_eq!(x.gather(-1, &[2, 0], &[2, 1]).value().to_vec(), vec![3., 4.]);
    assert_eq!(x.transpose(-1, -2).value().to_vec(), vec![1., 4., 2., 5., 3., 6.]);
    assert_eq!(x.permute(&[-1, 0]).value().to_vec(), vec![1., 4., 2., 5., 3., 6.]);
    assert_eq!(x.unsqueeze(-1).value().shape(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(-3).value().shape(), &[1, 2, 3]);
    assert_eq!(x.pad(-1, 1, 4).value().to_vec(), vec![0., 1., 2., 3., 0., 4., 5., 6.]);
    assert_eq!(concat(&[x, x], -1).value().shape(), &[2, 6]);
    assert_eq!(stack(&[x, x], -1).value().shape(), &[2, 3, 2]);
    assert_eq!(x.sum_axes(&[-1], false).value().to_vec(), vec![6., 15.]);
    assert_eq!(x.max_axes(&[-2], false).value().to_vec(), vec![4., 5., 6.]);
    assert_eq!(x.logsumexp(-1, false).value().shape(), &[2]);
    // Out of range, either sign: an error naming the op and the axis.
    for e in [
        x.try_slice(2, 0..1).unwrap_err(),
        x.try_slice(-3, 0..1).unwrap_err(),
        x.try_index_select(-3, &[0]).unwrap_err(),
        x.try_gather(2, &[0, 0], &[2, 1]).unwrap_err(),
        x.try_transpose(0, -3).unwrap_err(),
        x.try_permute(&[0, 2]).unwrap_err(),
        x.try_unsqueeze(4).unwrap_err(),
        x.try_unsqueeze(-4).unwrap_err(),
        x.try_pad(5, 0, 3).unwrap_err(),
        try_concat(&[x, x], 2).unwrap_err(),
        try_stack(&[x, x], -4).unwrap_err(),
        x.try_sum_axes(&[2], false).unwrap_err(),
        x.try_softmax(-3).unwrap_err(),
        x.try_logsumexp(2, true).unwrap_err(),
    ] {
        assert!(matches!(e, AutodiffError::InvalidArgument { .. }), "{e}");
        assert!(e.to_string().contains("axis"), "{e}");
    }
}

#[test]
fn matmul_takes_vectors_as_numpy() {
    let tape = Tape::<f64>::new();
    let a = tape.var(t(&[1., 2., 3., 4., 5., 6.], &[2, 3])); // [[1, 2, 3], [4, 5, 6]]
    let x = tape.var(t(&[1., 0., -1.], &[3]));
    let u = tape.var(t(&[1., 2.], &[2]));
    // A x = [1 - 3, 4 - 6]
    let ax = a.matmul(x);
    assert_eq!((ax.value().shape(), ax.value().to_vec()), (&[2][..], vec![-2., -2.]));
    // u A = [1 + 8, 2 + 10, 3 + 12]
    assert_eq!(u.matmul(a).value().to_vec(), vec![9., 12., 15.]);
    // x . x = 2, a scalar
    let xx = x.matmul(x);
    assert_eq!((xx.value().shape().len(), xx.item()), (0, 2.0));
    // Batched matrix times a vector: [2, 2, 3] @ [3] is [2, 2].
    let b = tape.var(Tensor::ones(&[2, 2, 3]));
    assert_eq!(b.matmul(x).value().shape(), &[2, 2]);
    // matmul_t transposes the matrix, not the vector: A^T u = u A.
    assert_eq!(a.matmul_t(u, true, false).value().to_vec(), vec![9., 12., 15.]);
    // Gradients: d/dA sum(A x) = 1 x^T, d/dx = A^T 1 = [5, 7, 9].
    let g = tape.grad(ax.sum(), &[a, x]);
    assert_eq!(g.value(0).to_vec(), vec![1., 0., -1., 1., 0., -1.]);
    assert_eq!(g.value(1).to_vec(), vec![5., 7., 9.]);
    // Shape errors name the operands as given.
    let e = a.try_matmul(u).unwrap_err();
    assert_eq!(e.to_string(), "matmul: shape mismatch between [2, 3] and [2]");
    assert!(tape.scalar(1.0).try_matmul(x).is_err());
}

#[test]
fn try_forms_return_errors_where_the_plain_forms_panic() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[4]));
    let v = tape.var(Tensor::zeros(&[3]));
    let empty = tape.var(Tensor::zeros(&[0]));
    let errors = [
        a.try_maximum(b).err(),
        a.try_minimum(b).err(),
        a.try_gt(b).err(),
        a.try_eq(b).err(),
        a.try_sum_to(&[4]).err(),
        a.try_matmul_t(a, false, false).err(),
        v.try_dot(b).err(),
        a.try_outer(v).err(),
        v.try_t().err(),
        a.try_pick(&[0]).err(),
        a.try_pick(&[0, 7]).err(),
        a.try_clamp(1.0, 0.0).err(),
        empty.try_max().err(),
        empty.try_min().err(),
        a.try_mean_axes(&[3], false).err(),
        a.try_max_axes(&[3], false).err(),
        a.try_log_softmax(5).err(),
        try_stack(&[a, v], 0).err(),
        tape.try_one_hot(&[3], 3).err(),
        tape.try_grad_graph(a, &[a]).err(),
    ];
    for (i, e) in errors.iter().enumerate() {
        assert!(e.is_some(), "case {i} returned Ok");
    }
    let e = try_stack(&[a, v], 0).unwrap_err();
    assert!(e.to_string().starts_with("stack: shape mismatch"), "{e}");
}
