//! Normalisation, embedding and attention layers against values PyTorch produced on fixed inputs
//! (`fixtures/make_layer_fixtures.py` wrote `fixtures/torch_layers.safetensors` and
//! `fixtures/torch_seq.safetensors` in float64): outputs, input gradients, running statistics, and a
//! PyTorch `state_dict` loaded into the equivalent model giving the same outputs.

use wengert_autodiff::{Tape, Tensor, Var};
use wengert_nn::checkpoint::{self, load_state_dict};
use wengert_nn::layers::{
    AttentionMask, BatchNorm1d, BatchNorm2d, Embedding, GroupNorm, LayerNorm, Linear, MultiHeadAttention, RmsNorm,
};
use wengert_nn::{join_name, Bound, Buffer, Module, Param, Parameters, StateDict};

fn fixture(name: &str) -> StateDict<f64> {
    checkpoint::load(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn get(s: &StateDict<f64>, k: &str) -> Tensor<f64> {
    s.tensors.get(k).unwrap_or_else(|| panic!("fixture has no {k}")).clone()
}

#[track_caller]
fn assert_close(what: &str, ours: &Tensor<f64>, torch: &Tensor<f64>, tol: f64) {
    assert_eq!(ours.shape(), torch.shape(), "{what}: shapes");
    for (i, (a, b)) in ours.as_slice().iter().zip(torch.as_slice()).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what} entry {i}: ours {a}, PyTorch {b}");
    }
}

/// `y = m(x)` and `d/dx sum(y * r)`, as the script computes them.
fn output_and_input_grad<M: Module<f64>>(m: &M, x: &Tensor<f64>, r: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    let tape = Tape::new();
    let p = Bound::new(&tape, m);
    let xv = tape.var(x.clone());
    let y = m.forward(&p, xv);
    let g = tape.grad((y * tape.constant(r.clone())).sum(), &[xv]);
    (y.value(), g.value(0).clone())
}

fn set(p: &mut Option<Param<f64>>, v: Tensor<f64>) {
    p.as_mut().expect("affine parameter").set(v);
}

#[test]
fn batch_norm_1d_training_steps_running_statistics_and_eval_match_pytorch() {
    let s = fixture("torch_layers.safetensors");
    let mut bn = BatchNorm1d::<f64>::new(3);
    set(&mut bn.weight, get(&s, "bn1d.weight"));
    set(&mut bn.bias, get(&s, "bn1d.bias"));
    let (y1, g1) = output_and_input_grad(&bn, &get(&s, "bn1d.x1"), &get(&s, "bn1d.r"));
    assert_close("bn1d training output", &y1, &get(&s, "bn1d.y1"), 1e-12);
    assert_close("bn1d training input gradient", &g1, &get(&s, "bn1d.grad1"), 1e-10);
    let (y2, _) = output_and_input_grad(&bn, &get(&s, "bn1d.x2"), &get(&s, "bn1d.x2"));
    assert_close("bn1d second step", &y2, &get(&s, "bn1d.y2"), 1e-12);
    assert_eq!(bn.num_batches_tracked(), 2);
    assert_close("bn1d running_mean", &bn.running_mean(), &get(&s, "bn1d.running_mean"), 1e-12);
    assert_close("bn1d running_var (unbiased)", &bn.running_var(), &get(&s, "bn1d.running_var"), 1e-12);
    Module::<f64>::set_training(&mut bn, false);
    let (ye, _) = output_and_input_grad(&bn, &get(&s, "bn1d.xe"), &get(&s, "bn1d.xe"));
    assert_close("bn1d eval output", &ye, &get(&s, "bn1d.ye"), 1e-12);
    assert_eq!(bn.num_batches_tracked(), 2, "eval mode must not update the running statistics");
    assert_close("bn1d running_mean after eval", &bn.running_mean(), &get(&s, "bn1d.running_mean"), 1e-12);

    let cumulative = BatchNorm1d::<f64>::new(3).momentum(None);
    for k in ["bn1d.x1", "bn1d.x2", "bn1d.xe"] {
        output_and_input_grad(&cumulative, &get(&s, k), &get(&s, k));
    }
    assert_close(
        "cumulative running_mean",
        &cumulative.running_mean(),
        &get(&s, "bn1d_cumulative.running_mean"),
        1e-12,
    );
    assert_close("cumulative running_var", &cumulative.running_var(), &get(&s, "bn1d_cumulative.running_var"), 1e-12);
}

