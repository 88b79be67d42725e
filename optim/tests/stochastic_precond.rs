//! Shampoo, Sophia and AdaHessian (`wengert_optim::stochastic`): steps against hand computations on tiny
//! problems (gradients and Hessians in closed form, Shampoo's inverse roots by an independent iteration),
//! convergence on an ill-conditioned least-squares problem, errors on non-finite losses, config validation.

use wengert_autodiff::{Tensor, Var};
use wengert_nn::checkpoint;
use wengert_nn::layers::{Linear, Sequential, Tanh};
use wengert_nn::{join_name, Bound, Module, Param, Parameters, StateDict};
use wengert_optim::curvature::OutputLoss;
use wengert_optim::stochastic::adahessian::{AdaHessian, AdaHessianConfig, Probe};
use wengert_optim::stochastic::shampoo::{Shampoo, ShampooConfig};
use wengert_optim::stochastic::sophia::{Estimator, Sophia, SophiaConfig};
use wengert_optim::stochastic::{Evaluation, StochasticOptimizer};
use wengert_optim::OptimError;

// ---------------------------------------------------------------------------------------------------------
// Models, closures and small dense helpers
// ---------------------------------------------------------------------------------------------------------

/// `outputs = x ⊙ w` (broadcast over the batch), `w` of any shape with `d` entries, `x` of shape `[N, d]`:
/// with the mean squared error, `H = diag(2 / (N d) sum_n x_nj^2)` exactly.
struct Scale {
    w: Param<f64>,
}

impl Parameters<f64> for Scale {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<f64>)) {
        f(&join_name(prefix, "weight"), &self.w)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
        f(&join_name(prefix, "weight"), &mut self.w)
    }
}

impl Module<f64> for Scale {
    fn forward<'t>(&self, p: &Bound<'t, f64>, x: Var<'t, f64>) -> Var<'t, f64> {
        x * p.var(&self.w).reshape(&[self.w.numel()])
    }
}

fn mse<'c>(
    x: &'c Tensor<f64>,
    y: &'c Tensor<f64>,
) -> impl for<'t> FnMut(&dyn Module<f64>, &Bound<'t, f64>) -> Evaluation<'t, f64> + 'c {
    move |m, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::Mse { targets: y.clone() },
    }
}

fn cross_entropy<'c>(
    x: &'c Tensor<f64>,
    labels: &'c [usize],
) -> impl for<'t> FnMut(&dyn Module<f64>, &Bound<'t, f64>) -> Evaluation<'t, f64> + 'c {
    move |m, p| Evaluation {
        outputs: m.forward(p, p.tape().constant(x.clone())),
        loss: OutputLoss::CrossEntropy { labels: labels.to_vec() },
    }
}

/// A deterministic pseudo-random matrix with entries in `[-1, 1)` (a linear congruential sequence).
fn data(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..rows * cols)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{k}]: got {g}, want {w}");
    }
}

/// Row-major `n x n` product.
fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    (0..n * n).map(|k| (0..n).map(|j| a[k / n * n + j] * b[j * n + k % n]).sum()).collect()
}

