//! Every loss is a row of a gradient-check table, run at order 1 (`gradcheck`) and order 2
//! (`hvp_check`: Hessian-vector products from `grad_graph` against central differences of
//! gradients), in f64, under each reduction. Literal cases below catch what a symmetric
//! difference cannot (values, known worked examples, stability).

use wengert_autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
use wengert_autodiff::{Float, Tape, Tensor, Var};
use wengert_nn::loss::{
    bce_with_logits, cross_entropy, huber, l1, l2_penalty, l2_regularization, mse, multiclass_hinge, nll, Reduction,
};
use wengert_nn::{Bound, Param};

const LABELS: [usize; 4] = [2, 0, 1, 2];

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

/// Scores `[4, 3]` whose pairwise margins `s_j - s_y + 1` stay away from 0 by more than
/// the finite-difference step (the hinge kinks), and whose differences to [`target`] stay
/// away from 0 and from the Huber threshold.
fn scores() -> Tensor<f64> {
    t(&[0.3, -1.1, 2.2, 1.7, 0.2, -0.45, -0.8, 1.35, 0.6, 0.05, 2.9, 1.4], &[4, 3])
}

fn target() -> Tensor<f64> {
    t(&[0.1, 0.4, -0.3, 0.95, 0.45, 0.2, 0.35, -0.2, 0.8, 1.5, 0.25, 0.9], &[4, 3])
}

/// Inside (0, 1) with a margin: the gradient check perturbs the targets too, and BCE refuses targets outside
/// [0, 1].
fn probs_target() -> Tensor<f64> {
    t(&[0.05, 0.95, 0.3, 0.95, 0.05, 0.5, 0.9, 0.2, 0.95, 0.05, 0.7, 0.1], &[4, 3])
}

type LossFn = for<'t> fn(&[Var<'t, f64>], Reduction) -> Var<'t, f64>;

/// `(name, loss of the inputs, inputs)`: one row per loss. Targets are inputs too, so
/// their derivatives are checked as well.
fn table() -> Vec<(&'static str, LossFn, Vec<Tensor<f64>>)> {
    vec![
        ("mse", |x, r| mse(x[0], x[1], r), vec![scores(), target()]),
        ("l1", |x, r| l1(x[0], x[1], r), vec![scores(), target()]),
        ("huber delta=1", |x, r| huber(x[0], x[1], 1.0, r), vec![scores(), target()]),
        ("huber delta=0.3", |x, r| huber(x[0], x[1], 0.3, r), vec![scores(), target()]),
        ("cross_entropy", |x, r| cross_entropy(x[0], &LABELS, r), vec![scores()]),
        ("nll of log_softmax", |x, r| nll(x[0].log_softmax(1), &LABELS, r), vec![scores()]),
        ("bce_with_logits", |x, r| bce_with_logits(x[0], x[1], r), vec![scores(), probs_target()]),
        ("multiclass_hinge", |x, r| multiclass_hinge(x[0], &LABELS, 1.0, r), vec![scores()]),
        ("multiclass_hinge margin=0.5", |x, r| multiclass_hinge(x[0], &LABELS, 0.5, r), vec![scores()]),
        ("l2_penalty", |x, _| l2_penalty(&[x[0], x[1]], 0.3), vec![scores(), t(&[0.5, -2.0, 1.0], &[3])]),
    ]
}

#[test]
fn losses_pass_gradcheck_at_orders_1_and_2() {
    let cfg = GradCheckConfig::default();
    let mut rows = 0;
    for (name, f, inputs) in table() {
        for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            let g = gradcheck(|x| f(x, r), &inputs, &cfg).unwrap_or_else(|e| panic!("{name} {r:?} order 1: {e}"));
            assert!(g.checked > 0);
            let h = hvp_check(|x| f(x, r), &inputs, &cfg).unwrap_or_else(|e| panic!("{name} {r:?} order 2: {e}"));
            assert!(h.checked > 0);
            rows += 1;
        }
    }
    assert_eq!(rows, 30);
}

