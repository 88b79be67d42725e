//! The curvature toolkit against independent references: dense Hessians from autodiff, closed forms, and
//! statistics of many seeded draws.

use rand::{rngs::StdRng, SeedableRng};
use wengert_autodiff::{functional, Tape, Tensor};
use wengert_optim::curvature::OutputLoss;

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn randn_std(shape: &[usize], std: f64, seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, 0.0, std, &mut StdRng::seed_from_u64(seed))
}

/// Dense `H_L` (`[m, m]`) from `hessian_vec` applied to unit vectors.
fn dense_h_l(loss: &OutputLoss<f64>, out: &Tensor<f64>) -> Vec<f64> {
    let m = out.numel();
    let mut h = vec![0.0; m * m];
    for j in 0..m {
        let tape = Tape::new();
        let mut e = vec![0.0; m];
        e[j] = 1.0;
        let hv = loss.hessian_vec(tape.constant(out.clone()), tape.constant(Tensor::from_vec(e, out.shape())));
        for (i, x) in hv.value().as_slice().iter().enumerate() {
            h[i * m + j] = *x;
        }
    }
    h
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn losses() -> Vec<(OutputLoss<f64>, Tensor<f64>)> {
    let (n, c) = (4, 3);
    let out = randn_std(&[n, c], 2.0, 1);
    let targets = randn(&[n, c], 2);
    let probs = Tensor::rand_uniform(&[n, c], 0.0, 1.0, &mut StdRng::seed_from_u64(3));
    vec![
        (OutputLoss::CrossEntropy { labels: vec![0, 2, 1, 2] }, out.clone()),
        (OutputLoss::Mse { targets }, out.clone()),
        (OutputLoss::BceWithLogits { targets: probs }, out),
    ]
}

#[test]
fn hessian_vec_is_the_autodiff_hessian_of_value() {
    for (loss, out) in losses() {
        let want = functional::hessian(|x| loss.value(x), &out).into_vec();
        let got = dense_h_l(&loss, &out);
        let err = max_abs_diff(&got, &want);
        assert!(err < 1e-13, "{loss:?}: |H_L - hessian(value)| = {err:e}");
    }
}

#[test]
fn gradient_is_the_autodiff_gradient_of_value() {
    let mut all = losses();
    let logp = randn_std(&[4, 3], 1.5, 9);
    let logp = Tape::new().constant(logp).log_softmax(-1).value();
    all.push((OutputLoss::Nll { labels: vec![2, 0, 0, 1] }, logp));
    for (loss, out) in all {
        let want = functional::grad(|x| loss.value(x), &out);
        let err = max_abs_diff(loss.gradient(&out).as_slice(), want.as_slice());
        assert!(err < 1e-15, "{loss:?}: |gradient - autodiff| = {err:e}");
    }
}

/// With `logp = log_softmax(s)`, `J^T H_NLL J` (J the Jacobian of log_softmax) is the cross-entropy Hessian in
/// `s`: NLL's `H_L` gives the GGN of cross-entropy on the logits.
#[test]
fn nll_h_l_through_log_softmax_is_the_cross_entropy_hessian() {
    let (n, c) = (3, 4);
    let s = randn(&[n, c], 5);
    let labels = vec![1, 3, 0];
    let ce_h = functional::hessian(|x| OutputLoss::CrossEntropy { labels: labels.clone() }.value(x), &s).into_vec();
    let lin = functional::linearize(|x| x.log_softmax(-1), &s);
    let jac = lin.jacobian_by_columns().into_vec(); // [m, m]
    let nll = OutputLoss::Nll { labels: labels.clone() };
    let h = dense_h_l(&nll, &lin.value());
    let m = n * c;
    let mut jthj = vec![0.0; m * m];
    for a in 0..m {
        for b in 0..m {
            let mut acc = 0.0;
            for i in 0..m {
                for k in 0..m {
                    acc += jac[i * m + a] * h[i * m + k] * jac[k * m + b];
                }
            }
            jthj[a * m + b] = acc;
        }
    }
    let err = max_abs_diff(&jthj, &ce_h);
    assert!(err < 1e-14, "J^T H_nll J vs CE Hessian: {err:e}");
    // and NLL's true Hessian in the log-probabilities is zero (it is linear): H_L is not that Hessian
    let zero = functional::hessian(|x| nll.value(x), &lin.value()).into_vec();
    assert!(zero.iter().all(|&x| x == 0.0));
}

/// Fisher identity at the outputs: for targets drawn by `sample`, `E[c^-1 g g^T] = H_L` (`g` the gradient of
/// the sampled loss w.r.t. the outputs, `c = nll_scale`). Checked entrywise within 5 standard errors of the
/// Monte-Carlo mean, which also checks the sampled distributions (their first two moments).
#[test]
fn sampled_targets_satisfy_the_fisher_identity() {
    let mut all = losses();
    let logp = Tape::new().constant(randn(&[4, 3], 11)).log_softmax(-1).value();
    all.push((OutputLoss::Nll { labels: vec![0, 0, 0, 0] }, logp));
    let draws = 20_000;
    for (loss, out) in all {
        let m = out.numel();
        // `Nll`: g = -onehot/N has a non-zero mean (-p/N) in log-probability coordinates, so
        // E[c^-1 g g^T] = 1/N (diag(p) within a row, p_a p_b across rows), not H_L = 1/N (diag(p) - p p^T) per
        // row; all of these give the same GGN through log_softmax (the test above), which annihilates p.
        let h = match loss {
            OutputLoss::Nll { .. } => {
                let (n, cls) = (loss.batch_size(), m / loss.batch_size());
                let p: Vec<f64> = out.as_slice().iter().map(|l| l.exp()).collect();
                let mut d = vec![0.0; m * m];
                for a in 0..m {
                    for b in 0..m {
                        d[a * m + b] = if a / cls != b / cls {
                            p[a] * p[b] / n as f64
                        } else if a == b {
                            p[a] / n as f64
                        } else {
                            0.0
                        };
                    }
                }
                d
            }
            _ => dense_h_l(&loss, &out),
        };
        let c = loss.nll_scale();
        let mut rng = StdRng::seed_from_u64(42);
        let (mut mean, mut sq) = (vec![0.0; m * m], vec![0.0; m * m]);
        for _ in 0..draws {
            let g = loss.sample(&out, &mut rng).gradient(&out).into_vec();
            for i in 0..m {
                for j in 0..m {
                    let x = g[i] * g[j] / c;
                    mean[i * m + j] += x;
                    sq[i * m + j] += x * x;
                }
            }
        }
        let mut worst: f64 = 0.0;
        for k in 0..m * m {
            let mu = mean[k] / draws as f64;
            let var = (sq[k] / draws as f64 - mu * mu).max(0.0);
            let se = (var / draws as f64).sqrt().max(1e-12);
            worst = worst.max((mu - h[k]).abs() / se);
        }
        assert!(worst < 5.0, "{loss:?}: Monte-Carlo Fisher off H_L by {worst:.2} standard errors");
    }
}

/// Sampled class labels follow softmax(s): frequencies within 5 standard errors.
#[test]
fn sampled_labels_follow_the_softmax() {
    let s = Tensor::from_vec(vec![0.0, 1.0, -1.0, 2.0, 0.5, 0.5], &[2, 3]);
    let loss = OutputLoss::CrossEntropy { labels: vec![0, 0] };
    let mut rng = StdRng::seed_from_u64(7);
    let draws = 20_000;
    let mut counts = [[0usize; 3]; 2];
    for _ in 0..draws {
        let OutputLoss::CrossEntropy { labels } = loss.sample(&s, &mut rng) else { panic!("kind changed") };
        for (n, &y) in labels.iter().enumerate() {
            counts[n][y] += 1;
        }
    }
    let p = Tape::new().constant(s).softmax(-1).value().into_vec();
    for n in 0..2 {
        for k in 0..3 {
            let pk = p[n * 3 + k];
            let f = counts[n][k] as f64 / draws as f64;
            let se = (pk * (1.0 - pk) / draws as f64).sqrt();
            assert!((f - pk).abs() < 5.0 * se, "row {n} class {k}: frequency {f} vs p {pk}");
        }
    }
}

#[test]
fn batch_size_and_nll_scale() {
    let ce = OutputLoss::<f64>::CrossEntropy { labels: vec![0, 1, 2] };
    assert_eq!((ce.batch_size(), ce.nll_scale()), (3, 1.0 / 3.0));
    let mse = OutputLoss::Mse { targets: Tensor::<f64>::zeros(&[5, 2]) };
    assert_eq!((mse.batch_size(), mse.nll_scale()), (5, 0.1));
}

/// The closure type of `stochastic` accepts inline closures where `&mut Closure` is expected.
#[test]
fn an_inline_closure_is_a_closure() {
    use wengert_nn::{layers::Linear, Bound, Module};
    use wengert_optim::stochastic::{Closure, Evaluation};
    fn call(model: &dyn Module<f64>, c: &mut Closure<'_, f64>) -> f64 {
        let tape = Tape::new();
        let p = Bound::new(&tape, model);
        let e = c(model, &p);
        e.loss.value(e.outputs).item()
    }
    let model = Linear::<f64>::new(2, 1, &mut StdRng::seed_from_u64(0));
    let x = Tensor::zeros(&[3, 2]);
    let loss = call(&model, &mut |m, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::Mse { targets: Tensor::zeros(&[3, 1]) },
    });
    assert!(loss.is_finite());
}
