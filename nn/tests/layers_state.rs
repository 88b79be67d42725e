//! Normalisation, embedding, attention, flatten and residual layers: gradient checks at orders 1
//! and 2 with respect to inputs and parameters (batch norm in training mode, attention with masks),
//! train/eval behaviour, buffers in the state (saved, loaded, never trained), bad inputs, and every
//! model type `Send + Sync`.

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
use wengert_autodiff::{Tape, Tensor, Var};
use wengert_nn::checkpoint;
use wengert_nn::layers::{
    AttentionMask, BatchNorm1d, BatchNorm2d, Dropout, Embedding, Flatten, Gelu, GroupNorm, LayerNorm, LeakyRelu,
    Linear, Mlp, MultiHeadAttention, Relu, Residual, RmsNorm, Sequential, Sigmoid, Softplus, Tanh,
};
use wengert_nn::{Bound, Module, Parameters};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, 0.0, 1.0, &mut rng(seed))
}

fn forward<M: Module<f64> + ?Sized>(m: &M, x: &Tensor<f64>) -> Tensor<f64> {
    let tape = Tape::new();
    let p = Bound::new(&tape, m);
    m.forward(&p, tape.constant(x.clone())).value()
}

/// `sum(c * tanh(y))`: nonlinear, so the Hessian does not vanish for layers linear in their inputs.
fn objective<'t>(y: Var<'t, f64>) -> Var<'t, f64> {
    let c = Tensor::from_vec((0..y.numel()).map(|i| 0.3 + 0.07 * (i % 13) as f64).collect(), &y.shape());
    (y.tanh() * y.constant_like(c)).sum()
}

fn wrt_input<'t, M: Module<f64>>(m: &M, v: &[Var<'t, f64>]) -> Var<'t, f64> {
    objective(m.forward(&Bound::new(v[0].tape(), m), v[0]))
}

fn wrt_params<'t, M: Module<f64>>(m: &M, x: &Tensor<f64>, v: &[Var<'t, f64>]) -> Var<'t, f64> {
    let tape = v[0].tape();
    objective(m.forward(&Bound::with_vars(tape, m, v), tape.constant(x.clone())))
}

/// Orders 1 and 2 with respect to the input and, separately, to all parameters (via `Bound::with_vars`).
fn check<M: Module<f64>>(name: &str, m: &M, x: Tensor<f64>) {
    let cfg = GradCheckConfig::default();
    let xs = std::slice::from_ref(&x);
    gradcheck(|v| wrt_input(m, v), xs, &cfg).unwrap_or_else(|e| panic!("{name} input, order 1: {e}"));
    hvp_check(|v| wrt_input(m, v), xs, &cfg).unwrap_or_else(|e| panic!("{name} input, order 2: {e}"));
    let params: Vec<Tensor<f64>> = m.named_parameters().into_iter().map(|(_, t)| t).collect();
    if params.is_empty() {
        return;
    }
    gradcheck(|v| wrt_params(m, &x, v), &params, &cfg).unwrap_or_else(|e| panic!("{name} parameters, order 1: {e}"));
    hvp_check(|v| wrt_params(m, &x, v), &params, &cfg).unwrap_or_else(|e| panic!("{name} parameters, order 2: {e}"));
}

/// Non-trivial affine parameters, so that a rule that ignores them cannot pass.
fn perturb<M: Parameters<f64>>(m: &mut M, seed: u64) {
    let mut r = rng(seed);
    m.visit_mut("", &mut |_, p| {
        let noise = Tensor::<f64>::randn(p.shape(), 0.0, 0.3, &mut r);
        let v: Vec<f64> = p.value().as_slice().iter().zip(noise.as_slice()).map(|(a, b)| a + b).collect();
        p.set(Tensor::from_vec(v, p.shape()));
    });
}

