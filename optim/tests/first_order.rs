//! One step of each first-order optimiser against a hand computation of its formula, plus the engine's
//! contract: skipping, refusing non-finite gradients without side effects, groups, learning-rate access,
//! chunked parallel updates, the two momentum forms and the two Nesterov forms.

use wengert_autodiff::{Float, Tape, Tensor};
use wengert_nn::{Bound, Grads, Param, Parameters};
use wengert_optim::first_order::*;

fn params(w: &[f64]) -> Vec<Param<f64>> {
    w.iter().map(|&x| Param::new(Tensor::from_vec(vec![x], &[1]))).collect()
}

fn grads_for<T: Float>(ps: &[Param<T>], gs: &[T]) -> Grads<T> {
    let mut g = Grads::new();
    for (p, &x) in ps.iter().zip(gs) {
        g.insert(p, Tensor::from_vec(vec![x], &[1]));
    }
    g
}

fn value(ps: &[Param<f64>], i: usize) -> f64 {
    ps[i].value().as_slice()[0]
}

/// Steps a single scalar parameter starting at 1.0 with the given gradients; returns the iterates.
fn run(opt: &mut dyn Optimizer<f64>, gs: &[f64]) -> Vec<f64> {
    let mut ps = params(&[1.0]);
    gs.iter()
        .map(|&g| {
            let gr = grads_for(&ps, &[g]);
            opt.step(&mut ps, &gr).unwrap();
            value(&ps, 0)
        })
        .collect()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_hand_steps() {
    // w <- w - lr g: 1 - 0.1 * 0.5 = 0.95
    close(&run(&mut Sgd::new(SgdConfig::new(0.1)), &[0.5]), &[0.95], 1e-15);
    // momentum 0.9, weight decay 0.1: g' = 0.5 + 0.1 * 1 = 0.6, b = 0.6, w = 0.94;
    // g' = 0.5 + 0.1 * 0.94 = 0.594, b = 0.9 * 0.6 + 0.594 = 1.134, w = 0.94 - 0.1134 = 0.8266
    let cfg = SgdConfig::new(0.1).momentum(0.9).weight_decay(0.1);
    close(&run(&mut Sgd::new(cfg), &[0.5, 0.5]), &[0.94, 0.8266], 1e-14);
    // dampening 0.5: first step b = g = 0.5 (PyTorch clones), w = 0.95; then b = 0.45 + 0.25 = 0.7, w = 0.88
    let cfg = SgdConfig::new(0.1).momentum(0.9).dampening(0.5);
    close(&run(&mut Sgd::new(cfg), &[0.5, 0.5]), &[0.95, 0.88], 1e-14);
    // nesterov: b = 0.5, d = 0.5 + 0.9 * 0.5 = 0.95, w = 0.905; b = 0.95, d = 0.5 + 0.855 = 1.355, w = 0.7695
    let cfg = SgdConfig::new(0.1).momentum(0.9).nesterov(true);
    close(&run(&mut Sgd::new(cfg), &[0.5, 0.5]), &[0.905, 0.7695], 1e-14);
}

#[test]
fn momentum_and_nesterov_velocity_hand_steps() {
    // v = 0.9 * 0 - 0.1 * 0.5 = -0.05, w = 0.95; v = -0.045 - 0.05 = -0.095, w = 0.855
    close(&run(&mut Momentum::new(MomentumConfig::new(0.1, 0.9)), &[0.5, 0.5]), &[0.95, 0.855], 1e-14);
    close(&run(&mut Nesterov::new(NesterovConfig::new(0.1, 0.9)), &[0.5, 0.5]), &[0.95, 0.855], 1e-14);
}

#[test]
fn adaptive_hand_steps() {
    // AdaGrad: r = 0.25, w = 1 - 0.1 * 0.5 / (0.5 + 1e-10) = 0.90000000002;
    // lr_decay 0.5: clr = 0.1 / 1.5, r = 0.5, w -= clr * 0.5 / sqrt(0.5) -> 0.8528595479475636
    let cfg = AdagradConfig { lr_decay: 0.5, ..AdagradConfig::new(0.1) };
    close(&run(&mut Adagrad::new(cfg), &[0.5, 0.5]), &[0.90000000002, 0.8528595479475636], 1e-14);
    // RMSProp: s = 0.01 * 0.25 = 0.0025, w = 1 - 0.01 * 0.5 / (0.05 + 1e-8) = 0.900000019999996
    close(&run(&mut RmsProp::new(RmsPropConfig::new(0.01)), &[0.5]), &[0.900000019999996], 1e-14);
    // centred: ga = 0.005, den = sqrt(0.0025 - 0.005^2) + 1e-8, w = 0.899496238676095
    let cfg = RmsPropConfig { centered: true, ..RmsPropConfig::new(0.01) };
    close(&run(&mut RmsProp::new(cfg), &[0.5]), &[0.899496238676095], 1e-14);
    // momentum 0.9: b = 0.5 / 0.05 = 10, w = 0.9; s = 0.004975, b = 9 + 0.5 / sqrt(s), w = 0.7391119275494087
    let cfg = RmsPropConfig { momentum: 0.9, ..RmsPropConfig::new(0.01) };
    close(&run(&mut RmsProp::new(cfg), &[0.5, 0.5]), &[0.9000000199999, 0.7391119275494087], 1e-12);
    // Algorithm 8.6: r = 0.1 * 0.25, v = -0.01 * 0.5 / sqrt(0.025 + 1e-6), w = 0.9683778558348752
    let cfg = RmsPropNesterovConfig { lr: 0.01, ..Default::default() };
    close(&run(&mut RmsPropNesterov::new(cfg), &[0.5]), &[0.9683778558348752], 1e-14);
    // Adadelta: r = 0.025, d = sqrt(1e-6) / sqrt(0.025 + 1e-6) * 0.5, w = 1 - d = 0.9968377855834876
    close(&run(&mut Adadelta::new(AdadeltaConfig::default()), &[0.5]), &[0.9968377855834876], 1e-14);
    // sign descent moves every axis by lr: 1 - 0.1, then 0.9 + 0.1; zero gradient does not move
    close(&run(&mut SignDescent::new(SignDescentConfig::new(0.1)), &[0.5, -1e-9, 0.0]), &[0.9, 1.0, 1.0], 1e-15);
}

#[test]
fn adam_family_hand_steps() {
    // Adam step 1: m_hat = g, v_hat = g^2, w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002 (|step| = lr)
    // step 2 with g = -1: m = -0.055, v = 0.00124975, w = 0.900000002 + 0.1 / 0.19 * 0.055 / (sqrt(v / 0.001999) + 1e-8)
    close(&run(&mut Adam::new(AdamConfig::new(0.1)), &[0.5, -1.0]), &[0.900000002, 0.9366103542405654], 1e-12);
    // AMSGrad: g = 1 then 0: v drops from 0.001 to 0.000999 but the max 0.001 is used -> 0.8330276878258663
    // (plain Adam would give 0.8329941765341886)
    let ams = run(&mut Adam::new(AdamConfig::new(0.1).amsgrad(true)), &[1.0, 0.0]);
    close(&ams, &[0.900000001, 0.8330276878258663], 1e-12);
    let plain = run(&mut Adam::new(AdamConfig::new(0.1)), &[1.0, 0.0]);
    close(&plain, &[0.900000001, 0.8329941765341886], 1e-12);
    // AdamW: w = 1 * (1 - 0.1 * 0.1) = 0.99, then the Adam step of length 0.1: 0.89
    let cfg = AdamWConfig { weight_decay: 0.1, ..AdamWConfig::new(0.1) };
    close(&run(&mut AdamW::new(cfg), &[0.5]), &[0.89], 1e-8);
    // Adam with L2 0.1: g' = 0.6 but the first step still has length lr: 0.9
    let cfg = AdamConfig { weight_decay: 0.1, ..AdamConfig::new(0.1) };
    close(&run(&mut Adam::new(cfg), &[0.5]), &[0.9], 1e-8);
    // AdaMax: m = 0.05, u = 0.5 + 1e-8, clr = 0.1 / (1 - 0.9) = 1, w = 1 - 0.05 / u
    close(&run(&mut Adamax::new(AdamaxConfig::new(0.1)), &[0.5]), &[0.9000000019999999], 1e-14);
    // NAdam: mu1 = 0.9 (1 - 0.5 * 0.96^0.004) = 0.45007347, mu2 = 0.45014693, d = 0.5 + 1e-8,
    // w = 1 - 0.1 (1 - mu1) / (1 - mu1) * 0.5 / d - 0.1 mu2 / (1 - mu1 mu2) * 0.05 / d = 0.8943548242773647
    close(&run(&mut NAdam::new(NAdamConfig::new(0.1)), &[0.5]), &[0.8943548242773647], 1e-12);
}

fn adam_first_step_is_lr<T: Float>() {
    let mut ps = vec![Param::new(Tensor::<T>::from_vec(vec![T::from_f64(2.0), T::from_f64(-1.0)], &[2]))];
    let mut g = Grads::new();
    g.insert(&ps[0], Tensor::from_vec(vec![T::from_f64(3.0), T::from_f64(-0.25)], &[2]));
    Adam::new(AdamConfig::new(0.5)).step(&mut ps, &g).unwrap();
    // first Adam step: w - lr * sign(g) (up to eps)
    let w = ps[0].value().as_slice();
    assert!((w[0].to_f64() - 1.5).abs() < 1e-6 && (w[1].to_f64() + 0.5).abs() < 1e-6, "{w:?}");
}

#[test]
fn one_body_f32_and_f64() {
    adam_first_step_is_lr::<f32>();
    adam_first_step_is_lr::<f64>();
}

#[test]
fn frozen_and_gradient_free_parameters_are_skipped() {
    let mut ps = params(&[1.0, 2.0, 3.0]);
    ps[1].set_frozen(true);
    let mut g = grads_for(&ps, &[1.0, 1.0]); // parameter 2 has no gradient
    g.insert(&ps[1], Tensor::from_vec(vec![1.0], &[1]));
    let mut opt = Adam::new(AdamConfig::new(0.1));
    opt.step(&mut ps, &g).unwrap();
    assert!(value(&ps, 0) < 1.0);
    assert_eq!((value(&ps, 1), value(&ps, 2)), (2.0, 3.0));
    assert_eq!((opt.param_steps("0"), opt.param_steps("1"), opt.param_steps("2")), (1, 0, 0));
    assert!(opt.buffer("1", Buffer::ExpAvg).is_none());
}

#[test]
fn non_finite_gradient_is_refused_before_anything_changes() {
    for bad in [f64::NAN, f64::INFINITY] {
        let mut ps = params(&[1.0, 2.0, 3.0]);
        let mut opt = Adam::new(AdamConfig::new(0.1));
        let g = grads_for(&ps, &[1.0, 1.0, 1.0]);
        opt.step(&mut ps, &g).unwrap();
        let (before, state) = (ps.named_parameters(), opt.state_dict());
        // the bad gradient is on the last parameter: the first two must not have been touched either
        let g = grads_for(&ps, &[1.0, 1.0, bad]);
        let err = opt.step(&mut ps, &g).unwrap_err();
        assert_eq!(err, OptimError::NonFinite { param: "2".into() });
        assert!(err.to_string().contains("`2`"));
        assert_eq!(ps.named_parameters(), before);
        assert_eq!(opt.state_dict(), state);
    }
}

#[test]
fn shape_mismatch_is_refused() {
    let mut ps = params(&[1.0]);
    let mut g = Grads::new();
    g.insert(&ps[0], Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let err = Sgd::new(SgdConfig::new(0.1)).step(&mut ps, &g).unwrap_err();
    assert_eq!(err, OptimError::ShapeMismatch { param: "0".into(), expected: vec![1], got: vec![2] });
    assert_eq!(value(&ps, 0), 1.0);
}

#[test]
fn invalid_configs_are_rejected() {
    assert!(matches!(
        Adam::<f64>::try_new(AdamConfig { betas: (1.0, 0.9), ..Default::default() }),
        Err(OptimError::InvalidConfig(_))
    ));
    assert!(Sgd::<f64>::try_new(SgdConfig::new(-1.0)).is_err());
    assert!(Sgd::<f64>::try_new(SgdConfig::new(0.1).nesterov(true)).is_err()); // nesterov without momentum
    assert!(RmsProp::<f32>::try_new(RmsPropConfig { alpha: 1.5, ..Default::default() }).is_err());
    assert!(Sgd::<f64>::try_new(SgdConfig::default()).is_ok());
}

#[test]
fn groups_by_prefix_have_their_own_learning_rate() {
    struct Model {
        encoder: Vec<Param<f64>>,
        head: Vec<Param<f64>>,
    }
    impl Parameters<f64> for Model {
        fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
            self.encoder.visit(&wengert_nn::join_name(prefix, "encoder"), f);
            self.head.visit(&wengert_nn::join_name(prefix, "head"), f);
        }
        fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
            self.encoder.visit_mut(&wengert_nn::join_name(prefix, "encoder"), f);
            self.head.visit_mut(&wengert_nn::join_name(prefix, "head"), f);
        }
    }
    let mut m = Model { encoder: params(&[1.0]), head: params(&[1.0]) };
    let mut opt = Sgd::new(SgdConfig::new(0.1)).with_group("encoder.", SgdConfig::new(0.01));
    assert_eq!((opt.num_groups(), opt.group_of("encoder.0"), opt.group_of("head.0")), (2, 1, 0));
    let mut g = grads_for(&m.encoder, &[1.0]);
    g.insert(&m.head[0], Tensor::from_vec(vec![1.0], &[1]));
    opt.step(&mut m, &g).unwrap();
    // head: 1 - 0.1; encoder: 1 - 0.01
    assert_eq!((value(&m.head, 0), value(&m.encoder, 0)), (0.9, 0.99));
    assert_eq!((opt.learning_rate(), opt.group_learning_rate(1)), (0.1, 0.01));
    opt.set_group_learning_rate(1, 0.5);
    assert_eq!(opt.group_learning_rate(1), 0.5);
    opt.set_learning_rate(0.2);
    assert_eq!((opt.group_learning_rate(0), opt.group_learning_rate(1)), (0.2, 0.2));
    opt.step(&mut m, &g).unwrap();
    assert!((value(&m.head, 0) - 0.7).abs() < 1e-15 && (value(&m.encoder, 0) - 0.79).abs() < 1e-15);
}

