//! Nothing non-finite is ever written into parameters or optimiser state (issue 14): learning rates are checked
//! wherever they enter (configs, setters, state dicts), loaded state is validated, step counters of any size
//! keep their bias correction, and a step whose update would be non-finite fails naming the parameter with
//! every parameter and all state unchanged. Also the plain-slice / plain-tensor entry points (issue 15).

use wengert_autodiff::Tensor;
use wengert_nn::{f64_to_meta, Grads, Param, Parameters, StateDict};
use wengert_optim::first_order::*;

fn params(w: &[f64]) -> Vec<Param<f64>> {
    w.iter().map(|&x| Param::new(Tensor::from_vec(vec![x], &[1]))).collect()
}

fn grads_for(ps: &[Param<f64>], gs: &[f64]) -> Grads<f64> {
    let mut g = Grads::new();
    for (p, &x) in ps.iter().zip(gs) {
        g.insert(p, Tensor::from_vec(vec![x], &[1]));
    }
    g
}

/// Every first-order optimiser with its default config, boxed.
fn all_optimisers() -> Vec<Box<dyn Optimizer<f64>>> {
    vec![
        Box::new(Sgd::new(SgdConfig::default().momentum(0.9))),
        Box::new(Momentum::new(MomentumConfig::default())),
        Box::new(Nesterov::new(NesterovConfig::default())),
        Box::new(Adagrad::new(AdagradConfig::default())),
        Box::new(RmsProp::new(RmsPropConfig::default())),
        Box::new(RmsPropNesterov::new(RmsPropNesterovConfig::default())),
        Box::new(Adam::new(AdamConfig::default())),
        Box::new(AdamW::new(AdamWConfig::default())),
        Box::new(Adamax::new(AdamaxConfig::default())),
        Box::new(NAdam::new(NAdamConfig::default())),
        Box::new(Adadelta::new(AdadeltaConfig::default())),
        Box::new(SignDescent::new(SignDescentConfig::default())),
    ]
}

#[test]
fn learning_rate_setters_refuse_nan_infinity_and_negative_values() {
    for mut opt in all_optimisers() {
        let lr = opt.learning_rate();
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            let e = opt.try_set_learning_rate(bad).unwrap_err();
            assert!(matches!(e, OptimError::InvalidConfig(_)), "{}: {e}", opt.name());
            assert!(opt.try_set_group_learning_rate(0, bad).is_err(), "{}", opt.name());
            assert_eq!(opt.learning_rate().to_bits(), lr.to_bits(), "{}: lr changed by a refused set", opt.name());
        }
        assert!(opt.try_set_group_learning_rate(1, 0.1).is_err(), "{}: group 1 does not exist", opt.name());
        // the optimiser still steps with finite values after the refusals
        let mut ps = params(&[1.0]);
        {
            let g = grads_for(&ps, &[1.0]);
            opt.step(&mut ps, &g)
        }
        .unwrap();
        assert!(ps[0].value().as_slice()[0].is_finite());
    }
}

#[test]
#[should_panic(expected = "lr = NaN must be finite and >= 0")]
fn set_learning_rate_panics_with_the_value() {
    Adam::<f64>::new(AdamConfig::default()).set_learning_rate(f64::NAN);
}

#[test]
fn configs_refuse_infinite_hyperparameters() {
    assert!(Sgd::<f64>::try_new(SgdConfig::new(f64::INFINITY)).is_err());
    assert!(Adam::<f64>::try_new(AdamConfig::new(f64::INFINITY)).is_err());
    assert!(Adam::<f64>::try_new(AdamConfig { eps: f64::INFINITY, ..AdamConfig::default() }).is_err());
    assert!(Adagrad::<f64>::try_new(AdagradConfig::new(f64::NAN)).is_err());
    assert!(Sgd::<f64>::try_new(SgdConfig::new(0.1).weight_decay(f64::INFINITY)).is_err());
    assert!(Sgd::<f64>::try_new(SgdConfig::new(0.1).momentum(0.5).dampening(f64::NAN)).is_err());
    assert!(SignDescent::<f64>::try_new(SignDescentConfig::new(f64::INFINITY)).is_err());
}