#[test]
fn normalisation_layers_pass_gradcheck_at_orders_1_and_2() {
    let mut bn1 = BatchNorm1d::<f64>::new(3);
    perturb(&mut bn1, 1);
    check("batch_norm_1d (training)", &bn1, randn(&[5, 3], 2));
    check("batch_norm_1d [N, C, L] (training)", &bn1, randn(&[2, 3, 3], 3));
    let mut bn2 = BatchNorm2d::<f64>::new(2);
    perturb(&mut bn2, 4);
    check("batch_norm_2d (training)", &bn2, randn(&[2, 2, 2, 3], 5));
    Module::<f64>::set_training(&mut bn2, false);
    check("batch_norm_2d (eval)", &bn2, randn(&[2, 2, 2, 3], 6));
    let mut ln = LayerNorm::<f64>::new(&[4]);
    perturb(&mut ln, 7);
    check("layer_norm", &ln, randn(&[3, 4], 8));
    let mut rms = RmsNorm::<f64>::new(&[2, 3]);
    perturb(&mut rms, 9);
    check("rms_norm", &rms, randn(&[2, 2, 3], 10));
    let mut gn = GroupNorm::<f64>::new(2, 4);
    perturb(&mut gn, 11);
    check("group_norm", &gn, randn(&[2, 4, 3], 12));
}

#[test]
fn attention_embedding_flatten_residual_pass_gradcheck_at_orders_1_and_2() {
    let mut mha = MultiHeadAttention::<f64>::new(4, 2, &mut rng(13));
    perturb(&mut mha, 14);
    check("attention", &mha, randn(&[2, 3, 4], 15));
    mha.causal = true;
    check("attention (causal)", &mha, randn(&[2, 3, 4], 16));
    // key padding: checked through `attend` with the mask, query and key/value as separate inputs
    let mask = AttentionMask { causal: true, key_padding: Some(vec![false, false, true, false, true, true]) };
    let cfg = GradCheckConfig::default();
    fn masked<'t>(m: &MultiHeadAttention<f64>, mask: &AttentionMask, v: &[Var<'t, f64>]) -> Var<'t, f64> {
        objective(m.attend(&Bound::new(v[0].tape(), m), v[0], v[1], v[1], mask).0)
    }
    let xs = [randn(&[2, 3, 4], 17), randn(&[2, 3, 4], 18)];
    gradcheck(|v| masked(&mha, &mask, v), &xs, &cfg).expect("masked attention, order 1");
    hvp_check(|v| masked(&mha, &mask, v), &xs, &cfg).expect("masked attention, order 2");

    // embedding: with respect to the table (the indices are not differentiable); without a padding
    // index, whose row deliberately gets no gradient (see torch_layers.rs)
    let emb = Embedding::<f64>::new(5, 3, None, &mut rng(19));
    let idx = [0, 2, 4, 4, 1, 2];
    fn lookup<'t>(emb: &Embedding<f64>, idx: &[usize], v: &[Var<'t, f64>]) -> Var<'t, f64> {
        objective(emb.lookup(&Bound::with_vars(v[0].tape(), emb, v), idx, &[2, 3]))
    }
    let table = [emb.weight.value().clone()];
    gradcheck(|v| lookup(&emb, &idx, v), &table, &cfg).expect("embedding, order 1");
    hvp_check(|v| lookup(&emb, &idx, v), &table, &cfg).expect("embedding, order 2");

    check("flatten", &Flatten::new(), randn(&[2, 2, 3], 20));
    let block = Residual::new(Sequential::new().push(Linear::<f64>::new(3, 3, &mut rng(21))).push(Tanh));
    check("residual", &block, randn(&[2, 3], 22));
}

