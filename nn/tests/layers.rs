//! Layers: values against their formulas, shapes, parameter names and counts, freezing,
//! dropout modes and reproducibility, initialisation statistics, and gradient checks of
//! every layer at orders 1 and 2 (with respect to the input through the public
//! `gradcheck`/`hvp_check`, and with respect to the parameters through `Bound`).

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
use wengert_autodiff::{Float, Tape, Tensor, Var};
use wengert_nn::init::{self, Nonlinearity};
use wengert_nn::layers::{
    gelu, Activation, Dropout, Gelu, LeakyRelu, Linear, Mlp, MlpConfig, Relu, Sequential, Sigmoid, Softplus, Tanh,
};
use wengert_nn::{Bound, Module, Parameters};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

fn forward<M: Module<f64> + ?Sized>(m: &M, x: &Tensor<f64>) -> Tensor<f64> {
    let tape = Tape::new();
    let p = Bound::new(&tape, m);
    m.forward(&p, tape.constant(x.clone())).value()
}

// ---- values and structure ----

/// `y = x W^T + b` with `W = [[1, 2, 3], [4, 5, 6]]`, `b = [0.5, -1]`, `x = [1, 0, -1]`:
/// `y = [1 - 3 + 0.5, 4 - 6 - 1] = [-1.5, -3]`.
#[test]
fn linear_computes_x_w_transpose_plus_b() {
    let w = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
    let layer = Linear::from_tensors(w.clone(), Some(t(&[0.5, -1.0], &[2])));
    assert_eq!(forward(&layer, &t(&[1., 0., -1.], &[1, 3])).to_vec(), vec![-1.5, -3.0]);
    let no_bias = Linear::from_tensors(w, None);
    assert_eq!(forward(&no_bias, &t(&[1., 0., -1.], &[1, 3])).to_vec(), vec![-2.0, -2.0]);
    assert_eq!(no_bias.num_parameters(), 6);
    let names: Vec<_> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    // leading batch axes
    let l = Linear::<f64>::new(3, 4, &mut rng(0));
    assert_eq!(forward(&l, &Tensor::ones(&[2, 5, 3])).shape(), &[2, 5, 4]);
    assert_eq!((l.in_features(), l.out_features()), (3, 4));
}

#[test]
#[should_panic(expected = "Linear (3 -> 2): input of shape [2, 4], expected [.., 3]")]
fn linear_rejects_a_wrong_input_width() {
    forward(&Linear::<f64>::new(3, 2, &mut rng(0)), &Tensor::ones(&[2, 4]));
}

#[test]
fn a_width_mismatch_inside_a_model_names_the_layer() {
    let mlp = Mlp::<f64>::new(&[4, 8, 3], Activation::Relu, &mut rng(0));
    let run = std::panic::AssertUnwindSafe(|| forward(&mlp, &Tensor::ones(&[2, 5])));
    let err = std::panic::catch_unwind(run).unwrap_err();
    let msg = err.downcast_ref::<String>().expect("a formatted message");
    let first = mlp.named_parameters()[0].0.clone();
    let layer = first.strip_suffix(".weight").expect("a weight first");
    assert!(msg.contains(&format!("Linear `{layer}` (4 -> 8): input of shape [2, 5]")), "{msg}");
}

#[test]
fn mlp_names_counts_and_shapes() {
    let mlp = Mlp::<f32>::new(&[64, 128, 10], Activation::Relu, &mut rng(1));
    let named = mlp.named_parameters();
    let names: Vec<_> = named.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]);
    assert_eq!(named[0].1.shape(), &[128, 64]);
    assert_eq!(named[2].1.shape(), &[10, 128]);
    assert_eq!(mlp.num_parameters(), 64 * 128 + 128 + 128 * 10 + 10);
    assert_eq!(mlp.layers.len(), 3);
    let tape = Tape::new();
    let p = Bound::new(&tape, &mlp);
    assert_eq!(mlp.forward(&p, tape.constant(Tensor::ones(&[7, 64]))).shape().as_slice(), &[7, 10]);

    let cfg = MlpConfig { bias: false, dropout: 0.1, ..MlpConfig::new(&[4, 5, 6, 2], Activation::Tanh) };
    let deep = Mlp::<f64>::from_config(&cfg, &mut rng(1));
    let names: Vec<_> = deep.named_parameters().into_iter().map(|(n, _)| n).collect();
    // Linear, Tanh, Dropout, Linear, Tanh, Dropout, Linear
    assert_eq!(names, ["layers.0.weight", "layers.3.weight", "layers.6.weight"]);
    assert_eq!(deep.num_parameters(), 4 * 5 + 5 * 6 + 6 * 2);
}