/// The state dict of `opt` after one step with gradient 1 on a single parameter named "0".
fn stepped_state(opt: &mut dyn Optimizer<f64>) -> StateDict<f64> {
    let mut ps = params(&[1.0]);
    {
        let g = grads_for(&ps, &[1.0]);
        opt.step(&mut ps, &g)
    }
    .unwrap();
    opt.state_dict()
}

#[test]
fn load_state_dict_refuses_bad_learning_rates() {
    for mut opt in all_optimisers() {
        let sd = stepped_state(opt.as_mut());
        for bad in [f64::NAN, f64::INFINITY, -5.0] {
            let mut bad_sd = sd.clone();
            bad_sd.metadata.insert("group.0.lr".into(), f64_to_meta(bad));
            let e = opt.load_state_dict(&bad_sd).unwrap_err();
            assert!(matches!(e, OptimError::BadStateDict(_)), "{}: {e}", opt.name());
            assert!(e.to_string().contains("lr"), "{}: {e}", opt.name());
            assert_eq!(opt.state_dict(), sd, "{}: a refused load changed the optimiser", opt.name());
        }
    }
}

#[test]
fn load_state_dict_refuses_negative_second_moments_and_non_finite_buffers() {
    let mut opt = Adam::<f64>::new(AdamConfig::new(0.1));
    let sd = stepped_state(&mut opt);
    let mut bad = sd.clone();
    bad.tensors.insert("state.0.exp_avg_sq".into(), Tensor::from_vec(vec![-1.0], &[1]));
    let e = opt.load_state_dict(&bad).unwrap_err();
    assert!(e.to_string().contains("exp_avg_sq") && e.to_string().contains(">= 0"), "{e}");
    let mut bad = sd.clone();
    bad.tensors.insert("state.0.exp_avg".into(), Tensor::from_vec(vec![f64::NAN], &[1]));
    assert!(opt.load_state_dict(&bad).unwrap_err().to_string().contains("exp_avg"));
    // a first moment may be negative
    let mut ok = sd.clone();
    ok.tensors.insert("state.0.exp_avg".into(), Tensor::from_vec(vec![-1.0], &[1]));
    opt.load_state_dict(&ok).unwrap();

    let mut sgd = Sgd::<f64>::new(SgdConfig::new(0.1).momentum(0.9));
    let sd = stepped_state(&mut sgd);
    let mut bad = sd.clone();
    bad.tensors.insert("state.0.momentum_buffer".into(), Tensor::from_vec(vec![f64::NEG_INFINITY], &[1]));
    assert!(sgd.load_state_dict(&bad).is_err());

    let mut nadam = NAdam::<f64>::new(NAdamConfig::default());
    let sd = stepped_state(&mut nadam);
    let mut bad = sd.clone();
    bad.metadata.insert("state.0.mu_product".into(), f64_to_meta(f64::INFINITY));
    assert!(nadam.load_state_dict(&bad).unwrap_err().to_string().contains("mu_product"));
}

