//! The training helper `wengert::train::Trainer`: early stopping, best-parameter bookkeeping (memory and
//! disk), schedules, validation cadence, EMA, determinism and its errors, on a small seeded problem.

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::checkpoint;
use wengert::nn::data::{Targets, TensorDataset};
use wengert::nn::layers::Linear;
use wengert::nn::Parameters;
use wengert::optim::first_order::{Sgd, SgdConfig};
use wengert::prelude::*;
use wengert::train::{Ema, TrainConfig, TrainError, TrainReport, Trainer};

/// Three Gaussian blobs in 2-d, `n` rows per class, seeded.
fn blobs(n: usize, seed: u64) -> TensorDataset<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres = [(-2.0, 0.0), (2.0, 0.0), (0.0, 2.5)];
    let noise = Tensor::<f64>::randn(&[3 * n, 2], 0.0, 0.8, &mut rng);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (c, &(cx, cy)) in centres.iter().enumerate() {
        for i in 0..n {
            let r = c * n + i;
            x.push(cx + noise.as_slice()[2 * r]);
            x.push(cy + noise.as_slice()[2 * r + 1]);
            y.push(c);
        }
    }
    TensorDataset::new(Tensor::from_vec(x, &[3 * n, 2]), Targets::Labels(y))
}

fn quiet(epochs: u64) -> TrainConfig {
    TrainConfig::new(epochs).batch_size(8).progress(false).log_epochs(false)
}

fn fit(cfg: TrainConfig, lr: f64) -> (Linear<f64>, TrainReport<f64>) {
    let (train, val) = (blobs(20, 1), blobs(10, 2));
    let mut model = Linear::new(2, 3, &mut StdRng::seed_from_u64(3));
    let mut opt = Sgd::new(SgdConfig::new(lr));
    let report = Trainer::new(cfg).fit(&mut model, &mut opt, &train, Some(&val)).unwrap();
    (model, report)
}

#[test]
fn learns_the_blobs() {
    let (_, report) = fit(quiet(15), 0.1);
    let last = report.history.validations.last().unwrap();
    assert!(last.metric > 0.9, "validation accuracy {}", last.metric);
    assert!(report.final_smoothed_loss() < report.history.steps[0].loss);
    assert_eq!(report.iterations, 15 * 60_u64.div_ceil(8));
    assert!(!report.stopped_early);
}

#[test]
fn early_stopping_after_patience_validations_without_improvement() {
    // nothing can improve by more than 1e9: the first validation is the best, patience 2 stops at the third
    let (_, report) = fit(quiet(20).patience(2).min_delta(1e9), 0.1);
    assert!(report.stopped_early);
    assert_eq!(report.history.validations.len(), 3);
    assert_eq!(report.epochs_run, 3);
    assert_eq!(report.best.as_ref().unwrap().iteration, report.history.validations[0].iteration);
}

#[test]
fn best_parameters_are_restored_and_written() {
    let dir = std::env::temp_dir().join(format!("wengert-train-helper-{}", std::process::id()));
    let path = dir.join("nested").join("best.safetensors");
    // a large step makes the validation loss bounce, so the best is usually not the last
    let (model, report) = fit(quiet(12).best_checkpoint(&path), 2.0);
    let best = report.best.as_ref().unwrap();
    let lowest = report.history.best_validation().unwrap();
    assert_eq!((best.iteration, best.val_loss), (lowest.iteration, lowest.loss));
    for (name, value) in model.named_parameters() {
        assert_eq!(value.as_slice(), best.state.tensors[&name].as_slice(), "{name} is not the best parameter");
    }
    let on_disk = checkpoint::load::<f64>(&path).unwrap();
    assert_eq!(on_disk.tensors, best.state.tensors);
    std::fs::remove_dir_all(dir).unwrap();

    // without restoring, the model keeps its last parameters
    let (last_model, report) = fit(quiet(12).restore_best(false), 2.0);
    let b = report.best.unwrap();
    let last = report.history.validations.last().unwrap();
    assert_ne!(b.iteration, last.iteration, "this seeded run should end past its best validation");
    let w = &last_model.named_parameters()[0];
    assert_ne!(w.1.as_slice(), b.state.tensors[&w.0].as_slice());
}

#[test]
fn validates_every_n_iterations() {
    let (_, report) = fit(quiet(2).val_every(5), 0.1);
    // 8 batches per epoch, 16 steps: validations after steps 5, 10, 15
    let its: Vec<u64> = report.history.validations.iter().map(|v| v.iteration).collect();
    assert_eq!(its, vec![5, 10, 15]);
}

