//! Matrix product throughput: `f32`/`f64` square products through `kernels::matmul`
//! (the kernel every recorded `matmul` calls), plus the transposed-operand flavours a
//! linear layer and its backward use. GFLOP/s = `2 n^3 / time`.
//!
//! Before timing, each flavour is checked against a naive triple loop (in `f64`) on small odd sizes, and
//! every timed product on a sample of its entries.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use wengert::autodiff::kernels;
use wengert::prelude::*;

/// `op(a)[i, l]` for a row-major `rows x cols` matrix `a`.
fn at<T: Float>(a: &Tensor<T>, t: bool, i: usize, l: usize) -> f64 {
    let cols = a.shape()[1];
    (if t { a.as_slice()[l * cols + i] } else { a.as_slice()[i * cols + l] }).to_f64()
}

/// Asserts that `kernels::matmul(a, b, ta, tb)` agrees with the naive sum at the entries `(i, j)` of `pick`
/// (all of them when `pick` is `None`), to a tolerance of `tol` relative to `sum |a_il b_lj|`.
fn check<T: Float>(a: &Tensor<T>, b: &Tensor<T>, (ta, tb): (bool, bool), pick: Option<usize>, tol: f64) {
    let c = kernels::matmul(a, b, ta, tb).unwrap();
    let (m, n) = (c.shape()[0], c.shape()[1]);
    let k = if ta { a.shape()[0] } else { a.shape()[1] };
    let entries: Vec<(usize, usize)> = match pick {
        None => (0..m).flat_map(|i| (0..n).map(move |j| (i, j))).collect(),
        Some(count) => (0..count).map(|s| ((s * 7919) % m, (s * 104_729 + 13) % n)).collect(),
    };
    for (i, j) in entries {
        let (mut want, mut size) = (0.0, 0.0);
        for l in 0..k {
            let p = at(a, ta, i, l) * at(b, tb, l, j);
            want += p;
            size += p.abs();
        }
        let got = c.as_slice()[i * n + j].to_f64();
        assert!((got - want).abs() <= tol * size, "matmul ({ta}, {tb}) {m}x{k}x{n} at ({i}, {j}): {got} vs {want}");
    }
}

const FLAVOURS: [(bool, bool, &str); 3] = [(false, false, "nn"), (false, true, "nt"), (true, false, "tn")];

fn square<T: Float>(c: &mut Criterion, name: &str, sizes: &[usize]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let mut rng = rand::rng();
    let tol = if T::EPSILON.to_f64() > 1e-10 { 1e-5 } else { 1e-13 };
    // Odd sizes reach every edge case of the blocked kernel (partial panels of rows, columns and depth).
    for (m, k, n) in [(5, 3, 7), (67, 45, 53), (131, 300, 97), (300, 520, 270)] {
        for (ta, tb, _) in FLAVOURS {
            let a = Tensor::<T>::randn(&if ta { [k, m] } else { [m, k] }, T::ZERO, T::ONE, &mut rng);
            let b = Tensor::<T>::randn(&if tb { [n, k] } else { [k, n] }, T::ZERO, T::ONE, &mut rng);
            check(&a, &b, (ta, tb), None, tol);
        }
    }
    for &n in sizes {
        let a = Tensor::<T>::randn(&[n, n], T::ZERO, T::ONE, &mut rng);
        let b = Tensor::<T>::randn(&[n, n], T::ZERO, T::ONE, &mut rng);
        // Throughput in "elements" is the flop count, so criterion's elem/s reads as FLOP/s.
        g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        for (ta, tb, tag) in FLAVOURS {
            if tag != "nn" && n != 1024 {
                continue;
            }
            check(&a, &b, (ta, tb), Some(256), tol);
            g.bench_with_input(BenchmarkId::new(tag, n), &n, |bch, _| {
                bch.iter(|| black_box(kernels::matmul(&a, &b, ta, tb).unwrap()))
            });
        }
    }
    g.finish();
}

/// `matrixmultiply::sgemm` (with its own threads) on the same 1024² product, as a reference in the same run.
fn reference(c: &mut Criterion) {
    let n = 1024;
    let mut g = c.benchmark_group("matmul_f32_matrixmultiply");
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
    let mut rng = rand::rng();
    let a = Tensor::<f32>::randn(&[n, n], 0.0, 1.0, &mut rng);
    let b = Tensor::<f32>::randn(&[n, n], 0.0, 1.0, &mut rng);
    let mut out = vec![0.0f32; n * n];
    let sgemm = |out: &mut [f32]| {
        let (pa, pb, s) = (a.as_slice().as_ptr(), b.as_slice().as_ptr(), n as isize);
        // SAFETY: three row-major n x n matrices, `out` distinct from the inputs.
        unsafe { matrixmultiply::sgemm(n, n, n, 1.0, pa, s, 1, pb, s, 1, 0.0, out.as_mut_ptr(), s, 1) };
    };
    sgemm(&mut out);
    let ours = kernels::matmul(&a, &b, false, false).unwrap();
    let diff = ours.as_slice().iter().zip(&out).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(diff <= 1e-2, "matrixmultiply and our kernel differ by {diff}");
    g.bench_with_input(BenchmarkId::new("nn", n), &n, |bch, _| {
        bch.iter(|| {
            sgemm(&mut out);
            black_box(out[0])
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    reference(c);
    square::<f32>(c, "matmul_f32", &[64, 256, 1024, 2048]);
    square::<f64>(c, "matmul_f64", &[1024]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
