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

// ---------------------------------------------------------------------------------------------------------
// The toolkit: GGN, Fisher, Hessian, Hutchinson, Lanczos, SLQ, sharpness against dense references.

use wengert_nn::layers::{Activation, Linear, Mlp};
use wengert_nn::loss::{cross_entropy, Reduction};
use wengert_nn::{Bound, Module, Param, Parameters};
use wengert_optim::curvature::{
    bottom_eigenpairs, hutchinson_diagonal, hutchinson_trace, loss_sharpness, spectral_density, top_eigenpairs, Fisher,
    Ggn, LanczosConfig, LossHessian, SlqConfig,
};
use wengert_optim::linalg::{FnOp, LinOp};
use wengert_optim::objective::{flatten_params, ModelObjective, Objective};
use wengert_optim::stochastic::Evaluation;

/// Dense `[n, n]` (row-major) from `n` products with unit vectors.
fn dense(op: &dyn LinOp<f64>) -> Vec<f64> {
    let n = op.dim();
    let mut a = vec![0.0; n * n];
    let (mut e, mut y) = (vec![0.0; n], vec![0.0; n]);
    for j in 0..n {
        e[j] = 1.0;
        op.apply(&e, &mut y);
        for i in 0..n {
            a[i * n + j] = y[i];
        }
        e[j] = 0.0;
    }
    a
}

/// Test-local cyclic Jacobi eigenvalue routine (independent of the library's): eigenvalues ascending.
fn jacobi_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let mut a = a.to_vec();
    for _ in 0..200 {
        let mut off = 0.0;
        for p in 0..n {
            for q in 0..n {
                if p != q {
                    off += a[p * n + q] * a[p * n + q];
                }
            }
        }
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p * n + q].abs() < 1e-300 {
                    continue;
                }
                // angle that zeroes a_pq: tan(2 phi) = 2 a_pq / (a_qq - a_pp)
                let phi = 0.5 * (2.0 * a[p * n + q]).atan2(a[q * n + q] - a[p * n + p]);
                let (s, c) = phi.sin_cos();
                for k in 0..n {
                    let (x, y) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * x - s * y;
                    a[k * n + q] = s * x + c * y;
                }
                for k in 0..n {
                    let (x, y) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * x - s * y;
                    a[q * n + k] = s * x + c * y;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    ev.sort_by(f64::total_cmp);
    ev
}

struct Problem {
    model: Mlp<f64>,
    x: Tensor<f64>,
    labels: Vec<usize>,
}

fn mlp_problem(seed: u64) -> Problem {
    let model = Mlp::<f64>::new(&[3, 4, 3], Activation::Tanh, &mut StdRng::seed_from_u64(seed));
    let x = randn(&[6, 3], seed + 100);
    Problem { model, x, labels: vec![0, 1, 2, 2, 1, 0] }
}

macro_rules! ce_closure {
    ($pr:expr) => {
        &mut |m: &dyn Module<f64>, p: &Bound<'_, f64>| Evaluation {
            outputs: m.forward(p, p.tape().constant($pr.x.clone())),
            loss: OutputLoss::CrossEntropy { labels: $pr.labels.clone() },
        }
    };
}

fn matmul_t_a_b(j: &[f64], h: &[f64], m: usize, n: usize) -> Vec<f64> {
    // J^T H J, J [m, n], H [m, m]
    let mut hj = vec![0.0; m * n];
    for i in 0..m {
        for k in 0..m {
            for c in 0..n {
                hj[i * n + c] += h[i * m + k] * j[k * n + c];
            }
        }
    }
    let mut out = vec![0.0; n * n];
    for a in 0..n {
        for i in 0..m {
            for b in 0..n {
                out[a * n + b] += j[i * n + a] * hj[i * n + b];
            }
        }
    }
    out
}

