//! Data-parallel training and a sharded second-order solve on the digits, on thread ranks or MPI ranks.
//!
//! 1. **Data-parallel Adam** with the training helper (`Trainer::communicator`): a 64-64-10 tanh MLP (f64) on
//!    the 1437 training digits, shuffled global batches of 64 rows. Every rank builds its own model (different
//!    seeds), the trainer checks the ranks' models agree and broadcasts rank 0's parameters, and each step
//!    every rank takes its shard of the global batch, computes the gradient of the shard's mean loss on its
//!    own tape, and the gradients are all-reduced (bucketed) into the global batch's mean gradient; every
//!    rank steps the same optimiser state. Rank 0 writes the final checkpoint atomically
//!    (`target/examples/data_parallel.safetensors`).
//! 2. **Sharded trust region**: multinomial logistic regression (L2 1e-3) on the same data by trust-region
//!    Newton-CG, each rank holding its shard of the rows; values, gradients and Hessian-vector products are
//!    sums over ranks, so every rank takes the same iterates.
//!
//! Each rank also runs both on one process over the whole data and checks the distributed results agree
//! (MLP parameters within 1e-12, the trust-region solution within [`TRUST_REGION_TOL`], same iterations and
//! stop reason); the program exits with an error if they do not.
//!
//! ```text
//! cargo run --release --example data_parallel                 # 2 ranks as threads (--ranks N for N)
//! # MPI (apt-get install openmpi-bin libopenmpi-dev libclang-dev), 2 processes on this machine:
//! cargo build --release --features mpi --example data_parallel
//! mpirun -np 2 target/release/examples/data_parallel
//! # across machines: a hostfile with one line per machine ("node1 slots=2"), the binary at the same path
//! mpirun -np 8 --hostfile hosts target/release/examples/data_parallel
//! ```
//! (`--allow-run-as-root` is needed when running as root, `--oversubscribe` for more ranks than cores.)
//!
//! `--time` times the scaling benchmark's workloads instead, [`ScalingStep`] (a compute-bound data-parallel
//! step) and [`ScalingSolve`] (a sharded trust-region solve): on 1 process and on `--ranks` thread ranks, or
//! under `mpirun -np N` on N MPI processes; see `benches/README.md`.
//!
//! Expected output: test accuracy about 0.89 after 10 epochs (0.8861 on 2 thread ranks, 2026-12-01), the same on every rank count; trust region
//! stops on the gradient tolerance in 9 iterations; the MLP within 1e-12 of one process.

use std::path::PathBuf;

use wengert::autodiff::{Float, Tape, Tensor, Var};
use wengert::dist::data_parallel::{is_root, shard, GradientReducer};
use wengert::dist::sharded::ShardedObjective;
use wengert::dist::{Communicator, SingleProcess, ThreadComm};
use wengert::nn::checkpoint;
use wengert::nn::datasets::digits_split;
use wengert::nn::layers::{Activation, Mlp};
use wengert::nn::loss::{cross_entropy, Reduction};
use wengert::nn::metrics::accuracy;
use wengert::nn::{Bound, Module, Parameters};
use wengert::optim::first_order::{Adam, AdamConfig};
use wengert::optim::objective::{flatten_params, Objective, TapeObjective};
use wengert::optim::second_order::trust_ncg::{self, TrustNcgInfo};
use wengert::optim::second_order::{Report, StopReason};
use wengert::rand::{rngs::StdRng, SeedableRng};
use wengert::train::{TrainConfig, Trainer};

/// How far the sharded trust-region solution may be from one process's: sums over shards round differently
/// from the sum over all rows, and the long truncated-CG runs of the last iterations amplify that (to about
/// 1e-7; the gradient tolerance itself allows about 1e-2 between the solution and the minimiser).
pub const TRUST_REGION_TOL: f64 = 1e-6;

/// Rows per global batch.
pub const BATCH: usize = 64;