#[test]
fn same_seed_same_model_and_different_seed_different_model() {
    let a = Mlp::<f64>::new(&[5, 7, 3], Activation::Gelu, &mut rng(3)).named_parameters();
    let b = Mlp::<f64>::new(&[5, 7, 3], Activation::Gelu, &mut rng(3)).named_parameters();
    let c = Mlp::<f64>::new(&[5, 7, 3], Activation::Gelu, &mut rng(4)).named_parameters();
    assert_eq!(a, b);
    assert_ne!(a[0].1, c[0].1);
}

#[test]
fn frozen_parameters_get_no_gradient_and_are_not_counted_as_trainable() {
    let mut mlp = Mlp::<f64>::new(&[3, 4, 2], Activation::Tanh, &mut rng(2));
    assert_eq!(mlp.num_trainable(), mlp.num_parameters());
    mlp.set_frozen("layers.0", true);
    assert_eq!(mlp.num_trainable(), 4 * 2 + 2);
    assert_eq!(mlp.num_parameters(), 3 * 4 + 4 + 4 * 2 + 2);
    let tape = Tape::new();
    let p = Bound::new(&tape, &mlp);
    let loss = mlp.forward(&p, tape.constant(Tensor::ones(&[2, 3]))).square().sum();
    let g = p.grad(loss);
    let mut with_grad = Vec::new();
    mlp.visit("", &mut |n, param| {
        if g.get(param).is_some() {
            with_grad.push(n.to_string())
        }
    });
    assert_eq!(with_grad, ["layers.2.weight", "layers.2.bias"]);
    mlp.set_frozen("layers.0", false);
    assert_eq!(mlp.num_trainable(), mlp.num_parameters());
}

/// Each activation layer equals its formula at a few points.
#[test]
fn activation_layers_match_their_formulas() {
    let xs = [-2.5, -0.3, 0.4, 3.0];
    let x = t(&xs, &[4]);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    type Case = (Box<dyn Module<f64>>, fn(f64) -> f64);
    let cases: Vec<Case> = vec![
        (Box::new(Relu), |v| v.max(0.0)),
        (Box::new(LeakyRelu::default()), |v| if v > 0.0 { v } else { 0.01 * v }),
        (Box::new(Sigmoid), |v| 1.0 / (1.0 + (-v).exp())),
        (Box::new(Tanh), f64::tanh),
        (Box::new(Softplus), |v| (1.0 + v.exp()).ln()),
        (Box::new(Gelu), |v| {
            0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
        }),
    ];
    for (layer, f) in cases {
        let y = forward(layer.as_ref(), &x);
        for (a, &v) in y.as_slice().iter().zip(&xs) {
            assert!((a - f(v)).abs() < 1e-12, "{a} vs {} at {v}", f(v));
        }
    }
    assert!((sig(0.4) - forward(Activation::Sigmoid.layer::<f64>().as_ref(), &t(&[0.4], &[1])).item()).abs() < 1e-15);
}

/// The tanh approximation stays within 1e-3 of the exact `x Phi(x)` (Phi from a
/// high-accuracy erf) on `[-6, 6]`.
#[test]
fn gelu_tanh_approximation_is_close_to_exact_gelu() {
    // erf by its Maclaurin series (|x| <= 3) or continued-fraction-free asymptotic bound
    fn erf(x: f64) -> f64 {
        if x.abs() > 4.5 {
            return x.signum();
        }
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    }
    let xs: Vec<f64> = (0..=240).map(|i| -6.0 + 0.05 * i as f64).collect();
    let tape = Tape::<f64>::new();
    let y = gelu(tape.constant(Tensor::from_vec(xs.clone(), &[xs.len()]))).value();
    let mut worst: f64 = 0.0;
    for (a, &x) in y.as_slice().iter().zip(&xs) {
        let exact = 0.5 * x * (1.0 + erf(x / 2f64.sqrt()));
        worst = worst.max((a - exact).abs());
    }
    assert!(worst < 1e-3, "max |gelu_tanh - gelu| = {worst}");
    assert!(worst > 1e-5, "the approximation should not be exact (max difference {worst})");
}

