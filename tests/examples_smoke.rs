//! Keeps the examples alive: each example's `run` (the same code as `cargo run --example NAME`) in its
//! fast mode, with assertions on what it computes. The examples are included by path, so this builds them
//! as modules of the test rather than spawning cargo.

use std::path::PathBuf;

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[allow(dead_code)]
#[path = "../examples/mlp_digits.rs"]
mod mlp_digits;

#[allow(dead_code)]
#[path = "../examples/bandit.rs"]
mod bandit;

#[path = "../examples/custom_op.rs"]
mod custom_op;

/// The custom-op example's own checks: it returns the gradient-check error if either fails.
#[test]
fn custom_op_example_passes_both_checks() {
    custom_op::main().expect("custom SiLU passes gradcheck and hvp_check");
}

/// Test accuracy the CNN must beat after the three epochs of fast mode.
const FAST_CNN_FLOOR: f64 = 0.9;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wengert-examples-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn quickstart_fast_trains_the_cnn_and_writes_curves() {
    let out = out_dir("quickstart");
    let s = quickstart::run(&quickstart::Options { fast: true, out: out.clone(), seed: 0 }).unwrap();
    // three epochs of the CNN with shifted batches on the held-out writers (chance is 0.1; the MLP of
    // mlp_digits reaches 0.906 after its full run)
    assert!(s.test_accuracy > FAST_CNN_FLOOR, "test accuracy {}", s.test_accuracy);
    assert!(s.best_val_accuracy > 0.9, "validation accuracy {}", s.best_val_accuracy);
    assert_eq!(s.epochs_run, 3);
    assert_eq!(s.iterations, 3 * 1150_u64.div_ceil(32));
    let svg = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    assert!(svg.contains("EMA-smoothed") && svg.contains("validation accuracy"));
    let train_csv = std::fs::read_to_string(out.join("train.csv")).unwrap();
    assert_eq!(train_csv.lines().count() as u64, 1 + s.iterations);
    // the best checkpoint holds the batch-norm statistics with the parameters
    let best = wengert::nn::checkpoint::load::<f32>(out.join("best.safetensors")).unwrap();
    assert!(best.tensors.contains_key("2.running_mean") && best.tensors.contains_key("1.weight"));
    assert!(out.join("val.csv").exists());
    std::fs::remove_dir_all(out).unwrap();
}

/// The quickstart is deterministic for a seed: same model, same batches, same shifts, same masks.
#[test]
fn quickstart_is_deterministic_for_a_seed() {
    let run = |tag: &str| {
        let out = out_dir(tag);
        let s = quickstart::run(&quickstart::Options { fast: true, out: out.clone(), seed: 3 }).unwrap();
        let csv = std::fs::read_to_string(out.join("train.csv")).unwrap();
        std::fs::remove_dir_all(out).unwrap();
        (s.test_accuracy, csv)
    };
    assert_eq!(run("det-a"), run("det-b"));
}