#[test]
fn batch_norm_2d_layer_group_and_rms_norm_match_pytorch_with_input_gradients() {
    let s = fixture("torch_layers.safetensors");
    let mut bn = BatchNorm2d::<f64>::new(2);
    set(&mut bn.weight, get(&s, "bn2d.weight"));
    set(&mut bn.bias, get(&s, "bn2d.bias"));
    let (y, g) = output_and_input_grad(&bn, &get(&s, "bn2d.x"), &get(&s, "bn2d.r"));
    assert_close("bn2d output", &y, &get(&s, "bn2d.y"), 1e-12);
    assert_close("bn2d input gradient", &g, &get(&s, "bn2d.grad"), 1e-10);
    assert_close("bn2d running_var", &bn.running_var(), &get(&s, "bn2d.running_var"), 1e-12);

    let mut ln = LayerNorm::<f64>::new(&[3, 4]);
    set(&mut ln.weight, get(&s, "ln.weight"));
    set(&mut ln.bias, get(&s, "ln.bias"));
    let (y, g) = output_and_input_grad(&ln, &get(&s, "ln.x"), &get(&s, "ln.r"));
    assert_close("layer norm output", &y, &get(&s, "ln.y"), 1e-12);
    assert_close("layer norm input gradient", &g, &get(&s, "ln.grad"), 1e-10);

    let mut rms = RmsNorm::<f64>::new(&[5]);
    set(&mut rms.weight, get(&s, "rms.weight"));
    let (y, g) = output_and_input_grad(&rms, &get(&s, "rms.x"), &get(&s, "rms.r"));
    assert_close("rms norm output", &y, &get(&s, "rms.y"), 1e-12);
    assert_close("rms norm input gradient", &g, &get(&s, "rms.grad"), 1e-10);

    let mut gn = GroupNorm::<f64>::new(2, 4);
    set(&mut gn.weight, get(&s, "gn.weight"));
    set(&mut gn.bias, get(&s, "gn.bias"));
    let (y, g) = output_and_input_grad(&gn, &get(&s, "gn.x"), &get(&s, "gn.r"));
    assert_close("group norm output", &y, &get(&s, "gn.y"), 1e-12);
    assert_close("group norm input gradient", &g, &get(&s, "gn.grad"), 1e-10);
}

#[test]
fn embedding_weight_gradient_skips_the_padding_row_as_pytorch() {
    let s = fixture("torch_layers.safetensors");
    let emb = Embedding::from_tensor(get(&s, "emb.weight"), Some(1));
    let idx: Vec<usize> = get(&s, "emb.idx").as_slice().iter().map(|&i| i as usize).collect();
    let tape = Tape::new();
    let p = Bound::new(&tape, &emb);
    let y = emb.lookup(&p, &idx, &[2, 3]);
    let rows: Vec<f64> =
        idx.iter().flat_map(|&i| get(&s, "emb.weight").as_slice()[3 * i..3 * i + 3].to_vec()).collect();
    assert_eq!(y.value().to_vec(), rows, "lookup returns the rows, padding row included");
    let g = p.grad((y * tape.constant(get(&s, "emb.r"))).sum());
    assert_close("embedding weight gradient", g.get(&emb.weight).unwrap(), &get(&s, "emb.grad"), 1e-12);
    assert_eq!(g.get(&emb.weight).unwrap().as_slice()[3..6], [0.0; 3]);
}

fn load_mha(s: &StateDict<f64>) -> MultiHeadAttention<f64> {
    use rand::SeedableRng;
    let mut mha = MultiHeadAttention::<f64>::new(6, 2, &mut rand::rngs::StdRng::seed_from_u64(0));
    load_state_dict(&mut mha, &s.sub("mha")).unwrap();
    mha
}

#[test]
fn attention_with_key_padding_and_causal_masks_matches_pytorch() {
    let s = fixture("torch_layers.safetensors");
    let mha = load_mha(&s);
    let pad: Vec<bool> = get(&s, "mha.pad").as_slice().iter().map(|&v| v != 0.0).collect();
    let mask = AttentionMask { causal: false, key_padding: Some(pad) };
    let tape = Tape::new();
    let p = Bound::new(&tape, &mha);
    let q = tape.var(get(&s, "mha.q"));
    let kv = tape.constant(get(&s, "mha.kv"));
    let (y, w) = mha.attend(&p, q, kv, kv, &mask);
    assert_close("attention output", &y.value(), &get(&s, "mha.y"), 1e-12);
    assert_close("attention weights", &w.value(), &get(&s, "mha.weights"), 1e-12);
    assert!(w.value().as_slice().iter().filter(|&&v| v == 0.0).count() >= 2 * 4 * 3, "masked keys get weight 0");
    let g = tape.grad((y * tape.constant(get(&s, "mha.r"))).sum(), &[q]);
    assert_close("attention query gradient", &g.value(0), &get(&s, "mha.grad_q"), 1e-10);

    let mut causal = load_mha(&s);
    causal.causal = true;
    let tape = Tape::new();
    let p = Bound::new(&tape, &causal);
    let x = tape.constant(get(&s, "mha.kv")).slice(1, 0..4);
    assert_close("causal self-attention", &causal.forward(&p, x).value(), &get(&s, "mha.y_causal"), 1e-12);
}

/// The model of `make_layer_fixtures.py`'s `Seq`: embedding (padding 0) -> layer norm -> causal
/// self-attention (residual) -> RMS norm -> linear, with PyTorch's attribute names.
struct Seq {
    emb: Embedding<f64>,
    ln: LayerNorm<f64>,
    attn: MultiHeadAttention<f64>,
    rms: RmsNorm<f64>,
    head: Linear<f64>,
}

