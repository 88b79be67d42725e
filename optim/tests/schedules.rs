//! Learning-rate schedules: the lecture's numbers, the formulas at their boundaries, the drivers, and
//! state round-trips.

use wengert_autodiff::Tensor;
use wengert_nn::{Grads, Param, StateDict};
use wengert_optim::first_order::{Optimizer, Sgd, SgdConfig};
use wengert_optim::schedule::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

#[test]
fn inverse_time_gives_the_lecture_numbers() {
    // alpha0 = 0.1, decay 1: 0.1, 0.05, 0.033, 0.025
    let s = InverseTime::new(0.1, 1.0);
    let got: Vec<f64> = (0..4).map(|k| s.lr_at(k)).collect();
    close(got[0], 0.1);
    close(got[1], 0.05);
    assert!((got[2] - 0.033).abs() < 5e-4 && (got[3] - 0.025).abs() < 1e-15, "{got:?}");
    close(got[2], 0.1 / 3.0);
}

#[test]
fn step_exponential_and_inverse_sqrt() {
    // step decay t = 0.5 every 3: 1, 1, 1, 0.5, 0.5, 0.5, 0.25
    let s = StepDecay::new(1.0, 0.5, 3);
    assert_eq!((0..7).map(|k| s.lr_at(k)).collect::<Vec<_>>(), vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
    // exponential t = 0.9: 0.9^k alpha0
    let e = Exponential::new(0.2, 0.9);
    close(e.lr_at(0), 0.2);
    close(e.lr_at(2), 0.81 * 0.2);
    // t / sqrt(k) alpha0: alpha0 at k = 0 (the formula is infinite there), then 0.5 * 0.1 / sqrt(k)
    let q = InverseSqrt::new(0.1, 0.5);
    assert_eq!(q.lr_at(0), 0.1);
    close(q.lr_at(1), 0.05);
    close(q.lr_at(4), 0.025);
    close(q.lr_at(100), 0.005);
    assert!(q.lr_at(0).is_finite());
}

#[test]
fn linear_decay_is_constant_after_tau() {
    // (1 - k/tau) alpha0 + k/tau alpha_tau with alpha0 = 1, alpha_tau = 0.01, tau = 100
    let s = LinearDecay::new(1.0, 0.01, 100);
    close(s.lr_at(0), 1.0);
    close(s.lr_at(50), 0.505);
    close(s.lr_at(100), 0.01);
    assert_eq!(s.lr_at(101), 0.01);
    assert_eq!(s.lr_at(10_000), 0.01);
}

#[test]
fn cosine_warmup_and_sequence() {
    let c = CosineAnnealing::new(0.1, 0.001, 10);
    close(c.lr_at(0), 0.1);
    close(c.lr_at(5), 0.001 + 0.099 * 0.5); // cos(pi / 2) = 0
    close(c.lr_at(10), 0.001);
    assert_eq!(c.lr_at(11), 0.001);
    let w = LinearWarmup::new(0.1, 0.25, 4);
    // 0.025, 0.04375, 0.0625, 0.08125, 0.1
    close(w.lr_at(0), 0.025);
    close(w.lr_at(1), 0.04375);
    close(w.lr_at(4), 0.1);
    let s = Sequential::new(vec![Box::new(w), Box::new(c), Box::new(Constant::new(0.5))], vec![4, 20]);
    close(s.lr_at(3), 0.08125);
    close(s.lr_at(4), 0.1); // cosine restarted at 0
    close(s.lr_at(9), 0.001 + 0.099 * 0.5);
    close(s.lr_at(19), 0.001);
    assert_eq!(s.lr_at(20), 0.5);
}

#[test]
fn scheduler_sets_the_rate_of_every_group_and_saves_its_counter() {
    let mut opt = Sgd::<f32>::new(SgdConfig::new(1.0)).with_group("x", SgdConfig::new(2.0));
    let mut s = Scheduler::new(Exponential::new(0.1, 0.5));
    s.apply(&mut opt);
    assert_eq!((opt.group_learning_rate(0), opt.group_learning_rate(1)), (0.1, 0.1));
    for _ in 0..3 {
        s.step(&mut opt);
    }
    assert_eq!((s.step_count(), opt.learning_rate()), (3, 0.0125));
    let sd: StateDict<f32> = s.state_dict();
    let mut t = Scheduler::new(Exponential::new(0.1, 0.5));
    t.load_state_dict(&sd).unwrap();
    assert_eq!(t.step_count(), 3);
    assert_eq!(t.lr(), s.lr());
    assert!(t.load_state_dict(&StateDict::<f32>::new()).is_err());
    assert_eq!(t.step_count(), 3);
}

fn sgd() -> Sgd<f64> {
    Sgd::new(SgdConfig::new(1.0))
}

#[test]
fn plateau_waits_for_patience_then_reduces_and_cools_down() {
    let cfg = PlateauConfig { patience: 2, cooldown: 1, factor: 0.5, min_lr: 0.2, ..Default::default() };
    let mut p = ReduceLrOnPlateau::new(cfg);
    let mut opt = sgd();
    // improving: no change
    for m in [10.0, 9.0, 8.0] {
        assert!(!p.step(m, &mut opt));
    }
    // 2 bad steps are tolerated, the 3rd reduces 1.0 -> 0.5
    assert!(!p.step(8.0, &mut opt));
    assert!(!p.step(8.0, &mut opt));
    assert!(p.step(8.0, &mut opt));
    assert_eq!(opt.learning_rate(), 0.5);
    // cooldown 1: the next bad step is not counted; then 3 more bad steps reduce to max(0.25, 0.2) = 0.25
    assert!(!p.step(8.0, &mut opt));
    assert!(!p.step(8.0, &mut opt) && !p.step(8.0, &mut opt));
    assert!(p.step(8.0, &mut opt));
    assert_eq!(opt.learning_rate(), 0.25);
    // floored at min_lr = 0.2
    for _ in 0..4 {
        p.step(8.0, &mut opt);
    }
    assert_eq!(opt.learning_rate(), 0.2);
    // a relative improvement below threshold 1e-4 is not an improvement
    assert!(p.best() == 8.0);
    p.step(8.0 * (1.0 - 1e-5), &mut opt);
    assert_eq!(p.best(), 8.0);
}

#[test]
fn plateau_max_mode_and_state_round_trip() {
    let cfg = PlateauConfig {
        mode: Mode::Max,
        threshold_mode: ThresholdMode::Abs,
        threshold: 0.1,
        patience: 0,
        ..Default::default()
    };
    let mut p = ReduceLrOnPlateau::new(cfg.clone());
    let mut opt = sgd();
    assert!(!p.step(0.5, &mut opt)); // better than -inf
    assert!(p.step(0.55, &mut opt)); // not better by 0.1 -> patience 0 exceeded -> 1.0 * 0.1
    assert!((opt.learning_rate() - 0.1).abs() < 1e-15);
    p.step(0.7, &mut opt);
    let sd: StateDict<f64> = p.state_dict();
    let mut q = ReduceLrOnPlateau::new(cfg);
    q.load_state_dict(&sd).unwrap();
    assert_eq!((q.best(), q.num_bad_steps()), (0.7, 0));
    assert_eq!(q.state_dict::<f64>(), sd);
    assert!(ReduceLrOnPlateau::try_new(PlateauConfig { factor: 1.5, ..Default::default() }).is_err());
}

/// A schedule stepped per iteration drives the optimiser's steps: the second step uses the new rate.
#[test]
fn per_iteration_schedule_drives_sgd() {
    let mut ps = vec![Param::new(Tensor::from_vec(vec![0.0f64], &[1]))];
    let mut opt = sgd();
    let mut s = Scheduler::new(InverseTime::new(0.1, 1.0));
    s.apply(&mut opt);
    for _ in 0..3 {
        let mut g = Grads::new();
        g.insert(&ps[0], Tensor::from_vec(vec![-1.0], &[1]));
        opt.step(&mut ps, &g).unwrap();
        s.step(&mut opt);
    }
    // w = 0.1 + 0.05 + 0.1/3
    close(ps[0].value().as_slice()[0], 0.1 + 0.05 + 0.1 / 3.0);
}