#[test]
fn schedule_sets_the_learning_rate_of_every_step() {
    let train = blobs(20, 1);
    let mut model = Linear::new(2, 3, &mut StdRng::seed_from_u64(3));
    let before = model.named_parameters();
    let mut opt = Sgd::new(SgdConfig::new(0.1));
    // a zero learning rate from step 0 on: nothing may move
    let report = Trainer::new(quiet(2)).lr_schedule(|_| 0.0).fit(&mut model, &mut opt, &train, None).unwrap();
    assert!(report.history.steps.iter().all(|s| s.lr == 0.0));
    assert_eq!(model.named_parameters(), before);
    assert!(report.best.is_none() && report.history.validations.is_empty());

    let mut model = Linear::new(2, 3, &mut StdRng::seed_from_u64(3));
    let report = Trainer::new(quiet(1))
        .lr_schedule(|k| 0.1 * 0.5f64.powi(k as i32))
        .fit(&mut model, &mut opt, &train, None)
        .unwrap();
    for s in &report.history.steps {
        assert_eq!(s.lr, 0.1 * 0.5f64.powi(s.iteration as i32));
    }
}

#[test]
fn smoothed_loss_is_the_bias_corrected_ema_and_runs_repeat_exactly() {
    let (model_a, a) = fit(quiet(3).ema_beta(0.8), 0.1);
    let mut ema = Ema::new(0.8);
    for s in &a.history.steps {
        ema.update(s.loss);
        assert_eq!(s.smoothed_loss, ema.value().unwrap());
    }
    let (model_b, b) = fit(quiet(3).ema_beta(0.8), 0.1);
    assert_eq!(a.history, b.history);
    assert_eq!(model_a.named_parameters(), model_b.named_parameters());
    // another seed shuffles differently
    let (_, c) = fit(quiet(3).ema_beta(0.8).seed(9), 0.1);
    assert_ne!(a.history.steps, c.history.steps);
}

#[test]
fn errors_are_reported_not_panicked() {
    let train = blobs(5, 1);
    let mut model = Linear::new(2, 3, &mut StdRng::seed_from_u64(3));
    let mut opt = Sgd::new(SgdConfig::new(0.1));
    let e = Trainer::new(quiet(0)).fit(&mut model, &mut opt, &train, None).unwrap_err();
    assert!(matches!(e, TrainError::InvalidConfig(_)), "{e}");

    let regression = TensorDataset::new(Tensor::<f64>::zeros(&[4, 2]), Targets::Values(Tensor::zeros(&[4, 3])));
    let e = Trainer::new(quiet(1)).fit(&mut model, &mut opt, &regression, None).unwrap_err();
    assert!(matches!(e, TrainError::InvalidData(_)), "{e}");

    // log(0) = -inf on the first batch
    let e = Trainer::new(quiet(1))
        .loss(|out, _| (out * 0.0).sum().log())
        .fit(&mut model, &mut opt, &train, None)
        .unwrap_err();
    assert!(matches!(e, TrainError::NonFiniteLoss { iteration: 0, .. }), "{e}");
}

#[test]
fn custom_loss_and_metric_on_regression_targets() {
    // y = x W^T with W = [[1, -2]]: mean squared error goes to ~0
    let mut rng = StdRng::seed_from_u64(5);
    let x = Tensor::<f64>::randn(&[40, 2], 0.0, 1.0, &mut rng);
    let y: Vec<f64> = (0..40).map(|i| x.as_slice()[2 * i] - 2.0 * x.as_slice()[2 * i + 1]).collect();
    let data = TensorDataset::new(x, Targets::Values(Tensor::from_vec(y, &[40, 1])));
    let mut model = Linear::new(2, 1, &mut rng);
    let mut opt = Sgd::new(SgdConfig::new(0.1));
    let report = Trainer::new(quiet(30))
        .loss(|out, batch| {
            let target = out.constant_like(batch.values().clone());
            (out - target).square().mean()
        })
        .metric("mae", |out, batch| {
            let t = batch.values().as_slice();
            out.as_slice().iter().zip(t).map(|(a, b): (&f64, &f64)| (a - b).abs()).sum::<f64>() / t.len() as f64
        })
        .fit(&mut model, &mut opt, &data, Some(&data))
        .unwrap();
    assert_eq!(report.history.metric_name, "mae");
    assert!(report.history.validations.last().unwrap().metric < 1e-3);
    let w = model.weight.value().as_slice().to_vec();
    assert!((w[0] - 1.0).abs() < 1e-3 && (w[1] + 2.0).abs() < 1e-3, "{w:?}");
}

#[test]
fn optim_schedules_plug_in() {
    use wengert::optim::schedule::{LinearDecay, Schedule};
    let train = blobs(20, 1);
    let mut model = Linear::new(2, 3, &mut StdRng::seed_from_u64(3));
    let mut opt = Sgd::new(SgdConfig::new(0.1));
    let decay = LinearDecay::new(0.1, 0.01, 10);
    let expected: Vec<f64> = (0..16).map(|k| decay.lr_at(k)).collect();
    let report = Trainer::new(quiet(2)).schedule(decay).fit(&mut model, &mut opt, &train, None).unwrap();
    let got: Vec<f64> = report.history.steps.iter().map(|s| s.lr).collect();
    assert_eq!(got, expected);
    assert_eq!(got[15], 0.01);
}
