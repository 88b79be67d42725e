//! Thread ranks: the collectives, failure handling, and the equivalence of data-parallel training and
//! sharded second-order solves with single-process runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::{Tape, Tensor, Var};
use wengert_dist::data_parallel::{broadcast_parameters, check_same_model, is_root, shard, shard_of, GradientReducer};
use wengert_dist::sharded::{ShardedLeastSquares, ShardedObjective};
use wengert_dist::{all_reduce_sum, broadcast, Communicator, DistError, SingleProcess, ThreadComm};
use wengert_nn::datasets::digits_split;
use wengert_nn::layers::{Activation, Mlp};
use wengert_nn::loss::{cross_entropy, Reduction};
use wengert_nn::{checkpoint, Bound, Module, Param, Parameters};
use wengert_optim::first_order::{Adam, AdamConfig, Optimizer};
use wengert_optim::objective::{flatten_params, TapeLeastSquares, TapeObjective};
use wengert_optim::second_order::{levenberg_marquardt, trust_ncg, Iteration};

/// Runs `f` on another thread and fails the test if it has not finished within `secs` (a hang).
fn within<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).expect("the ranks hung instead of finishing or failing")
}

#[test]
fn collectives_sum_in_rank_order_and_broadcast_from_any_root() {
    let out = ThreadComm::run(3, |comm| {
        let r = comm.rank() as f64;
        let mut s = [r, 1.0, r * r];
        all_reduce_sum(&comm, &mut s).unwrap();
        let mut s32 = [r as f32 + 0.5];
        all_reduce_sum(&comm, &mut s32).unwrap();
        let mut b = [r, -r];
        broadcast(&comm, &mut b, 2).unwrap();
        let mut bytes = if comm.rank() == 1 { b"from one".to_vec() } else { Vec::new() };
        comm.broadcast_bytes(&mut bytes, 1).unwrap();
        comm.barrier().unwrap();
        (s, s32, b, bytes)
    });
    for (s, s32, b, bytes) in out {
        assert_eq!(s, [0.0 + 1.0 + 2.0, 3.0, 0.0 + 1.0 + 4.0]);
        assert_eq!(s32, [0.5 + 1.5 + 2.5]);
        assert_eq!(b, [2.0, -2.0]);
        assert_eq!(bytes, b"from one");
    }
}

#[test]
fn the_reduction_order_is_fixed_so_results_are_bit_identical() {
    // 0.1 + 0.2 + 0.3 depends on the order of the additions; every rank and every run gets the same.
    let runs: Vec<Vec<f64>> = (0..5)
        .map(|_| {
            ThreadComm::run(3, |comm| {
                let mut x = [[0.1, 1e16, -1e16][comm.rank()]];
                all_reduce_sum(&comm, &mut x).unwrap();
                x[0]
            })
        })
        .collect();
    let expect = (0.0 + 0.1 + 1e16) + -1e16;
    assert!(runs.iter().flatten().all(|&v| v == expect), "{runs:?}");
}

#[test]
fn a_long_reduction_sums_every_element_in_rank_order() {
    // Longer than a block and not a multiple of the ranks: each rank sums its own uneven chunk, in blocks.
    let n = 3 * 2048 + 7;
    let value = |rank: usize, i: usize| [0.1 * i as f64, 1e16, -1e16][rank] + (rank * i) as f64;
    let out = ThreadComm::run(3, |comm| {
        let mut x: Vec<f64> = (0..n).map(|i| value(comm.rank(), i)).collect();
        all_reduce_sum(&comm, &mut x).unwrap();
        let mut x32: Vec<f32> = (0..n).map(|i| value(comm.rank(), i) as f32).collect();
        all_reduce_sum(&comm, &mut x32).unwrap();
        (x, x32)
    });
    for (x, x32) in &out {
        for i in 0..n {
            assert_eq!(x[i], (value(0, i) + value(1, i)) + value(2, i), "element {i}");
            assert_eq!(x32[i], (value(0, i) as f32 + value(1, i) as f32) + value(2, i) as f32, "element {i}");
        }
    }
}