#[test]
fn ggn_is_jt_hl_j_and_positive_semidefinite() {
    let pr = mlp_problem(1);
    let ggn = Ggn::new(&pr.model, ce_closure!(pr));
    let n = ggn.dim();
    assert_eq!(n, pr.model.num_trainable());
    let got = dense(&ggn);
    // reference: dense J by reverse mode over the flat parameters, dense H_L by autodiff of the loss value
    let theta = Tensor::from_vec(flatten_params(&pr.model), &[n]);
    let lin = functional::linearize(
        |th| {
            let p = wengert_optim::curvature::bind_flat(&pr.model, th);
            pr.model.forward(&p, th.constant_like(pr.x.clone()))
        },
        &theta,
    );
    let j = lin.jacobian_by_rows().into_vec();
    let loss = OutputLoss::CrossEntropy { labels: pr.labels.clone() };
    let h = functional::hessian(|o| loss.value(o), &lin.value()).into_vec();
    let want = matmul_t_a_b(&j, &h, lin.output_numel(), n);
    let err = max_abs_diff(&got, &want);
    assert!(err < 1e-13, "G vs J^T H_L J: {err:e}");
    let ev = jacobi_eigenvalues(&got, n);
    assert!(ev[0] > -1e-12, "GGN has a negative eigenvalue {}", ev[0]);
    assert!(ev[n - 1] > 1e-3);
}

#[test]
fn ggn_equals_the_hessian_for_a_linear_model_with_mse() {
    let model = Linear::<f64>::new(3, 2, &mut StdRng::seed_from_u64(4));
    let x = randn(&[7, 3], 5);
    let y = randn(&[7, 2], 6);
    let mut closure = wengert_optim::stochastic::closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::Mse { targets: y.clone() },
    });
    let g = dense(&Ggn::new(&model, &mut closure));
    let h = dense(&LossHessian::new(&model, &mut closure));
    let err = max_abs_diff(&g, &h);
    assert!(err < 1e-14, "linear model, MSE: |G - H| = {err:e}");
    // and they differ for a nonlinear model (the test can fail)
    let pr = mlp_problem(2);
    let g = dense(&Ggn::new(&pr.model, ce_closure!(pr)));
    let h = dense(&LossHessian::new(&pr.model, ce_closure!(pr)));
    assert!(max_abs_diff(&g, &h) > 1e-4);
}

/// The loss Hessian against central differences of the gradient (from `ModelObjective`, reverse mode).
#[test]
fn loss_hessian_matches_finite_differences_of_the_gradient() {
    let mut pr = mlp_problem(3);
    let h = dense(&LossHessian::new(&pr.model, ce_closure!(pr)));
    let theta = flatten_params(&pr.model);
    let n = theta.len();
    let (x, labels) = (pr.x.clone(), pr.labels.clone());
    let mut obj = ModelObjective::new(&mut pr.model, |p: &Bound<'_, f64>, m: &Mlp<f64>| {
        cross_entropy(m.forward(p, p.tape().constant(x.clone())), &labels, Reduction::Mean)
    });
    let eps = 1e-5;
    let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
    for j in 0..n {
        let mut t = theta.clone();
        t[j] += eps;
        obj.value_grad(&t, &mut gp);
        t[j] -= 2.0 * eps;
        obj.value_grad(&t, &mut gm);
        for i in 0..n {
            let fd = (gp[i] - gm[i]) / (2.0 * eps);
            assert!((fd - h[i * n + j]).abs() < 1e-7, "H[{i},{j}] = {} vs FD {fd}", h[i * n + j]);
        }
    }
}

/// Empirical Fisher against per-example gradients computed one row at a time:
/// `F_emp = 1/N sum_n grad l_n grad l_n^T`.
#[test]
fn empirical_fisher_is_the_mean_outer_product_of_per_example_gradients() {
    let mut pr = mlp_problem(5);
    let f = dense(&Fisher::empirical(&pr.model, ce_closure!(pr)));
    let theta = flatten_params(&pr.model);
    let n = theta.len();
    let rows = pr.labels.len();
    let mut want = vec![0.0; n * n];
    for r in 0..rows {
        let xr = Tape::new().constant(pr.x.clone()).slice(0, r..r + 1).value();
        let yr = [pr.labels[r]];
        let mut obj = ModelObjective::new(&mut pr.model, |p: &Bound<'_, f64>, m: &Mlp<f64>| {
            cross_entropy(m.forward(p, p.tape().constant(xr.clone())), &yr, Reduction::Mean)
        });
        let mut g = vec![0.0; n];
        obj.value_grad(&theta, &mut g);
        for a in 0..n {
            for b in 0..n {
                want[a * n + b] += g[a] * g[b] / rows as f64;
            }
        }
    }
    let err = max_abs_diff(&f, &want);
    assert!(err < 1e-14, "empirical Fisher: {err:e}");
}

