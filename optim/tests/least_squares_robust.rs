//! Robust losses give scipy's fits: `a exp(-b t) + c` through 21 points with three outliers, each loss with
//! `f_scale = 0.1`, from `(4, 1, 0.3)` (the arctan loss is bounded, so from a start where most residuals are
//! beyond `f_scale` its cost is flat and any method may stop in another local minimum). The expected values
//! are the output of `tests/scripts/robust_loss.py` (scipy `least_squares(method='trf', loss=...,
//! f_scale=0.1)` at tolerances 1e-15), typed in.

use wengert_autodiff::{Tensor, Var};
use wengert_optim::objective::TapeLeastSquares;
use wengert_optim::second_order::levenberg_marquardt::{self, LmConfig};
use wengert_optim::second_order::robust_loss::{Loss, RobustLoss};

/// (loss, a, b, c, cost) from scipy.
const SCIPY: [(Loss, [f64; 3], f64); 5] = [
    (Loss::Linear, [5.167567805525841e+00, 1.311236337377373e+00, 7.143083490212696e-01], 1.345647098740428e+01),
    (Loss::Huber, [5.030043517373449e+00, 1.30524271767624e+00, 5.086703991563771e-01], 8.782068690067802e-01),
    (Loss::SoftL1, [5.030683814343349e+00, 1.304433156305739e+00, 5.089225425433833e-01], 8.633824707526249e-01),
    (Loss::Cauchy, [5.017758960584047e+00, 1.307642996513891e+00, 5.076853751700211e-01], 1.083124011940935e-01),
    (Loss::Arctan, [5.017816159400498e+00, 1.308391561828572e+00, 5.079203195287687e-01], 3.203269704760319e-02),
];

fn data() -> (Vec<f64>, Vec<f64>) {
    let t: Vec<f64> = (0..21).map(|i| 4.0 * i as f64 / 20.0).collect();
    let mut y: Vec<f64> = t.iter().map(|&t| 5.0 * (-1.3 * t).exp() + 0.5 + 0.05 * (7.0 * t).sin()).collect();
    y[3] += 3.0;
    y[10] -= 2.0;
    y[17] += 4.0;
    (t, y)
}

#[test]
fn robust_losses_match_scipy() {
    let (t, y) = data();
    for (loss, want, cost) in SCIPY {
        let (tt, yt) = (Tensor::from_vec(t.clone(), &[21]), Tensor::from_vec(y.clone(), &[21]));
        let mut p = TapeLeastSquares::new(move |q: Var<'_, f64>| {
            let tv = q.constant_like(tt.clone());
            q.slice(0, 0..1) * (q.slice(0, 1..2).neg() * tv).exp() + q.slice(0, 2..3) - q.constant_like(yt.clone())
        });
        let config = LmConfig { loss: RobustLoss::new(loss, 0.1), ..Default::default() };
        let r = levenberg_marquardt::minimize(&mut p, &[4.0, 1.0, 0.3], &config).unwrap();
        // with residuals this large the cost is flat to rounding within ~1e-8 of the minimiser (for the linear
        // loss scipy's point and ours both have |grad| ~ 2e-7 and costs equal to 1 ulp), hence 1e-7
        for (g, w) in r.x.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-7 * w.abs(), "{loss:?}: {:?} vs scipy {want:?}", r.x);
        }
        assert!((r.f - cost).abs() <= 1e-13 * cost, "{loss:?}: cost {} vs scipy {cost}", r.f);
    }
}

/// `rho` and its derivatives against central differences, and the Huber kink at `z = 1`.
#[test]
fn loss_derivatives_match_differences() {
    for loss in [Loss::Huber, Loss::SoftL1, Loss::Cauchy, Loss::Arctan] {
        let l = RobustLoss::new(loss, 0.5);
        for r in [0.1_f64, 0.3, 0.9, 2.0] {
            let z = (r / 0.5) * (r / 0.5);
            let h = 1e-6 * z;
            let rho_z = |z: f64| l.rho(0.5 * z.sqrt());
            let (_, d1, d2) = l.rho(r);
            let fd1 = (rho_z(z + h).0 - rho_z(z - h).0) / (2.0 * h);
            let fd2 = (rho_z(z + h).1 - rho_z(z - h).1) / (2.0 * h);
            assert!((d1 - fd1).abs() < 1e-7 * fd1.abs().max(1.0), "{loss:?} rho' at z = {z}: {d1} vs {fd1}");
            assert!((d2 - fd2).abs() < 1e-6 * fd2.abs().max(1.0), "{loss:?} rho'' at z = {z}: {d2} vs {fd2}");
        }
    }
    // Huber: rho(z) = z up to 1, 2 sqrt(z) - 1 beyond: at r = 2 C, z = 4, rho = 3
    assert_eq!(RobustLoss::new(Loss::Huber, 0.5).rho(1.0).0, 3.0);
    assert_eq!(RobustLoss::new(Loss::Huber, 0.5).rho(0.25).0, 0.25);
}