#[test]
fn ranks_that_fill_the_machine_compute_on_their_own_threads() {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    assert!(ThreadComm::run(cores, |_| !wengert_autodiff::intra_op_parallel()).iter().all(|&serial| serial));
    if cores > 1 {
        // fewer ranks than cores: the kernels may still use the spare cores
        assert!(ThreadComm::run(1, |_| wengert_autodiff::intra_op_parallel())[0]);
    }
    // the switch is per thread: the caller's is untouched
    assert!(wengert_autodiff::intra_op_parallel());
}

#[test]
fn reduced_gradients_are_the_global_batch_mean_for_large_and_small_parameters() {
    // 300 x 256 weights (76,800 elements) are reduced in place; the bias and the 256 x 10 layer go through
    // buckets (several, with 300-element buckets); the shards are uneven (17, 17, 16 rows).
    const { assert!(300 * 256 >= GradientReducer::IN_PLACE_MIN && 256 * 10 < GradientReducer::IN_PLACE_MIN) };
    let mut rng = StdRng::seed_from_u64(5);
    let x = Tensor::<f64>::randn(&[50, 300], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..50).map(|i| (i * 7) % 10).collect();
    let model = Mlp::<f64>::new(&[300, 256, 10], Activation::Tanh, &mut rng);
    let grads_of = |r: std::ops::Range<usize>| {
        let (xb, yb) = rows(&x, &labels, r);
        let tape = Tape::new();
        let p = Bound::new(&tape, &model);
        p.grad(cross_entropy(model.forward(&p, tape.constant(xb)), &yb, Reduction::Mean))
    };
    let flat = |g: &wengert_nn::Grads<f64>| {
        let mut out = Vec::new();
        model.visit("", &mut |_, p| out.extend_from_slice(g.get(p).unwrap().as_slice()));
        out
    };
    let whole = flat(&grads_of(0..50));
    for bucket_elems in [300, 1 << 22] {
        let reduced = ThreadComm::run(3, |comm| {
            let mine = shard(50, &comm);
            let mut g = grads_of(mine.clone());
            GradientReducer { bucket_elems }.all_reduce_mean(&comm, &model, &mut g, mine.len()).unwrap();
            flat(&g)
        });
        for r in &reduced {
            assert_eq!(r, &reduced[0], "every rank gets the same gradients");
            let worst = r.iter().zip(&whole).map(|(a, b)| (a - b).abs() / (1e-3 + b.abs())).fold(0.0, f64::max);
            assert!(worst < 1e-13, "buckets of {bucket_elems}: {worst:e} from one process");
        }
    }
}

#[test]
fn mismatched_lengths_and_roots_are_errors_on_every_rank() {
    let out = ThreadComm::run(2, |comm| {
        let mut x = vec![1.0_f64; 2 + comm.rank()];
        let e = comm.all_reduce_sum_f64(&mut x).unwrap_err();
        let bad_root = comm.broadcast_f64(&mut x, 5).unwrap_err();
        (e, bad_root)
    });
    assert_eq!(out[0].0, DistError::LengthMismatch { op: "all_reduce", local: 2, other: 3 });
    assert_eq!(out[1].0, DistError::LengthMismatch { op: "all_reduce", local: 3, other: 2 });
    assert_eq!(out[0].1, DistError::BadRoot { root: 5, size: 2 });
}

#[test]
fn a_rank_that_panics_fails_the_others_instead_of_hanging() {
    let (errors, panicked) = within(60, || {
        let errors = std::sync::Mutex::new(Vec::new());
        let r = catch_unwind(AssertUnwindSafe(|| {
            ThreadComm::run(3, |comm| {
                if comm.rank() == 1 {
                    panic!("rank 1 fails before the collective");
                }
                let mut x = [1.0_f64];
                let e = comm.all_reduce_sum_f64(&mut x);
                errors.lock().unwrap().push(e);
            })
        }));
        (errors.into_inner().unwrap(), r.is_err())
    });
    assert!(panicked, "the panic is raised again by run");
    assert_eq!(errors, vec![Err(DistError::PeerFailed { rank: 1 }); 2]);
}