/// A step counter of 2^32 - 1 read from a state dict: the next step is number 2^32, which `as i32` wraps to 0
/// (bias correction `1 - beta^0 = 0`, a division by zero). Its bias corrections are 1 to rounding, so
/// the step is the uncorrected update.
#[test]
fn huge_step_counters_keep_their_bias_correction() {
    let g: f64 = 1.0;
    // Adam: m = 0.1 g, v = 0.001 g^2, w <- w - lr m / (sqrt(v) + eps)
    let adam_expected = 1.0 - 0.1 * (0.1 * g) / ((0.001 * g * g).sqrt() + 1e-8);
    // AdaMax: m = 0.1 g, u = |g| + eps, w <- w - lr m / u
    let adamax_expected = 1.0 - 0.1 * (0.1 * g) / (g + 1e-8);
    let cases: Vec<(Box<dyn Optimizer<f64>>, f64)> = vec![
        (Box::new(Adam::new(AdamConfig::new(0.1))), adam_expected),
        (Box::new(Adamax::new(AdamaxConfig::new(0.1))), adamax_expected),
        (Box::new(NAdam::new(NAdamConfig::new(0.1))), f64::NAN),
    ];
    for (mut opt, expected) in cases {
        let mut sd = stepped_state(opt.as_mut());
        sd.metadata.insert("state.0.step".into(), "4294967295".into());
        for (k, t) in sd.tensors.iter_mut() {
            assert!(k.starts_with("state.0."));
            *t = Tensor::from_vec(vec![0.0], &[1]);
        }
        opt.load_state_dict(&sd).unwrap();
        let mut ps = params(&[1.0]);
        {
            let g = grads_for(&ps, &[g]);
            opt.step(&mut ps, &g)
        }
        .unwrap();
        let w = ps[0].value().as_slice()[0];
        assert!(w.is_finite() && w < 1.0, "{}: {w}", opt.name());
        if !expected.is_nan() {
            assert!((w - expected).abs() < 1e-12, "{}: {w} vs {expected}", opt.name());
        }
        assert_eq!(opt.state_dict().metadata["state.0.step"], "4294967296", "{}", opt.name());
    }
}

#[test]
fn adam_with_zero_eps_and_a_zero_gradient_fails_without_writing() {
    let mut ps = params(&[1.0, 2.0]);
    let mut opt = Adam::new(AdamConfig { eps: 0.0, ..AdamConfig::new(0.1) });
    // m = v = 0 for parameter "1": its update is 0 / 0
    let err = {
        let g = grads_for(&ps, &[1.0, 0.0]);
        opt.step(&mut ps, &g)
    }
    .unwrap_err();
    assert_eq!(err, OptimError::NonFiniteUpdate { param: "1".into() });
    assert!(err.to_string().contains("`1`") && err.to_string().contains("nothing was written"), "{err}");
    assert_eq!((ps[0].value().as_slice()[0], ps[1].value().as_slice()[0]), (1.0, 2.0));
    assert_eq!(opt.param_steps("0"), 0, "parameter 0 must not have been stepped either");
    assert!(opt.buffer("0", Buffer::ExpAvg).is_none());
}

#[test]
fn momentum_overflowing_to_infinity_fails_naming_the_parameter_and_leaves_all_unchanged() {
    // b = 1e308, then 0.9e308 + 1e308 = inf: w would become -inf from finite gradients
    let mut ps = params(&[0.0, 0.0]);
    let mut opt = Sgd::new(SgdConfig::new(1.0).momentum(0.9));
    {
        let g = grads_for(&ps, &[1.0, 1e308]);
        opt.step(&mut ps, &g)
    }
    .unwrap();
    let (before, state) = (ps.named_parameters(), opt.state_dict());
    let err = {
        let g = grads_for(&ps, &[1.0, 1e308]);
        opt.step(&mut ps, &g)
    }
    .unwrap_err();
    assert_eq!(err, OptimError::NonFiniteUpdate { param: "1".into() });
    assert_eq!(ps.named_parameters(), before);
    assert_eq!(opt.state_dict(), state);
    assert_eq!(opt.param_steps("0"), 1);
}

#[test]
fn large_parameters_are_guarded_in_parallel_chunks() {
    // 2^17 elements: the parallel path; one element in the last chunk overflows
    let n = 1 << 17;
    let mut g = vec![1.0; n];
    g[n - 1] = f64::MAX;
    let mut x = vec![0.0; n];
    let mut opt = Sgd::new(SgdConfig::new(4.0));
    assert_eq!(opt.step_slice(&mut x, &g).unwrap_err(), OptimError::NonFiniteUpdate { param: "x".into() });
    assert!(x.iter().all(|&v| v == 0.0));
    g[n - 1] = 1.0;
    opt.step_slice(&mut x, &g).unwrap();
    assert!(x.iter().all(|&v| v == -4.0));
}