#[test]
fn object_safe_and_load_checks_algorithm() {
    let mut opts: Vec<Box<dyn Optimizer<f32>>> =
        vec![Box::new(Adam::new(AdamConfig::default())), Box::new(Sgd::new(SgdConfig::new(0.1).momentum(0.9)))];
    let mut ps = vec![Param::new(Tensor::<f32>::ones(&[3]))];
    let mut g = Grads::new();
    g.insert(&ps[0], Tensor::ones(&[3]));
    for o in &mut opts {
        o.step(&mut ps, &g).unwrap();
    }
    let sd = opts[0].state_dict();
    let before = opts[1].state_dict();
    assert!(matches!(opts[1].load_state_dict(&sd), Err(OptimError::BadStateDict(_))));
    assert_eq!(opts[1].state_dict(), before);
    assert_eq!(opts[0].name(), "adam");
}

#[test]
fn state_from_another_model_shape_is_refused() {
    let mut small = vec![Param::new(Tensor::<f64>::ones(&[2]))];
    let mut opt = Adam::new(AdamConfig::default());
    let mut g = Grads::new();
    g.insert(&small[0], Tensor::ones(&[2]));
    opt.step(&mut small, &g).unwrap();
    let sd = opt.state_dict();
    let mut big = vec![Param::new(Tensor::<f64>::ones(&[3]))];
    let mut opt2 = Adam::new(AdamConfig::default());
    opt2.load_state_dict(&sd).unwrap();
    let mut g = Grads::new();
    g.insert(&big[0], Tensor::ones(&[3]));
    assert!(matches!(opt2.step(&mut big, &g), Err(OptimError::ShapeMismatch { .. })));
    assert_eq!(big[0].value().as_slice(), &[1.0, 1.0, 1.0]);
}