#[test]
fn shapes_names_and_counts() {
    let x = randn(&[2, 3, 4, 5], 0);
    assert_eq!(forward(&Flatten::new(), &x).shape(), &[2, 60]);
    assert_eq!(forward(&Flatten { start_dim: 1, end_dim: 2 }, &x).shape(), &[2, 12, 5]);
    assert_eq!(forward(&Flatten { start_dim: 0, end_dim: -2 }, &x).shape(), &[24, 5]);
    let bn = BatchNorm2d::<f64>::new(3);
    assert_eq!(forward(&bn, &x).shape(), &[2, 3, 4, 5]);
    let names: Vec<_> = bn.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    let buffers: Vec<_> = bn.named_buffers().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
    assert_eq!(
        buffers,
        [("running_mean".into(), vec![3]), ("running_var".into(), vec![3]), ("num_batches_tracked".into(), vec![])]
    );
    let mha = MultiHeadAttention::<f32>::new(8, 2, &mut rng(0));
    let names: Vec<_> = mha.named_parameters().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect();
    assert_eq!(
        names,
        [
            ("in_proj_weight".into(), vec![24, 8]),
            ("in_proj_bias".into(), vec![24]),
            ("out_proj.weight".into(), vec![8, 8]),
            ("out_proj.bias".into(), vec![8])
        ]
    );
    assert_eq!(mha.num_parameters(), 3 * 64 + 24 + 64 + 8);
    let gn = GroupNorm::<f64>::new(3, 6);
    assert_eq!(forward(&gn, &randn(&[2, 6, 5], 1)).shape(), &[2, 6, 5]);
    // PyTorch defaults: affine weight ones, bias zeros; the embedding's padding row zero
    assert!(gn.weight.as_ref().unwrap().value().as_slice().iter().all(|&w| w == 1.0));
    let emb = Embedding::<f64>::new(4, 3, Some(3), &mut rng(2));
    assert_eq!(emb.weight.value().as_slice()[9..], [0.0; 3]);
    assert!(emb.weight.value().as_slice()[..9].iter().all(|&w| w != 0.0));
}

/// Normalised rows have mean 0 and variance 1 (before the affine part, which starts as the identity).
#[test]
fn normalisations_standardise_what_they_should() {
    let x = randn(&[4, 6], 3);
    let y = forward(&LayerNorm::<f64>::new(&[6]), &x);
    for row in y.as_slice().chunks(6) {
        let m = row.iter().sum::<f64>() / 6.0;
        let v = row.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 6.0;
        assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-4, "layer norm row mean {m}, var {v}");
    }
    let y = forward(&BatchNorm1d::<f64>::new(6), &x);
    for c in 0..6 {
        let col: Vec<f64> = (0..4).map(|r| y.as_slice()[r * 6 + c]).collect();
        let m = col.iter().sum::<f64>() / 4.0;
        assert!(m.abs() < 1e-12, "batch norm column mean {m}");
    }
    // group norm with one group per channel is instance norm: each [n, c] plane standardised
    let x = randn(&[2, 3, 5], 4);
    let y = forward(&GroupNorm::<f64>::new(3, 3), &x);
    for plane in y.as_slice().chunks(5) {
        assert!(plane.iter().sum::<f64>().abs() < 1e-12);
    }
}

#[test]
fn batch_norm_train_and_eval_differ_and_eval_does_not_touch_the_statistics() {
    let mut bn = BatchNorm1d::<f64>::new(2);
    let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0, 5.0, 20.0], &[3, 2]);
    let train = forward(&bn, &x);
    assert_eq!(bn.num_batches_tracked(), 1);
    // running_mean = 0.1 * [3, 20], running_var = 0.9 + 0.1 * [4, 100] (unbiased batch variances)
    let (rm, rv) = (bn.running_mean().to_vec(), bn.running_var().to_vec());
    assert!((rm[0] - 0.3).abs() < 1e-12 && (rm[1] - 2.0).abs() < 1e-12, "{rm:?}");
    assert!((rv[0] - 1.3).abs() < 1e-12 && (rv[1] - 10.9).abs() < 1e-12, "{rv:?}");
    Module::<f64>::set_training(&mut bn, false);
    let eval = forward(&bn, &x);
    assert_eq!(bn.num_batches_tracked(), 1);
    assert_eq!(bn.running_mean().to_vec(), rm);
    // eval: (x - running_mean) / sqrt(running_var + eps)
    let want = (1.0 - 0.3) / (1.3f64 + 1e-5).sqrt();
    assert!((eval.as_slice()[0] - want).abs() < 1e-12, "{} vs {want}", eval.as_slice()[0]);
    assert!((train.as_slice()[0] - eval.as_slice()[0]).abs() > 0.1);
    // set_training reaches a batch norm inside a Sequential
    let mut seq = Sequential::new().push(BatchNorm1d::<f64>::new(2));
    Module::<f64>::set_training(&mut seq, false);
    forward(&seq, &x);
    assert_eq!(seq.named_buffers()[2].1.item(), 0.0, "eval mode inside a Sequential tracks no batch");
}