/// Inverse by Gauss-Jordan elimination with partial pivoting.
fn inverse(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..n * n).map(|k| f64::from(k % (n + 1) == 0)).collect();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i * n + c].abs().total_cmp(&m[j * n + c].abs())).unwrap();
        for k in 0..n {
            m.swap(c * n + k, p * n + k);
            inv.swap(c * n + k, p * n + k);
        }
        let d = m[c * n + c];
        for k in 0..n {
            m[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for r in (0..n).filter(|&r| r != c) {
            let f = m[r * n + c];
            for k in 0..n {
                m[r * n + k] -= f * m[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    inv
}

/// `(A^(1/2), A^(-1/2))` of a symmetric positive definite `A` by the Denman-Beavers iteration
/// `Y <- (Y + Z^-1) / 2, Z <- (Z + Y^-1) / 2` from `Y = A, Z = I`: no eigendecomposition involved.
fn denman_beavers(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = a.to_vec();
    let mut z: Vec<f64> = (0..n * n).map(|k| f64::from(k % (n + 1) == 0)).collect();
    for _ in 0..100 {
        let (yi, zi) = (inverse(&y, n), inverse(&z, n));
        y = y.iter().zip(&zi).map(|(a, b)| 0.5 * (a + b)).collect();
        z = z.iter().zip(&yi).map(|(a, b)| 0.5 * (a + b)).collect();
    }
    (y, z)
}

/// `(A + eps I)^(-1/p)` for `p = 2` or `4`, checked by `X^p (A + eps I) = I`.
fn inverse_root(a: &[f64], n: usize, eps: f64, p: u32) -> Vec<f64> {
    let mut a = a.to_vec();
    (0..n).for_each(|i| a[i * n + i] += eps);
    let (_, inv_sqrt) = denman_beavers(&a, n);
    let x = if p == 2 { inv_sqrt } else { denman_beavers(&inv_sqrt, n).0 };
    let mut xp = x.clone();
    (1..p).for_each(|_| xp = matmul(&xp, &x, n));
    let id: Vec<f64> = (0..n * n).map(|k| f64::from(k % (n + 1) == 0)).collect();
    assert_close(&matmul(&xp, &a, n), &id, 1e-9, "X^p (A + eps I)");
    x
}

fn params(model: &dyn Module<f64>) -> Vec<f64> {
    model.named_parameters().iter().flat_map(|(_, t)| t.to_vec()).collect()
}

// ---------------------------------------------------------------------------------------------------------
// AdaHessian
// ---------------------------------------------------------------------------------------------------------

/// Gradient and (exact, diagonal) Hessian diagonal of the mean squared error of [`Scale`].
fn scale_grad_hess(x: &[f64], y: &[f64], w: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let d = w.len();
    let c = 2.0 / (n * d) as f64;
    let g = (0..d).map(|j| c * (0..n).map(|i| (x[i * d + j] * w[j] - y[i * d + j]) * x[i * d + j]).sum::<f64>());
    let h = (0..d).map(|j| c * (0..n).map(|i| x[i * d + j] * x[i * d + j]).sum::<f64>());
    (g.collect(), h.collect())
}

#[test]
fn adahessian_two_steps_match_hand_computation_when_the_hessian_is_diagonal() {
    let (n, d) = (4, 3);
    let mut xs = data(n, d, 1);
    xs.iter_mut().enumerate().for_each(|(k, v)| *v *= [3.0, 1.0, 0.1][k % d]);
    let ys = data(n, d, 2);
    let (x, y) = (Tensor::from_vec(xs.clone(), &[n, d]), Tensor::from_vec(ys.clone(), &[n, d]));
    let w0 = vec![0.5, -1.0, 2.0];
    let mut model = Scale { w: Param::new(Tensor::from_vec(w0.clone(), &[d])) };
    let cfg = AdaHessianConfig { lr: 0.1, weight_decay: 0.01, hessian_power: 0.5, ..AdaHessianConfig::default() };
    let (b1, b2, eps) = (cfg.betas.0, cfg.betas.1, cfg.eps);
    let mut opt = AdaHessian::new(cfg.clone()).unwrap();

    let (g1, hd) = scale_grad_hess(&xs, &ys, &w0, n);
    let r1 = opt.step(&mut model, &mut mse(&x, &y)).unwrap();
    // m̂ = g, sqrt(v̂) = |D| with D = diag(H) exactly (Rademacher probes: u ⊙ H u = diag(H) u ⊙ u).
    let w1: Vec<f64> =
        (0..d).map(|j| w0[j] - cfg.lr * (g1[j] / (hd[j].abs().sqrt() + eps) + cfg.weight_decay * w0[j])).collect();
    assert_close(&params(&model), &w1, 1e-12, "AdaHessian step 1");
    assert_eq!((r1.evaluations, r1.curvature_products), (1, 1));

    let (g2, _) = scale_grad_hess(&xs, &ys, &w1, n);
    let r2 = opt.step(&mut model, &mut mse(&x, &y)).unwrap();
    let w2: Vec<f64> = (0..d)
        .map(|j| {
            let m = b1 * (1.0 - b1) * g1[j] + (1.0 - b1) * g2[j];
            let v = b2 * (1.0 - b2) * hd[j] * hd[j] + (1.0 - b2) * hd[j] * hd[j];
            let denom = (v / (1.0 - b2 * b2)).sqrt().powf(0.5) + eps;
            w1[j] - cfg.lr * (m / (1.0 - b1 * b1) / denom + cfg.weight_decay * w1[j])
        })
        .collect();
    assert_close(&params(&model), &w2, 1e-12, "AdaHessian step 2");
    // The loss reported is the one before the step.
    let loss = |w: &[f64]| (0..n * d).map(|k| (xs[k] * w[k % d] - ys[k]).powi(2)).sum::<f64>() / (n * d) as f64;
    assert_close(&[r1.loss, r2.loss], &[loss(&w0), loss(&w1)], 1e-14, "reported losses");
}

#[test]
fn adahessian_averages_the_diagonal_over_a_kernel_window() {
    // A [1, 1, 2, 2] kernel used elementwise: its four diagonal entries become their mean.
    let n = 5;
    let mut xs = data(n, 4, 3);
    xs.iter_mut().enumerate().for_each(|(k, v)| *v *= [4.0, 1.0, 0.5, 0.1][k % 4]);
    let ys = data(n, 4, 4);
    let (x, y) = (Tensor::from_vec(xs.clone(), &[n, 4]), Tensor::from_vec(ys.clone(), &[n, 4]));
    let w0 = vec![1.0, -0.5, 0.25, 2.0];
    let mut model = Scale { w: Param::new(Tensor::from_vec(w0.clone(), &[1, 1, 2, 2])) };
    let cfg = AdaHessianConfig { lr: 0.05, ..AdaHessianConfig::default() };
    let mut opt = AdaHessian::new(cfg.clone()).unwrap();
    opt.step(&mut model, &mut mse(&x, &y)).unwrap();
    let (g, hd) = scale_grad_hess(&xs, &ys, &w0, n);
    let mean = hd.iter().sum::<f64>() / 4.0;
    let want: Vec<f64> = (0..4).map(|j| w0[j] - cfg.lr * g[j] / (mean + cfg.eps)).collect();
    assert_close(&params(&model), &want, 1e-12, "spatially averaged AdaHessian step");
    // Without the averaging (a [4] vector, the same function) the step differs.
    let mut flat = Scale { w: Param::new(Tensor::from_vec(w0.clone(), &[4])) };
    AdaHessian::new(cfg).unwrap().step(&mut flat, &mut mse(&x, &y)).unwrap();
    assert!((params(&flat)[0] - want[0]).abs() > 1e-3);
}

// ---------------------------------------------------------------------------------------------------------
// Sophia
// ---------------------------------------------------------------------------------------------------------

fn clip1(z: f64) -> f64 {
    z.clamp(-1.0, 1.0)
}

#[test]
fn sophia_h_three_steps_match_hand_computation_with_refresh_every_two() {
    let (n, d) = (4, 3);
    let mut xs = data(n, d, 5);
    xs.iter_mut().enumerate().for_each(|(k, v)| *v *= [3.0, 1.0, 0.05][k % d]);
    let ys = data(n, d, 6);
    let (x, y) = (Tensor::from_vec(xs.clone(), &[n, d]), Tensor::from_vec(ys.clone(), &[n, d]));
    let w0 = vec![0.5, -1.0, 2.0];
    let mut model = Scale { w: Param::new(Tensor::from_vec(w0.clone(), &[d])) };
    let cfg = SophiaConfig {
        lr: 0.05,
        gamma: 20.0,
        weight_decay: 0.1,
        k: 2,
        estimator: Estimator::Hutchinson(Probe::Rademacher),
        ..SophiaConfig::default()
    };
    let (b1, b2) = cfg.betas;
    let mut opt = Sophia::new(cfg.clone()).unwrap();
    let (mut w, mut m, mut h) = (w0, vec![0.0; d], vec![0.0; d]);
    for t in 1..=3 {
        let (g, hd) = scale_grad_hess(&xs, &ys, &w, n);
        let rep = opt.step(&mut model, &mut mse(&x, &y)).unwrap();
        let refresh = t != 2;
        let mut clipped = 0;
        for j in 0..d {
            m[j] = b1 * m[j] + (1.0 - b1) * g[j];
            if refresh {
                h[j] = b2 * h[j] + (1.0 - b2) * hd[j];
            }
            let ratio: f64 = m[j] / (cfg.gamma * h[j]).max(cfg.eps);
            clipped += usize::from(ratio.abs() > 1.0);
            w[j] = w[j] * (1.0 - cfg.lr * cfg.weight_decay) - cfg.lr * clip1(ratio);
        }
        assert_close(&params(&model), &w, 1e-12, &format!("Sophia-H step {t}"));
        assert_close(opt.hessian_diagonal().unwrap(), &h, 1e-12, &format!("h at step {t}"));
        assert_eq!(rep.curvature_products, usize::from(refresh), "step {t}");
        assert_eq!(opt.info().hessian_refreshed, refresh);
        assert_eq!(opt.info().clipped_fraction, clipped as f64 / d as f64, "step {t}");
        // The data make the tiny-curvature coordinate clip and the others not: both branches are tested.
        if t == 1 {
            assert!(clipped > 0 && clipped < d, "clipped {clipped} of {d}");
        }
    }
}

#[test]
fn sophia_h_gaussian_probes_estimate_the_diagonal_without_bias() {
    // With H diagonal, u ⊙ H u = u² diag(H): after one step h = (1 - beta2) u² diag(H), so r = u² per entry.
    // Gaussian probes: E[r] = 1, Var[r] = 2 (Rademacher probes would give r = 1 exactly).
    let (n, d) = (4, 3);
    let xs = data(n, d, 80);
    let ys = data(n, d, 81);
    let (x, y) = (Tensor::from_vec(xs.clone(), &[n, d]), Tensor::from_vec(ys.clone(), &[n, d]));
    let w0 = vec![0.5, -1.0, 2.0];
    let (_, hd) = scale_grad_hess(&xs, &ys, &w0, n);
    let seeds = 400;
    let mut r = Vec::new();
    for seed in 0..seeds {
        let cfg = SophiaConfig { seed, estimator: Estimator::Hutchinson(Probe::Gaussian), ..SophiaConfig::default() };
        let mut opt = Sophia::new(cfg.clone()).unwrap();
        let mut model = Scale { w: Param::new(Tensor::from_vec(w0.clone(), &[d])) };
        opt.step(&mut model, &mut mse(&x, &y)).unwrap();
        let h = opt.hessian_diagonal().unwrap();
        r.extend((0..d).map(|j| h[j] / ((1.0 - cfg.betas.1) * hd[j])));
    }
    let k = r.len() as f64;
    let mean = r.iter().sum::<f64>() / k;
    let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0);
    // r ~ chi-square(1): the mean has standard error sqrt(2 / k); the sample variance about
    // sqrt((mu4 - sigma^4) / k) = sqrt((60 - 4) / k), taken as sqrt(96 / k) for margin (heavy tail).
    assert!((mean - 1.0).abs() < 4.5 * (2.0 / k).sqrt(), "mean of u² = {mean}");
    assert!((var - 2.0).abs() < 4.5 * (96.0 / k).sqrt(), "variance of u² = {var}");
    assert!(r.iter().all(|&v| v >= 0.0));
}

#[test]
fn sophia_g_step_matches_the_gauss_newton_bartlett_estimate_for_the_sampled_labels() {
    // Logistic regression with two classes on a batch of B = 2: the sampled labels are one of four pairs;
    // the step must be the hand computation for one of them, and the labels follow the model's softmax.
    let (b, d, c) = (2, 3, 2);
    let xs = vec![0.5, -1.0, 0.25, 1.5, 0.5, -0.75];
    let w0 = vec![0.2, -0.4, 0.6, -0.1, 0.3, 0.5];
    let x = Tensor::from_vec(xs.clone(), &[b, d]);
    let labels = [1, 0];
    let cfg = SophiaConfig {
        lr: 0.01,
        gamma: 0.05,
        weight_decay: 0.1,
        estimator: Estimator::GaussNewtonBartlett,
        ..SophiaConfig::default()
    };
    let (b1, b2) = cfg.betas;
    // Softmax probabilities and the mean cross-entropy gradient for given labels: (p - e_y) xᵀ / B.
    let probs: Vec<Vec<f64>> = (0..b)
        .map(|i| {
            let z: Vec<f64> = (0..c).map(|k| (0..d).map(|j| w0[k * d + j] * xs[i * d + j]).sum()).collect();
            let s: f64 = z.iter().map(|z| z.exp()).sum();
            z.iter().map(|z| z.exp() / s).collect()
        })
        .collect();
    let grad = |ys: &[usize]| -> Vec<f64> {
        (0..c * d)
            .map(|k| {
                let (cls, j) = (k / d, k % d);
                (0..b).map(|i| (probs[i][cls] - f64::from(ys[i] == cls)) * xs[i * d + j]).sum::<f64>() / b as f64
            })
            .collect()
    };
    let g = grad(&labels);
    let mut first_label_zero = 0;
    let seeds = 400;
    for seed in 0..seeds {
        let mut model = Linear::from_tensors(Tensor::from_vec(w0.clone(), &[c, d]), None);
        let mut opt = Sophia::new(SophiaConfig { seed, ..cfg.clone() }).unwrap();
        opt.step(&mut model, &mut cross_entropy(&x, &labels)).unwrap();
        let h = opt.hessian_diagonal().unwrap().to_vec();
        let candidates = [[0, 0], [0, 1], [1, 0], [1, 1]];
        let matched = candidates.iter().find(|ys| {
            let gh = grad(&ys[..]);
            let want_h: Vec<f64> = gh.iter().map(|g| (1.0 - b2) * b as f64 * g * g).collect();
            h.iter().zip(&want_h).all(|(a, w)| (a - w).abs() <= 1e-12 * (1.0 + w.abs()))
        });
        let ys = matched.unwrap_or_else(|| panic!("seed {seed}: h = {h:?} matches no label pair"));
        first_label_zero += usize::from(ys[0] == 0);
        let want: Vec<f64> = (0..c * d)
            .map(|k| {
                let gh = grad(&ys[..])[k];
                let (m, h) = ((1.0 - b1) * g[k], (1.0 - b2) * b as f64 * gh * gh);
                w0[k] * (1.0 - cfg.lr * cfg.weight_decay) - cfg.lr * clip1(m / (cfg.gamma * h).max(cfg.eps))
            })
            .collect();
        assert_close(&params(&model), &want, 1e-12, &format!("Sophia-G step, seed {seed}"));
    }
    // The first sample's label is 0 with probability p0: a binomial count within 4.5 standard deviations.
    let p0 = probs[0][0];
    let (mean, sd) = (seeds as f64 * p0, (seeds as f64 * p0 * (1.0 - p0)).sqrt());
    assert!(
        (first_label_zero as f64 - mean).abs() < 4.5 * sd,
        "label 0 drawn {first_label_zero} times in {seeds}, expected {mean:.1} ± {sd:.1}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Shampoo
// ---------------------------------------------------------------------------------------------------------

/// `(G_W, g_b)` of the mean squared error of `y = x Wᵀ + b` (`W` `[o, i]`), row-major.
fn linear_grad(x: &[f64], y: &[f64], w: &[f64], b: &[f64], n: usize, i: usize, o: usize) -> (Vec<f64>, Vec<f64>) {
    let c = 2.0 / (n * o) as f64;
    let r: Vec<f64> = (0..n * o)
        .map(|k| {
            let (s, q) = (k / o, k % o);
            (0..i).map(|j| x[s * i + j] * w[q * i + j]).sum::<f64>() + b[q] - y[k]
        })
        .collect();
    let gw = (0..o * i).map(|k| c * (0..n).map(|s| r[s * o + k / i] * x[s * i + k % i]).sum::<f64>()).collect();
    let gb = (0..o).map(|q| c * (0..n).map(|s| r[s * o + q]).sum::<f64>()).collect();
    (gw, gb)
}

/// Hand-written Shampoo with Adam grafting for one tensor, viewed as `rows x cols` (`cols = 1`: a vector).
struct HandShampoo {
    rows: usize,
    cols: usize,
    l: Vec<f64>,
    r: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    /// Right factor kept as its diagonal (an axis above `max_preconditioner_dim`).
    right_diagonal: bool,
}

impl HandShampoo {
    fn new(rows: usize, cols: usize, right_diagonal: bool) -> Self {
        let k = rows * cols;
        HandShampoo {
            rows,
            cols,
            l: vec![0.0; rows * rows],
            r: vec![0.0; cols * cols],
            m: vec![0.0; k],
            v: vec![0.0; k],
            right_diagonal,
        }
    }

    /// The step `lr s` for gradient `g` at step `t` (`lr * (grafted Shampoo direction)`).
    fn step(&mut self, g: &[f64], t: i32, cfg: &ShampooConfig) -> Vec<f64> {
        let (rows, cols) = (self.rows, self.cols);
        let (b1, gb2) = (cfg.betas.0, cfg.graft_beta2);
        for a in 0..rows {
            for bb in 0..rows {
                self.l[a * rows + bb] += (0..cols).map(|j| g[a * cols + j] * g[bb * cols + j]).sum::<f64>();
            }
        }
        for a in 0..cols {
            for bb in 0..cols {
                self.r[a * cols + bb] += (0..rows).map(|i| g[i * cols + a] * g[i * cols + bb]).sum::<f64>();
            }
        }
        for (k, &gk) in g.iter().enumerate() {
            self.m[k] = b1 * self.m[k] + (1.0 - b1) * gk;
            self.v[k] = gb2 * self.v[k] + (1.0 - gb2) * gk * gk;
        }
        let m_hat: Vec<f64> = self.m.iter().map(|m| m / (1.0 - b1.powi(t))).collect();
        let adam: Vec<f64> =
            (0..g.len()).map(|k| m_hat[k] / ((self.v[k] / (1.0 - gb2.powi(t))).sqrt() + cfg.graft_eps)).collect();
        let vector = cols == 1;
        let pl = inverse_root(&self.l, rows, cfg.eps, if vector { 2 } else { 4 });
        let mut s: Vec<f64> = (0..rows * cols)
            .map(|k| (0..rows).map(|a| pl[k / cols * rows + a] * m_hat[a * cols + k % cols]).sum())
            .collect();
        if !vector {
            let pr = if self.right_diagonal {
                (0..cols * cols)
                    .map(|k| if k % (cols + 1) == 0 { (self.r[k] + cfg.eps).powf(-0.25) } else { 0.0 })
                    .collect()
            } else {
                inverse_root(&self.r, cols, cfg.eps, 4)
            };
            s = (0..rows * cols)
                .map(|k| (0..cols).map(|bb| s[k / cols * cols + bb] * pr[bb * cols + k % cols]).sum())
                .collect();
        }
        let norm = |x: &[f64]| x.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = norm(&adam) / norm(&s);
        s.iter().map(|s| cfg.lr * scale * s).collect()
    }
}

fn shampoo_against_hand(cfg: ShampooConfig, steps: usize, right_diagonal: bool, (n, i, o): (usize, usize, usize)) {
    let mut w: Vec<f64> = data(o, i, 7);
    let mut b: Vec<f64> = data(1, o, 8);
    let mut model = Linear::from_tensors(Tensor::from_vec(w.clone(), &[o, i]), Some(Tensor::from_vec(b.clone(), &[o])));
    let mut opt = Shampoo::new(cfg.clone()).unwrap();
    let (mut hw, mut hb) = (HandShampoo::new(o, i, right_diagonal), HandShampoo::new(o, 1, false));
    for t in 1..=steps {
        // A new minibatch every step, with columns of different scales.
        let mut xs = data(n, i, 10 + t as u64);
        xs.iter_mut().enumerate().for_each(|(k, v)| *v *= 2.0 * 0.6f64.powi((k % i) as i32));
        let ys = data(n, o, 20 + t as u64);
        let (x, y) = (Tensor::from_vec(xs.clone(), &[n, i]), Tensor::from_vec(ys.clone(), &[n, o]));
        let (gw, gb) = linear_grad(&xs, &ys, &w, &b, n, i, o);
        let rep = opt.step(&mut model, &mut mse(&x, &y)).unwrap();
        assert_eq!((rep.evaluations, rep.curvature_products), (1, 0));
        let shrink = 1.0 - cfg.lr * cfg.weight_decay;
        let (sw, sb) = (hw.step(&gw, t as i32, &cfg), hb.step(&gb, t as i32, &cfg));
        w = w.iter().zip(&sw).map(|(w, s)| w * shrink - s).collect();
        b = b.iter().zip(&sb).map(|(b, s)| b * shrink - s).collect();
        let want: Vec<f64> = w.iter().chain(&b).copied().collect();
        assert_close(&params(&model), &want, 1e-10, &format!("Shampoo step {t}"));
        assert!(opt.info().preconditioners_refreshed);
    }
}

#[test]
fn shampoo_three_steps_match_hand_computation_with_independent_inverse_roots() {
    // The roots in the test come from the Denman-Beavers iteration, the optimiser's from Jacobi rotations.
    let cfg = ShampooConfig { lr: 0.1, eps: 0.01, graft_beta2: 0.99, ..ShampooConfig::default() };
    shampoo_against_hand(cfg.clone(), 3, false, (5, 4, 3));
    // Larger factors (9 x 9, 11 x 11, and 9 x 9 for the bias): more Householder steps and QL sweeps.
    shampoo_against_hand(cfg, 2, false, (14, 11, 9));
}

#[test]
fn shampoo_diagonal_factor_for_long_axes_and_decoupled_weight_decay() {
    // max_preconditioner_dim = 3: W [3, 4] keeps a full 3 x 3 left factor and a diagonal right one.
    let cfg =
        ShampooConfig { lr: 0.05, eps: 0.01, weight_decay: 0.2, max_preconditioner_dim: 3, ..ShampooConfig::default() };
    shampoo_against_hand(cfg, 2, true, (5, 4, 3));
}

#[test]
fn shampoo_refreshes_roots_only_every_interval() {
    let (n, i, o) = (6, 3, 2);
    let x = Tensor::from_vec(data(n, i, 30), &[n, i]);
    let y = Tensor::from_vec(data(n, o, 31), &[n, o]);
    let mut model = Linear::from_tensors(Tensor::from_vec(data(o, i, 32), &[o, i]), None);
    let mut opt = Shampoo::new(ShampooConfig { precondition_interval: 3, ..ShampooConfig::default() }).unwrap();
    let refreshed: Vec<bool> = (0..7)
        .map(|_| {
            opt.step(&mut model, &mut mse(&x, &y)).unwrap();
            opt.info().preconditioners_refreshed
        })
        .collect();
    assert_eq!(refreshed, [true, false, false, true, false, false, true]);
}

// ---------------------------------------------------------------------------------------------------------
// Convergence, errors, configs
// ---------------------------------------------------------------------------------------------------------

/// Least squares `y = x wᵀ + b` with feature scales 1 : 10 : 0.1 (Hessian condition number about 1e4), its
/// minimum loss from the normal equations.
fn regression() -> (Tensor<f64>, Tensor<f64>, f64) {
    let (n, i) = (32, 3);
    let mut xs = data(n, i, 40);
    xs.iter_mut().enumerate().for_each(|(k, v)| *v *= [1.0, 10.0, 0.1][k % i]);
    let noise = data(n, 1, 41);
    let ys: Vec<f64> =
        (0..n).map(|s| 2.0 * xs[s * i] - 0.3 * xs[s * i + 1] + 5.0 * xs[s * i + 2] + 1.0 + 0.1 * noise[s]).collect();
    // Normal equations with the bias column: (Aᵀ A) θ = Aᵀ y.
    let a: Vec<f64> = (0..n).flat_map(|s| [xs[s * i], xs[s * i + 1], xs[s * i + 2], 1.0]).collect();
    let ata: Vec<f64> = (0..16).map(|k| (0..n).map(|s| a[s * 4 + k / 4] * a[s * 4 + k % 4]).sum()).collect();
    let aty: Vec<f64> = (0..4).map(|q| (0..n).map(|s| a[s * 4 + q] * ys[s]).sum()).collect();
    let inv = inverse(&ata, 4);
    let theta: Vec<f64> = (0..4).map(|q| (0..4).map(|k| inv[q * 4 + k] * aty[k]).sum()).collect();
    let best =
        (0..n).map(|s| ((0..4).map(|q| a[s * 4 + q] * theta[q]).sum::<f64>() - ys[s]).powi(2)).sum::<f64>() / n as f64;
    (Tensor::from_vec(xs, &[n, i]), Tensor::from_vec(ys, &[n, 1]), best)
}

/// Runs `steps` full-batch steps from zero; returns `(initial excess loss, smallest excess, last excess)`
/// (excess: loss minus the least-squares optimum).
fn run_regression(opt: &mut dyn StochasticOptimizer<f64>, steps: usize) -> (f64, f64, f64) {
    let (x, y, best) = regression();
    let mut model = Linear::from_tensors(Tensor::zeros(&[1, 3]), Some(Tensor::zeros(&[1])));
    let losses: Vec<f64> = (0..steps).map(|_| opt.step(&mut model, &mut mse(&x, &y)).unwrap().loss - best).collect();
    (losses[0], losses.iter().copied().fold(f64::INFINITY, f64::min), losses[steps - 1])
}

fn converges(opt: &mut dyn StochasticOptimizer<f64>, steps: usize, what: &str) {
    let (first, _, last) = run_regression(opt, steps);
    // The excess loss falls by six orders of magnitude.
    assert!(last <= 1e-6 * first, "{what}: excess loss {last} after {steps} steps, {first} at the start");
}

#[test]
fn adahessian_converges_on_ill_conditioned_least_squares() {
    let mut opt = AdaHessian::new(AdaHessianConfig { lr: 0.3, ..AdaHessianConfig::default() }).unwrap();
    converges(&mut opt, 400, "AdaHessian");
}

#[test]
fn sophia_h_converges_on_ill_conditioned_least_squares() {
    let cfg = SophiaConfig {
        lr: 0.1,
        betas: (0.9, 0.99),
        gamma: 0.2,
        weight_decay: 0.0,
        k: 1,
        estimator: Estimator::Hutchinson(Probe::Rademacher),
        ..SophiaConfig::default()
    };
    // One probe per step keeps the diagonal estimate noisy: near the optimum an unlucky estimate gives a
    // (clipped) kick, so the run reaches the 1e-6 level but does not stay there as a fixed preconditioner would.
    let (first, least, last) = run_regression(&mut Sophia::new(cfg).unwrap(), 400);
    assert!(least <= 1e-6 * first, "Sophia-H: least excess loss {least}, {first} at the start");
    assert!(last <= 1e-4 * first, "Sophia-H: excess loss {last} after 400 steps, {first} at the start");
}

#[test]
fn shampoo_converges_on_ill_conditioned_least_squares() {
    let cfg = ShampooConfig { lr: 0.05, ..ShampooConfig::default() };
    converges(&mut Shampoo::new(cfg).unwrap(), 400, "Shampoo");
}

/// A NaN loss is an error that leaves parameters and state alone: the next good step equals a fresh
/// optimiser's first step.
fn nan_loss_changes_nothing(make: &dyn Fn() -> Box<dyn StochasticOptimizer<f64>>, what: &str) {
    let (x, y, _) = regression();
    let mut bad = y.to_vec();
    bad[3] = f64::NAN;
    let y_nan = Tensor::from_vec(bad, y.shape());
    let new_model = || Linear::from_tensors(Tensor::from_vec(vec![0.1, -0.2, 0.3], &[1, 3]), Some(Tensor::zeros(&[1])));
    let (mut model, mut fresh_model) = (new_model(), new_model());
    let (mut opt, mut fresh) = (make(), make());
    opt.step(&mut model, &mut mse(&x, &y)).unwrap();
    fresh.step(&mut fresh_model, &mut mse(&x, &y)).unwrap();
    let before = params(&model);
    let err = opt.step(&mut model, &mut mse(&x, &y_nan)).unwrap_err();
    assert!(matches!(err, OptimError::NonFinite { .. }), "{what}: {err:?}");
    assert_eq!(params(&model), before, "{what}: parameters changed on Err");
    opt.step(&mut model, &mut mse(&x, &y)).unwrap();
    fresh.step(&mut fresh_model, &mut mse(&x, &y)).unwrap();
    assert_eq!(params(&model), params(&fresh_model), "{what}: state changed on Err");
}

#[test]
fn nan_loss_is_an_error_and_changes_nothing() {
    nan_loss_changes_nothing(&|| Box::new(AdaHessian::new(AdaHessianConfig::default()).unwrap()), "AdaHessian");
    for estimator in [Estimator::Hutchinson(Probe::Gaussian), Estimator::GaussNewtonBartlett] {
        // k = 1: the failing step would refresh the estimate (and draw from the generator).
        let cfg = SophiaConfig { k: 1, estimator, ..SophiaConfig::default() };
        nan_loss_changes_nothing(&|| Box::new(Sophia::new(cfg.clone()).unwrap()), "Sophia");
    }
    nan_loss_changes_nothing(&|| Box::new(Shampoo::new(ShampooConfig::default()).unwrap()), "Shampoo");
}

/// The optimisers' state-dict methods under one name.
trait Resumable: StochasticOptimizer<f64> {
    fn save(&self) -> StateDict<f64>;
    fn load(&mut self, sd: &StateDict<f64>) -> Result<(), OptimError>;
}

macro_rules! resumable {
    ($($t:ty),*) => {$(
        impl Resumable for $t {
            fn save(&self) -> StateDict<f64> {
                self.state_dict()
            }
            fn load(&mut self, sd: &StateDict<f64>) -> Result<(), OptimError> {
                self.load_state_dict(sd)
            }
        }
    )*};
}
resumable!(AdaHessian<f64>, Sophia<f64>, Shampoo<f64>);

/// Three steps, a state dict through a safetensors file, three more steps in a new optimiser on a copy of the
/// model: bit-identical to six uninterrupted steps (every step on its own minibatch).
fn resume_is_bit_exact<O: Resumable>(make: &dyn Fn() -> O, what: &str) {
    let (n, i, o) = (8, 5, 3);
    let batches: Vec<(Tensor<f64>, Vec<usize>)> = (0..6)
        .map(|t| (Tensor::from_vec(data(n, i, 50 + t), &[n, i]), (0..n).map(|k| (k + t as usize) % o).collect()))
        .collect();
    let new_model = || {
        Sequential::new()
            .push(Linear::from_tensors(Tensor::from_vec(data(6, i, 60), &[6, i]), Some(Tensor::zeros(&[6]))))
            .push(Tanh)
            .push(Linear::from_tensors(Tensor::from_vec(data(o, 6, 61), &[o, 6]), Some(Tensor::zeros(&[o]))))
    };
    let (mut straight, mut straight_opt) = (new_model(), make());
    for (x, y) in &batches {
        straight_opt.step(&mut straight, &mut cross_entropy(x, y)).unwrap();
    }
    let (mut first, mut first_opt) = (new_model(), make());
    for (x, y) in &batches[..3] {
        first_opt.step(&mut first, &mut cross_entropy(x, y)).unwrap();
    }
    let path = std::env::temp_dir().join(format!("wengert_precond_resume_{what}_{}.safetensors", std::process::id()));
    checkpoint::save(&path, &first_opt.save()).unwrap();
    let sd: StateDict<f64> = checkpoint::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let mut resumed = new_model();
    checkpoint::load_state_dict(&mut resumed, &checkpoint::state_dict(&first)).unwrap();
    let mut resumed_opt = make();
    resumed_opt.load(&sd).unwrap();
    for (x, y) in &batches[3..] {
        resumed_opt.step(&mut resumed, &mut cross_entropy(x, y)).unwrap();
    }
    assert_eq!(params(&resumed), params(&straight), "{what}: resumed run differs");
    // Resuming is not a no-op: a fresh optimiser on the same weights goes elsewhere.
    let (mut fresh, mut fresh_opt) = (new_model(), make());
    checkpoint::load_state_dict(&mut fresh, &checkpoint::state_dict(&first)).unwrap();
    for (x, y) in &batches[3..] {
        fresh_opt.step(&mut fresh, &mut cross_entropy(x, y)).unwrap();
    }
    assert_ne!(params(&fresh), params(&straight), "{what}: the state did not matter");
}

#[test]
fn resume_through_a_checkpoint_is_bit_exact() {
    let ada = AdaHessianConfig { lr: 0.05, ..AdaHessianConfig::default() };
    resume_is_bit_exact(&|| AdaHessian::new(ada.clone()).unwrap(), "adahessian");
    for estimator in [Estimator::Hutchinson(Probe::Rademacher), Estimator::GaussNewtonBartlett] {
        let so = SophiaConfig { lr: 0.01, k: 2, estimator, ..SophiaConfig::default() };
        resume_is_bit_exact(&|| Sophia::new(so.clone()).unwrap(), "sophia");
    }
    let sh =
        ShampooConfig { lr: 0.01, precondition_interval: 2, max_preconditioner_dim: 5, ..ShampooConfig::default() };
    resume_is_bit_exact(&|| Shampoo::new(sh.clone()).unwrap(), "shampoo");
}

#[test]
fn load_state_dict_rejects_another_algorithm_and_changes_nothing() {
    let x = Tensor::from_vec(data(4, 3, 70), &[4, 3]);
    let y = Tensor::from_vec(data(4, 2, 71), &[4, 2]);
    let mut model = Linear::from_tensors(Tensor::from_vec(data(2, 3, 72), &[2, 3]), None);
    let mut sophia = Sophia::new(SophiaConfig::default()).unwrap();
    sophia.step(&mut model, &mut mse(&x, &y)).unwrap();
    let mut shampoo = Shampoo::<f64>::new(ShampooConfig::default()).unwrap();
    shampoo.step(&mut model, &mut mse(&x, &y)).unwrap();
    let before = shampoo.state_dict();
    assert!(matches!(shampoo.load_state_dict(&sophia.state_dict()), Err(OptimError::BadStateDict(_))));
    let mut missing = before.clone();
    missing.tensors.retain(|k, _| !k.starts_with("factor1_root."));
    assert!(matches!(shampoo.load_state_dict(&missing), Err(OptimError::BadStateDict(_))));
    assert_eq!(shampoo.state_dict().tensors, before.tensors, "unchanged on Err");
    let mut ada = AdaHessian::<f64>::new(AdaHessianConfig::default()).unwrap();
    assert!(matches!(ada.load_state_dict(&before), Err(OptimError::BadStateDict(_))));
    assert_eq!(ada.steps(), 0);
}

#[test]
fn validate_rejects_bad_configs() {
    let ada = AdaHessianConfig::default;
    for bad in [
        AdaHessianConfig { lr: -1.0, ..ada() },
        AdaHessianConfig { lr: f64::INFINITY, ..ada() },
        AdaHessianConfig { betas: (1.0, 0.9), ..ada() },
        AdaHessianConfig { betas: (0.9, -0.1), ..ada() },
        AdaHessianConfig { eps: f64::NAN, ..ada() },
        AdaHessianConfig { hessian_power: 1.5, ..ada() },
        AdaHessianConfig { weight_decay: -0.1, ..ada() },
    ] {
        assert!(matches!(AdaHessian::<f64>::new(bad.clone()), Err(OptimError::InvalidConfig(_))), "{bad:?}");
    }
    let so = SophiaConfig::default;
    for bad in [
        SophiaConfig { lr: -1.0, ..so() },
        SophiaConfig { gamma: 0.0, ..so() },
        SophiaConfig { eps: 0.0, ..so() },
        SophiaConfig { betas: (0.9, 1.0), ..so() },
        SophiaConfig { k: 0, ..so() },
        SophiaConfig { weight_decay: f64::NAN, ..so() },
    ] {
        assert!(matches!(Sophia::<f64>::new(bad.clone()), Err(OptimError::InvalidConfig(_))), "{bad:?}");
    }
    let sh = ShampooConfig::default;
    for bad in [
        ShampooConfig { lr: -1.0, ..sh() },
        ShampooConfig { betas: (1.0, 1.0), ..sh() },
        ShampooConfig { betas: (0.9, 0.0), ..sh() },
        ShampooConfig { betas: (0.9, 1.5), ..sh() },
        ShampooConfig { eps: 0.0, ..sh() },
        ShampooConfig { graft_beta2: 1.0, ..sh() },
        ShampooConfig { precondition_interval: 0, ..sh() },
        ShampooConfig { max_preconditioner_dim: 0, ..sh() },
    ] {
        assert!(matches!(Shampoo::<f64>::new(bad.clone()), Err(OptimError::InvalidConfig(_))), "{bad:?}");
    }
    // set_learning_rate validates and leaves the rate alone on Err.
    let mut opt = Sophia::<f64>::new(so()).unwrap();
    assert!(opt.set_learning_rate(f64::NAN).is_err());
    assert_eq!(opt.learning_rate(), so().lr);
    opt.set_learning_rate(0.5).unwrap();
    assert_eq!(opt.learning_rate(), 0.5);
}