/// What one rank ends with.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Number of ranks.
    pub ranks: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Mean training loss of the last epoch (over this run's global batches).
    pub train_loss: f64,
    /// Test accuracy of the trained MLP.
    pub test_accuracy: f64,
    /// Largest difference between the data-parallel parameters and one process's.
    pub mlp_max_diff: f64,
    /// The sharded trust-region run.
    pub trust_region: Report<f64, TrustNcgInfo<f64>>,
    /// Largest difference between its solution and one process's.
    pub trust_region_max_diff: f64,
    /// Whether it took one process's path: the same iterations, evaluation counts and stop reason.
    pub trust_region_same_path: bool,
}

fn rows<T: Float>(x: &Tensor<T>, labels: &[usize], r: std::ops::Range<usize>) -> (Tensor<T>, Vec<usize>) {
    let idx: Vec<usize> = r.clone().collect();
    (wengert::autodiff::kernels::index_select(x, 0, &idx).expect("rows in range"), labels[r].to_vec())
}

/// Data-parallel Adam over `epochs` epochs with the training helper ([`Trainer::communicator`]); returns the
/// model and the last epoch's mean loss (over the global batches).
pub fn train(comm: &dyn Communicator, epochs: usize) -> (Mlp<f64>, f64) {
    let data = digits_split::<f64>().train;
    // a different seed on every rank on purpose: the trainer checks the architectures agree and
    // broadcasts rank 0's parameters
    let mut model = Mlp::<f64>::new(&[64, 64, 10], Activation::Tanh, &mut StdRng::seed_from_u64(comm.rank() as u64));
    let mut opt = Adam::new(AdamConfig::new(3e-3));
    let config = TrainConfig::new(epochs as u64).batch_size(BATCH).progress(false).log_epochs(false);
    let report = Trainer::new(config).communicator(comm).fit(&mut model, &mut opt, &data, None).expect("training");
    let last: Vec<f64> = report.history.steps.iter().filter(|s| s.epoch + 1 == epochs as u64).map(|s| s.loss).collect();
    (model, last.iter().sum::<f64>() / last.len() as f64)
}

/// The part of the logistic-regression objective held by rows `r`: their share of the mean cross-entropy
/// over all `n` rows, plus `lambda/2 ||W||^2` (lambda = 1e-3) when `with_reg`.
fn logistic<'d>(
    x: &'d Tensor<f64>,
    y: &'d [usize],
    n: usize,
    with_reg: bool,
) -> impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> + 'd {
    move |w: Var<'_, f64>| {
        let loss = cross_entropy(w.tape().constant(x.clone()).matmul(w.reshape(&[64, 10])), y, Reduction::Sum)
            * (1.0 / n as f64);
        if with_reg {
            loss + (w * w).sum() * 5e-4
        } else {
            loss
        }
    }
}

