//! The MPI test: run as `mpirun -np 2 target/release/examples/mpi_selftest` (CI adds `--allow-run-as-root
//! --oversubscribe`). Each check runs on every rank; the program prints `mpi: N passed, M failed` on rank 0
//! and exits non-zero if any check failed on any rank.
//!
//! What it checks over real processes (the thread-rank tests in `tests/threads.rs` check the same in one
//! process): sums and broadcasts, errors for mismatched lengths, a model mismatch reported on every rank,
//! data-parallel Adam equal to one process within 1e-12, and a sharded Levenberg-Marquardt fit with the
//! iterates of one process.

use wengert_autodiff::{Tape, Tensor, Var};
use wengert_dist::data_parallel::{broadcast_parameters, check_same_model, shard, GradientReducer};
use wengert_dist::sharded::ShardedLeastSquares;
use wengert_dist::{all_reduce_sum, broadcast, Communicator, DistError, MpiComm, SingleProcess};
use wengert_nn::layers::{Activation, Mlp};
use wengert_nn::loss::{mse, Reduction};
use wengert_nn::{Bound, Module, Param};
use wengert_optim::first_order::{Adam, AdamConfig, Optimizer};
use wengert_optim::objective::{flatten_params, TapeLeastSquares};
use wengert_optim::second_order::levenberg_marquardt;

fn collectives(comm: &MpiComm) -> Result<(), String> {
    let (r, n) = (comm.rank() as f64, comm.size() as f64);
    let mut x = [r, 1.0];
    all_reduce_sum(comm, &mut x).map_err(|e| e.to_string())?;
    let mut y = [r as f32];
    all_reduce_sum(comm, &mut y).map_err(|e| e.to_string())?;
    let mut b = [r; 3];
    broadcast(comm, &mut b, comm.size() - 1).map_err(|e| e.to_string())?;
    let mut bytes = if comm.rank() == 0 { b"hello".to_vec() } else { Vec::new() };
    comm.broadcast_bytes(&mut bytes, 0).map_err(|e| e.to_string())?;
    comm.barrier().map_err(|e| e.to_string())?;
    let ok = x == [n * (n - 1.0) / 2.0, n]
        && f64::from(y[0]) == n * (n - 1.0) / 2.0
        && b == [n - 1.0; 3]
        && bytes == b"hello";
    ok.then_some(()).ok_or_else(|| format!("collectives gave {x:?} {y:?} {b:?} {bytes:?}"))
}

fn length_mismatch(comm: &MpiComm) -> Result<(), String> {
    let mut x = vec![0.0_f64; 2 + comm.rank()];
    match comm.all_reduce_sum_f64(&mut x) {
        Err(DistError::LengthMismatch { .. }) => Ok(()),
        other => Err(format!("expected a length mismatch, got {other:?}")),
    }
}

fn model_mismatch(comm: &MpiComm) -> Result<(), String> {
    let last = comm.size() - 1;
    let shape: &[usize] = if comm.rank() == last { &[5] } else { &[4] };
    let model = [Param::new(Tensor::<f64>::zeros(shape))];
    match check_same_model(comm, &model[..]) {
        Err(DistError::ModelMismatch { rank, detail }) if rank == last && detail.contains("[5]") => Ok(()),
        other => Err(format!("expected a mismatch on rank {last}, got {other:?}")),
    }
}

/// Adam on a small regression MLP, global batches of 32 of 256 synthetic rows.
fn adam(comm: &dyn Communicator) -> Vec<f64> {
    let x: Vec<f64> = (0..256 * 4).map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0).collect();
    let y: Vec<f64> = (0..256).map(|i| (x[4 * i] * 2.0 - x[4 * i + 3]).sin()).collect();
    let mut model = Mlp::<f64>::new(
        &[4, 16, 1],
        Activation::Tanh,
        &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(comm.rank() as u64),
    );
    check_same_model(comm, &model).expect("same model");
    broadcast_parameters(comm, &mut model).expect("broadcast");
    let mut opt = Adam::new(AdamConfig::new(1e-2));
    for step in 0..40 {
        let start = (step * 32) % 256;
        let mine = shard(32, comm);
        let rows = start + mine.start..start + mine.end;
        let tape = Tape::new();
        let p = Bound::new(&tape, &model);
        let xb = tape.constant(Tensor::from_vec(x[rows.start * 4..rows.end * 4].to_vec(), &[rows.len(), 4]));
        let yb = tape.constant(Tensor::from_vec(y[rows.clone()].to_vec(), &[rows.len(), 1]));
        let loss = mse(model.forward(&p, xb), yb, Reduction::Mean);
        let mut g = p.grad(loss);
        GradientReducer { bucket_elems: 40 }.all_reduce_mean(comm, &model, &mut g, mine.len()).expect("all-reduce");
        opt.step(&mut model, &g).expect("finite");
    }
    flatten_params(&model)
}

