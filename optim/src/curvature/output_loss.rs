//! [`OutputLoss`]: a loss as a function of the model's outputs, with its Hessian `H_L` in closed form.
//!
//! Curvature matrices of a model `f(theta; x)` trained on a loss `L(f)` are built from the Jacobian
//! `J = d f / d theta` of the outputs and the Hessian `H_L = d^2 L / d f^2` of the loss with respect to the
//! outputs: the generalised Gauss-Newton matrix `G = J^T H_L J` (Schraudolph 2002; Martens 2010). For the four
//! losses here `H_L` is known in closed form and positive semi-definite, so `G` is too.
//!
//! Every loss is (a multiple of) a negative log-likelihood: `value = c sum_n nll_n`, `n` over the rows of the
//! batch, with `c` = [`OutputLoss::nll_scale`]. Its model distribution is what [`OutputLoss::sample`] draws
//! from, and for all four the (true) Fisher `c sum_n E_{y ~ p_n}[grad nll_n grad nll_n^T]` equals `G`
//! (the outputs are the natural parameters of an exponential family; Martens 2020, "New insights and
//! perspectives on the natural gradient method", section 9.2).
//!
//! | loss | outputs | `value` | `H_L v` | model distribution |
//! |---|---|---|---|---|
//! | `CrossEntropy` | logits `[N, C]` | `1/N sum_n -log softmax(s_n)_{y_n}` | `1/N (p ⊙ v - p (p^T v))` per row, `p = softmax(s_n)` | categorical `p` |
//! | `Nll` | log-probabilities `[N, C]` | `1/N sum_n -logp_{n, y_n}` | as `CrossEntropy` with `p = exp(logp_n)` (see below) | categorical `exp(logp)` |
//! | `Mse` | predictions, any shape `[N, ...]` | `1/M sum_i (x_i - y_i)^2`, `M` = number of elements | `2/M v` | `N(x, 1/2)` per element |
//! | `BceWithLogits` | logits, shape of the targets | `1/M sum_i softplus(x_i) - x_i y_i` | `1/M sigmoid(x)(1 - sigmoid(x)) ⊙ v` | Bernoulli `sigmoid(x)` |
//!
//! The `value`s are exactly `wengert_nn::loss::{cross_entropy, nll, mse, bce_with_logits}` with
//! `Reduction::Mean` (`Mean` averages MSE and BCE over all elements, as PyTorch does).
//!
//! **NLL.** As a function of the log-probabilities the NLL is linear, so its true Hessian is zero and a
//! Gauss-Newton matrix taken there would vanish. `Nll` instead uses `H_L = 1/N (diag(p) - p p^T)` with
//! `p = exp(logp)`, the Fisher of the categorical distribution: when the log-probabilities are
//! `log_softmax(s)` of some logits `s`, `J_logp^T H_L J_logp = J_s^T H_L J_s` (because `(diag(p) - p p^T) 1 = 0`
//! and `J_logp = (I - 1 p^T) J_s`), i.e. exactly the GGN of `CrossEntropy` on the logits. The outputs must be
//! normalised log-probabilities (rows of `exp(logp)` summing to 1).

use rand::Rng;
use wengert_autodiff::{Float, Tensor, Var};
use wengert_nn::loss::{bce_with_logits, cross_entropy, mse, nll, Reduction};

/// A loss as a function of the model's outputs, averaged over the batch as `wengert_nn::loss` does with
/// `Reduction::Mean`; see the [module docs](self) for the formulas.
#[derive(Clone, Debug)]
pub enum OutputLoss<T: Float> {
    /// Softmax cross-entropy; the outputs are logits `[N, C]`, one label `< C` per row.
    CrossEntropy {
        /// Class labels, one per row of the outputs.
        labels: Vec<usize>,
    },
    /// Negative log-likelihood; the outputs are log-probabilities `[N, C]` (e.g. a `log_softmax`). Its `H_L`
    /// is the categorical Fisher `1/N (diag(p) - p p^T)`, not the (zero) Hessian of the linear NLL: see the
    /// [module docs](self).
    Nll {
        /// Class labels, one per row of the outputs.
        labels: Vec<usize>,
    },
    /// Mean squared error over all elements; the outputs have the targets' shape.
    Mse {
        /// Regression targets.
        targets: Tensor<T>,
    },
    /// Binary cross-entropy from logits, mean over all elements; targets in `[0, 1]`, of the outputs' shape.
    BceWithLogits {
        /// Target probabilities (or 0/1 labels).
        targets: Tensor<T>,
    },
}