#[test]
fn a_rank_that_returns_early_fails_the_others_instead_of_hanging() {
    let out = within(60, || {
        ThreadComm::run(2, |comm| {
            if comm.rank() == 0 {
                return Ok(());
            }
            comm.barrier()
        })
    });
    assert_eq!(out, vec![Ok(()), Err(DistError::PeerFailed { rank: 0 })]);
}

#[test]
fn shards_cover_the_batch_in_order() {
    for (len, size) in [(10, 3), (2, 3), (0, 2), (64, 2)] {
        let ranges: Vec<_> = (0..size).map(|r| shard_of(len, r, size)).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[size - 1].end, len);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert!(ranges.iter().all(|r| r.len() == len / size || r.len() == len / size + 1));
    }
    assert_eq!(shard(7, &SingleProcess), 0..7);
}

#[test]
fn models_that_differ_are_reported_with_the_first_difference_on_every_rank() {
    let out = ThreadComm::run(3, |comm| {
        let shape: &[usize] = if comm.rank() == 2 { &[4, 2] } else { &[4, 3] };
        let model = [Param::new(Tensor::<f64>::zeros(&[2])), Param::new(Tensor::zeros(shape))];
        check_same_model(&comm, &model[..])
    });
    for r in &out {
        match r {
            Err(DistError::ModelMismatch { rank: 2, detail }) => {
                assert!(detail.contains("parameter #1"), "{detail}");
                assert!(detail.contains("[4, 3]") && detail.contains("[4, 2]"), "{detail}");
            }
            other => panic!("expected a mismatch on rank 2, got {other:?}"),
        }
    }
    let same = ThreadComm::run(2, |comm| check_same_model(&comm, &[Param::new(Tensor::<f64>::zeros(&[3]))][..]));
    assert!(same.iter().all(Result::is_ok));
}

/// The features and labels of rows `r` of the digits training set.
fn rows(x: &Tensor<f64>, labels: &[usize], r: std::ops::Range<usize>) -> (Tensor<f64>, Vec<usize>) {
    let idx: Vec<usize> = r.clone().collect();
    (wengert_autodiff::kernels::index_select(x, 0, &idx).unwrap(), labels[r].to_vec())
}

/// Adam on a 64-32-10 MLP over digits minibatches of 96 rows, steps `steps`, on `ranks` thread ranks (or one
/// process when `ranks == 0`); resumes from the checkpoint in `resume` if given, and rank 0 writes one to
/// `save` at the end if given. Returns the final parameters of every rank.
fn train_digits_steps(
    ranks: usize,
    steps: std::ops::Range<usize>,
    resume: Option<&Path>,
    save: Option<&Path>,
) -> Vec<Vec<f64>> {
    let data = digits_split::<f64>().train;
    let (x, labels) = (data.features().clone(), data.labels().unwrap().to_vec());
    let run = |comm: &dyn Communicator| {
        // Every rank draws a different initialisation: the broadcast makes them equal.
        let mut model =
            Mlp::<f64>::new(&[64, 32, 10], Activation::Tanh, &mut StdRng::seed_from_u64(comm.rank() as u64));
        let mut opt = Adam::new(AdamConfig::new(1e-2));
        if let Some(dir) = resume {
            // every rank reads the same files; nothing to broadcast
            checkpoint::load_model(dir.join("model.safetensors"), &mut model).unwrap();
            opt.load_state_dict(&checkpoint::load(dir.join("optim.safetensors")).unwrap()).unwrap();
        }
        check_same_model(comm, &model).unwrap();
        broadcast_parameters(comm, &mut model).unwrap();
        let reducer = GradientReducer { bucket_elems: 1000 }; // several buckets
        for step in steps.clone() {
            let global = (step * 96) % 1344..(step * 96) % 1344 + 96;
            let mine = shard(96, comm);
            let (xb, yb) = rows(&x, &labels, global.start + mine.start..global.start + mine.end);
            let tape = Tape::new();
            let p = Bound::new(&tape, &model);
            let loss = cross_entropy(model.forward(&p, tape.constant(xb)), &yb, Reduction::Mean);
            let mut g = p.grad(loss);
            reducer.all_reduce_mean(comm, &model, &mut g, mine.len()).unwrap();
            opt.step(&mut model, &g).unwrap();
        }
        if let (Some(dir), true) = (save, is_root(comm)) {
            checkpoint::save_model(dir.join("model.safetensors"), &model).unwrap();
            checkpoint::save(dir.join("optim.safetensors"), &opt.state_dict()).unwrap();
        }
        comm.barrier().unwrap(); // the checkpoint is complete before any rank returns
        flatten_params(&model)
    };
    if ranks == 0 {
        vec![run(&SingleProcess)]
    } else {
        ThreadComm::run(ranks, |comm| run(&comm))
    }
}