// ---- dropout ----

#[test]
fn dropout_drops_about_p_scales_kept_by_inverse_keep_and_is_identity_in_eval() {
    fn body<T: Float>() {
        let mut d = Dropout::new(0.3, 11);
        let tape = Tape::<T>::new();
        let p = Bound::new(&tape, &d);
        let x = tape.var(Tensor::ones(&[100, 100]));
        let y = d.forward(&p, x);
        let v = y.value();
        let zeros = v.as_slice().iter().filter(|&&a| a == T::ZERO).count() as f64 / 10_000.0;
        // std of the fraction is sqrt(0.3 * 0.7 / 1e4) = 0.0046
        assert!((zeros - 0.3).abs() < 0.025, "dropped fraction {zeros}");
        let keep = T::from_f64(1.0 / 0.7);
        assert!(v.as_slice().iter().all(|&a| a == T::ZERO || a == keep));
        // the gradient is the mask itself
        let g = tape.grad(y.sum(), &[x]).value(0);
        assert_eq!(g.as_slice(), v.as_slice());
        Module::<T>::set_training(&mut d, false);
        assert!(!d.is_training());
        let y = d.forward(&p, x).value();
        assert!(y.as_slice().iter().all(|&a| a == T::ONE));
    }
    body::<f32>();
    body::<f64>();
}

#[test]
fn dropout_is_reproducible_from_its_seed() {
    let masks = |seed: u64| {
        let d = Dropout::new(0.5, seed);
        let tape = Tape::<f64>::new();
        let p = Bound::new(&tape, &d);
        let x = tape.constant(Tensor::ones(&[64]));
        (d.forward(&p, x).value(), d.forward(&p, x).value())
    };
    let (a1, a2) = masks(5);
    let (b1, b2) = masks(5);
    assert_eq!((&a1, &a2), (&b1, &b2));
    assert_ne!(a1, a2, "successive passes draw fresh masks");
    assert_ne!(masks(6).0, a1);
}

#[test]
fn dropout_edge_probabilities() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(t(&[1.0, -2.0, 3.0], &[3]));
    let none = Dropout::new(0.0, 0);
    let all = Dropout::new(1.0, 0);
    let p = Bound::new(&tape, &none);
    assert_eq!(none.forward(&p, x).value().to_vec(), vec![1.0, -2.0, 3.0]);
    assert_eq!(all.forward(&p, x).value().to_vec(), vec![0.0, 0.0, 0.0]);
}

#[test]
#[should_panic(expected = "Dropout: p must be in [0, 1]")]
fn dropout_rejects_p_above_one() {
    Dropout::new(1.5, 0);
}

#[test]
fn set_training_reaches_dropout_inside_an_mlp() {
    let cfg = MlpConfig { dropout: 0.5, dropout_seed: 9, ..MlpConfig::new(&[6, 32, 3], Activation::Relu) };
    let mut mlp = Mlp::<f64>::from_config(&cfg, &mut rng(0));
    let x = Tensor::ones(&[4, 6]);
    assert_ne!(forward(&mlp, &x), forward(&mlp, &x), "training mode: fresh masks");
    mlp.set_training(false);
    assert_eq!(forward(&mlp, &x), forward(&mlp, &x), "eval mode: deterministic");
}

// ---- initialisation ----

fn mean_std(x: &Tensor<f64>) -> (f64, f64) {
    let n = x.numel() as f64;
    let m = x.as_slice().iter().sum::<f64>() / n;
    let v = x.as_slice().iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n;
    (m, v.sqrt())
}

