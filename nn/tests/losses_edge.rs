//! Losses at the edges of their domain (issue 14): cross-entropy with `+inf` on the correct class, BCE with
//! targets outside `[0, 1]`.

use wengert_autodiff::{AutodiffError, Tape, Tensor};
use wengert_nn::loss::{bce_with_logits, cross_entropy, try_bce_with_logits, Reduction};

#[test]
fn cross_entropy_with_infinite_correct_logit_is_zero_with_a_finite_gradient() {
    let tape = Tape::<f64>::new();
    let s = tape.var(Tensor::from_vec(vec![f64::INFINITY, 0.0, 1.0, 1.0, 2.0, -1.0], &[2, 3]));
    let l = cross_entropy(s, &[0, 1], Reduction::Mean);
    // row 0: lim -log(e^s0 / (e^s0 + 1 + e)) = 0; row 1: -2 + log(e + e^2 + e^-1)
    let row1 = -2.0 + (1f64.exp() + 2f64.exp() + (-1f64).exp()).ln();
    assert!((l.item() - row1 / 2.0).abs() < 1e-15, "{}", l.item());
    let g = tape.grad(l, &[s]);
    let g = g.value(0).to_vec();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    // row 0 is saturated: softmax = onehot(0), so its gradient is 0
    assert_eq!(&g[..3], &[0.0, 0.0, 0.0]);
    // row 1: (softmax - onehot(1)) / 2
    let z: f64 = [1.0f64, 2.0, -1.0].iter().map(|v| v.exp()).sum();
    assert!((g[4] - (2f64.exp() / z - 1.0) / 2.0).abs() < 1e-15, "{g:?}");
    // every entry +inf on a wrong class: a huge finite loss, not NaN
    let tape = Tape::<f32>::new();
    let s = tape.var(Tensor::from_vec(vec![0.0, f32::INFINITY], &[1, 2]));
    let l = cross_entropy(s, &[0], Reduction::Sum);
    assert!(!l.item().is_nan() && l.item() > 1e30, "{}", l.item());
}

#[test]
fn bce_refuses_targets_outside_the_unit_interval() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]));
    for bad in [1.5, -0.1, f64::NAN] {
        let y = tape.constant(Tensor::from_vec(vec![0.0, bad, 1.0], &[3]));
        let e = try_bce_with_logits(x, y, Reduction::Mean).unwrap_err();
        assert!(matches!(e, AutodiffError::InvalidArgument { op: "bce_with_logits", .. }), "{e}");
        assert!(e.to_string().contains("outside [0, 1]") && e.to_string().contains("index 1"), "{e}");
    }
    let y = tape.constant(Tensor::from_vec(vec![0.0, 1.0], &[2]));
    assert!(try_bce_with_logits(x, y, Reduction::Mean).unwrap_err().to_string().contains("shape"));
    let y = tape.constant(Tensor::from_vec(vec![0.0, 0.25, 1.0], &[3]));
    let l = try_bce_with_logits(x, y, Reduction::Sum).unwrap();
    // softplus(x) - x y summed
    let want: f64 = [(0.5, 0.0), (-1.0, 0.25), (2.0, 1.0)].iter().map(|&(x, y)| (1.0 + f64::exp(x)).ln() - x * y).sum();
    assert!((l.item() - want).abs() < 1e-14);
}

#[test]
#[should_panic(expected = "bce_with_logits: target 2 (flat index 0) is outside [0, 1]")]
fn bce_panics_naming_the_target() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![0.5], &[1]));
    bce_with_logits(x, tape.constant(Tensor::from_vec(vec![2.0], &[1])), Reduction::Mean);
}