#[test]
fn a_non_finite_batch_leaves_the_running_statistics_alone() {
    let bn = BatchNorm1d::<f64>::new(2);
    let x = Tensor::from_vec(vec![1.0, f64::NAN, 3.0, 4.0], &[2, 2]);
    let y = forward(&bn, &x);
    assert!(y.as_slice()[1].is_nan(), "the NaN shows in the output, where it arises");
    assert_eq!(bn.num_batches_tracked(), 0);
    assert_eq!(bn.running_mean().to_vec(), vec![0.0, 0.0]);
    assert_eq!(bn.running_var().to_vec(), vec![1.0, 1.0]);
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wengert-layers-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join("m.safetensors")
}

fn bn_model(seed: u64) -> Sequential<f64> {
    Sequential::new().push(Linear::new(3, 4, &mut rng(seed))).push(BatchNorm1d::new(4)).push(Relu).push(Linear::new(
        4,
        2,
        &mut rng(seed + 1),
    ))
}

#[test]
fn buffers_are_saved_and_loaded_but_not_parameters() {
    let mut model = bn_model(0);
    for k in 0..3 {
        forward(&model, &randn(&[8, 3], 30 + k));
    }
    // buffers are state, not parameters: optimisers (which visit parameters) never see them
    let params: Vec<_> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(params, ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]);
    let state = checkpoint::state_dict(&model);
    assert_eq!(state.tensors["1.num_batches_tracked"].item(), 3.0);
    assert!(state.tensors.contains_key("1.running_var"));

    let path = tmp("buffers");
    checkpoint::save_model(&path, &model).unwrap();
    let mut fresh = bn_model(5);
    Module::<f64>::set_training(&mut model, false);
    Module::<f64>::set_training(&mut fresh, false);
    let x = randn(&[4, 3], 40);
    assert_ne!(forward(&fresh, &x).to_vec(), forward(&model, &x).to_vec());
    checkpoint::load_model(&path, &mut fresh).unwrap();
    assert_eq!(fresh.named_buffers(), model.named_buffers());
    assert_eq!(forward(&fresh, &x).to_vec(), forward(&model, &x).to_vec(), "same state, same eval outputs");

    // a file without the buffers is refused, naming the missing one, and leaves the model untouched
    let params_only = tmp("params-only");
    let mut without_buffer = checkpoint::state_dict(&model);
    without_buffer.tensors.remove("1.running_var");
    checkpoint::save(&params_only, &without_buffer).unwrap();
    let before = fresh.named_buffers();
    let err = checkpoint::load_model(&params_only, &mut fresh).unwrap_err().to_string();
    assert!(err.contains("1.running_var"), "{err}");
    assert_eq!(fresh.named_buffers(), before);
}

#[test]
fn embedding_as_a_module_reads_float_indices() {
    let emb = Embedding::<f64>::new(4, 2, None, &mut rng(0));
    let y = forward(&emb, &Tensor::from_vec(vec![3.0, 0.0], &[2]));
    let w = emb.weight.value().as_slice();
    assert_eq!(y.to_vec(), [w[6], w[7], w[0], w[1]]);
}

