//! Tape overhead: a chain of 1000 small elementwise ops on 16 elements, forward + backward.
//!
//! The chain is the one of `../shared/anchors/torch_op_overhead.py`: odd steps record
//! `tanh(h * 0.999 + 0.001)` (3 ops), even steps `h * 1.0001 + 0.0001` (2 ops), then a
//! `sum`, so 2501 recorded ops. Divide the time per iteration by 2501 for the time per
//! recorded op (forward + backward); PyTorch eager takes 7.9 µs, candle 0.9 µs.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use wengert::prelude::*;

const N: usize = 1000;
/// Ops recorded by one run of [`chain`].
const OPS: u64 = (N / 2 * 3 + N / 2 * 2 + 1) as u64;

fn chain(x0: &Tensor<f32>) -> Tensor<f32> {
    let tape = Tape::new();
    let x = tape.var(x0.clone());
    let mut h = x;
    for i in 0..N {
        h = if i % 2 == 1 { (h * 0.999 + 0.001).tanh() } else { h * 1.0001 + 0.0001 };
    }
    tape.grad(h.sum(), &[x]).value(0)
}

fn bench(c: &mut Criterion) {
    let x0 = Tensor::randn(&[16], 0.0, 1.0, &mut rand::rng());
    // The gradient of the sum is elementwise the product of the steps' derivatives:
    // d/dh (h a + b) = a, d/dh tanh(h a + b) = a (1 - tanh^2(h a + b)); in f64 by hand.
    let want: Vec<f64> = x0
        .as_slice()
        .iter()
        .map(|&x| {
            let (mut h, mut d) = (f64::from(x), 1.0);
            for i in 0..N {
                if i % 2 == 1 {
                    h = (h * 0.999 + 0.001).tanh();
                    d *= 0.999 * (1.0 - h * h);
                } else {
                    h = h * 1.0001 + 0.0001;
                    d *= 1.0001;
                }
            }
            d
        })
        .collect();
    let got = chain(&x0);
    assert_eq!(got.shape(), &[16]);
    for (g, w) in got.as_slice().iter().zip(&want) {
        assert!((f64::from(*g) - w).abs() <= 1e-3 * w.abs(), "chain gradient {g}, analytic {w}");
    }
    let mut g = c.benchmark_group("tape_overhead");
    g.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(OPS));
    g.bench_function("chain_1000_ops_16_elems_fwd_bwd", |b| {
        b.iter_batched(|| x0.clone(), |x| black_box(chain(&x)), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