/// The table's check must be able to fail: a wrong hand-written rule is caught.
#[test]
fn gradcheck_catches_a_wrong_loss_gradient() {
    use wengert_autodiff::{InputGrads, Op, Result};
    // forward (x - y)^2, backward claims 3(x - y) instead of 2(x - y)
    struct WrongSquare;
    impl Op<f64> for WrongSquare {
        fn name(&self) -> &'static str {
            "wrong_square"
        }
        fn forward(&self, x: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
            Ok(wengert_autodiff::kernels::map(x[0], |v| v * v))
        }
        fn backward<'t>(
            &self,
            x: &[Var<'t, f64>],
            _: Var<'t, f64>,
            g: Var<'t, f64>,
            _: &[bool],
        ) -> InputGrads<'t, f64> {
            let mut out = InputGrads::new();
            out.push(Some(g * x[0] * 3.0));
            out
        }
    }
    fn wrong_mse<'t>(x: &[Var<'t, f64>]) -> Var<'t, f64> {
        x[0].tape().apply(WrongSquare, &[x[0] - x[1]]).unwrap().mean()
    }
    assert!(gradcheck(wrong_mse, &[scores(), target()], &GradCheckConfig::default()).is_err());
}

// ---- literal cases ----

/// The lectures' (cs231n) three-example SVM loss: scores for cat/car/frog images,
/// `L = (2.9 + 0 + 12.9) / 3 = 5.27`.
#[test]
fn multiclass_hinge_matches_the_lecture_example() {
    let tape = Tape::<f64>::new();
    // columns are images, rows are classes in the slide; here one row per image
    let s = tape.var(t(&[3.2, 5.1, -1.7, 1.3, 4.9, 2.0, 2.2, 2.5, -3.1], &[3, 3]));
    let per = multiclass_hinge(s, &[0, 1, 2], 1.0, Reduction::None).value();
    let expect = [2.9, 0.0, 12.9];
    for (a, b) in per.as_slice().iter().zip(expect) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let mean = multiclass_hinge(s, &[0, 1, 2], 1.0, Reduction::Mean).item();
    assert!((mean - 15.8 / 3.0).abs() < 1e-12);
    // d L_0 / d s_0 = -(number of violating classes) = -1 (only car violates); d/ds_1 = 1
    let g = tape.grad(multiclass_hinge(s, &[0, 1, 2], 1.0, Reduction::Sum), &[s]).value(0);
    assert_eq!(&g.as_slice()[..3], &[-1.0, 1.0, 0.0]);
}

/// Softmax loss of the cat example: `-ln(e^3.2 / (e^3.2 + e^5.1 + e^-1.7))`, and the
/// gradient `softmax - onehot`.
#[test]
fn cross_entropy_matches_hand_computation() {
    let tape = Tape::<f64>::new();
    let s = tape.var(t(&[3.2, 5.1, -1.7], &[1, 3]));
    let z: f64 = [3.2f64, 5.1, -1.7].iter().map(|v| v.exp()).sum();
    let expect = -(3.2f64.exp() / z).ln();
    let loss = cross_entropy(s, &[0], Reduction::Mean);
    assert!((loss.item() - expect).abs() < 1e-12);
    let g = tape.grad(loss, &[s]).value(0);
    let want = [3.2f64.exp() / z - 1.0, 5.1f64.exp() / z, (-1.7f64).exp() / z];
    for (a, b) in g.as_slice().iter().zip(want) {
        assert!((a - b).abs() < 1e-12);
    }
}

/// Huge logits do not overflow: CE with logits 1000 apart, BCE at +-1000.
#[test]
fn logit_losses_are_stable_for_huge_logits() {
    fn body<T: Float>() {
        let tape = Tape::<T>::new();
        let s = tape.var(Tensor::from_vec(vec![T::from_f64(1000.0), T::ZERO], &[1, 2]));
        let ce = cross_entropy(s, &[1], Reduction::Sum);
        assert!((ce.item().to_f64() - 1000.0).abs() < 1e-3);
        let x = tape.var(Tensor::from_vec(vec![T::from_f64(1000.0), T::from_f64(-1000.0)], &[2]));
        let y = tape.constant(Tensor::from_vec(vec![T::ZERO, T::ZERO], &[2]));
        let b = bce_with_logits(x, y, Reduction::None).value();
        assert!((b.as_slice()[0].to_f64() - 1000.0).abs() < 1e-3);
        assert!(b.as_slice()[1].to_f64().abs() < 1e-30);
        let g = tape.grad(bce_with_logits(x, y, Reduction::Sum), &[x]).value(0);
        assert!(g.all_finite());
        // d/dx = sigmoid(x) - y
        assert!((g.as_slice()[0].to_f64() - 1.0).abs() < 1e-6);
    }
    body::<f32>();
    body::<f64>();
}