#[test]
fn init_statistics_follow_the_formulas() {
    let shape = [300, 200]; // fan_in 200, fan_out 300; 60 000 draws: std estimates within ~0.6%
    let (fi, fo) = (200.0, 300.0);
    let g = init::gain(Nonlinearity::Relu);
    assert!((g - 2f64.sqrt()).abs() < 1e-15);

    let a = (6.0 / (fi + fo)).sqrt();
    let w = init::xavier_uniform::<f64, _>(&shape, 1.0, &mut rng(0));
    let max = w.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max <= a && max > 0.999 * a, "Glorot uniform bound {a}, max |w| = {max}");
    let (m, s) = mean_std(&w);
    assert!(m.abs() < 0.01 * a && (s / (a / 3f64.sqrt()) - 1.0).abs() < 0.02, "mean {m} std {s}");

    let (m, s) = mean_std(&init::xavier_normal::<f64, _>(&shape, 2.0, &mut rng(1)));
    let want = 2.0 * (2.0 / (fi + fo)).sqrt();
    assert!(m.abs() < 0.01 * want && (s / want - 1.0).abs() < 0.02, "xavier_normal std {s} vs {want}");

    let w = init::kaiming_uniform::<f64, _>(&shape, g, &mut rng(2));
    let bound = g * (3.0 / fi).sqrt();
    let max = w.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max <= bound && max > 0.999 * bound);
    let (_, s) = mean_std(&w);
    assert!((s / (g / fi.sqrt()) - 1.0).abs() < 0.02);

    let (_, s) = mean_std(&init::kaiming_normal::<f64, _>(&shape, g, &mut rng(3)));
    assert!((s / (g / fi.sqrt()) - 1.0).abs() < 0.02, "kaiming_normal std {s}");

    let (m, s) = mean_std(&init::scaled_normal::<f64, _>(&shape, 1e-4, &mut rng(4)));
    assert!(m.abs() < 1e-6 && (s / 1e-4 - 1.0).abs() < 0.02, "scaled_normal std {s}");

    let (w, b) = init::linear_default::<f64, _>(200, 300, &mut rng(5));
    let bound = 1.0 / fi.sqrt();
    assert_eq!((w.shape(), b.shape()), (&[300, 200][..], &[300][..]));
    assert!(w.as_slice().iter().chain(b.as_slice()).all(|v| v.abs() <= bound));
    let max = w.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max > 0.999 * bound);

    assert!(init::zeros::<f32>(&[3]).as_slice().iter().all(|&v| v == 0.0));
    assert!(init::constant::<f32>(&[3], 0.25).as_slice().iter().all(|&v| v == 0.25));
}

#[test]
fn init_is_reproducible_and_fans_follow_pytorch() {
    let a = init::kaiming_normal::<f32, _>(&[8, 4], 1.0, &mut rng(7));
    let b = init::kaiming_normal::<f32, _>(&[8, 4], 1.0, &mut rng(7));
    assert_eq!(a, b);
    assert_eq!(init::fans(&[8, 4]), (4, 8));
    assert_eq!(init::fans(&[8, 4, 3, 3]), (36, 72));
    assert!((init::gain(Nonlinearity::Tanh) - 5.0 / 3.0).abs() < 1e-15);
    assert!((init::gain(Nonlinearity::LeakyRelu(0.01)) - (2.0 / 1.0001f64).sqrt()).abs() < 1e-15);
}

#[test]
#[should_panic(expected = "at least 2 axes")]
fn fans_reject_vectors() {
    init::fans(&[5]);
}

// ---- gradient checks ----

/// Input points away from the kinks of ReLU / leaky ReLU.
fn input() -> Tensor<f64> {
    t(&[0.7, -1.3, 0.25, 2.1, -0.45, -0.9, 1.6, 0.35, -2.2, 0.8, -0.15, 1.1], &[4, 3])
}

