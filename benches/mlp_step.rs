//! One training step of a 784-256-256-10 ReLU MLP with softmax cross-entropy
//! (`log_softmax` + `pick`, mean over the batch), batch 128, `f32`.
//!
//! The workload of `../shared/anchors/torch_mlp_step.py` and `jax_mlp_step.py`, which use Adam (lr 1e-3):
//! measured here with `wengert_optim::first_order::Adam` (PyTorch defaults) and with plain SGD, in runs of
//! 200 steps as the peers (`support::time_steps`). Figures: `benches/README.md`.
//! The model is written with `Param` + `Bound` + tape ops directly: `y = x W^T + b`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;
use wengert::nn::{Bound, Grads, Param};
use wengert::optim::first_order::{Adam, AdamConfig, Optimizer};
use wengert::prelude::*;

const SIZES: [usize; 4] = [784, 256, 256, 10];
const BATCH: usize = 128;

/// `(weight [out, in], bias [out])` per layer, PyTorch-style uniform init `±1/sqrt(in)`.
fn mlp(rng: &mut impl Rng) -> Vec<Param<f32>> {
    let mut ps = Vec::new();
    for w in SIZES.windows(2) {
        let bound = 1.0 / (w[0] as f32).sqrt();
        ps.push(Param::new(Tensor::rand_uniform(&[w[1], w[0]], -bound, bound, rng)));
        ps.push(Param::new(Tensor::rand_uniform(&[w[1]], -bound, bound, rng)));
    }
    ps
}

/// The mean cross-entropy on `(x, labels)` and its gradients.
fn loss_and_grads(model: &[Param<f32>], x: &Tensor<f32>, labels: &[usize]) -> (f32, Grads<f32>) {
    let tape = Tape::new();
    let p = Bound::new(&tape, model);
    let mut h = tape.constant(x.clone());
    let layers = model.len() / 2;
    for l in 0..layers {
        let (w, b) = (p.var(&model[2 * l]), p.var(&model[2 * l + 1]));
        h = h.matmul_t(w, false, true) + b;
        if l + 1 < layers {
            h = h.relu();
        }
    }
    let loss = -h.log_softmax(-1).pick(labels).mean();
    (loss.item(), p.grad(loss))
}

/// One SGD step `w <- w - lr g`; returns the loss before the update.
fn sgd_step(model: &mut [Param<f32>], x: &Tensor<f32>, labels: &[usize], lr: f32) -> f32 {
    // The tape is gone by now, so each parameter's storage is unshared and updated in place.
    let (loss, grads) = loss_and_grads(model, x, labels);
    for param in model.iter_mut() {
        let g = grads.get(param).expect("every parameter has a gradient").clone();
        let v = param.value_mut().data_mut();
        v.iter_mut().zip(g.as_slice()).for_each(|(v, &g)| *v -= lr * g);
    }
    loss
}

/// One Adam step; returns the loss before the update.
// A `Vec`, not a slice: `Optimizer::step` takes `&mut dyn Parameters`, which an unsized slice cannot coerce to.
#[allow(clippy::ptr_arg)]
fn adam_step(model: &mut Vec<Param<f32>>, opt: &mut Adam<f32>, x: &Tensor<f32>, labels: &[usize]) -> f32 {
    let (loss, grads) = loss_and_grads(model, x, labels);
    opt.step(model, &grads).expect("finite gradients of the right shapes");
    loss
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = mlp(&mut rng);
    let x = Tensor::randn(&[BATCH, SIZES[0]], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..BATCH).map(|_| rng.random_range(0..SIZES[3])).collect();
    // A few steps must lower the loss on a fixed batch, or the benchmark measures a broken step.
    let first = sgd_step(&mut model, &x, &labels, 0.05);
    let later = (0..5).map(|_| sgd_step(&mut model, &x, &labels, 0.05)).last().unwrap();
    assert!(later < first, "SGD did not reduce the loss: {first} -> {later}");
    let mut opt = Adam::new(AdamConfig::default());
    let first = adam_step(&mut model, &mut opt, &x, &labels);
    let later = (0..5).map(|_| adam_step(&mut model, &mut opt, &x, &labels)).last().unwrap();
    assert!(later < first, "Adam did not reduce the loss: {first} -> {later}");

    let mut g = c.benchmark_group("mlp_step");
    g.sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(BATCH as u64));
    // Timed from this state, 20 steps into training, in runs of `support::RUN` steps (as the peers).
    for _ in 0..8 {
        adam_step(&mut model, &mut opt, &x, &labels);
    }
    let start = (model, opt);
    g.bench_function("relu_784_256_256_10_b128_f32_adam", |b| {
        b.iter_custom(|n| support::time_steps(&start, n, |(m, o)| _ = black_box(adam_step(m, o, &x, &labels))))
    });
    g.bench_function("relu_784_256_256_10_b128_f32_sgd", |b| {
        b.iter_custom(|n| support::time_steps(&start.0, n, |m| _ = black_box(sgd_step(m, &x, &labels, 1e-4))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
