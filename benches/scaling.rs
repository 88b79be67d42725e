//! Scaling from 1 to 2 ranks on this machine (issue 13): data-parallel training and a sharded second-order
//! solve, with thread ranks (`ThreadComm`). The MPI figures come from `examples/data_parallel.rs --time` run
//! under `mpirun` (see `benches/README.md`); both time `examples/data_parallel.rs`'s `ScalingStep`.
//!
//! - `dp_step`: one SGD step of a 784-1024-1024-10 ReLU MLP, softmax cross-entropy, global batch 512, f32,
//!   synthetic data (compute-bound: 5.7 GFLOP per step). With `r` ranks each rank computes 512 / r rows.
//! - `sharded_trust_ncg`: trust-region Newton-CG on a multinomial logistic regression over 20,000 synthetic
//!   rows of 64 features, 10 classes, f64; each rank holds 20,000 / r rows.
//!
//! Parallel efficiency = time(1 rank) / (2 x time(2 ranks)). Every rank, the single one included, computes
//! on its own thread only (`set_intra_op_parallel(false)`), so the ranks are the only parallelism:
//! `cargo bench --bench scaling`. Before timing, the bench checks that 2 ranks give the parameters /
//! solution of 1 rank.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use wengert::autodiff::set_intra_op_parallel;
use wengert::dist::sharded::ShardedObjective;
use wengert::dist::{Communicator, SingleProcess, ThreadComm};

#[allow(dead_code)]
#[path = "../examples/data_parallel.rs"]
mod data_parallel;

use data_parallel::{ScalingSolve, ScalingStep};

/// `steps` data-parallel steps from the common start; the parameters after them.
fn dp_step(comm: &dyn Communicator, steps: usize) -> Vec<f32> {
    let mut s = ScalingStep::new(comm);
    for _ in 0..steps {
        s.step(comm);
    }
    s.parameters()
}

/// `iters` solves on `ranks` thread ranks, each rank's shard built (and solved once, to warm its buffers)
/// before the clock starts, as `dp_step` builds its replicas.
fn timed_solves(ranks: usize, iters: u64) -> Duration {
    ThreadComm::run(ranks, |comm| {
        set_intra_op_parallel(false);
        let data = ScalingSolve::new(&comm);
        let mut objective = ShardedObjective::new(data.objective(), &comm);
        ScalingSolve::solve(&mut objective);
        comm.barrier().expect("barrier");
        let t = std::time::Instant::now();
        for _ in 0..iters {
            black_box(ScalingSolve::solve(&mut objective));
        }
        comm.barrier().expect("barrier");
        t.elapsed()
    })[0]
}

fn bench(c: &mut Criterion) {
    // one core per rank: the single rank computes on this thread only, as each of `ThreadComm`'s ranks does
    // on this 2-core machine (and is told to below, whatever the machine)
    set_intra_op_parallel(false);
    // Check before timing: two ranks give one rank's parameters and solution.
    let one = dp_step(&SingleProcess, 2);
    let two = ThreadComm::run(2, |comm| dp_step(&comm, 2));
    let worst = one.iter().zip(&two[0]).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    assert!(worst < 1e-5, "2 ranks differ from 1 by {worst}");
    let solve_on = |comm: &dyn Communicator| {
        ScalingSolve::solve(&mut ShardedObjective::new(ScalingSolve::new(comm).objective(), comm))
    };
    let (s1, s2) = (solve_on(&SingleProcess), ThreadComm::run(2, |comm| solve_on(&comm)));
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
                set_intra_op_parallel(false);
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
    let data = ScalingSolve::new(&SingleProcess);
    let mut one = ShardedObjective::new(data.objective(), &SingleProcess);
    g.bench_function("sharded_trust_ncg/1_rank", |b| b.iter(|| black_box(ScalingSolve::solve(&mut one))));
    g.bench_function("sharded_trust_ncg/2_threads", |b| b.iter_custom(|iters| timed_solves(2, iters)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
