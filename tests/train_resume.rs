//! `Trainer` resumes bit-exactly (issue 14): a child process (this test binary re-invoked with an environment
//! variable) trains with a training-state file, is killed mid-run (SIGKILL: only the periodic atomic saves
//! survive; SIGINT: the Ctrl-C handler saves and returns `Interrupted`), and the run resumed from the file ends
//! identical to one that was never interrupted: parameters, optimiser state, history, best model.
//! Also: `fit` returns `Err` (not a panic) when the model's width does not match the data.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::checkpoint;
use wengert::nn::data::{Targets, TensorDataset};
use wengert::nn::layers::{Activation, Linear, Mlp};
use wengert::nn::loss::{cross_entropy, Reduction};
use wengert::nn::StateDict;
use wengert::optim::first_order::{Adam, AdamConfig, Optimizer};
use wengert::prelude::*;
use wengert::train::{TrainConfig, TrainError, TrainReport};

/// Set in the child: the training-state path it trains with.
const CHILD_ENV: &str = "WENGERT_TRAIN_RESUME_CHILD";
const EPOCHS: u64 = 30;
/// 48 rows in batches of 8: 6 iterations per epoch, 180 in all.
const ITERATIONS: u64 = EPOCHS * 6;

fn data(seed: u64) -> TensorDataset<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = Tensor::<f64>::randn(&[48, 4], 0.0, 1.0, &mut rng);
    let y = (0..48).map(|i| (i * 7) % 3).collect();
    TensorDataset::new(x, Targets::Labels(y))
}

fn config(state: Option<&Path>) -> TrainConfig {
    let cfg = TrainConfig::new(EPOCHS).batch_size(8).val_every(4).progress(false).log_epochs(false).save_every(5);
    match state {
        Some(p) => cfg.state_path(p),
        None => cfg,
    }
}

struct Outcome {
    model: StateDict<f64>,
    opt: StateDict<f64>,
    report: Result<TrainReport<f64>, TrainError>,
}

/// One run; `slow` makes each step take a few milliseconds so that a parent can kill it mid-run.
fn run(state: Option<&Path>, slow: bool) -> Outcome {
    let (train, val) = (data(1), data(2));
    let mut model = Mlp::<f64>::new(&[4, 16, 3], Activation::Tanh, &mut StdRng::seed_from_u64(3));
    let mut opt = Adam::new(AdamConfig::new(0.02));
    let mut trainer = Trainer::new(config(state))
        .loss(move |out, batch| {
            if slow {
                std::thread::sleep(Duration::from_millis(4));
            }
            cross_entropy(out, batch.labels(), Reduction::Mean)
        })
        .lr_schedule(|k| 0.02 / (1.0 + 0.01 * k as f64));
    let report = trainer.fit(&mut model, &mut opt, &train, Some(&val));
    Outcome { model: checkpoint::state_dict(&model), opt: opt.state_dict(), report }
}

/// The child's entry point: does nothing unless the parent set [`CHILD_ENV`].
#[test]
fn child_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let out = run(Some(Path::new(&path)), true);
    match out.report {
        Err(TrainError::Interrupted { iteration, .. }) => println!("child interrupted after {iteration}"),
        other => panic!("the child was meant to be interrupted, got {:?}", other.map(|r| r.iterations)),
    }
}

fn saved_iteration(path: &Path) -> Option<u64> {
    let sd = checkpoint::load::<f64>(path).ok()?;
    sd.metadata.get("train.progress")?.split_whitespace().nth(2)?.parse().ok()
}

/// Starts the child, waits until it has saved a state past iteration 10, then stops it with `signal`.
fn interrupted_child(path: &Path, signal: &str) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while saved_iteration(path).is_none_or(|i| i < 10) {
        assert!(Instant::now() < deadline, "the child saved no state in time");
        assert!(child.try_wait().unwrap().is_none(), "the child ended before it was stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    if signal == "KILL" {
        child.kill().unwrap();
    } else {
        let ok = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }
    let status = child.wait().unwrap();
    if signal != "KILL" {
        assert!(status.success(), "the interrupted child should return Err(Interrupted) and exit cleanly");
    }
    saved_iteration(path).expect("a complete state survives the kill")
}

fn tmp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wengert-resume-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("state").join("run.safetensors")
}

#[test]
fn killed_and_interrupted_runs_resume_bit_exactly() {
    let reference = run(None, false);
    let want = reference.report.as_ref().unwrap();
    assert_eq!(want.iterations, ITERATIONS);
    for signal in ["KILL", "INT"] {
        let path = tmp(signal);
        let stopped_at = interrupted_child(&path, signal);
        assert!((10..ITERATIONS).contains(&stopped_at), "{signal}: stopped at {stopped_at}");
        let resumed = run(Some(&path), false);
        let got = resumed.report.as_ref().unwrap();
        assert_eq!(resumed.model, reference.model, "{signal}: parameters differ");
        assert_eq!(resumed.opt, reference.opt, "{signal}: optimiser state differs");
        assert_eq!(got.history, want.history, "{signal}: history differs");
        assert_eq!(got.best, want.best, "{signal}: best model differs");
        assert_eq!((got.iterations, got.epochs_run, got.stopped_early), (want.iterations, want.epochs_run, false));
        // a finished run's state resumes to the same report without another step
        let again = run(Some(&path), false);
        assert_eq!(again.report.as_ref().unwrap().history, want.history);
        assert_eq!(again.opt, reference.opt);
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }
}

#[test]
fn a_state_from_another_run_is_refused() {
    let path = tmp("other");
    let (train, val) = (data(1), data(2));
    let mut model = Mlp::<f64>::new(&[4, 16, 3], Activation::Tanh, &mut StdRng::seed_from_u64(3));
    let mut opt = Adam::new(AdamConfig::new(0.02));
    Trainer::new(config(Some(&path)).seed(7)).fit(&mut model, &mut opt, &train, Some(&val)).unwrap();
    let e = Trainer::new(config(Some(&path))).fit(&mut model, &mut opt, &train, Some(&val)).unwrap_err();
    assert!(matches!(e, TrainError::Resume(ref m) if m.contains("seed")), "{e}");
    // resume(false) starts afresh and overwrites it
    Trainer::new(config(Some(&path)).resume(false)).fit(&mut model, &mut opt, &train, Some(&val)).unwrap();
    std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
}

#[test]
fn a_model_of_the_wrong_width_is_an_error_not_a_panic() {
    let train = data(1);
    let mut model = Linear::<f64>::new(5, 3, &mut StdRng::seed_from_u64(0));
    let mut opt = Adam::new(AdamConfig::new(0.01));
    let e = Trainer::new(config(None)).fit(&mut model, &mut opt, &train, None).unwrap_err();
    assert!(matches!(e, TrainError::Model(ref m) if m.contains("Linear") && m.contains("[8, 4]")), "{e}");
    // validation rows of another width than the training rows: refused before any step
    let narrow = TensorDataset::new(Tensor::<f64>::zeros(&[4, 2]), Targets::Labels(vec![0; 4]));
    let mut model = Linear::<f64>::new(4, 3, &mut StdRng::seed_from_u64(0));
    let e = Trainer::new(config(None)).fit(&mut model, &mut opt, &train, Some(&narrow)).unwrap_err();
    assert!(matches!(e, TrainError::InvalidData(ref m) if m.contains("[2]")), "{e}");
}