/// The Monte-Carlo Fisher is unbiased for the GGN: over 400 seeds with one draw each, the mean of
/// `v^T F v` is within 4 standard errors of `v^T G v` (cross-entropy and MSE); the empirical Fisher is not the
/// GGN (its `v^T F v` differs by far more).
#[test]
fn monte_carlo_fisher_is_unbiased_for_the_ggn() {
    let pr = mlp_problem(6);
    let n = pr.model.num_trainable();
    let v: Vec<f64> = randn(&[n], 77).into_vec();
    let quad = |op: &dyn LinOp<f64>| {
        let mut y = vec![0.0; n];
        op.apply(&v, &mut y);
        v.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>()
    };
    let targets = randn(&[6, 3], 8);
    for mse in [false, true] {
        let mut closure = wengert_optim::stochastic::closure(|m: &dyn Module<f64>, p| Evaluation {
            outputs: m.forward(p, p.tape().constant(pr.x.clone())),
            loss: if mse {
                OutputLoss::Mse { targets: targets.clone() }
            } else {
                OutputLoss::CrossEntropy { labels: pr.labels.clone() }
            },
        });
        let g = quad(&Ggn::new(&pr.model, &mut closure));
        let draws: Vec<f64> = (0..400)
            .map(|s| quad(&Fisher::monte_carlo(&pr.model, &mut closure, 1, &mut StdRng::seed_from_u64(s))))
            .collect();
        let mean = draws.iter().sum::<f64>() / 400.0;
        let sd = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 399.0).sqrt();
        let se = sd / 20.0;
        assert!((mean - g).abs() < 4.0 * se, "mse={mse}: MC Fisher {mean} ± {se} vs GGN {g}");
        let emp = quad(&Fisher::empirical(&pr.model, &mut closure));
        assert!((emp - g).abs() > 4.0 * se, "mse={mse}: the empirical Fisher {emp} should differ from G {g}");
    }
}

fn assert_eigs(values: &[f64], want: &[f64], what: &str) {
    for (g, w) in values.iter().zip(want) {
        assert!((g - w).abs() < 1e-8 * (1.0 + w.abs()), "{what}: {values:?} vs {want:?}");
    }
}

#[test]
fn lanczos_top_and_bottom_eigenpairs_match_the_dense_hessian() {
    let pr = mlp_problem(7);
    let h = LossHessian::new(&pr.model, ce_closure!(pr));
    let n = h.dim();
    let a = dense(&h);
    let ev = jacobi_eigenvalues(&a, n);
    assert!(ev[0] < -1e-6, "an indefinite Hessian at initialisation (else the bottom test is weak)");
    let cfg = LanczosConfig { max_iterations: n, tol: 0.0, seed: 3 };
    let top = top_eigenpairs(&h, 3, &cfg).unwrap();
    let want_top: Vec<f64> = ev.iter().rev().take(3).copied().collect();
    assert_eigs(&top.values, &want_top, "top-3");
    let bottom = bottom_eigenpairs(&h, 3, &cfg).unwrap();
    assert_eigs(&bottom.values, &ev[..3], "bottom-3");
    for (lam, x) in top.values.iter().zip(&top.vectors).chain(bottom.values.iter().zip(&bottom.vectors)) {
        let mut ax = vec![0.0; n];
        h.apply(x, &mut ax);
        let r: f64 = ax.iter().zip(x).map(|(a, b)| (a - lam * b).powi(2)).sum::<f64>().sqrt();
        let xn: f64 = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(r < 1e-8 && (xn - 1.0).abs() < 1e-10, "eigenvector residual {r:e}, norm {xn}");
    }
    // the GGN too
    let g = Ggn::new(&pr.model, ce_closure!(pr));
    let evg = jacobi_eigenvalues(&dense(&g), n);
    let topg = top_eigenpairs(&g, 2, &cfg).unwrap();
    assert_eigs(&topg.values, &[evg[n - 1], evg[n - 2]], "GGN top-2");
}