fn train_digits(ranks: usize) -> Vec<Vec<f64>> {
    train_digits_steps(ranks, 0..20, None, None)
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn a_checkpoint_written_by_rank_0_resumes_on_another_number_of_ranks() {
    let dir = std::env::temp_dir().join(format!("wengert-dist-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let straight = train_digits_steps(0, 0..16, None, None).pop().unwrap();
    train_digits_steps(2, 0..8, None, Some(&dir));
    let resumed = train_digits_steps(3, 8..16, Some(&dir), None);
    std::fs::remove_dir_all(&dir).unwrap();
    for w in &resumed {
        let worst = max_abs_diff(w, &straight);
        assert!(worst <= 1e-12, "2 ranks then 3 ranks differ from one uninterrupted process by {worst:e}");
    }
}

#[test]
fn data_parallel_training_equals_single_process_training() {
    let single = train_digits(0).pop().unwrap();
    for ranks in [2, 3] {
        let replicas = train_digits(ranks);
        for w in &replicas {
            assert_eq!(w, &replicas[0], "replicas stay bit-identical");
            let worst = max_abs_diff(w, &single);
            assert!(worst <= 1e-12, "{ranks} ranks: parameters differ from one process by {worst:e}");
        }
        assert!(single.iter().zip(&train_digits(0)[0]).all(|(a, b)| a == b), "single-process runs are deterministic");
    }
}

/// Multinomial logistic regression on rows `r` of the digits training set: the rows' share of the mean
/// cross-entropy over all 1437 rows, plus the L2 term (1e-3/2 ||w||^2) when `with_reg`.
fn logistic_part(r: std::ops::Range<usize>, with_reg: bool) -> impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> {
    let data = digits_split::<f64>().train;
    let (x, y) = rows(data.features(), data.labels().unwrap(), r);
    let n = data.len() as f64;
    move |w: Var<'_, f64>| {
        let tape = w.tape();
        let wm = w.reshape(&[64, 10]);
        let loss = cross_entropy(tape.constant(x.clone()).matmul(wm), &y, Reduction::Sum) * (1.0 / n);
        if with_reg {
            loss + (w * w).sum() * 5e-4
        } else {
            loss
        }
    }
}

/// A per-iteration callback of the second-order methods.
type Observer<'a> = &'a mut dyn FnMut(&Iteration<'_, f64>);

#[test]
fn sharded_trust_region_gives_the_iterates_of_one_process() {
    let config = trust_ncg::TrustNcgConfig::default();
    let x0 = vec![0.0; 640];
    // Runs `run(observer)` and returns `(f, x)` after every iteration.
    let trace = |run: &mut dyn FnMut(Observer<'_>)| {
        let mut xs: Vec<(f64, Vec<f64>)> = Vec::new();
        run(&mut |it| xs.push((it.f, it.x.to_vec())));
        xs
    };
    let mut whole = TapeObjective::new(logistic_part(0..1437, true));
    let mut single = None;
    let single_trace =
        trace(&mut |o| single = Some(trust_ncg::minimize_observed(&mut whole, &x0, &config, o).unwrap()));
    let single = single.unwrap();
    let sharded = ThreadComm::run(2, |comm| {
        let local = TapeObjective::new(logistic_part(shard(1437, &comm), comm.rank() == 0));
        let mut obj = ShardedObjective::new(local, &comm);
        let mut r = None;
        let t = trace(&mut |o| r = Some(trust_ncg::minimize_observed(&mut obj, &x0, &config, o).unwrap()));
        (r.unwrap(), t)
    });
    for (r, t) in &sharded {
        assert_eq!((r.iterations, r.counts, r.stop), (single.iterations, single.counts, single.stop));
        assert_eq!(t.len(), single_trace.len());
        for (k, ((f, x), (fs, xs))) in t.iter().zip(&single_trace).enumerate() {
            let dx = x.iter().zip(xs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            // Sums over shards round differently from the sum over all rows; the values agree to rounding at
            // every iterate. Long truncated-CG runs amplify those roundings in x (to ~1e-7 in the last
            // iterations, against ~1e-2 for the distance to the minimiser that the gradient tolerance allows).
            assert!((f - fs).abs() <= 1e-12 * fs.abs().max(1.0), "iteration {}: f {f} vs {fs}", k + 1);
            assert!(dx <= 1e-6, "iteration {}: x differs by {dx:e}", k + 1);
        }
    }
    assert_eq!(sharded[0].0.x, sharded[1].0.x, "both ranks hold the same iterate");
}

/// Residuals of `y = a exp(-b t) + c` at `t_i = i / 4`, rows `r` of 40.
fn decay_part(r: std::ops::Range<usize>) -> impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64> {
    let t: Vec<f64> = r.clone().map(|i| i as f64 / 4.0).collect();
    let y: Vec<f64> = t.iter().map(|&t| 3.0 * (-0.7 * t).exp() + 0.5 + 0.01 * (7.0 * t).sin()).collect();
    move |p: Var<'_, f64>| {
        let tape = p.tape();
        let (a, b, c) = (p.slice(0, 0..1), p.slice(0, 1..2), p.slice(0, 2..3));
        let tv = tape.constant(Tensor::from_vec(t.clone(), &[t.len()]));
        a * (b * tv).neg().exp() + c - tape.constant(Tensor::from_vec(y.clone(), &[y.len()]))
    }
}

#[test]
fn sharded_levenberg_marquardt_gives_the_iterates_of_one_process() {
    // lmder alone: a sharded problem gives no second-order term S, so the default adaptive model would run
    // lmder there and compare it with the single process's adaptive run
    let config = levenberg_marquardt::LmConfig::minpack();
    let x0 = [1.0, 0.1, 0.0];
    let single = levenberg_marquardt::minimize(&mut TapeLeastSquares::new(decay_part(0..40)), &x0, &config).unwrap();
    let sharded = ThreadComm::run(2, |comm| {
        let local = TapeLeastSquares::new(decay_part(shard(40, &comm)));
        levenberg_marquardt::minimize(&mut ShardedLeastSquares::new(local, &comm), &x0, &config).unwrap()
    });
    for r in &sharded {
        assert_eq!((r.iterations, r.stop), (single.iterations, single.stop));
        let worst = r.x.iter().zip(&single.x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst <= 1e-12, "solution differs from one process by {worst:e}");
    }
    assert!((single.x[1] - 0.7).abs() < 1e-2, "the fit recovers the decay rate: {:?}", single.x);
}
