//! Hessian-free (Martens 2010) against references: Newton's optimum of logistic regression, closed-form
//! reduction ratios for the damping rule, monotone decrease on an MLP, errors that change nothing.

use rand::{rngs::StdRng, Rng, SeedableRng};
use wengert_autodiff::{Tensor, Var};
use wengert_nn::layers::{Activation, Linear, Mlp};
use wengert_nn::{join_name, Bound, Module, Param, Parameters};
use wengert_optim::curvature::{LossHessian, OutputLoss};
use wengert_optim::linalg::{cholesky::Cholesky, DenseMatrix, LinOp};
use wengert_optim::objective::{flatten_params, unflatten_params};
use wengert_optim::stochastic::hessian_free::{HessianFree, HessianFreeConfig};
use wengert_optim::stochastic::{closure, Evaluation, StochasticOptimizer};
use wengert_optim::OptimError;

fn logistic_data(n: usize, seed: u64) -> (Tensor<f64>, Tensor<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = Tensor::randn(&[n, 3], 0.0, 1.0, &mut rng);
    let w = [1.5, -2.0, 0.5];
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let z: f64 = 0.3 + (0..3).map(|j| w[j] * x.as_slice()[i * 3 + j]).sum::<f64>();
            if rng.random::<f64>() < 1.0 / (1.0 + (-z).exp()) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    (x, Tensor::from_vec(y, &[n, 1]))
}

/// HF on logistic regression (convex, non-separable data) reaches the optimum Newton's method finds (dense
/// Hessian, Cholesky), to 1e-7 in the parameters, with a monotone loss.
#[test]
fn converges_to_newtons_optimum_on_logistic_regression() {
    let (x, y) = logistic_data(200, 1);
    let mut c = closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::BceWithLogits { targets: y.clone() },
    });
    // Newton reference
    let mut newton = Linear::<f64>::new(3, 1, &mut StdRng::seed_from_u64(2));
    for _ in 0..50 {
        let h = LossHessian::new(&newton, &mut c);
        let n = h.dim();
        let mut dense = vec![0.0; n * n];
        let (mut e, mut col) = (vec![0.0; n], vec![0.0; n]);
        for j in 0..n {
            e[j] = 1.0;
            h.apply(&e, &mut col);
            for i in 0..n {
                dense[i * n + j] = col[i];
            }
            e[j] = 0.0;
        }
        let g = h.gradient().to_vec();
        if g.iter().map(|v| v * v).sum::<f64>().sqrt() < 1e-14 {
            break;
        }
        let step = Cholesky::factor(&DenseMatrix::from_vec(n, n, dense)).unwrap().solve(&g);
        let theta: Vec<f64> = flatten_params(&newton).iter().zip(&step).map(|(t, s)| t - s).collect();
        unflatten_params(&mut newton, &theta);
    }
    let optimum = flatten_params(&newton);

    let mut model = Linear::<f64>::new(3, 1, &mut StdRng::seed_from_u64(2));
    let mut hf = HessianFree::new(HessianFreeConfig::default());
    let (mut losses, mut dampings) = (vec![], vec![]);
    for _ in 0..40 {
        let rep = hf.step(&mut model, &mut c).unwrap();
        losses.push(rep.loss);
        dampings.push(hf.last_info().unwrap().damping);
    }
    let theta = flatten_params(&model);
    let err = theta.iter().zip(&optimum).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-7, "HF {theta:?} vs Newton {optimum:?}: {err:e}");
    assert!(losses.windows(2).all(|w| w[1] <= w[0] + 1e-15), "loss not monotone: {losses:?}");
    // far from the optimum the quadratic model is good (rho > 3/4) and the damping shrinks by 2/3 per step; at
    // the optimum rho is rounding noise and it grows again
    assert!(dampings[..10].windows(2).all(|w| (w[1] - w[0] * 2.0 / 3.0).abs() < 1e-15), "{dampings:?}");
}

