//! Layer capture (`Bound::capturing`): what `Linear` and `Conv2d` record for K-FAC, in which order, and that a
//! plain `Bound` records nothing.

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::ops::Conv2dArgs;
use wengert_autodiff::{Tape, Tensor};
use wengert_nn::layers::{Conv2d, Flatten, Linear, Relu, Sequential};
use wengert_nn::{Bound, CaptureKind, Module, Parameters};

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

#[test]
fn a_plain_bound_captures_nothing() {
    let layer = Linear::<f64>::new(3, 2, &mut StdRng::seed_from_u64(0));
    let tape = Tape::new();
    let p = Bound::new(&tape, &layer);
    let _ = layer.forward(&p, tape.constant(Tensor::ones(&[4, 3])));
    assert!(!p.is_capturing());
    assert!(p.captures().is_empty());
}

/// `s = x W^T + b` with `W = [[1, 2, 3], [4, 5, 6]]`, `b = [0.5, -1]`, `x = [1, 0, -1]`: `s = [-1.5, -3]`; the
/// capture holds `x` itself and `s` (bias included), and `dL/ds` for `L = sum(s * c)` is `c`.
#[test]
fn linear_captures_its_input_and_pre_activation_output() {
    let layer = Linear::from_tensors(t(&[1., 2., 3., 4., 5., 6.], &[2, 3]), Some(t(&[0.5, -1.0], &[2])));
    let tape = Tape::new();
    let p = Bound::new(&tape, &layer).capturing();
    let x = tape.constant(t(&[1., 0., -1.], &[1, 3]));
    let s = layer.forward(&p, x);
    let caps = p.captures();
    assert_eq!(caps.len(), 1);
    let c = caps[0];
    assert_eq!(c.kind, CaptureKind::Linear);
    assert_eq!(c.input.id(), x.id());
    assert_eq!(c.output.id(), s.id());
    assert_eq!(c.output.value().to_vec(), vec![-1.5, -3.0]);
    assert_eq!(c.weight, layer.weight.id());
    assert_eq!(c.bias, layer.bias.as_ref().map(|b| b.id()));
    let coef = tape.constant(t(&[2.0, -7.0], &[1, 2]));
    let g = tape.grad((s * coef).sum(), &[c.output]).value(0);
    assert_eq!(g.to_vec(), vec![2.0, -7.0]);
}

#[test]
fn a_layer_without_bias_captures_no_bias_and_a_frozen_layer_is_still_captured() {
    let mut layer = Linear::<f64>::new_no_bias(3, 2, &mut StdRng::seed_from_u64(1));
    layer.set_frozen("", true);
    let tape = Tape::new();
    let p = Bound::new(&tape, &layer).capturing();
    let _ = layer.forward(&p, tape.constant(Tensor::ones(&[4, 3])));
    let caps = p.captures();
    assert_eq!(caps.len(), 1);
    assert_eq!(caps[0].bias, None);
    assert!(!p.var(&layer.weight).requires_grad());
}

/// conv -> relu -> flatten -> linear: two captures in recording order; the linear layer's input is the
/// flattened activation, its output the model's output; the conv capture carries the kernel size and arguments.
#[test]
fn captures_come_in_recording_order_with_conv_geometry() {
    let mut rng = StdRng::seed_from_u64(2);
    let args = Conv2dArgs::new().padding(1).stride(2);
    let model = Sequential::new()
        .push(Conv2d::<f64>::new(2, 3, [3, 2], args, &mut rng))
        .push(Relu)
        .push(Flatten::new())
        .push(Linear::new(3 * 3 * 4, 5, &mut rng));
    let tape = Tape::new();
    let p = Bound::new(&tape, &model).capturing();
    let x = tape.constant(Tensor::randn(&[4, 2, 5, 6], 0.0, 1.0, &mut rng));
    let y = model.forward(&p, x);
    let caps = p.captures();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0].kind, CaptureKind::Conv2d { kernel: [3, 2], args });
    assert_eq!(caps[0].input.id(), x.id());
    assert_eq!(caps[0].output.shape().as_slice(), &[4, 3, 3, 4]);
    assert_eq!(caps[1].kind, CaptureKind::Linear);
    assert_eq!(caps[1].input.shape().as_slice(), &[4, 36]);
    // the flattened relu of the conv output is what the linear layer received
    let relu: Vec<f64> = caps[0].output.value().to_vec().iter().map(|v| v.max(0.0)).collect();
    assert_eq!(caps[1].input.value().to_vec(), relu);
    assert_eq!(caps[1].output.id(), y.id());
    let names: Vec<_> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias"]);
}

/// A layer applied twice appears twice (weight sharing): the consumer decides what that means.
#[test]
fn a_layer_used_twice_is_captured_twice() {
    let layer = Linear::<f64>::new(2, 2, &mut StdRng::seed_from_u64(3));
    let tape = Tape::new();
    let p = Bound::new(&tape, &layer).capturing();
    let h = layer.forward(&p, tape.constant(Tensor::ones(&[1, 2])));
    let y = layer.forward(&p, h);
    let caps = p.captures();
    assert_eq!(caps.len(), 2);
    assert_eq!((caps[0].weight, caps[1].weight), (layer.weight.id(), layer.weight.id()));
    assert_eq!((caps[1].input.id(), caps[1].output.id()), (h.id(), y.id()));
}
