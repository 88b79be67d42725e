//! One Adam step (PyTorch defaults, f32) over 1,000,000 parameters held as 4 tensors of 250,000, and over
//! one tensor of 1,000,000: the fused, chunk-parallel update of `wengert_optim::first_order::Adam`
//! (gradient check + one pass over parameter, gradient, `exp_avg`, `exp_avg_sq`).
//!
//! Before timing, the first two steps are checked against a hand computation (below).
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

/// Two Adam steps with the same gradient `g`, by hand (PyTorch defaults: lr 1e-3, betas 0.9/0.999, eps
/// 1e-8): step t has `m_t / (1 - 0.9^t) = g` and `v_t / (1 - 0.999^t) = g^2` (the moments of a constant
/// gradient, bias-corrected), so each step is `p -= 1e-3 g / (|g| + 1e-8)`.
fn check_two_steps(before: &[Vec<f32>], params: &[Param<f32>], grads: &Grads<f32>) {
    for (p0, p) in before.iter().zip(params) {
        let g = grads.get(p).expect("every parameter has a gradient");
        for ((&x0, &x), &g) in p0.iter().zip(p.value().as_slice()).zip(g.as_slice()) {
            let (x0, g) = (f64::from(x0), f64::from(g));
            let want = x0 - 2.0 * 1e-3 * g / (g.abs() + 1e-8);
            assert!((f64::from(x) - want).abs() <= 1e-6, "Adam gave {x} after two steps from {x0}, by hand {want}");
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("adam_step");
    g.throughput(Throughput::Elements(1_000_000));
    g.measurement_time(Duration::from_secs(5));
    for (name, tensors, len) in [("4x250k_f32", 4, 250_000), ("1x1M_f32", 1, 1_000_000)] {
        let (mut params, grads, mut opt) = setup(tensors, len);
        let before: Vec<Vec<f32>> = params.iter().map(|p| p.value().to_vec()).collect();
        // Two steps also allocate the state outside the measurement.
        opt.step(&mut params, &grads).unwrap();
        opt.step(&mut params, &grads).unwrap();
        check_two_steps(&before, &params, &grads);
        g.bench_function(name, |b| b.iter(|| opt.step(black_box(&mut params), black_box(&grads)).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