impl<T: Float> OutputLoss<T> {
    /// The scalar loss of `outputs`, recorded on their tape: `wengert_nn::loss` with `Reduction::Mean`.
    ///
    /// # Panics
    /// If the outputs' shape does not fit the labels or targets (as the `wengert_nn::loss` functions).
    #[track_caller]
    pub fn value<'t>(&self, outputs: Var<'t, T>) -> Var<'t, T> {
        match self {
            OutputLoss::CrossEntropy { labels } => cross_entropy(outputs, labels, Reduction::Mean),
            OutputLoss::Nll { labels } => nll(outputs, labels, Reduction::Mean),
            OutputLoss::Mse { targets } => mse(outputs, outputs.constant_like(targets.clone()), Reduction::Mean),
            OutputLoss::BceWithLogits { targets } => {
                bce_with_logits(outputs, outputs.constant_like(targets.clone()), Reduction::Mean)
            }
        }
    }

    /// `H_L v`: the Hessian of [`OutputLoss::value`] with respect to the outputs (for `Nll`, the categorical
    /// Fisher), applied to `v` of the outputs' shape, in closed form and recorded with tape ops (so it can be
    /// differentiated again):
    ///
    /// - `CrossEntropy`: `1/N (p ⊙ v - p ⊙ rowsum(p ⊙ v))`, `p = softmax(outputs)` along the last axis;
    /// - `Nll`: the same with `p = exp(outputs)`;
    /// - `Mse`: `2/M v`, `M` the number of elements;
    /// - `BceWithLogits`: `1/M s (1 - s) ⊙ v`, `s = sigmoid(outputs)`.
    ///
    /// # Panics
    /// If `v` does not have the shape of `outputs`, or the outputs' shape does not fit the loss.
    #[track_caller]
    pub fn hessian_vec<'t>(&self, outputs: Var<'t, T>, v: Var<'t, T>) -> Var<'t, T> {
        let (so, sv) = (outputs.shape(), v.shape());
        assert!(so == sv, "OutputLoss::hessian_vec: v has shape {:?}, the outputs {:?}", sv.as_slice(), so.as_slice());
        self.check_shape("OutputLoss::hessian_vec", so.as_slice());
        let m = T::from_usize(outputs.numel().max(1));
        match self {
            OutputLoss::CrossEntropy { labels } | OutputLoss::Nll { labels } => {
                let p =
                    if matches!(self, OutputLoss::CrossEntropy { .. }) { outputs.softmax(-1) } else { outputs.exp() };
                let pv = p * v;
                (pv - p * pv.sum_axes(&[-1], true)).mul_scalar(T::ONE / T::from_usize(labels.len().max(1)))
            }
            OutputLoss::Mse { .. } => v.mul_scalar(T::from_f64(2.0) / m),
            OutputLoss::BceWithLogits { .. } => {
                let s = outputs.sigmoid();
                ((s - s * s) * v).mul_scalar(T::ONE / m)
            }
        }
    }

    /// The gradient of [`OutputLoss::value`] with respect to the outputs, in closed form:
    /// `(softmax(s) - onehot(y)) / N`, `-onehot(y) / N`, `2 (x - y) / M`, `(sigmoid(x) - y) / M`.
    ///
    /// # Panics
    /// If the outputs' shape does not fit the loss.
    #[track_caller]
    pub fn gradient(&self, outputs: &Tensor<T>) -> Tensor<T> {
        self.check_shape("OutputLoss::gradient", outputs.shape());
        let x = outputs.as_slice();
        let mut g = vec![T::ZERO; x.len()];
        match self {
            OutputLoss::CrossEntropy { labels } | OutputLoss::Nll { labels } => {
                let inv_n = T::ONE / T::from_usize(labels.len().max(1));
                let c = if labels.is_empty() { 0 } else { x.len() / labels.len() };
                for (n, &y) in labels.iter().enumerate() {
                    let (row, out) = (&x[n * c..(n + 1) * c], &mut g[n * c..(n + 1) * c]);
                    if matches!(self, OutputLoss::CrossEntropy { .. }) {
                        let p = softmax_row(row);
                        for (o, pk) in out.iter_mut().zip(p) {
                            *o = pk * inv_n;
                        }
                    }
                    out[y] -= inv_n;
                }
            }
            OutputLoss::Mse { targets } => {
                let inv_m = T::ONE / T::from_usize(x.len().max(1));
                for ((o, &a), &b) in g.iter_mut().zip(x).zip(targets.as_slice()) {
                    *o = T::from_f64(2.0) * (a - b) * inv_m;
                }
            }
            OutputLoss::BceWithLogits { targets } => {
                let inv_m = T::ONE / T::from_usize(x.len().max(1));
                for ((o, &a), &b) in g.iter_mut().zip(x).zip(targets.as_slice()) {
                    *o = (sigmoid(a) - b) * inv_m;
                }
            }
        }
        Tensor::from_vec(g, outputs.shape())
    }

    /// A loss of the same kind whose labels or targets are drawn from the model's predictive distribution at
    /// `outputs` (the table in the [module docs](self)): categorical `softmax(s_n)` (`CrossEntropy`) or
    /// `exp(logp_n)` (`Nll`) per row, `y = x + sqrt(1/2) eps` with `eps ~ N(0, 1)` per element (`Mse`: the
    /// Gaussian whose negative log-likelihood is `(x - y)^2`), Bernoulli `sigmoid(x)` per element
    /// (`BceWithLogits`, targets 0 or 1).
    ///
    /// Gradients of the sampled loss give the true Fisher (`E[c^-1 sum_n g_n g_n^T] = G` for per-row
    /// gradients `g_n`), the Monte-Carlo estimate K-FAC and Sophia-G ("Gauss-Newton-Bartlett") use.
    ///
    /// # Panics
    /// If the outputs' shape does not fit the loss.
    #[track_caller]
    pub fn sample<R: Rng + ?Sized>(&self, outputs: &Tensor<T>, rng: &mut R) -> OutputLoss<T> {
        self.check_shape("OutputLoss::sample", outputs.shape());
        let x = outputs.as_slice();
        match self {
            OutputLoss::CrossEntropy { labels } | OutputLoss::Nll { labels } => {
                let c = if labels.is_empty() { 0 } else { x.len() / labels.len() };
                let drawn = (0..labels.len())
                    .map(|n| {
                        let row = &x[n * c..(n + 1) * c];
                        let p = match self {
                            OutputLoss::CrossEntropy { .. } => softmax_row(row),
                            _ => row.iter().map(|&l| l.exp()).collect(),
                        };
                        categorical(&p, rng)
                    })
                    .collect();
                match self {
                    OutputLoss::CrossEntropy { .. } => OutputLoss::CrossEntropy { labels: drawn },
                    _ => OutputLoss::Nll { labels: drawn },
                }
            }
            OutputLoss::Mse { .. } => {
                let eps = Tensor::<T>::randn(outputs.shape(), T::ZERO, T::ONE, rng);
                let s = T::from_f64(0.5f64.sqrt());
                let y = x.iter().zip(eps.as_slice()).map(|(&a, &e)| a + s * e).collect();
                OutputLoss::Mse { targets: Tensor::from_vec(y, outputs.shape()) }
            }
            OutputLoss::BceWithLogits { .. } => {
                let y = x
                    .iter()
                    .map(|&a| if rng.random::<f64>() < sigmoid(a).to_f64() { T::ONE } else { T::ZERO })
                    .collect();
                OutputLoss::BceWithLogits { targets: Tensor::from_vec(y, outputs.shape()) }
            }
        }
    }

    /// `N`, the number of rows (examples) in the batch.
    pub fn batch_size(&self) -> usize {
        match self {
            OutputLoss::CrossEntropy { labels } | OutputLoss::Nll { labels } => labels.len(),
            OutputLoss::Mse { targets } | OutputLoss::BceWithLogits { targets } => {
                targets.shape().first().copied().unwrap_or(1)
            }
        }
    }

    /// `c` in `value = c sum_n nll_n`, `nll_n` the negative log-likelihood of row `n` under the model
    /// distribution of [`OutputLoss::sample`]: `1/N` for `CrossEntropy` and `Nll`, `1/M` (`M` = number of
    /// elements of the targets) for `Mse` and `BceWithLogits`.
    ///
    /// With per-row loss gradients `g_n = c grad nll_n`, the empirical Fisher is `c^-1 sum_n g_n g_n^T`, and
    /// for the gradient `g` of the whole sampled loss `E[g g^T] = c G` (so `c^-1 g ⊙ g` estimates diag `G`).
    pub fn nll_scale(&self) -> T {
        let k = match self {
            OutputLoss::CrossEntropy { labels } | OutputLoss::Nll { labels } => labels.len(),
            OutputLoss::Mse { targets } | OutputLoss::BceWithLogits { targets } => targets.numel(),
        };
        T::ONE / T::from_usize(k.max(1))
    }

    #[track_caller]
    fn check_shape(&self, what: &str, shape: &[usize]) {
        match self {
            OutputLoss::CrossEntropy { labels } | OutputLoss::Nll { labels } => {
                assert!(
                    shape.len() == 2 && shape[0] == labels.len(),
                    "{what}: outputs must be [N, C] with N = {} labels, got {shape:?}",
                    labels.len()
                );
                if let Some(&bad) = labels.iter().find(|&&l| l >= shape[1]) {
                    panic!("{what}: label {bad} out of range for {} classes", shape[1]);
                }
            }
            OutputLoss::Mse { targets } | OutputLoss::BceWithLogits { targets } => assert!(
                targets.shape() == shape,
                "{what}: outputs of shape {shape:?} for targets of shape {:?}",
                targets.shape()
            ),
        }
    }
}

fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

fn softmax_row<T: Float>(row: &[T]) -> Vec<T> {
    let m = row.iter().fold(T::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<T> = row.iter().map(|&r| (r - m).exp()).collect();
    let s = e.iter().fold(T::ZERO, |a, &b| a + b);
    e.into_iter().map(|x| x / s).collect()
}

/// Draws `k` with probability `p_k / sum p` (inverse CDF).
fn categorical<T: Float, R: Rng + ?Sized>(p: &[T], rng: &mut R) -> usize {
    let total: f64 = p.iter().map(|x| x.to_f64()).sum();
    let u = rng.random::<f64>() * total;
    let mut acc = 0.0;
    for (k, x) in p.iter().enumerate() {
        acc += x.to_f64();
        if u < acc {
            return k;
        }
    }
    p.iter().rposition(|x| x.to_f64() > 0.0).unwrap_or(0)
}