/// A linear model with MSE is exactly quadratic, G = H, so the quadratic model is exact: rho = 1 and the
/// damping shrinks by 2/3 every step; one step with small damping solves the least-squares problem.
#[test]
fn damping_shrinks_by_two_thirds_when_the_model_is_exact() {
    let mut rng = StdRng::seed_from_u64(3);
    let x = Tensor::randn(&[20, 4], 0.0, 1.0, &mut rng);
    let y = Tensor::randn(&[20, 2], 0.0, 1.0, &mut rng);
    let mut model = Linear::<f64>::new(4, 2, &mut rng);
    let mut c = closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::Mse { targets: y.clone() },
    });
    let cfg = HessianFreeConfig { initial_damping: 1.0, warm_start_decay: 0.0, ..Default::default() };
    let mut hf = HessianFree::new(cfg);
    let mut lambda = 1.0;
    for _ in 0..5 {
        hf.step(&mut model, &mut c).unwrap();
        let info = hf.last_info().unwrap().clone();
        assert_eq!(info.damping, lambda);
        assert!((info.rho - 1.0).abs() < 1e-9, "rho = {}", info.rho);
        lambda *= 2.0 / 3.0;
        assert!((info.next_damping - lambda).abs() < 1e-15);
        assert_eq!(info.alpha, 1.0);
    }
}

/// `L(w) = sin(w)^2` (model `sin(w)`, MSE to 0) at `w = 1.4`: the Gauss-Newton step `-tan(w)` overshoots,
/// `rho = (sin^2(w + d) - sin^2 w) / (g d + 1/2 G d^2)` is about 0.07 < 1/4, and the damping grows by 3/2.
struct Sine {
    w: Param<f64>,
}

impl Parameters<f64> for Sine {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
        f(&join_name(prefix, "w"), &self.w)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
        f(&join_name(prefix, "w"), &mut self.w)
    }
}

impl Module<f64> for Sine {
    fn forward<'t>(&self, p: &Bound<'t, f64>, _x: Var<'t, f64>) -> Var<'t, f64> {
        p.var(&self.w).sin().reshape(&[1, 1])
    }
}

#[test]
fn damping_grows_by_three_halves_when_the_quadratic_model_overshoots() {
    let w0 = 1.4f64;
    let mut model = Sine { w: Param::new(Tensor::from_vec(vec![w0], &[1])) };
    let mut c = closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().scalar(0.0)),
        loss: OutputLoss::Mse { targets: Tensor::zeros(&[1, 1]) },
    });
    let lambda = 1e-6;
    let cfg = HessianFreeConfig { initial_damping: lambda, line_search: false, ..Default::default() };
    let mut hf = HessianFree::new(cfg);
    hf.step(&mut model, &mut c).unwrap();
    let info = hf.last_info().unwrap();
    // closed form: g = 2 sin cos, G = 2 cos^2, d = -g / (G + lambda)
    let (s, co) = w0.sin_cos();
    let (g, gg) = (2.0 * s * co, 2.0 * co * co);
    let d = -g / (gg + lambda);
    let rho = ((w0 + d).sin().powi(2) - s * s) / (g * d + 0.5 * gg * d * d);
    assert!(rho < 0.25 && rho > 0.0, "constructed case: rho = {rho}");
    assert!((info.rho - rho).abs() < 1e-9, "rho {} vs closed form {rho}", info.rho);
    assert!((info.next_damping - 1.5 * lambda).abs() < 1e-18);
    assert!((model.w.value().as_slice()[0] - (w0 + d)).abs() < 1e-9, "no line search: the full step");
    // the rule itself
    let cfg = HessianFreeConfig::default();
    assert_eq!(HessianFree::adapt_damping(&cfg, 1.0, 0.1), 1.5);
    assert_eq!(HessianFree::adapt_damping(&cfg, 1.0, 0.5), 1.0);
    assert_eq!(HessianFree::adapt_damping(&cfg, 1.0, 0.9), 2.0 / 3.0);
    assert_eq!(HessianFree::adapt_damping(&cfg, 1.0, f64::NAN), 1.5);
    assert_eq!(HessianFree::adapt_damping(&cfg, 1e8, 0.0), 1e8);
}