#[test]
fn reductions_relate_as_mean_sum_none() {
    let tape = Tape::<f64>::new();
    let (x, y, p) = (tape.constant(scores()), tape.constant(target()), tape.constant(probs_target()));
    for (f, y) in [(mse::<f64> as fn(_, _, _) -> _, y), (l1::<f64>, y), (bce_with_logits::<f64>, p)] {
        let none = f(x, y, Reduction::None);
        assert_eq!(none.shape().as_slice(), &[4, 3]);
        let sum: f64 = none.value().as_slice().iter().sum();
        assert!((f(x, y, Reduction::Sum).item() - sum).abs() < 1e-12);
        assert!((f(x, y, Reduction::Mean).item() - sum / 12.0).abs() < 1e-12);
    }
    assert_eq!(cross_entropy(x, &LABELS, Reduction::None).shape().as_slice(), &[4]);
    assert_eq!(multiclass_hinge(x, &LABELS, 1.0, Reduction::None).shape().as_slice(), &[4]);
}

/// Huber: `0.5 d^2` inside `|d| < delta`, `delta (|d| - delta / 2)` outside.
#[test]
fn huber_values_on_both_branches() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(t(&[0.5, -3.0, 2.0], &[3]));
    let y = tape.constant(Tensor::zeros(&[3]));
    let v = huber(x, y, 1.0, Reduction::None).value();
    assert_eq!(v.to_vec(), vec![0.125, 2.5, 1.5]);
    // delta = 1 and small residuals: equal to mse / 2
    let small = tape.constant(t(&[0.1, -0.2], &[2]));
    let z = tape.constant(Tensor::zeros(&[2]));
    let h = huber(small, z, 1.0, Reduction::Sum).item();
    assert!((h - mse(small, z, Reduction::Sum).item() / 2.0).abs() < 1e-15);
}

/// `lambda R(W)` over the weights only: gradient `2 lambda W`, none for the bias.
#[test]
fn l2_regularization_selects_parameters_by_name() {
    let w = Param::new(t(&[1.0, -2.0, 3.0, 0.5], &[2, 2]));
    let b = Param::new(t(&[4.0, 5.0], &[2]));
    struct M(Param<f64>, Param<f64>);
    impl wengert_nn::Parameters<f64> for M {
        fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
            f(&wengert_nn::join_name(prefix, "weight"), &self.0);
            f(&wengert_nn::join_name(prefix, "bias"), &self.1);
        }
        fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
            f(&wengert_nn::join_name(prefix, "weight"), &mut self.0);
            f(&wengert_nn::join_name(prefix, "bias"), &mut self.1);
        }
    }
    let m = M(w, b);
    let tape = Tape::new();
    let p = Bound::new(&tape, &m);
    let r = l2_regularization(&p, 0.1, |n| n.ends_with("weight"));
    assert!((r.item() - 0.1 * (1.0 + 4.0 + 9.0 + 0.25)).abs() < 1e-12);
    let g = p.grad(r);
    for (a, w) in g.get(&m.0).unwrap().as_slice().iter().zip([1.0, -2.0, 3.0, 0.5]) {
        assert!((a - 0.2 * w).abs() < 1e-15, "{a} vs 2 * 0.1 * {w}");
    }
    assert!(g.get(&m.1).is_none());
    let none = l2_regularization(&p, 0.1, |_| false);
    assert_eq!(none.item(), 0.0);
}

#[test]
#[should_panic(expected = "label 3 out of range for 3 classes")]
fn cross_entropy_rejects_a_bad_label() {
    let tape = Tape::<f64>::new();
    cross_entropy(tape.constant(scores()), &[0, 1, 3, 2], Reduction::Mean);
}

#[test]
#[should_panic(expected = "differs from target shape")]
fn mse_rejects_mismatched_shapes() {
    let tape = Tape::<f64>::new();
    mse(tape.constant(scores()), tape.constant(Tensor::zeros(&[3])), Reduction::Mean);
}

#[test]
fn cross_entropy_of_an_empty_batch_does_not_panic() {
    // As PyTorch: the mean over no samples is NaN, the sum is 0, no reduction gives no losses.
    let tape = Tape::<f64>::new();
    let logits = tape.var(Tensor::zeros(&[0, 3]));
    assert!(cross_entropy(logits, &[], Reduction::Mean).item().is_nan());
    let sum = cross_entropy(logits, &[], Reduction::Sum);
    assert_eq!(sum.item(), 0.0);
    assert_eq!(cross_entropy(logits, &[], Reduction::None).value().shape(), &[0]);
    let g = tape.grad(sum, &[logits]).value(0);
    assert_eq!(g.shape(), &[0, 3]);
}