/// Repeated eigenvalues and invariant subspaces: Lanczos from one start sees each eigenvalue once; the restart
/// on breakdown finds the multiplicities. Early stopping by the residual tolerance on a large operator.
#[test]
fn lanczos_finds_repeated_eigenvalues_and_stops_early() {
    let d: Vec<f64> = (0..12)
        .map(|i| {
            if i < 3 {
                5.0
            } else if i < 6 {
                -2.0
            } else {
                i as f64 * 0.1
            }
        })
        .collect();
    let op = FnOp::new(12, |x: &[f64], y: &mut [f64]| {
        for i in 0..12 {
            y[i] = d[i] * x[i];
        }
    });
    let cfg = LanczosConfig { max_iterations: 12, tol: 0.0, seed: 1 };
    assert_eigs(&top_eigenpairs(&op, 4, &cfg).unwrap().values, &[5.0, 5.0, 5.0, 1.1], "repeated top");
    assert_eigs(&bottom_eigenpairs(&op, 4, &cfg).unwrap().values, &[-2.0, -2.0, -2.0, 0.6], "repeated bottom");
    // n = 2000, a well separated top eigenvalue: converges long before n products
    let n = 2000;
    let big = FnOp::new(n, |x: &[f64], y: &mut [f64]| {
        for i in 0..n {
            let lam = if i == 17 { 10.0 } else { (i % 100) as f64 / 100.0 };
            y[i] = lam * x[i];
        }
    });
    let r = top_eigenpairs(&big, 1, &LanczosConfig::default()).unwrap();
    assert!((r.values[0] - 10.0).abs() < 1e-9 && r.iterations < 60, "{} after {}", r.values[0], r.iterations);
    assert!(top_eigenpairs(&big, 0, &LanczosConfig::default()).is_err());
    assert!(top_eigenpairs(&big, 1, &LanczosConfig { max_iterations: 0, ..Default::default() }).is_err());
}

/// Hutchinson's trace within its stated standard error: `|est - tr| < 4 SE` in at least 95% of 200 seeds
/// (GGN and Hessian of the MLP); the diagonal likewise entrywise; a diagonal operator is estimated exactly.
#[test]
fn hutchinson_estimates_are_within_their_standard_errors() {
    let pr = mlp_problem(8);
    let g = Ggn::new(&pr.model, ce_closure!(pr));
    let h = LossHessian::new(&pr.model, ce_closure!(pr));
    for (name, op) in [("GGN", &g as &dyn LinOp<f64>), ("Hessian", &h)] {
        let a = dense(op);
        let n = op.dim();
        let tr: f64 = (0..n).map(|i| a[i * n + i]).sum();
        let mut inside = 0;
        let (mut d_inside, mut d_total) = (0, 0);
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let est = hutchinson_trace(op, 30, &mut rng).unwrap();
            assert_eq!(est.probes, 30);
            assert!(est.standard_error > 0.0);
            inside += usize::from((est.trace - tr).abs() < 4.0 * est.standard_error);
            if seed < 50 {
                let d = hutchinson_diagonal(op, 30, &mut rng).unwrap();
                for i in 0..n {
                    d_total += 1;
                    d_inside += usize::from((d.diagonal[i] - a[i * n + i]).abs() < 4.0 * d.standard_error[i] + 1e-15);
                }
            }
        }
        assert!(inside >= 190, "{name}: trace within 4 SE in only {inside}/200 seeds");
        assert!(d_inside * 100 >= 95 * d_total, "{name}: diagonal within 4 SE in {d_inside}/{d_total}");
    }
    let diag = FnOp::new(5, |x: &[f64], y: &mut [f64]| {
        for i in 0..5 {
            y[i] = (i + 1) as f64 * x[i];
        }
    });
    let t = hutchinson_trace(&diag, 3, &mut StdRng::seed_from_u64(0)).unwrap();
    assert!((t.trace - 15.0).abs() < 1e-12 && t.standard_error < 1e-12);
    let d = hutchinson_diagonal(&diag, 3, &mut StdRng::seed_from_u64(0)).unwrap();
    assert_eq!(d.diagonal, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(hutchinson_trace(&diag, 1, &mut StdRng::seed_from_u64(0)).is_err());
}