impl Parameters<f64> for Seq {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
        self.emb.visit(&join_name(prefix, "emb"), f);
        self.ln.visit(&join_name(prefix, "ln"), f);
        self.attn.visit(&join_name(prefix, "attn"), f);
        self.rms.visit(&join_name(prefix, "rms"), f);
        self.head.visit(&join_name(prefix, "head"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
        self.emb.visit_mut(&join_name(prefix, "emb"), f);
        self.ln.visit_mut(&join_name(prefix, "ln"), f);
        self.attn.visit_mut(&join_name(prefix, "attn"), f);
        self.rms.visit_mut(&join_name(prefix, "rms"), f);
        self.head.visit_mut(&join_name(prefix, "head"), f);
    }
    fn visit_buffers(&self, _: &str, _: &mut dyn FnMut(&str, &Buffer<f64>)) {}
}

impl Module<f64> for Seq {
    fn forward<'t>(&self, p: &Bound<'t, f64>, tokens: Var<'t, f64>) -> Var<'t, f64> {
        let h = self.ln.forward(p, self.emb.forward(p, tokens));
        let a = self.attn.forward(p, h);
        self.head.forward(p, self.rms.forward(p, h + a))
    }
}

#[test]
fn a_pytorch_sequence_model_state_dict_loads_and_gives_the_same_outputs() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut attn = MultiHeadAttention::new(8, 2, &mut rng);
    attn.causal = true;
    let mut model = Seq {
        emb: Embedding::new(12, 8, Some(0), &mut rng),
        ln: LayerNorm::new(&[8]),
        attn,
        rms: RmsNorm::new(&[8]),
        head: Linear::new(8, 3, &mut rng),
    };
    let path = format!("{}/tests/fixtures/torch_seq.safetensors", env!("CARGO_MANIFEST_DIR"));
    checkpoint::load_model(&path, &mut model).unwrap();
    let s = fixture("torch_seq.safetensors");
    let tape = Tape::new();
    let p = Bound::new(&tape, &model);
    let y = model.forward(&p, tape.constant(get(&s, "tokens")));
    assert_close("sequence model output", &y.value(), &get(&s, "output"), 1e-12);
}

#[test]
fn pytorch_int64_num_batches_tracked_loads_as_a_float() {
    let s = fixture("torch_cnn.safetensors");
    assert_eq!(get(&s, "1.num_batches_tracked").to_vec(), vec![5.0]);
    assert_eq!(get(&s, "1.num_batches_tracked").shape(), &[] as &[usize]);
}

/// `make_layer_fixtures.py`'s CNN: conv, batch norm, max pool, conv, batch norm, average pool, flatten,
/// dropout, linear, as a `Sequential` (so the names are PyTorch's `nn.Sequential` names).
fn cnn() -> wengert_nn::layers::Sequential<f64> {
    use rand::SeedableRng;
    use wengert_autodiff::ops::Conv2dArgs;
    use wengert_nn::layers::{AvgPool2d, Conv2d, Dropout, Flatten, MaxPool2d, Relu, Sequential};
    let rng = &mut rand::rngs::StdRng::seed_from_u64(7);
    let same = Conv2dArgs::new().padding(1);
    Sequential::new()
        .push(Conv2d::new(1, 4, [3, 3], same, rng))
        .push(BatchNorm2d::new(4))
        .push(Relu)
        .push(MaxPool2d::new(2))
        .push(Conv2d::new(4, 8, [3, 3], same, rng))
        .push(BatchNorm2d::new(8))
        .push(Relu)
        .push(AvgPool2d::new(2))
        .push(Flatten::new())
        .push(Dropout::new(0.25, 0))
        .push(Linear::new(8 * 2 * 2, 10, rng))
}

#[test]
fn a_pytorch_cnn_state_dict_with_batch_norm_statistics_loads_and_gives_the_same_logits() {
    let path = format!("{}/tests/fixtures/torch_cnn.safetensors", env!("CARGO_MANIFEST_DIR"));
    let mut model = cnn();
    checkpoint::load_model(&path, &mut model).unwrap();
    Module::<f64>::set_training(&mut model, false);
    let s = fixture("torch_cnn.safetensors");
    assert_close("running_var loaded", &model.named_buffers()[1].1, &get(&s, "1.running_var"), 0.0);
    let tape = Tape::new();
    let p = Bound::new(&tape, &model);
    let logits = model.forward(&p, tape.constant(get(&s, "input")));
    assert_close("CNN logits (eval mode)", &logits.value(), &get(&s, "logits"), 1e-12);

    // save -> load round trip of the whole state, then the same logits again
    let dir = std::env::temp_dir().join(format!("wengert-torch-cnn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    checkpoint::save_model(dir.join("cnn.safetensors"), &model).unwrap();
    let mut again = cnn();
    checkpoint::load_model(dir.join("cnn.safetensors"), &mut again).unwrap();
    Module::<f64>::set_training(&mut again, false);
    let tape = Tape::new();
    let p = Bound::new(&tape, &again);
    assert_eq!(again.forward(&p, tape.constant(get(&s, "input"))).value().to_vec(), logits.value().to_vec());
    assert_eq!(checkpoint::state_dict(&again), checkpoint::state_dict(&model));
    std::fs::remove_dir_all(dir).unwrap();
}
