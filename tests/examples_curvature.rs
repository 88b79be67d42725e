//! The curvature example in fast mode (the same `run` as `cargo run --example curvature -- --fast`), with
//! assertions on what it measures.

use std::path::PathBuf;

#[allow(dead_code)]
#[path = "../examples/curvature.rs"]
mod curvature;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wengert-examples-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn curvature_fast_measures_the_spectrum_and_the_edge_of_stability() {
    let out = out_dir("curvature");
    let opts = curvature::Options { fast: true, out: out.clone(), seed: 0, lrs: curvature::DEFAULT_LRS.to_vec() };
    let s = curvature::run(&opts).unwrap();
    assert_eq!(s.parameters, 64 * 32 + 32 + 32 * 10 + 10);
    for sp in [&s.initial, &s.trained] {
        // Lanczos converged: Ritz residuals ||H x - lambda x|| small against lambda_max
        let lmax = sp.hessian_top[0];
        assert!(sp.hessian_top.windows(2).all(|w| w[0] >= w[1]), "{:?}", sp.hessian_top);
        assert!(sp.hessian_top_residuals.iter().all(|&r| r < 1e-6 * lmax), "{:?}", sp.hessian_top_residuals);
        // Ritz values interlace: every SLQ node lies within [lambda_min, lambda_max]
        let (lo, hi) = sp.density.range();
        assert!(
            lo >= sp.hessian_min - 1e-6 && hi <= lmax + 1e-6,
            "SLQ range [{lo}, {hi}] vs [{}, {lmax}]",
            sp.hessian_min
        );
        // the GGN is positive semi-definite, the Hessian at these points is not
        assert!(sp.ggn_top.iter().all(|&g| g > 0.0));
        assert!(sp.hessian_min < 0.0);
        // each SLQ probe's weights sum to 1
        for w in &sp.density.weights {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-10);
        }
    }
    // training flattened the minimum's neighbourhood and shrank the negative curvature
    assert!(s.trained.loss < 0.1 * s.initial.loss);
    assert!(s.trained.hessian_min.abs() < 0.1 * s.initial.hessian_min.abs());

    let (stable, catapult) = (&s.runs[0], &s.runs[1]);
    assert_eq!((stable.lr, catapult.lr), (0.5, 2.0));
    // lr = 0.5: 2/lr = 4 stays above the sharpness, and the loss falls at every measurement
    assert!(stable.sharpness.iter().all(|p| p.2 < 2.0 / stable.lr));
    assert!(stable.sharpness.windows(2).all(|w| w[1].1 < w[0].1));
    // lr = 2: unstable at the start (lambda_max > 2/lr = 1), the loss rises at first, and gradient descent ends
    // where lambda_max < 2/lr, having converged
    let first = catapult.sharpness[0];
    let last = *catapult.sharpness.last().unwrap();
    assert!(first.2 > 2.0 / catapult.lr, "initial sharpness {}", first.2);
    assert!(catapult.sharpness.iter().any(|p| p.1 > first.1), "the loss never rose above its start");
    assert!(last.2 < 2.0 / catapult.lr && last.1 < 0.05 * first.1, "end: loss {}, sharpness {}", last.1, last.2);
    assert!(catapult.train_accuracy > 0.95);

    let svg = std::fs::read_to_string(out.join("sharpness.svg")).unwrap();
    assert!(svg.contains("2 / lr = 1.000") && svg.contains("lambda_max, lr = 0.5"));
    assert!(std::fs::read_to_string(out.join("spectrum.svg")).unwrap().contains("after training"));
    std::fs::remove_dir_all(out).unwrap();
}