/// Trust-region Newton-CG on this rank's shard of the rows, summed over ranks.
pub fn solve_sharded<C: Communicator + ?Sized>(comm: &C) -> Report<f64, TrustNcgInfo<f64>> {
    let data = digits_split::<f64>().train;
    let (x, y) = rows(data.features(), data.labels().expect("labels"), shard(data.len(), comm));
    let local = TapeObjective::new(logistic(&x, &y, data.len(), comm.rank() == 0));
    let config = trust_ncg::TrustNcgConfig::default();
    let report =
        trust_ncg::minimize(&mut ShardedObjective::new(local, comm), &[0.0; 640], &config).expect("finite start");
    report
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Everything one rank does: the distributed runs, then the same on one process for comparison.
pub fn run_rank(comm: &dyn Communicator, fast: bool) -> Summary {
    let epochs = if fast { 2 } else { 10 };
    let (model, train_loss) = train(comm, epochs);
    let (single, _) = train(&SingleProcess, epochs);
    let test = digits_split::<f64>().test;
    let tape = Tape::new();
    let logits = model.forward(&Bound::new(&tape, &model), tape.constant(test.features().clone())).value();
    let test_accuracy = accuracy(&logits, test.labels().expect("labels"));
    if is_root(comm) {
        let path = PathBuf::from("target/examples/data_parallel.safetensors");
        std::fs::create_dir_all("target/examples").expect("target/examples is writable");
        checkpoint::save_model(&path, &model).expect("checkpoint written");
    }
    let trust_region = solve_sharded(comm);
    let reference = solve_sharded(&SingleProcess);
    Summary {
        ranks: comm.size(),
        epochs,
        train_loss,
        test_accuracy,
        mlp_max_diff: max_diff(&flatten_params(&model), &flatten_params(&single)),
        trust_region_max_diff: max_diff(&trust_region.x, &reference.x),
        trust_region_same_path: (trust_region.iterations, trust_region.counts, trust_region.stop)
            == (reference.iterations, reference.counts, reference.stop),
        trust_region,
    }
}

/// The compute-bound data-parallel step that `benches/scaling.rs` times on thread ranks and `--time` times
/// on MPI ranks: one SGD step (lr 0.01) of a 784-1024-1024-10 ReLU MLP, softmax cross-entropy, a global batch
/// of 512 synthetic rows, f32 (5.7 GFLOP per step); with `r` ranks each computes the gradient of 512 / r
/// rows, then the gradients are summed over ranks (7.45 MB: the two large weight matrices in place, the rest in
/// one bucket).
pub struct ScalingStep {
    model: Mlp<f32>,
    x: Tensor<f32>,
    labels: Vec<usize>,
}

impl ScalingStep {
    /// Layer widths.
    pub const SIZES: [usize; 4] = [784, 1024, 1024, 10];
    /// Rows per global batch.
    pub const BATCH: usize = 512;

    /// This rank's replica (the same initial parameters on every rank) and its shard of the batch.
    pub fn new(comm: &dyn Communicator) -> Self {
        use wengert::rand::Rng;
        let mut rng = StdRng::seed_from_u64(1);
        let x = Tensor::<f32>::randn(&[Self::BATCH, Self::SIZES[0]], 0.0, 1.0, &mut rng);
        let labels: Vec<usize> = (0..Self::BATCH).map(|_| rng.random_range(0..10)).collect();
        let model = Mlp::<f32>::new(&Self::SIZES, Activation::Relu, &mut rng);
        let mine = shard(Self::BATCH, comm);
        let (x, labels) = rows(&x, &labels, mine);
        ScalingStep { model, x, labels }
    }

    /// One data-parallel SGD step.
    pub fn step(&mut self, comm: &dyn Communicator) {
        // The tape ends before the update: while it lives it shares the parameters' storage, and writing
        // them would copy every parameter first (copy-on-write).
        let mut g = {
            let tape = Tape::new();
            let p = Bound::new(&tape, &self.model);
            let logits = self.model.forward(&p, tape.constant(self.x.clone()));
            // this rank's share of the global batch's mean loss: the sum over its rows / the global batch,
            // so the sum of the ranks' gradients is the mean's (no pass over the gradients to weight them)
            p.grad(cross_entropy(logits, &self.labels, Reduction::Sum) * (1.0 / Self::BATCH as f32))
        };
        GradientReducer::default().all_reduce_sum(comm, &self.model, &mut g).expect("all-reduce");
        self.model.visit_mut("", &mut |_, param| {
            let g = g.get(param).expect("every parameter has a gradient");
            param.value_mut().data_mut().iter_mut().zip(g.as_slice()).for_each(|(w, g)| *w -= 0.01 * g);
        });
    }

    /// The parameters, flattened.
    pub fn parameters(&self) -> Vec<f32> {
        flatten_params(&self.model)
    }
}

/// Seconds per [`ScalingStep`] on `comm`: the median of `reps` timings of `steps` steps each, after one
/// warm-up step; every rank times, rank 0's figure is the one to report. Each rank computes on its own
/// thread only (intra-op parallelism off), so one rank uses one core. Checks first that two steps on `comm`
/// give one process's parameters (to 1e-5, f32 sums in another order).
pub fn time_scaling(comm: &dyn Communicator, steps: usize, reps: usize) -> f64 {
    wengert::autodiff::set_intra_op_parallel(false);
    let mut check = ScalingStep::new(comm);
    let mut reference = ScalingStep::new(&SingleProcess);
    for _ in 0..2 {
        check.step(comm);
        reference.step(&SingleProcess);
    }
    let worst = max_diff32(&check.parameters(), &reference.parameters());
    assert!(worst < 1e-5, "{} ranks differ from one process by {worst}", comm.size());
    let mut s = ScalingStep::new(comm);
    s.step(comm);
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            comm.barrier().expect("barrier");
            let t = std::time::Instant::now();
            for _ in 0..steps {
                s.step(comm);
            }
            comm.barrier().expect("barrier");
            t.elapsed().as_secs_f64() / steps as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

/// The sharded second-order workload that `benches/scaling.rs` times on thread ranks and `--time` times on
/// MPI ranks: trust-region Newton-CG on a multinomial logistic regression over 20,000 synthetic rows of 64
/// features, 10 classes (L2 1e-3), f64; each rank holds 20,000 / r rows.
pub struct ScalingSolve {
    x: Tensor<f64>,
    labels: Vec<usize>,
    regularise: bool,
}

impl ScalingSolve {
    /// Rows of the whole data set.
    pub const ROWS: usize = 20_000;

    /// This rank's shard (the same synthetic data on every rank, cut by [`shard`]).
    pub fn new(comm: &dyn Communicator) -> Self {
        use wengert::rand::Rng;
        let mut rng = StdRng::seed_from_u64(2);
        let x = Tensor::<f64>::randn(&[Self::ROWS, 64], 0.0, 1.0, &mut rng);
        let labels: Vec<usize> = (0..Self::ROWS).map(|_| rng.random_range(0..10)).collect();
        let (x, labels) = rows(&x, &labels, shard(Self::ROWS, comm));
        ScalingSolve { x, labels, regularise: comm.rank() == 0 }
    }

    /// This rank's part of the objective: its rows' share of the mean cross-entropy, plus the L2 term on
    /// rank 0.
    pub fn objective(&self) -> TapeObjective<f64, impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> + '_> {
        TapeObjective::new(move |w: Var<'_, f64>| {
            let logits = w.tape().constant(self.x.clone()).matmul(w.reshape(&[64, 10]));
            let l = cross_entropy(logits, &self.labels, Reduction::Sum) * (1.0 / Self::ROWS as f64);
            if self.regularise {
                l + (w * w).sum() * 5e-4
            } else {
                l
            }
        })
    }

    /// The solution from zero (with a sharded objective every rank gets the same).
    pub fn solve<O: Objective<f64>>(objective: &mut O) -> Vec<f64> {
        trust_ncg::minimize(objective, &[0.0; 640], &trust_ncg::TrustNcgConfig::default()).expect("finite start").x
    }
}