#[test]
#[should_panic(expected = "Embedding: index 4 out of range for 4 embeddings")]
fn embedding_rejects_an_index_out_of_range() {
    forward(&Embedding::<f64>::new(4, 2, None, &mut rng(0)), &Tensor::from_vec(vec![4.0], &[1]));
}

#[test]
#[should_panic(expected = "BatchNorm2d: input of shape [2, 3, 4] for a layer with 3 channels")]
fn batch_norm_2d_rejects_a_3d_input() {
    forward(&BatchNorm2d::<f64>::new(3), &Tensor::zeros(&[2, 3, 4]));
}

#[test]
#[should_panic(expected = "BatchNorm1d: training needs more than 1 value per channel")]
fn batch_norm_rejects_a_single_value_per_channel_in_training() {
    forward(&BatchNorm1d::<f64>::new(3), &Tensor::zeros(&[1, 3]));
}

#[test]
#[should_panic(expected = "LayerNorm: input of shape [2, 5] does not end with normalized_shape [4]")]
fn layer_norm_rejects_a_wrong_trailing_shape() {
    forward(&LayerNorm::<f64>::new(&[4]), &Tensor::zeros(&[2, 5]));
}

#[test]
#[should_panic(expected = "GroupNorm: num_channels (5) must be divisible by num_groups (2)")]
fn group_norm_rejects_groups_that_do_not_divide_channels() {
    GroupNorm::<f64>::new(2, 5);
}

#[test]
#[should_panic(expected = "MultiHeadAttention: query [2, 3, 5]")]
fn attention_rejects_a_wrong_width() {
    forward(&MultiHeadAttention::<f64>::new(4, 2, &mut rng(0)), &Tensor::zeros(&[2, 3, 5]));
}

#[test]
#[should_panic(expected = "Residual: the block maps [2, 3] to [2, 4]")]
fn residual_rejects_a_shape_changing_block() {
    forward(&Residual::new(Linear::<f64>::new(3, 4, &mut rng(0))), &Tensor::zeros(&[2, 3]));
}

/// Models cross threads: a compile-time check for every layer and container, then a model trained
/// on one thread and evaluated on another.
#[test]
fn every_model_type_is_send_and_sync() {
    fn send_sync<M: Send + Sync>() {}
    send_sync::<Linear<f32>>();
    send_sync::<Mlp<f32>>();
    send_sync::<Sequential<f32>>();
    send_sync::<Box<dyn Module<f32>>>();
    send_sync::<Dropout>();
    send_sync::<Relu>();
    send_sync::<LeakyRelu>();
    send_sync::<Sigmoid>();
    send_sync::<Tanh>();
    send_sync::<Softplus>();
    send_sync::<Gelu>();
    send_sync::<Flatten>();
    send_sync::<BatchNorm1d<f32>>();
    send_sync::<BatchNorm2d<f64>>();
    send_sync::<LayerNorm<f32>>();
    send_sync::<RmsNorm<f32>>();
    send_sync::<GroupNorm<f32>>();
    send_sync::<Embedding<f32>>();
    send_sync::<MultiHeadAttention<f32>>();
    send_sync::<Residual<Sequential<f32>>>();

    let model = bn_model(3).push(Dropout::new(0.5, 0));
    let x = randn(&[6, 3], 50);
    let y = std::thread::spawn(move || forward(&model, &x).shape().to_vec()).join().unwrap();
    assert_eq!(y, vec![6, 2]);
    let shared = std::sync::Arc::new(bn_model(4));
    let handles: Vec<_> = (0..2)
        .map(|k| {
            let m = std::sync::Arc::clone(&shared);
            std::thread::spawn(move || forward(&*m, &randn(&[4, 3], k)).numel())
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap() == 8));
    assert_eq!(shared.named_buffers()[2].1.item(), 2.0, "both threads' batches were tracked");
}