/// SLQ with as many steps as the dimension is an exact quadrature: per probe,
/// `sum_i w_i theta_i^p = v^T A^p v / v^T v` for p = 0..3; the smoothed density integrates to 1; the nodes
/// lie in the spectrum's range.
#[test]
fn slq_quadrature_is_exact_with_full_steps() {
    let pr = mlp_problem(9);
    let h = LossHessian::new(&pr.model, ce_closure!(pr));
    let n = h.dim();
    let a = dense(&h);
    let ev = jacobi_eigenvalues(&a, n);
    let cfg = SlqConfig { steps: n, probes: 3, seed: 5 };
    let sd = spectral_density(&h, &cfg).unwrap();
    // the probes SLQ used: rebuild them with the same generator
    let mut rng = StdRng::seed_from_u64(5);
    for l in 0..3 {
        let v: Vec<f64> = wengert_optim::curvature::rademacher(n, &mut rng);
        let mut av = v.clone();
        for p in 0..4 {
            let quad: f64 = sd.nodes[l].iter().zip(&sd.weights[l]).map(|(t, w)| w * t.powi(p)).sum();
            let want = v.iter().zip(&av).map(|(a, b)| a * b).sum::<f64>() / n as f64;
            assert!((quad - want).abs() < 1e-9 * (1.0 + want.abs()), "probe {l}, moment {p}: {quad} vs {want}");
            let mut next = vec![0.0; n];
            for i in 0..n {
                next[i] = (0..n).map(|j| a[i * n + j] * av[j]).sum();
            }
            av = next;
        }
    }
    let (lo, hi) = sd.range();
    assert!(lo >= ev[0] - 1e-9 && hi <= ev[n - 1] + 1e-9);
    let sigma = (hi - lo) / 50.0;
    let grid: Vec<f64> = (0..=2000).map(|i| lo - 10.0 * sigma + (hi - lo + 20.0 * sigma) * i as f64 / 2000.0).collect();
    let dens = sd.density(&grid, sigma);
    let dt = grid[1] - grid[0];
    let integral: f64 = dens.iter().sum::<f64>() * dt;
    assert!((integral - 1.0).abs() < 1e-6, "density integrates to {integral}");
}

/// The lecture's quadratic `L = 0.1 w1^2 + 2 w2^2` written as a model with an MSE loss (outputs
/// `(sqrt(0.2) w1, 2 w2)`, target 0, mean over the 2 outputs): sharpness 4, largest stable rate 0.5;
/// gradient descent at 0.48 converges and at 0.51 blows up.
struct Quadratic {
    w: Param<f64>,
}

impl Parameters<f64> for Quadratic {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
        f(&wengert_nn::join_name(prefix, "w"), &self.w)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
        f(&wengert_nn::join_name(prefix, "w"), &mut self.w)
    }
}

impl Module<f64> for Quadratic {
    fn forward<'t>(&self, p: &Bound<'t, f64>, _x: wengert_autodiff::Var<'t, f64>) -> wengert_autodiff::Var<'t, f64> {
        let s = p.tape().constant(Tensor::from_vec(vec![0.2f64.sqrt(), 2.0], &[1, 2]));
        p.var(&self.w).reshape(&[1, 2]) * s
    }
}