#[test]
fn step_slice_and_step_tensor_match_the_formula_and_check_shapes() {
    // SGD with momentum 0.5, lr 0.1: b1 = g1, w1 = w0 - 0.1 g1; b2 = 0.5 b1 + g2, w2 = w1 - 0.1 b2
    let mut x = [1.0_f64, -2.0];
    let mut opt = Sgd::new(SgdConfig::new(0.1).momentum(0.5));
    opt.step_slice(&mut x, &[1.0, 2.0]).unwrap();
    opt.step_slice(&mut x, &[3.0, -1.0]).unwrap();
    let want = [1.0 - 0.1 * 1.0 - 0.1 * (0.5 * 1.0 + 3.0), -2.0 - 0.1 * 2.0 - 0.1 * (0.5 * 2.0 - 1.0)];
    assert!((x[0] - want[0]).abs() < 1e-15 && (x[1] - want[1]).abs() < 1e-15, "{x:?} vs {want:?}");
    assert_eq!(opt.param_steps("x"), 2);
    let e = opt.step_slice(&mut x, &[1.0]).unwrap_err();
    assert!(matches!(e, OptimError::ShapeMismatch { .. }), "{e}");

    let mut t = Tensor::from_vec(vec![1.0_f64, -2.0, 0.5, 0.0], &[2, 2]);
    let mut adam = Adam::new(AdamConfig::new(0.25));
    adam.step_tensor(&mut t, &Tensor::from_vec(vec![1.0, -1.0, 2.0, 0.0], &[2, 2])).unwrap();
    // Adam's first step moves each coordinate with a nonzero gradient by lr against its sign
    let want = [0.75, -1.75, 0.25, 0.0];
    assert!(t.to_vec().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-7), "{:?}", t.to_vec());
    let e = adam.step_tensor(&mut t, &Tensor::from_vec(vec![1.0; 4], &[4])).unwrap_err();
    assert!(matches!(e, OptimError::ShapeMismatch { .. }), "{e}");
    assert!(adam.step_tensor(&mut t, &Tensor::from_vec(vec![f64::NAN; 4], &[2, 2])).is_err());
}

#[test]
fn a_step_replaces_the_parameter_tensor_and_leaves_clones_of_the_old_value_alone() {
    // The step writes into spare storage and swaps it in: a clone of the old value (a tape still alive, a
    // user's copy) keeps the old numbers, and the next steps, which reuse the old storage, are still exact.
    // SGD, lr 0.5, gradient 1 on 2^17 elements (the parallel path): w_t = -0.5 t.
    let n = 1 << 17;
    let mut ps = vec![Param::new(Tensor::<f64>::zeros(&[n]))];
    let mut opt = Sgd::new(SgdConfig::new(0.5));
    let mut kept = Vec::new();
    for t in 1..=4 {
        kept.push(ps[0].value().clone());
        let mut g = Grads::new();
        g.insert(&ps[0], Tensor::from_vec(vec![1.0; n], &[n]));
        opt.step(&mut ps, &g).unwrap();
        assert!(ps[0].value().as_slice().iter().all(|&w| w == -0.5 * t as f64), "step {t}");
    }
    for (t, old) in kept.iter().enumerate() {
        assert!(old.as_slice().iter().all(|&w| w == -0.5 * t as f64), "the value before step {}", t + 1);
    }
    // A failure in the first half of a large parameter (the assistant's half is the second) writes nothing.
    let mut g = vec![1.0; n];
    g[3] = f64::NAN;
    let mut gr = Grads::new();
    gr.insert(&ps[0], Tensor::from_vec(g, &[n]));
    assert_eq!(opt.step(&mut ps, &gr).unwrap_err(), OptimError::NonFinite { param: "0".into() });
    assert!(ps[0].value().as_slice().iter().all(|&w| w == -2.0));
}
