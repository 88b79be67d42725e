//! `Trainer::communicator` (issue 13): data-parallel training on thread ranks equals one process's run on
//! the same global batches to 1e-12 in f64 (parameters, the loss of every step, every validation, the early
//! stopping decision), resumes from a state file written on 2 ranks on 3 ranks, and fails clearly on every
//! rank (never hangs) when the ranks' models differ or rank 0 cannot write.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::dist::{Communicator, DistError, ThreadComm};
use wengert::nn::data::{Targets, TensorDataset};
use wengert::nn::layers::{Activation, Mlp};
use wengert::nn::Parameters;
use wengert::optim::first_order::{Adam, AdamConfig};
use wengert::prelude::*;
use wengert::train::{TrainConfig, TrainError, TrainReport};

/// 50 rows, 3 classes that depend on the features, so the loss falls and validation means something.
fn data(seed: u64, n: usize) -> TensorDataset<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = Tensor::<f64>::randn(&[n, 4], 0.0, 1.0, &mut rng);
    let y = x.as_slice().chunks(4).map(|r| usize::from(r[0] > 0.0) + usize::from(r[1] > 0.5)).collect();
    TensorDataset::new(x, Targets::Labels(y))
}

fn config(epochs: u64, batch: usize) -> TrainConfig {
    TrainConfig::new(epochs).batch_size(batch).val_every(3).progress(false).log_epochs(false)
}

fn params(model: &Mlp<f64>) -> Vec<f64> {
    let mut out = Vec::new();
    model.visit("", &mut |_, p| out.extend_from_slice(p.value().as_slice()));
    out
}