fn blobs(n: usize, seed: u64) -> (Tensor<f64>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let mut x = Tensor::randn(&[n, 2], 0.0, 0.7, &mut rng).into_vec();
    for (i, &l) in labels.iter().enumerate() {
        x[i * 2] += [0.0, 2.0, -2.0][l];
        x[i * 2 + 1] += [2.0, -1.0, -1.0][l];
    }
    (Tensor::from_vec(x, &[n, 2]), labels)
}

/// On a small MLP (3 classes) HF decreases the minibatch loss at every step and fits the data; a curvature
/// minibatch of a quarter of the rows (a second closure) works too and costs one more evaluation per step.
#[test]
fn decreases_the_loss_of_an_mlp_with_and_without_a_curvature_minibatch() {
    let (x, labels) = blobs(120, 4);
    let xc = Tensor::from_vec(x.as_slice()[..60].to_vec(), &[30, 2]);
    for sub in [false, true] {
        let mut model = Mlp::<f64>::new(&[2, 8, 3], Activation::Tanh, &mut StdRng::seed_from_u64(5));
        let mut hf = HessianFree::new(HessianFreeConfig::default());
        let mut c = closure(|m: &dyn Module<f64>, p| Evaluation {
            outputs: m.forward(p, p.tape().constant(x.clone())),
            loss: OutputLoss::CrossEntropy { labels: labels.clone() },
        });
        let mut cc = closure(|m: &dyn Module<f64>, p| Evaluation {
            outputs: m.forward(p, p.tape().constant(xc.clone())),
            loss: OutputLoss::CrossEntropy { labels: labels[..30].to_vec() },
        });
        let mut losses = vec![];
        for _ in 0..15 {
            let rep = if sub {
                hf.step_with_curvature(&mut model, &mut c, Some(&mut cc))
            } else {
                hf.step(&mut model, &mut c)
            }
            .unwrap();
            assert!(rep.evaluations >= 2 + usize::from(sub));
            assert!(rep.curvature_products >= 1);
            losses.push(rep.loss);
        }
        assert!(losses.windows(2).all(|w| w[1] <= w[0]), "sub={sub}: {losses:?}");
        assert!(losses[14] < 0.2 * losses[0], "sub={sub}: {} -> {}", losses[0], losses[14]);
    }
}

/// A NaN in the data: `Err`, and neither the parameters nor the damping nor the warm start changed.
#[test]
fn a_non_finite_loss_changes_nothing() {
    let (x, labels) = blobs(30, 6);
    let mut model = Mlp::<f64>::new(&[2, 4, 3], Activation::Tanh, &mut StdRng::seed_from_u64(7));
    let mut hf = HessianFree::new(HessianFreeConfig::default());
    let mut good = closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::CrossEntropy { labels: labels.clone() },
    });
    hf.step(&mut model, &mut good).unwrap();
    let (before, lambda, info) = (flatten_params(&model), hf.damping(), hf.last_info().cloned());
    let mut bad_x = x.clone().into_vec();
    bad_x[3] = f64::NAN;
    let bad_x = Tensor::from_vec(bad_x, &[30, 2]);
    let mut bad = closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(bad_x.clone())),
        loss: OutputLoss::CrossEntropy { labels: labels.clone() },
    });
    let err = hf.step(&mut model, &mut bad).unwrap_err();
    assert!(matches!(err, OptimError::NonFinite { .. }), "{err}");
    assert_eq!(flatten_params(&model), before);
    assert_eq!(hf.damping(), lambda);
    assert_eq!(hf.last_info().cloned(), info);
}