/// The parallel chunked update (>= 65,536 elements) gives exactly the bits of the sequential one.
#[test]
fn chunked_parallel_update_is_bit_identical() {
    let n = 100_000;
    let mut rng_state = 12345u64;
    let mut next = || {
        rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((rng_state >> 11) as f64 / (1u64 << 53) as f64) as f32 - 0.5
    };
    let w: Vec<f32> = (0..n).map(|_| next()).collect();
    let gs: Vec<Vec<f32>> = (0..3).map(|_| (0..n).map(|_| next()).collect()).collect();
    // one big parameter vs. the same numbers split into parameters of 1,000 (sequential path)
    let mut big = vec![Param::new(Tensor::from_vec(w.clone(), &[n]))];
    let mut small: Vec<Param<f32>> =
        w.chunks(1000).map(|c| Param::new(Tensor::from_vec(c.to_vec(), &[c.len()]))).collect();
    let mut ob = Adam::new(AdamConfig::new(1e-2).amsgrad(true));
    let mut os = Adam::new(AdamConfig::new(1e-2).amsgrad(true));
    for g in &gs {
        let mut gb = Grads::new();
        gb.insert(&big[0], Tensor::from_vec(g.clone(), &[n]));
        let mut gsm = Grads::new();
        for (p, c) in small.iter().zip(g.chunks(1000)) {
            gsm.insert(p, Tensor::from_vec(c.to_vec(), &[c.len()]));
        }
        ob.step(&mut big, &gb).unwrap();
        os.step(&mut small, &gsm).unwrap();
    }
    let joined: Vec<f32> = small.iter().flat_map(|p| p.value().to_vec()).collect();
    assert!(joined.iter().zip(big[0].value().as_slice()).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_ne!(joined, w);
}

/// `v <- rho v + g; w <- w - alpha v` and `v <- rho v - alpha g; w <- w + v`: same iterates for constant
/// alpha, different ones once alpha changes.
#[test]
fn the_two_momentum_forms() {
    // L = 0.1 w1^2 + 2 w2^2, gradient (0.2 w1, 4 w2)
    let go = |change_lr: bool| {
        let mut a = params(&[1.0, 1.0]);
        let mut b = params(&[1.0, 1.0]);
        let mut pt = Sgd::new(SgdConfig::new(0.05).momentum(0.9));
        let mut gb = Momentum::new(MomentumConfig::new(0.05, 0.9));
        let mut max_diff = 0.0f64;
        for k in 0..50 {
            if change_lr && k == 10 {
                pt.set_learning_rate(0.01);
                gb.set_learning_rate(0.01);
            }
            let ga = grads_for(&a, &[0.2 * value(&a, 0), 4.0 * value(&a, 1)]);
            let gbb = grads_for(&b, &[0.2 * value(&b, 0), 4.0 * value(&b, 1)]);
            pt.step(&mut a, &ga).unwrap();
            gb.step(&mut b, &gbb).unwrap();
            max_diff = max_diff.max((value(&a, 0) - value(&b, 0)).abs()).max((value(&a, 1) - value(&b, 1)).abs());
        }
        max_diff
    };
    assert!(go(false) < 1e-12, "{}", go(false));
    assert!(go(true) > 1e-3, "{}", go(true));
}

/// PyTorch's nesterov=True iterates are the look-ahead points theta + alpha v of Algorithm 8.3.
#[test]
fn nesterov_forms_are_related_by_the_look_ahead_point() {
    let grad = |w: &[f64]| [0.2 * w[0], 4.0 * w[1]];
    let mut pt = params(&[1.0, 1.0]);
    let mut la = params(&[1.0, 1.0]);
    let (lr, mu) = (0.05, 0.9);
    let mut o_pt = Sgd::new(SgdConfig::new(lr).momentum(mu).nesterov(true));
    let mut o_la = Nesterov::new(NesterovConfig::new(lr, mu));
    for _ in 0..40 {
        let g = grad(&[value(&pt, 0), value(&pt, 1)]);
        let g = grads_for(&pt, &g);
        o_pt.step(&mut pt, &g).unwrap();
        o_la.step_look_ahead(&mut la, |p: &Vec<Param<f64>>| grads_for(p, &grad(&[value(p, 0), value(p, 1)]))).unwrap();
        for i in 0..2 {
            let v = o_la.buffer(&i.to_string(), Buffer::Velocity).unwrap()[0];
            let phi = value(&la, i) + mu * v;
            assert!((phi - value(&pt, i)).abs() < 1e-12, "{phi} vs {}", value(&pt, i));
        }
    }
    assert!(value(&la, 0).abs() < 0.2 && value(&la, 1).abs() < 1e-2);
}

/// The look-ahead step with gradients from the tape, on a model, restores theta before the update.
#[test]
fn look_ahead_with_tape_gradients() {
    let mut ps = vec![Param::new(Tensor::from_vec(vec![1.0f64, -2.0], &[2]))];
    let mut opt = RmsPropNesterov::new(RmsPropNesterovConfig::new(0.01));
    let loss_grad = |p: &Vec<Param<f64>>| {
        let tape = Tape::new();
        let b = Bound::new(&tape, p);
        let w = b.var(&p[0]);
        b.grad((w * w).sum())
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        let before = ps[0].value().to_vec();
        let v_before = opt.buffer("0", Buffer::Velocity).map(|v| v.to_vec()).unwrap_or(vec![0.0; 2]);
        let g = opt.step_look_ahead(&mut ps, loss_grad).unwrap();
        // gradient of sum w^2 at theta~ = theta + 0.9 v is 2 theta~
        let gv = g.get(&ps[0]).unwrap().as_slice().to_vec();
        for i in 0..2 {
            assert!((gv[i] - 2.0 * (before[i] + 0.9 * v_before[i])).abs() < 1e-15);
            let v = opt.buffer("0", Buffer::Velocity).unwrap()[i];
            assert_eq!(ps[0].value().as_slice()[i], before[i] + v); // theta <- theta + v from the restored theta
        }
        seen.push(gv);
    }
    assert_ne!(seen[1], seen[2]);
}