#[test]
fn the_lecture_quadratic_is_stable_below_two_over_lambda_max() {
    let mut model = Quadratic { w: Param::new(Tensor::from_vec(vec![1.0, 1.0], &[2])) };
    let mut closure = wengert_optim::stochastic::closure(|m: &dyn Module<f64>, p| Evaluation {
        outputs: m.forward(p, p.tape().scalar(0.0)),
        loss: OutputLoss::Mse { targets: Tensor::zeros(&[1, 2]) },
    });
    // the loss is the lecture's: L(1, 1) = 0.1 + 2
    assert!((LossHessian::new(&model, &mut closure).loss_value() - 2.1).abs() < 1e-15);
    let s = loss_sharpness(&model, &mut closure, &LanczosConfig::default()).unwrap();
    assert!((s.lambda_max - 4.0).abs() < 1e-12, "lambda_max = {}", s.lambda_max);
    assert!((s.max_stable_learning_rate - 0.5).abs() < 1e-12);
    let start = model.w.value().clone();
    let mut run = |alpha: f64| {
        *model.w.value_mut() = start.clone();
        let mut losses = vec![];
        for _ in 0..200 {
            let h = LossHessian::new(&model, &mut closure);
            losses.push(h.loss_value());
            let g = h.gradient().to_vec();
            for (w, gi) in model.w.value_mut().data_mut().iter_mut().zip(g) {
                *w -= alpha * gi;
            }
        }
        losses
    };
    let below = run(0.48); // factor 1 - 4 * 0.48 = -0.92 along w2
    let above = run(0.51); // factor -1.04
    assert!(below[199] < 1e-12 * below[0], "alpha = 0.48 < 2/lambda_max converges: {}", below[199]);
    assert!(above[199] > 1e3 * above[0], "alpha = 0.51 > 2/lambda_max diverges: {}", above[199]);
}

/// One body, two precisions: the GGN and Hessian operators of the same MLP in f32 agree with f64 to f32
/// rounding (relative 1e-4 on G v and H v), and Lanczos's lambda_max too.
#[test]
fn f32_operators_agree_with_f64() {
    let pr = mlp_problem(11);
    let mut m32 = Mlp::<f32>::new(&[3, 4, 3], Activation::Tanh, &mut StdRng::seed_from_u64(11));
    let theta: Vec<f32> = flatten_params(&pr.model).iter().map(|&v| v as f32).collect();
    wengert_optim::objective::unflatten_params(&mut m32, &theta);
    let x32 = Tensor::from_vec(pr.x.as_slice().iter().map(|&v| v as f32).collect(), pr.x.shape());
    let mut c32 = wengert_optim::stochastic::closure(|m: &dyn Module<f32>, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x32.clone())),
        loss: OutputLoss::CrossEntropy { labels: pr.labels.clone() },
    });
    let n = theta.len();
    let v: Vec<f64> = randn(&[n], 12).into_vec();
    let v32: Vec<f32> = v.iter().map(|&a| a as f32).collect();
    let rel = |a: &[f32], b: &[f64]| {
        let d: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - y).powi(2)).sum::<f64>().sqrt();
        d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
    };
    let (mut y32, mut y64) = (vec![0.0f32; n], vec![0.0f64; n]);
    Ggn::new(&m32, &mut c32).apply(&v32, &mut y32);
    Ggn::new(&pr.model, ce_closure!(pr)).apply(&v, &mut y64);
    assert!(rel(&y32, &y64) < 1e-4, "GGN f32 vs f64: {}", rel(&y32, &y64));
    LossHessian::new(&m32, &mut c32).apply(&v32, &mut y32);
    LossHessian::new(&pr.model, ce_closure!(pr)).apply(&v, &mut y64);
    assert!(rel(&y32, &y64) < 1e-4, "Hessian f32 vs f64: {}", rel(&y32, &y64));
    let cfg = LanczosConfig { max_iterations: n, tol: 0.0, seed: 0 };
    let l32 = top_eigenpairs(&LossHessian::new(&m32, &mut c32), 1, &cfg).unwrap().values[0];
    let l64 = top_eigenpairs(&LossHessian::new(&pr.model, ce_closure!(pr)), 1, &cfg).unwrap().values[0];
    assert!((l32 - l64).abs() < 1e-4 * l64.abs(), "lambda_max f32 {l32} vs f64 {l64}");
}
