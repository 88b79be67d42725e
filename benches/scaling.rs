//! Scaling from 1 to 2 ranks on this machine (issue 13): data-parallel training and a sharded second-order
//! solve, with thread ranks (`ThreadComm`). The MPI figures come from `examples/data_parallel.rs --time` run
//! under `mpirun` (see `benches/README.md`); both time `examples/data_parallel.rs`'s `ScalingStep`.
//!
//! - `dp_step`: one SGD step of a 784-1024-1024-10 ReLU MLP, softmax cross-entropy, global batch 512, f32,
//!   synthetic data (compute-bound: 5.7 GFLOP per step). With `r` ranks each rank computes 512 / r rows.
//! - `sharded_trust_ncg`: trust-region Newton-CG on a multinomial logistic regression over 20,000 synthetic
//!   rows of 64 features, 10 classes, f64; each rank holds 20,000 / r rows.
//!
//! Parallel efficiency = time(1 rank) / (2 x time(2 ranks)). Run with one GEMM thread per rank, so the
//! ranks are the only parallelism: `MATMUL_NUM_THREADS=1 RAYON_NUM_THREADS=1 WENGERT_ASSIST=0 cargo bench
//! --bench scaling`. Before timing, the bench checks that 2 ranks give the parameters / solution of 1 rank.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert::autodiff::Var;
use wengert::dist::data_parallel::shard;
use wengert::dist::sharded::ShardedObjective;
use wengert::dist::{Communicator, SingleProcess, ThreadComm};
use wengert::nn::loss::{cross_entropy, Reduction};
use wengert::optim::objective::TapeObjective;
use wengert::optim::second_order::trust_ncg;
use wengert::prelude::*;

#[allow(dead_code)]
#[path = "../examples/data_parallel.rs"]
mod data_parallel;

use data_parallel::ScalingStep;

/// `steps` data-parallel steps from the common start; the parameters after them.
fn dp_step(comm: &dyn Communicator, steps: usize) -> Vec<f32> {
    let mut s = ScalingStep::new(comm);
    for _ in 0..steps {
        s.step(comm);
    }
    s.parameters()
}

const ROWS: usize = 20_000;

struct Regression {
    x: Tensor<f64>,
    labels: Vec<usize>,
}

fn regression() -> Regression {
    let mut rng = StdRng::seed_from_u64(2);
    Regression {
        x: Tensor::randn(&[ROWS, 64], 0.0, 1.0, &mut rng),
        labels: (0..ROWS).map(|_| rng.random_range(0..10)).collect(),
    }
}

fn logistic_rows(
    d: &Regression,
    r: std::ops::Range<usize>,
    reg: bool,
) -> impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> {
    let idx: Vec<usize> = r.clone().collect();
    let x = wengert::autodiff::kernels::index_select(&d.x, 0, &idx).expect("rows in range");
    let y = d.labels[r].to_vec();
    move |w: Var<'_, f64>| {
        let l = cross_entropy(w.tape().constant(x.clone()).matmul(w.reshape(&[64, 10])), &y, Reduction::Sum)
            * (1.0 / ROWS as f64);
        if reg {
            l + (w * w).sum() * 5e-4
        } else {
            l
        }
    }
}

fn solve<C: Communicator + ?Sized>(comm: &C, d: &Regression) -> Vec<f64> {
    let local = TapeObjective::new(logistic_rows(d, shard(ROWS, comm), comm.rank() == 0));
    trust_ncg::minimize(&mut ShardedObjective::new(local, comm), &[0.0; 640], &trust_ncg::TrustNcgConfig::default())
        .expect("finite start")
        .x
}

fn bench(c: &mut Criterion) {
    // Check before timing: two ranks give one rank's parameters and solution.
    let one = dp_step(&SingleProcess, 2);
    let two = ThreadComm::run(2, |comm| dp_step(&comm, 2));
    let worst = one.iter().zip(&two[0]).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    assert!(worst < 1e-5, "2 ranks differ from 1 by {worst}");
    let r = regression();
    let (s1, s2) = (solve(&SingleProcess, &r), ThreadComm::run(2, |comm| solve(&comm, &r)));
    let worst = s1.iter().zip(&s2[0]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-12, "sharded solve differs by {worst}");

    let mut g = c.benchmark_group("scaling");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    // the replicas are built once; each iteration is one step (on 2 ranks: both ranks' steps, each rank
    // stepping its own replica in its thread)
    let mut single = ScalingStep::new(&SingleProcess);
    g.bench_function("dp_step/1_rank", |b| b.iter(|| single.step(&SingleProcess)));
    g.bench_function("dp_step/2_threads", |b| {
        b.iter_custom(|iters| {
            ThreadComm::run(2, |comm| {
                let mut s = ScalingStep::new(&comm);
                s.step(&comm);
                comm.barrier().expect("barrier");
                let t = std::time::Instant::now();
                for _ in 0..iters {
                    s.step(&comm);
                }
                t.elapsed()
            })[0]
        })
    });
    g.bench_function("sharded_trust_ncg/1_rank", |b| b.iter(|| black_box(solve(&SingleProcess, &r))));
    g.bench_function("sharded_trust_ncg/2_threads", |b| {
        b.iter(|| black_box(ThreadComm::run(2, |comm| solve(&comm, &r))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