/// Order 1 and 2 with respect to the input, through the public checkers.
fn check_input_derivatives<M: Module<f64>>(name: &str, m: &M) {
    let cfg = GradCheckConfig::default();
    fn run<'t, M: Module<f64>>(m: &M, x: &[Var<'t, f64>]) -> Var<'t, f64> {
        let p = Bound::new(x[0].tape(), m);
        m.forward(&p, x[0])
    }
    gradcheck(|x| run(m, x), &[input()], &cfg).unwrap_or_else(|e| panic!("{name} order 1: {e}"));
    hvp_check(|x| run(m, x), &[input()], &cfg).unwrap_or_else(|e| panic!("{name} order 2: {e}"));
}

#[test]
fn activation_layers_pass_gradcheck_at_orders_1_and_2() {
    check_input_derivatives("relu", &Relu);
    check_input_derivatives("leaky_relu", &LeakyRelu { slope: 0.2 });
    check_input_derivatives("sigmoid", &Sigmoid);
    check_input_derivatives("tanh", &Tanh);
    check_input_derivatives("softplus", &Softplus);
    check_input_derivatives("gelu", &Gelu);
    let mut d = Dropout::new(0.5, 0);
    Module::<f64>::set_training(&mut d, false);
    check_input_derivatives("dropout (eval)", &d);
}

#[test]
fn linear_and_mlp_pass_input_gradcheck_at_orders_1_and_2() {
    check_input_derivatives("linear", &Linear::<f64>::new(3, 5, &mut rng(0)));
    check_input_derivatives("linear no bias", &Linear::<f64>::new_no_bias(3, 5, &mut rng(0)));
    for act in [Activation::Tanh, Activation::Gelu, Activation::Softplus, Activation::Sigmoid] {
        check_input_derivatives(&format!("mlp {act:?}"), &Mlp::<f64>::new(&[3, 6, 2], act, &mut rng(1)));
    }
    let seq =
        Sequential::new().push(Linear::<f64>::new(3, 4, &mut rng(2))).push(Tanh).push(Linear::new(4, 2, &mut rng(3)));
    check_input_derivatives("sequential", &seq);
}

/// The scalar used to check parameter derivatives: `sum(c * tanh(m(x)))`, nonlinear so
/// that the Hessian with respect to the parameters is not zero even for one linear layer.
fn objective<'t, M: Module<f64>>(m: &M, p: &Bound<'t, f64>, x: &Tensor<f64>) -> Var<'t, f64> {
    let y = m.forward(p, p.tape().constant(x.clone()));
    let n = y.numel();
    let c = Tensor::from_vec((0..n).map(|i| 0.3 + 0.1 * i as f64).collect(), &y.shape());
    (y.tanh() * p.tape().constant(c)).sum()
}

fn flat<M: Module<f64>>(m: &M) -> Vec<f64> {
    let mut v = Vec::new();
    m.visit("", &mut |_, p| v.extend_from_slice(p.value().as_slice()));
    v
}

fn set_flat<M: Module<f64>>(m: &mut M, theta: &[f64]) {
    let mut k = 0;
    m.visit_mut("", &mut |_, p| {
        let d = p.value_mut().data_mut();
        let n = d.len();
        d.copy_from_slice(&theta[k..k + n]);
        k += n;
    });
}

fn value_of<M: Module<f64>>(m: &M, x: &Tensor<f64>) -> f64 {
    let tape = Tape::new();
    let p = Bound::new(&tape, m);
    objective(m, &p, x).item()
}

/// Gradient in visiting order, from `Bound::grad`.
fn grad_of<M: Module<f64>>(m: &M, x: &Tensor<f64>) -> Vec<f64> {
    let tape = Tape::new();
    let p = Bound::new(&tape, m);
    let g = p.grad(objective(m, &p, x));
    let mut v = Vec::new();
    m.visit("", &mut |_, param| v.extend_from_slice(g.get(param).expect("gradient").as_slice()));
    v
}

/// Exact Hessian-vector product with respect to all parameters: gradient recorded with
/// `grad_graph`, dotted with `v`, differentiated again.
fn hvp_of<M: Module<f64>>(m: &M, x: &Tensor<f64>, v: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let p = Bound::new(&tape, m);
    let vars: Vec<_> = p.named_vars().map(|(_, v)| v).collect();
    let g = tape.grad_graph(objective(m, &p, x), &vars);
    let mut k = 0;
    let mut dot = tape.scalar(0.0);
    for (i, var) in vars.iter().enumerate() {
        let n = var.numel();
        let vi = tape.constant(Tensor::from_vec(v[k..k + n].to_vec(), &var.shape()));
        dot = dot + (g.dense(i) * vi).sum();
        k += n;
    }
    tape.grad(dot, &vars).values().iter().flat_map(|t| t.to_vec()).collect()
}