fn data_parallel(comm: &MpiComm) -> Result<(), String> {
    let (dp, single) = (adam(comm), adam(&SingleProcess));
    let worst = dp.iter().zip(&single).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    (worst <= 1e-12).then_some(()).ok_or_else(|| format!("data-parallel Adam differs from one process by {worst:e}"))
}

fn decay(r: std::ops::Range<usize>) -> impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> {
    let t: Vec<f64> = r.map(|i| i as f64 / 4.0).collect();
    let y: Vec<f64> = t.iter().map(|&t| 3.0 * (-0.7 * t).exp() + 0.5 + 0.01 * (7.0 * t).sin()).collect();
    move |p: Var<'_, f64>| {
        let tape = p.tape();
        let tv = tape.constant(Tensor::from_vec(t.clone(), &[t.len()]));
        p.slice(0, 0..1) * (p.slice(0, 1..2) * tv).neg().exp() + p.slice(0, 2..3)
            - tape.constant(Tensor::from_vec(y.clone(), &[y.len()]))
    }
}

fn sharded_lm(comm: &MpiComm) -> Result<(), String> {
    // lmder alone: a sharded problem gives no second-order term S, so the default adaptive model would run
    // lmder there and compare it with the single process's adaptive run
    let config = levenberg_marquardt::LmConfig::minpack();
    let x0 = [1.0, 0.1, 0.0];
    let single = levenberg_marquardt::minimize(&mut TapeLeastSquares::new(decay(0..40)), &x0, &config)
        .map_err(|e| e.to_string())?;
    let local = TapeLeastSquares::new(decay(shard(40, comm)));
    let dist = levenberg_marquardt::minimize(&mut ShardedLeastSquares::new(local, comm), &x0, &config)
        .map_err(|e| e.to_string())?;
    let worst = dist.x.iter().zip(&single.x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    (dist.iterations == single.iterations && dist.stop == single.stop && worst <= 1e-12).then_some(()).ok_or_else(
        || format!("sharded LM: {} iterations vs {}, max diff {worst:e}", dist.iterations, single.iterations),
    )
}

/// One check, run on every rank.
type Check = fn(&MpiComm) -> Result<(), String>;

fn main() {
    let comm = MpiComm::init().expect("MPI initialises once");
    let checks: [(&str, Check); 5] = [
        ("collectives", collectives),
        ("length_mismatch", length_mismatch),
        ("model_mismatch", model_mismatch),
        ("data_parallel_equals_one_process", data_parallel),
        ("sharded_levenberg_marquardt", sharded_lm),
    ];
    let mut failed_here = Vec::new();
    for (name, check) in checks {
        if let Err(e) = check(&comm) {
            eprintln!("rank {}: {name} FAILED: {e}", comm.rank());
            failed_here.push(name);
        }
    }
    // how many ranks each check failed on, so rank 0 can report for everyone
    let mut failures = vec![0.0_f64; checks.len()];
    for (i, (name, _)) in checks.iter().enumerate() {
        failures[i] = f64::from(u8::from(failed_here.contains(name)));
    }
    all_reduce_sum(&comm, &mut failures).expect("final all-reduce");
    let failed = failures.iter().filter(|&&f| f > 0.0).count();
    if comm.rank() == 0 {
        for ((name, _), f) in checks.iter().zip(&failures) {
            println!("test mpi::{name} ({} ranks) ... {}", comm.size(), if *f > 0.0 { "FAILED" } else { "ok" });
        }
        println!("mpi: {} passed, {failed} failed", checks.len() - failed);
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