#[test]
fn configs_validate() {
    assert!(HessianFreeConfig::default().validate().is_ok());
    for cfg in [
        HessianFreeConfig { learning_rate: 0.0, ..Default::default() },
        HessianFreeConfig { initial_damping: -1.0, ..Default::default() },
        HessianFreeConfig { initial_damping: 1e9, ..Default::default() },
        HessianFreeConfig { damping_increase: 1.0, ..Default::default() },
        HessianFreeConfig { damping_decrease: 1.0, ..Default::default() },
        HessianFreeConfig { rho_low: 0.8, ..Default::default() },
        HessianFreeConfig { cg_max_iterations: 0, ..Default::default() },
        HessianFreeConfig { warm_start_decay: 1.5, ..Default::default() },
        HessianFreeConfig { backtrack_gamma: 1.0, ..Default::default() },
        HessianFreeConfig { cg_tol: f64::NAN, ..Default::default() },
    ] {
        assert!(matches!(HessianFree::try_new(cfg.clone()), Err(OptimError::InvalidConfig(_))), "{cfg:?}");
    }
    let mut hf = HessianFree::new(HessianFreeConfig::default());
    assert!(StochasticOptimizer::<f64>::set_learning_rate(&mut hf, -1.0).is_err());
    assert!(StochasticOptimizer::<f64>::set_learning_rate(&mut hf, 0.5).is_ok());
    assert_eq!(StochasticOptimizer::<f64>::learning_rate(&hf), 0.5);
}

/// save -> load -> continue matches an uninterrupted run bit for bit (f32 model: the state is kept exactly in
/// the metadata); a state dict of another algorithm is refused and changes nothing.
#[test]
fn resume_through_a_state_dict_is_bit_exact() {
    let (x, labels) = blobs(60, 9);
    let x = Tensor::from_vec(x.as_slice().iter().map(|&v| v as f32).collect(), &[60, 2]);
    let make = || Mlp::<f32>::new(&[2, 6, 3], Activation::Tanh, &mut StdRng::seed_from_u64(10));
    let mut c = closure(|m: &dyn Module<f32>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::CrossEntropy { labels: labels.clone() },
    });
    let cfg = HessianFreeConfig { cg_max_iterations: 7, ..Default::default() };
    let mut straight = make();
    let mut hf = HessianFree::new(cfg.clone());
    for _ in 0..6 {
        hf.step(&mut straight, &mut c).unwrap();
    }
    let mut resumed = make();
    let mut first = HessianFree::new(cfg.clone());
    for _ in 0..3 {
        first.step(&mut resumed, &mut c).unwrap();
    }
    let sd = first.state_dict::<f32>();
    let mut second = HessianFree::new(cfg);
    second.load_state_dict(&sd).unwrap();
    assert_eq!((second.steps(), second.damping()), (3, first.damping()));
    for _ in 0..3 {
        second.step(&mut resumed, &mut c).unwrap();
    }
    assert_eq!(flatten_params(&resumed), flatten_params(&straight));
    assert_eq!(second.damping(), hf.damping());
    // the warm start matters: without the loaded state the continuation differs
    let mut fresh_model = make();
    let mut a = HessianFree::new(HessianFreeConfig { cg_max_iterations: 7, ..Default::default() });
    for _ in 0..3 {
        a.step(&mut fresh_model, &mut c).unwrap();
    }
    let mut b = HessianFree::new(HessianFreeConfig { cg_max_iterations: 7, ..Default::default() });
    for _ in 0..3 {
        b.step(&mut fresh_model, &mut c).unwrap();
    }
    assert_ne!(flatten_params(&fresh_model), flatten_params(&straight));
    let mut other = wengert_nn::StateDict::<f32>::new();
    other.metadata.insert("algorithm".into(), "kfac".into());
    assert!(matches!(second.load_state_dict(&other), Err(OptimError::BadStateDict(_))));
    assert_eq!(second.steps(), 6);
}