#[test]
fn mlp_digits_fast_trains_and_writes_curves() {
    let out = out_dir("mlp_digits");
    let s = mlp_digits::run(&mlp_digits::Options { fast: true, out: out.clone(), seed: 0 }).unwrap();
    // two epochs of Adam already separate the digits well; chance is 0.1
    assert!(s.test_accuracy > 0.75, "test accuracy {}", s.test_accuracy);
    assert!(s.best_val_accuracy > 0.8, "validation accuracy {}", s.best_val_accuracy);
    assert_eq!(s.iterations, 2 * 1150_u64.div_ceil(32));
    assert!(out.join("curves.svg").exists() && out.join("best.safetensors").exists());
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn bandit_reproduces_the_lecture_figures() {
    let out = out_dir("bandit");
    let s = bandit::run(&bandit::Options { fast: true, out: out.clone() }).unwrap();
    // maximum likelihood: lambda_hat = 3/10
    assert!((s.lambda_hat - 0.3).abs() < 1e-9, "lambda_hat = {}", s.lambda_hat);
    // the lecture: L(lambda_hat) = 0.27, CE(lambda_hat) = 0.29
    assert_eq!(format!("{:.2}", s.training_error), "0.27");
    assert_eq!(format!("{:.2}", s.generalisation_error), "0.29");
    // -0.3 log10 0.3 - 0.7 log10 0.7
    assert!((s.training_error - (-0.3 * 0.3f64.log10() - 0.7 * 0.7f64.log10())).abs() < 1e-12);
    assert!(s.generalisation_error > s.training_error, "the training error underestimates the generalisation error");
    // the larger test set estimates CE better than ten pulls
    let (_, big) = *s.test_estimates.last().unwrap();
    assert!((big - s.generalisation_error).abs() < 0.02, "test estimate {big}");
    assert!(out.join("bandit.svg").exists());
    std::fs::remove_dir_all(out).unwrap();
}

#[allow(dead_code)]
#[path = "../examples/linear_classifier.rs"]
mod linear_classifier;

#[allow(dead_code)]
#[path = "../examples/gradcheck.rs"]
mod gradcheck_example;

#[test]
fn linear_classifier_gradient_beats_random_search() {
    let s = linear_classifier::run(&linear_classifier::Options { fast: true, seed: 0 });
    for (rs, gd) in s.random_search.iter().zip(&s.gradient_descent) {
        assert!(gd.test_accuracy > 0.8, "{:?}: gradient descent reached only {}", gd.loss, gd.test_accuracy);
        assert!(gd.test_accuracy > rs.test_accuracy + 0.3, "{rs:?} vs {gd:?}");
        assert!(gd.train_loss < rs.train_loss);
    }
    // the best of many random attempts is no worse than the first; tiny W: SVM loss ~ 9, softmax ~ ln 10
    for (first, rs) in s.first_attempt_loss.iter().zip(&s.random_search) {
        assert!(rs.train_loss <= *first);
    }
    assert!((s.first_attempt_loss[0] - 9.0).abs() < 0.01, "{}", s.first_attempt_loss[0]);
    assert!((s.first_attempt_loss[1] - 10f64.ln()).abs() < 0.01, "{}", s.first_attempt_loss[1]);
}

#[test]
fn gradcheck_example_tells_right_from_wrong() {
    let s = gradcheck_example::run(true);
    assert!(s.correct_max_rel_error < 1e-4, "correct gradient: {}", s.correct_max_rel_error);
    assert!(s.buggy_max_rel_error > 1e-3, "buggy gradient: {}", s.buggy_max_rel_error);
    assert!(s.hand_vs_tape < 1e-12, "{}", s.hand_vs_tape);
    assert!(s.cube_ok);
    match s.cube_bug_error {
        Some(wengert::autodiff::AutodiffError::GradCheck { analytic, numeric, .. }) => {
            assert!((analytic - numeric).abs() > 0.1)
        }
        other => panic!("expected a gradient-check failure, got {other:?}"),
    }
}

#[allow(dead_code)]
#[path = "../examples/hyperparameter_search.rs"]
mod hyperparameter_search;

#[test]
fn hyperparameter_search_picks_the_best_cross_validated_setting() {
    let s = hyperparameter_search::run(true);
    assert_eq!(s.grid.len(), 8);
    assert_eq!(s.random.len(), 8);
    let max_grid = s.grid.iter().map(|g| g.cv_mean).fold(0.0, f64::max);
    assert_eq!(s.best_grid.0.cv_mean, max_grid);
    let max_random = s.random.iter().map(|g| g.cv_mean).fold(0.0, f64::max);
    assert_eq!(s.best_random.0.cv_mean, max_random);
    // random settings stay inside the grid's ranges
    for r in &s.random {
        assert!((0.1..=1.0).contains(&r.setting.lr) && (1e-4..=1e-2).contains(&r.setting.reg));
        assert!((10..=20).contains(&r.setting.iters));
    }
    // a larger step with the same budget learns more here: lr 1.0 beats lr 0.1 at 10 iterations
    let at =
        |lr: f64| s.grid.iter().find(|g| g.setting.lr == lr && g.setting.reg == 1e-4 && g.setting.iters == 10).unwrap();
    assert!(at(1.0).cv_mean > at(0.1).cv_mean);
    assert!(s.best_grid.1 > 0.7 && s.best_random.1 > 0.7, "{:?} {:?}", s.best_grid, s.best_random);
}

#[allow(dead_code)]
#[path = "../examples/batch_size.rs"]
mod batch_size;

#[test]
fn batch_size_variance_falls_as_one_over_m() {
    let out = out_dir("batch_size");
    let s = batch_size::run(&batch_size::Options { fast: true, out: out.clone() }).unwrap();
    // least-squares slope of log Var S against log m: -1 (theory: sigma^2/m, finite-population corrected)
    let pts: Vec<(f64, f64)> = s.variance.iter().map(|&(m, v, _)| ((m as f64).ln(), v.ln())).collect();
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / 9.0, pts.iter().map(|p| p.1).sum::<f64>() / 9.0);
    let slope =
        pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    assert!((slope + 1.0).abs() < 0.1, "slope {slope}");
    for &(m, measured, theory) in &s.variance {
        assert!((0.5..2.0).contains(&(measured / theory)), "m = {m}: {measured} vs {theory}");
    }
    // full-batch descent goes steadily downhill; the minibatch path only on average
    assert!(s.gd_losses.windows(2).all(|p| p[1] <= p[0]));
    assert!(*s.sgd_losses.last().unwrap() < 0.2 * s.sgd_losses[0]);
    assert!(s.gd_losses.iter().chain(&s.sgd_losses).all(|&l| l >= s.min_loss - 1e-12));
    assert!(out.join("batch_size.svg").exists());
    std::fs::remove_dir_all(out).unwrap();
}