/// Seconds per sharded solve ([`ScalingSolve`]) on `comm`: the median of `reps` timings after one warm-up
/// solve, one core per rank as in [`time_scaling`]. Checks first that the solution equals one process's
/// (to 1e-12).
pub fn time_scaling_solve(comm: &dyn Communicator, reps: usize) -> f64 {
    wengert::autodiff::set_intra_op_parallel(false);
    let single: &dyn Communicator = &SingleProcess;
    let reference = ScalingSolve::solve(&mut ShardedObjective::new(ScalingSolve::new(single).objective(), single));
    let mine = ScalingSolve::new(comm);
    let mut objective = ShardedObjective::new(mine.objective(), comm);
    let worst = max_diff(&ScalingSolve::solve(&mut objective), &reference);
    assert!(worst < 1e-12, "{} ranks differ from one process by {worst}", comm.size());
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            comm.barrier().expect("barrier");
            let t = std::time::Instant::now();
            ScalingSolve::solve(&mut objective);
            comm.barrier().expect("barrier");
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn max_diff32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Runs on `ranks` thread ranks and returns every rank's summary.
pub fn run_threads(ranks: usize, fast: bool) -> Vec<Summary> {
    ThreadComm::run(ranks, |comm| run_rank(&comm, fast))
}

/// Whether the distributed runs agree with one process. The MLP must match within 1e-12 on any number of
/// ranks. The trust-region path is compared on 2 ranks: on other counts the sums over shards round
/// differently enough that a truncated-CG run can end one iteration earlier or later, so there only the stop
/// reason is required.
fn agrees(s: &Summary) -> bool {
    let path_ok =
        if s.ranks == 2 { s.trust_region_same_path && s.trust_region_max_diff <= TRUST_REGION_TOL } else { true };
    s.mlp_max_diff <= 1e-12 && path_ok && s.trust_region.stop == StopReason::GradientTolerance
}

fn report(s: &Summary) -> Result<(), String> {
    println!(
        "{} ranks: Adam {} epochs of batch {BATCH}: last-epoch loss {:.4}, test accuracy {:.4}, max |w - w_1proc| = {:.1e}",
        s.ranks, s.epochs, s.train_loss, s.test_accuracy, s.mlp_max_diff
    );
    let tr = &s.trust_region;
    println!(
        "sharded trust-ncg: {} iterations, {} HVPs, f = {:.7}, stop {:?}, same path as one process: {}, max |x - x_1proc| = {:.1e}",
        tr.iterations, tr.counts.hvp, tr.f, tr.stop, s.trust_region_same_path, s.trust_region_max_diff
    );
    if !agrees(s) {
        return Err(format!(
            "distributed results differ from one process: {:.1e}, {:.1e}",
            s.mlp_max_diff, s.trust_region_max_diff
        ));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fast = args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1");
    let ranks = args
        .iter()
        .position(|a| a == "--ranks")
        .and_then(|i| args.get(i + 1))
        .map_or(2, |r| r.parse().expect("--ranks takes a positive integer"));
    let time = args.iter().any(|a| a == "--time");
    #[cfg(feature = "mpi")]
    if let Some(comm) = wengert::dist::MpiComm::init() {
        if time {
            let t = time_scaling(&comm, 5, 5);
            let s = time_scaling_solve(&comm, 21);
            if is_root(&comm) {
                println!("MPI, {} processes: {:.2} ms per data-parallel step (ScalingStep)", comm.size(), t * 1e3);
                println!("MPI, {} processes: {:.2} ms per sharded solve (ScalingSolve)", comm.size(), s * 1e3);
            }
            return;
        }
        if comm.size() > 1 {
            let s = run_rank(&comm, fast);
            if is_root(&comm) {
                println!("MPI, {} processes", comm.size());
                if let Err(e) = report(&s) {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
            // every rank checks its own results
            if !agrees(&s) {
                std::process::exit(1);
            }
            return;
        }
    }
    if time {
        let t = time_scaling(&SingleProcess, 5, 5);
        println!("1 process: {:.2} ms per step (ScalingStep)", t * 1e3);
        let t = ThreadComm::run(ranks, |comm| time_scaling(&comm, 5, 5))[0];
        println!("{ranks} thread ranks: {:.2} ms per step (ScalingStep)", t * 1e3);
        let s = time_scaling_solve(&SingleProcess, 21);
        println!("1 process: {:.2} ms per sharded solve (ScalingSolve)", s * 1e3);
        let s = ThreadComm::run(ranks, |comm| time_scaling_solve(&comm, 21))[0];
        println!("{ranks} thread ranks: {:.2} ms per sharded solve (ScalingSolve)", s * 1e3);
        return;
    }
    println!("threads, {ranks} ranks (run under mpirun with --features mpi for processes)");
    let all = run_threads(ranks, fast);
    if let Err(e) = report(&all[0]) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
