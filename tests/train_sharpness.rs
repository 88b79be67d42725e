//! `TrainConfig::log_sharpness` (issue 12): the trainer records `lambda_max` of the training loss's Hessian
//! at the end of every epoch. For a linear model with the mean squared error the Hessian is constant,
//! `H = (2 / n) [X 1]^T [X 1]` over the rows measured, so every record must equal the largest eigenvalue of
//! that matrix, computed here independently; the records survive a resume, go to CSV and into the plot.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::data::{Targets, TensorDataset};
use wengert::nn::layers::Linear;
use wengert::nn::loss::{mse, Reduction};
use wengert::optim::first_order::{Sgd, SgdConfig};
use wengert::prelude::*;
use wengert::train::{plot_history, SharpnessLog, TrainConfig, TrainReport};

const ROWS: usize = 40;
const MEASURED: usize = 25;

fn data() -> TensorDataset<f64> {
    let mut rng = StdRng::seed_from_u64(7);
    // badly scaled features, so lambda_max is well separated from the other eigenvalues
    let x: Vec<f64> = Tensor::<f64>::randn(&[ROWS, 2], 0.0, 1.0, &mut rng)
        .as_slice()
        .chunks(2)
        .flat_map(|r| [3.0 * r[0] + 1.0, 0.5 * r[1]])
        .collect();
    let y: Vec<f64> = x.chunks(2).map(|r| 2.0 * r[0] - r[1] + 0.3).collect();
    TensorDataset::new(Tensor::from_vec(x, &[ROWS, 2]), Targets::Values(Tensor::from_vec(y, &[ROWS, 1])))
}

/// Largest eigenvalue of `(2 / m) A^T A`, `A = [X 1]` over the first `m` rows, by power iteration on the
/// 3 x 3 matrix.
fn lambda_max_by_hand(d: &TensorDataset<f64>, m: usize) -> f64 {
    let x = d.features().as_slice();
    let mut h = [[0.0; 3]; 3];
    for i in 0..m {
        let a = [x[2 * i], x[2 * i + 1], 1.0];
        for r in 0..3 {
            for c in 0..3 {
                h[r][c] += 2.0 / m as f64 * a[r] * a[c];
            }
        }
    }
    let mut v = [1.0, 0.3, -0.2];
    let mut lambda = 0.0;
    for _ in 0..2000 {
        let w: Vec<f64> = (0..3).map(|r| (0..3).map(|c| h[r][c] * v[c]).sum()).collect();
        let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
        lambda = (0..3).map(|r| v[r] * w[r]).sum::<f64>() / v.iter().map(|a| a * a).sum::<f64>();
        v = [w[0] / norm, w[1] / norm, w[2] / norm];
    }
    lambda
}

fn run(cfg: TrainConfig) -> TrainReport<f64> {
    let mut model = Linear::<f64>::new(2, 1, &mut StdRng::seed_from_u64(1));
    let mut opt = Sgd::new(SgdConfig::new(0.01));
    Trainer::new(cfg)
        .loss(|out, batch| mse(out, out.constant_like(batch.values().clone()), Reduction::Mean))
        .fit(&mut model, &mut opt, &data(), None)
        .expect("training")
}

fn config(epochs: u64) -> TrainConfig {
    TrainConfig::new(epochs).batch_size(8).progress(false).log_epochs(false).log_sharpness(SharpnessLog::new(MEASURED))
}

#[test]
fn every_epoch_records_the_largest_eigenvalue_of_the_loss_hessian() {
    let want = lambda_max_by_hand(&data(), MEASURED);
    let report = run(config(3));
    let s = &report.history.sharpness;
    assert_eq!(s.len(), 3, "one record per epoch");
    for (k, r) in s.iter().enumerate() {
        assert_eq!((r.epoch, r.iteration), (k as u64, 5 * (k as u64 + 1)), "40 rows in batches of 8");
        assert!((r.lambda_max - want).abs() <= 1e-6 * want, "epoch {k}: {} vs {want}", r.lambda_max);
        assert_eq!(r.lr, 0.01);
        assert!((r.max_stable_learning_rate() - 2.0 / want).abs() <= 1e-6 * 2.0 / want);
    }
    // a different number of rows is a different Hessian: the setting is honoured
    let other = lambda_max_by_hand(&data(), ROWS);
    assert!((other - want).abs() > 1e-3 * want, "the two row counts must give different matrices");
    let all = run(config(1).log_sharpness(SharpnessLog::new(1000)));
    assert!((all.history.sharpness[0].lambda_max - other).abs() <= 1e-6 * other);

    let csv = report.history.sharpness_csv();
    assert!(csv.starts_with("iteration,epoch,lambda_max,max_stable_lr,lr\n") && csv.lines().count() == 4);
    let svg = std::env::temp_dir().join(format!("wengert-sharpness-{}.svg", std::process::id()));
    plot_history(&svg, &report.history).expect("plot");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("lambda_max") && text.contains("2 / lr"), "the sharpness panel is drawn");
    let _ = std::fs::remove_file(svg);
}

#[test]
fn sharpness_records_survive_a_resume() {
    let dir: PathBuf = std::env::temp_dir().join(format!("wengert-sharpness-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("state.safetensors");
    let whole = run(config(4));
    run(config(2).state_path(&state));
    let resumed = run(config(4).state_path(&state));
    assert_eq!(resumed.history.sharpness, whole.history.sharpness);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_zero_row_sharpness_log_is_a_config_error() {
    assert!(config(1).log_sharpness(SharpnessLog::new(0)).validate().is_err());
}
