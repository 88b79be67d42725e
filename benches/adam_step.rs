//! One Adam step (PyTorch defaults, f32) over 1,000,000 parameters held as 4 tensors of 250,000, and over
//! one tensor of 1,000,000: the fused, chunk-parallel update of `wengert_optim::first_order::Adam`
//! (gradient check + one pass over parameter, gradient, `exp_avg`, `exp_avg_sq`).
//!
//! Peer: PyTorch `torch.optim.Adam(foreach=True)` on the same 4 x 250k tensors (script in benches/README.md).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::Rng;
use std::hint::black_box;
use std::time::Duration;
use wengert::nn::{Grads, Param};
use wengert::optim::first_order::{Adam, AdamConfig, Optimizer};
use wengert::prelude::*;

fn setup(tensors: usize, len: usize) -> (Vec<Param<f32>>, Grads<f32>, Adam<f32>) {
    let mut rng = rand::rng();
    let params: Vec<Param<f32>> = (0..tensors)
        .map(|_| Param::new(Tensor::from_vec((0..len).map(|_| rng.random_range(-1.0..1.0)).collect(), &[len])))
        .collect();
    let mut grads = Grads::new();
    for p in &params {
        grads.insert(p, Tensor::from_vec((0..len).map(|_| rng.random_range(-1e-2..1e-2)).collect(), &[len]));
    }
    (params, grads, Adam::new(AdamConfig::default()))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("adam_step");
    g.throughput(Throughput::Elements(1_000_000));
    g.measurement_time(Duration::from_secs(5));
    for (name, tensors, len) in [("4x250k_f32", 4, 250_000), ("1x1M_f32", 1, 1_000_000)] {
        let (mut params, grads, mut opt) = setup(tensors, len);
        opt.step(&mut params, &grads).unwrap(); // state allocated outside the measurement
        g.bench_function(name, |b| b.iter(|| opt.step(black_box(&mut params), black_box(&grads)).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
