//! One training step of a LeNet-style CNN: conv 1->6 5x5, ReLU, max-pool 2, conv 6->16 5x5, ReLU,
//! max-pool 2, 256-120-84-10 ReLU MLP, softmax cross-entropy (`log_softmax` + `pick`, mean), batch 64,
//! 28x28 inputs, `f32`, Adam (PyTorch defaults, lr 1e-3).
//!
//! The workload of `../shared/anchors/torch_conv_step.py [threads] [batch]`. The model is written with
//! `Param` + `Bound` and the tape's `conv2d` / `max_pool2d` ops directly; PyTorch's default initialisation
//! (uniform `±1/sqrt(fan_in)` for weights and biases).

mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;
use wengert::autodiff::ops::{Conv2dArgs, Pool2dArgs};
use wengert::nn::{Bound, Grads, Param};
use wengert::optim::first_order::{Adam, AdamConfig, Optimizer};
use wengert::prelude::*;

const BATCH: usize = 64;

/// `(shape, fan_in)` of every parameter, in PyTorch's `state_dict` order.
const PARAMS: [(&[usize], usize); 10] = [
    (&[6, 1, 5, 5], 25),
    (&[6], 25),
    (&[16, 6, 5, 5], 150),
    (&[16], 150),
    (&[120, 256], 256),
    (&[120], 256),
    (&[84, 120], 120),
    (&[84], 120),
    (&[10, 84], 84),
    (&[10], 84),
];

fn lenet(rng: &mut impl Rng) -> Vec<Param<f32>> {
    PARAMS
        .iter()
        .map(|&(shape, fan_in)| {
            let bound = 1.0 / (fan_in as f32).sqrt();
            Param::new(Tensor::rand_uniform(shape, -bound, bound, rng))
        })
        .collect()
}

/// The mean cross-entropy on `(x, labels)` and its gradients.
fn loss_and_grads(model: &[Param<f32>], x: &Tensor<f32>, labels: &[usize]) -> (f32, Grads<f32>) {
    let tape = Tape::new();
    let p = Bound::new(&tape, model);
    let v = |i: usize| p.var(&model[i]);
    let (conv, pool) = (Conv2dArgs::new(), Pool2dArgs::new(2));
    let h = tape.constant(x.clone());
    let h = h.conv2d(v(0), Some(v(1)), &conv).relu().max_pool2d(&pool);
    let h = h.conv2d(v(2), Some(v(3)), &conv).relu().max_pool2d(&pool);
    let mut h = h.reshape(&[BATCH, 256]);
    for l in 2..5 {
        h = h.matmul_t(v(2 * l), false, true) + v(2 * l + 1);
        if l < 4 {
            h = h.relu();
        }
    }
    let loss = -h.log_softmax(-1).pick(labels).mean();
    (loss.item(), p.grad(loss))
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
    let mut model = lenet(&mut rng);
    let x = Tensor::randn(&[BATCH, 1, 28, 28], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..BATCH).map(|_| rng.random_range(0..10)).collect();
    // Some steps must lower the loss on a fixed batch (as the PyTorch script asserts), or the
    // benchmark measures a broken step.
    let mut opt = Adam::new(AdamConfig::default());
    let first = adam_step(&mut model, &mut opt, &x, &labels);
    let later = (0..20).map(|_| adam_step(&mut model, &mut opt, &x, &labels)).last().unwrap();
    assert!(later < first, "Adam did not reduce the loss: {first} -> {later}");

    let mut g = c.benchmark_group("conv_step");
    g.sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(BATCH as u64));
    // Timed from this state, 21 steps into training, in runs of `support::RUN` steps (as the peer).
    let start = (model, opt);
    g.bench_function("lenet_b64_f32_adam", |b| {
        b.iter_custom(|n| support::time_steps(&start, n, |(m, o)| _ = black_box(adam_step(m, o, &x, &labels))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
