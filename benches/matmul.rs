//! Matrix product throughput: `f32`/`f64` square products through `kernels::matmul`
//! (the kernel every recorded `matmul` calls), plus the transposed-operand flavours a
//! linear layer and its backward use. GFLOP/s = `2 n^3 / time`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use wengert::autodiff::kernels;
use wengert::prelude::*;

fn square<T: Float>(c: &mut Criterion, name: &str, sizes: &[usize]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let mut rng = rand::rng();
    for &n in sizes {
        let a = Tensor::<T>::randn(&[n, n], T::ZERO, T::ONE, &mut rng);
        let b = Tensor::<T>::randn(&[n, n], T::ZERO, T::ONE, &mut rng);
        // Throughput in "elements" is the flop count, so criterion's elem/s reads as FLOP/s.
        g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        for (ta, tb, tag) in [(false, false, "nn"), (false, true, "nt"), (true, false, "tn")] {
            if tag != "nn" && n != 1024 {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(tag, n), &n, |bch, _| {
                bch.iter(|| black_box(kernels::matmul(&a, &b, ta, tb).unwrap()))
            });
        }
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    square::<f32>(c, "matmul_f32", &[64, 256, 1024, 2048]);
    square::<f64>(c, "matmul_f64", &[1024]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