/// One run on `comm` (or one process); every rank builds its model from its own seed, so the broadcast of
/// rank 0's parameters is exercised.
fn run(comm: Option<&dyn Communicator>, cfg: TrainConfig) -> (Vec<f64>, Result<TrainReport<f64>, TrainError>) {
    let rank = comm.map_or(0, |c| c.rank() as u64);
    let mut model = Mlp::<f64>::new(&[4, 8, 3], Activation::Tanh, &mut StdRng::seed_from_u64(10 + rank));
    let mut opt = Adam::new(AdamConfig::new(0.03));
    let mut trainer = Trainer::new(cfg);
    if let Some(c) = comm {
        trainer = trainer.communicator(c);
    }
    let report = trainer.fit(&mut model, &mut opt, &data(1, 50), Some(&data(2, 21)));
    (params(&model), report)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn assert_same_run(
    name: &str,
    (p, r): &(Vec<f64>, Result<TrainReport<f64>, TrainError>),
    reference: &(Vec<f64>, TrainReport<f64>),
) {
    let r = r.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
    let (p0, r0) = reference;
    assert!(max_diff(p, p0) <= 1e-12, "{name}: parameters differ by {:.1e}", max_diff(p, p0));
    assert_eq!(r.iterations, r0.iterations, "{name}: iterations");
    assert_eq!(r.history.steps.len(), r0.history.steps.len());
    for (a, b) in r.history.steps.iter().zip(&r0.history.steps) {
        assert_eq!((a.iteration, a.epoch), (b.iteration, b.epoch));
        assert!((a.loss - b.loss).abs() <= 1e-12, "{name}: loss at step {}: {} vs {}", a.iteration, a.loss, b.loss);
    }
    assert_eq!(r.history.validations.len(), r0.history.validations.len(), "{name}: validations");
    for (a, b) in r.history.validations.iter().zip(&r0.history.validations) {
        assert!((a.loss - b.loss).abs() <= 1e-12 && (a.metric - b.metric).abs() <= 1e-12, "{name}: {a:?} vs {b:?}");
    }
    assert_eq!(r.best.as_ref().map(|b| b.iteration), r0.best.as_ref().map(|b| b.iteration), "{name}: best model");
}

fn single(cfg: TrainConfig) -> (Vec<f64>, TrainReport<f64>) {
    let (p, r) = run(None, cfg);
    (p, r.expect("one process trains"))
}

#[test]
fn two_and_three_thread_ranks_equal_one_process() {
    let cfg = config(4, 8);
    let reference = single(cfg.clone());
    let v = &reference.1.history.validations;
    assert!(v.last().unwrap().loss < 0.9 * v[0].loss, "it learns: {:?}", v);
    for ranks in [2, 3] {
        let runs = ThreadComm::run(ranks, |comm| run(Some(&comm), cfg.clone()));
        for (k, r) in runs.iter().enumerate() {
            assert_same_run(&format!("{ranks} ranks, rank {k}"), r, &reference);
        }
        // replicas are bit-identical to each other
        assert!(runs.iter().all(|r| r.0 == runs[0].0), "{ranks} ranks: replicas differ");
    }
}

#[test]
fn more_ranks_than_rows_in_a_batch_and_early_stopping_agree() {
    // batches of 2 rows on 3 ranks: one rank has no rows in every step
    let cfg = config(3, 2).patience(2);
    let reference = single(cfg.clone());
    let runs = ThreadComm::run(3, |comm| run(Some(&comm), cfg.clone()));
    for (k, r) in runs.iter().enumerate() {
        assert_same_run(&format!("rank {k}"), r, &reference);
    }
}

fn temp_state(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wengert-train-dist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("state.safetensors")
}

#[test]
fn a_state_saved_on_two_ranks_resumes_on_three() {
    let state = temp_state("resume");
    let reference = single(config(4, 8));
    let first = ThreadComm::run(2, |comm| run(Some(&comm), config(2, 8).state_path(&state)));
    assert!(first.iter().all(|r| r.1.is_ok()));
    assert!(state.exists(), "rank 0 wrote the training state");
    let resumed = ThreadComm::run(3, |comm| run(Some(&comm), config(4, 8).state_path(&state)));
    for (k, r) in resumed.iter().enumerate() {
        assert_same_run(&format!("resumed, rank {k}"), r, &reference);
    }
    let _ = std::fs::remove_dir_all(state.parent().unwrap());
}

#[test]
fn different_models_fail_on_every_rank_naming_the_difference() {
    let results = ThreadComm::run(2, |comm| {
        let hidden = if comm.rank() == 0 { 8 } else { 9 };
        let mut model = Mlp::<f64>::new(&[4, hidden, 3], Activation::Tanh, &mut StdRng::seed_from_u64(0));
        let mut opt = Adam::new(AdamConfig::new(0.03));
        let trainer = Trainer::new(config(1, 8)).communicator(&comm);
        let mut trainer = trainer;
        trainer.fit(&mut model, &mut opt, &data(1, 50), None).err()
    });
    for e in results {
        match e {
            Some(TrainError::Dist(DistError::ModelMismatch { rank: 1, detail })) => {
                assert!(detail.contains("[8, 4]") && detail.contains("[9, 4]"), "{detail}")
            }
            other => panic!("expected a model mismatch naming rank 1, got {other:?}"),
        }
    }
}

#[test]
fn rank_zero_failing_to_write_stops_every_rank() {
    // the state file's directory cannot be created (its parent is a file), which only rank 0 tries
    let blocker = temp_state("blocker");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"a file, not a directory").unwrap();
    let state = blocker.join("sub").join("state.safetensors");
    let results = ThreadComm::run(2, |comm| run(Some(&comm), config(1, 8).state_path(&state)).1.err());
    assert!(matches!(results[0], Some(TrainError::Io(_))), "rank 0: {:?}", results[0]);
    assert!(
        matches!(results[1], Some(TrainError::Dist(DistError::PeerFailed { rank: 0 }))),
        "rank 1: {:?}",
        results[1]
    );
    let _ = std::fs::remove_dir_all(blocker.parent().unwrap());
}