fn assert_close(name: &str, what: &str, analytic: &[f64], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len());
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!((a - n).abs() <= 1e-6 + 1e-4 * n.abs(), "{name} {what} entry {i}: analytic {a}, numeric {n}");
    }
}

/// Parameter gradient (order 1) and parameter HVP (order 2) against central differences.
fn check_parameter_derivatives<M: Module<f64>>(name: &str, m: &mut M) {
    let x = input();
    let theta = flat(m);
    let h = 1e-6;
    let mut numeric = Vec::with_capacity(theta.len());
    for i in 0..theta.len() {
        let mut tp = theta.clone();
        tp[i] += h;
        set_flat(m, &tp);
        let fp = value_of(m, &x);
        tp[i] -= 2.0 * h;
        set_flat(m, &tp);
        let fm = value_of(m, &x);
        numeric.push((fp - fm) / (2.0 * h));
    }
    set_flat(m, &theta);
    assert_close(name, "gradient", &grad_of(m, &x), &numeric);

    let v: Vec<f64> = (0..theta.len()).map(|i| ((i * 7 % 11) as f64 - 5.0) / 5.0).collect();
    let h = 1e-5;
    let shifted = |s: f64, m: &mut M| {
        let tp: Vec<f64> = theta.iter().zip(&v).map(|(t, v)| t + s * v).collect();
        set_flat(m, &tp);
        grad_of(m, &x)
    };
    let (gp, gm) = (shifted(h, m), shifted(-h, m));
    set_flat(m, &theta);
    let numeric: Vec<f64> = gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * h)).collect();
    let analytic = hvp_of(m, &x, &v);
    assert!(analytic.iter().any(|a| a.abs() > 1e-3), "{name}: the HVP should not vanish");
    assert_close(name, "hvp", &analytic, &numeric);
}

#[test]
fn linear_and_mlp_parameter_derivatives_at_orders_1_and_2() {
    check_parameter_derivatives("linear", &mut Linear::<f64>::new(3, 4, &mut rng(0)));
    check_parameter_derivatives("linear no bias", &mut Linear::<f64>::new_no_bias(3, 4, &mut rng(0)));
    for act in [Activation::Relu, Activation::LeakyRelu(0.1), Activation::Tanh, Activation::Gelu, Activation::Softplus]
    {
        check_parameter_derivatives(&format!("mlp {act:?}"), &mut Mlp::<f64>::new(&[3, 5, 4, 2], act, &mut rng(4)));
    }
}

/// The parameter checker above must be able to fail: a parameter used through an op whose
/// rule is wrong (`d w^2 = 3 w`) is caught at order 1.
#[test]
fn parameter_check_catches_a_wrong_rule() {
    use wengert_autodiff::{InputGrads, Op, Result};
    use wengert_nn::{join_name, Param};
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
    struct Scale(Param<f64>);
    impl Parameters<f64> for Scale {
        fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
            f(&join_name(prefix, "w"), &self.0)
        }
        fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
            f(&join_name(prefix, "w"), &mut self.0)
        }
    }
    impl Module<f64> for Scale {
        fn forward<'t>(&self, p: &Bound<'t, f64>, x: Var<'t, f64>) -> Var<'t, f64> {
            x * p.tape().apply(WrongSquare, &[p.var(&self.0)]).unwrap()
        }
    }
    let mut m = Scale(Param::new(t(&[0.8, -0.6, 1.2], &[3])));
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_parameter_derivatives("wrong", &mut m)));
    let msg = caught.expect_err("a wrong rule must fail the check");
    let msg = msg.downcast_ref::<String>().expect("panic message");
    assert!(msg.contains("wrong gradient entry"), "{msg}");
}
