//! Shampoo (Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018,
//! Algorithm 1 and its tensor form, Algorithm 2) with layer-wise grafting to Adam's step size (Agarwal, Anil,
//! Hazan, Koren & Zhang, "Disentangling Adaptive Gradient Methods from Learning Rates", 2020), as the
//! distributed Shampoo of Anil et al. 2020 and Meta's PyTorch implementation (Shi et al. 2023) use it.
//!
//! Each trainable tensor is viewed as a matrix `G` (`m x n`) or a vector `g` (see *Shapes* below) and keeps
//! Kronecker-factor statistics of its gradients:
//!
//! ```text
//! L = beta2 L + c G Gᵀ        R = beta2 R + c Gᵀ G       (c = 1 if beta2 = 1 (the paper's sums), else 1 - beta2)
//! every `precondition_interval` steps (at steps 1, 1 + T, 1 + 2T, ...):
//!     PL = (L + eps I)^(-1/4)     PR = (R + eps I)^(-1/4)   (a vector: PL = (L + eps I)^(-1/2))
//! m  = beta1 m + (1 - beta1) g,     m̂ = m / (1 - beta1^t)                     (momentum, bias-corrected)
//! v  = graft_beta2 v + (1 - graft_beta2) g ⊙ g,  v̂ = v / (1 - graft_beta2^t)
//! a  = m̂ / (sqrt(v̂) + graft_eps)                  Adam's update of this tensor
//! s  = PL M̂ PR                                     Shampoo's direction (M̂ = m̂ as a matrix)
//! s  = s ||a|| / ||s||                             grafting: Shampoo's direction with Adam's per-tensor norm
//! w  = w (1 - lr weight_decay) - lr s              (or weight_decay w added to g first when not decoupled)
//! ```
//!
//! The inverse roots are taken in `f64` from a symmetric eigendecomposition `L = Q diag(λ) Qᵀ`
//! (Householder tridiagonalisation and implicit QL, EISPACK's `tred2`/`tql2`), as `Q diag(max(λ, 0) + eps)^(-1/p) Qᵀ`: eigenvalues that
//! round below zero are clamped before the ridge is added. Preconditioning the momentum and grafting only
//! the second moment is Meta's convention; grafting makes Shampoo a drop-in for a tuned Adam: same learning
//! rate, the direction changed.
//!
//! **Shapes** (as `distributed_shampoo`): axes of size 1 are dropped; one axis left is a vector with one
//! `n x n` factor and root `p = 2`; two axes are a matrix with two factors and `p = 4`; three or more are
//! reshaped to a matrix `[d0, d1 d2 ...]` (a convolution kernel `[out, in, kh, kw]` becomes
//! `[out, in kh kw]`, the shape K-FAC uses). An axis longer than `max_preconditioner_dim` gets a *diagonal*
//! factor instead (`diag(G Gᵀ)`, the row sums of squares, and its elementwise root): memory and time stay
//! linear in that dimension (Meta's `LargeDimMethod.DIAGONAL`).
//!
//! Defaults: `lr = 1e-3`, `beta1 = 0.9`, `eps = 1e-12`, `graft_beta2 = 0.999`, `graft_eps = 1e-8`, decoupled
//! `weight_decay = 0`, `precondition_interval = 1`, `max_preconditioner_dim = 1024`, as Meta's
//! `DistributedShampoo` with Adam grafting (its README's AdamW replacement); `beta2 = 1` sums the statistics as
//! the paper and the Google reference do (Meta's README example uses 0.999). An eigendecomposition costs
//! `O(d^3)`: for layers of a few hundred units an interval of 10 to 100 is usual (the race in
//! `examples/second_order_training.rs` uses 10).
//!
//! ```
//! use wengert_optim::stochastic::shampoo::{Shampoo, ShampooConfig};
//! let opt = Shampoo::<f64>::new(ShampooConfig { precondition_interval: 10, ..ShampooConfig::default() }).unwrap();
//! assert_eq!(opt.config().betas, (0.9, 1.0));
//! assert!(Shampoo::<f64>::new(ShampooConfig { precondition_interval: 0, ..ShampooConfig::default() }).is_err());
//! ```

use wengert_autodiff::{kernels, Float, Tensor};
use wengert_nn::{Module, StateDict};

use super::evaluate::{self, check_loss, Layout};
use super::{Closure, StepReport, StochasticOptimizer};
use crate::first_order::error_check as check;
use crate::objective::{flatten_params, unflatten_params};
use crate::OptimError;

/// Hyperparameters of [`Shampoo`] (defaults in the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct ShampooConfig {
    /// Step size (Adam's, through grafting).
    pub lr: f64,
    /// `(beta1, beta2)`: momentum in `[0, 1)`; decay of the factor statistics in `(0, 1]` (1: sums, as the paper).
    pub betas: (f64, f64),
    /// Ridge `eps > 0` added to every factor before its inverse root.
    pub eps: f64,
    /// Decay in `[0, 1)` of the squared gradient of the Adam graft.
    pub graft_beta2: f64,
    /// `eps >= 0` of the Adam graft (added to `sqrt(v̂)`).
    pub graft_eps: f64,
    /// Weight decay `>= 0`.
    pub weight_decay: f64,
    /// `true`: `w <- w (1 - lr weight_decay)` (AdamW); `false`: `weight_decay w` is added to the gradient.
    pub decoupled_weight_decay: bool,
    /// The inverse roots are recomputed every this many steps (`>= 1`).
    pub precondition_interval: u64,
    /// Axes longer than this (`>= 1`) get a diagonal factor.
    pub max_preconditioner_dim: usize,
}

impl Default for ShampooConfig {
    fn default() -> Self {
        ShampooConfig {
            lr: 1e-3,
            betas: (0.9, 1.0),
            eps: 1e-12,
            graft_beta2: 0.999,
            graft_eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: true,
            precondition_interval: 1,
            max_preconditioner_dim: 1024,
        }
    }
}

impl ShampooConfig {
    /// `Err(InvalidConfig)` naming the first field out of range.
    pub fn validate(&self) -> Result<(), OptimError> {
        let nonneg = |name: &str, v: f64| {
            check(v.is_finite() && v >= 0.0, || format!("ShampooConfig: {name} = {v} must be finite and >= 0"))
        };
        nonneg("lr", self.lr)?;
        let (b1, b2) = self.betas;
        check((0.0..1.0).contains(&b1), || format!("ShampooConfig: beta1 = {b1} must be in [0, 1)"))?;
        check(b2 > 0.0 && b2 <= 1.0, || format!("ShampooConfig: beta2 = {b2} must be in (0, 1]"))?;
        check(self.eps.is_finite() && self.eps > 0.0, || {
            format!("ShampooConfig: eps = {} must be finite and > 0", self.eps)
        })?;
        let gb = self.graft_beta2;
        check((0.0..1.0).contains(&gb), || format!("ShampooConfig: graft_beta2 = {gb} must be in [0, 1)"))?;
        nonneg("graft_eps", self.graft_eps)?;
        nonneg("weight_decay", self.weight_decay)?;
        check(self.precondition_interval >= 1, || {
            format!("ShampooConfig: precondition_interval = {} must be >= 1", self.precondition_interval)
        })?;
        check(self.max_preconditioner_dim >= 1, || "ShampooConfig: max_preconditioner_dim must be >= 1".into())
    }
}

/// What the last [`Shampoo`] step did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ShampooInfo {
    /// Whether the inverse roots were recomputed at this step.
    pub preconditioners_refreshed: bool,
    /// The most implicit-QL iterations one eigenvalue needed at this step (0 if no root was computed).
    pub max_ql_iterations: usize,
}

/// One Kronecker factor of a tensor: its statistic and inverse root, `dim x dim` row-major, or their
/// diagonals for an axis longer than `max_preconditioner_dim`.
#[derive(Clone, Debug)]
struct Factor {
    dim: usize,
    diagonal: bool,
    stat: Vec<f64>,
    root: Vec<f64>,
}

impl Factor {
    fn new(dim: usize, max_dim: usize) -> Self {
        let diagonal = dim > max_dim;
        let len = if diagonal { dim } else { dim * dim };
        // The identity until the first root is computed (at step 1).
        let root = if diagonal { vec![1.0; dim] } else { (0..len).map(|k| f64::from(k % (dim + 1) == 0)).collect() };
        Factor { dim, diagonal, stat: vec![0.0; len], root }
    }
}

/// The matrix view `[rows, cols]` of a tensor of shape `shape` and its number of factors (1 for a vector).
fn matrix_view(shape: &[usize]) -> (usize, usize, usize) {
    let dims: Vec<usize> = shape.iter().copied().filter(|&d| d > 1).collect();
    match dims.as_slice() {
        [] => (1, 1, 1),
        [n] => (*n, 1, 1),
        [m, rest @ ..] => (*m, rest.iter().product(), 2),
    }
}

#[derive(Clone)]
struct TensorState<T> {
    rows: usize,
    cols: usize,
    m: Vec<T>,
    v: Vec<T>,
    /// `[left]` for a vector, `[left, right]` for a matrix.
    factors: Vec<Factor>,
}

struct State<T> {
    layout: Layout,
    step: u64,
    tensors: Vec<TensorState<T>>,
}

/// Shampoo with Adam grafting (see the [module docs](self)).
pub struct Shampoo<T: Float> {
    config: ShampooConfig,
    state: Option<State<T>>,
    info: ShampooInfo,
}

impl<T: Float> Shampoo<T> {
    /// An optimiser with no state yet (it is sized at the first step).
    ///
    /// Returns `Err(InvalidConfig)` if the config does not [validate](ShampooConfig::validate).
    pub fn new(config: ShampooConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Shampoo { config, state: None, info: ShampooInfo::default() })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &ShampooConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.step)
    }

    /// What the last successful step did.
    pub fn info(&self) -> ShampooInfo {
        self.info
    }

    /// Everything needed to resume bit-exactly: `steps` and the learning rate (exact, in the metadata), the
    /// parameters' names (`params`), and per parameter `exp_avg.{name}` (`m`), `graft_exp_avg_sq.{name}` (the
    /// graft's `v`), and per factor `k` (0: left, 1: right) `factor{k}.{name}` and `factor{k}_root.{name}`
    /// (`[d, d]`, or `[d]` for a diagonal factor).
    pub fn state_dict(&self) -> StateDict<T> {
        let Some(s) = &self.state else {
            return evaluate::state_header("shampoo", 0, self.config.lr, &Layout::empty());
        };
        let mut sd = evaluate::state_header("shampoo", s.step, self.config.lr, &s.layout);
        for (i, ts) in s.tensors.iter().enumerate() {
            let (name, shape) = (&s.layout.names[i], &s.layout.shapes[i]);
            sd.tensors.insert(format!("exp_avg.{name}"), Tensor::from_vec(ts.m.clone(), shape));
            sd.tensors.insert(format!("graft_exp_avg_sq.{name}"), Tensor::from_vec(ts.v.clone(), shape));
            for (k, f) in ts.factors.iter().enumerate() {
                let shape: &[usize] = if f.diagonal { &[f.dim] } else { &[f.dim, f.dim] };
                let t = |x: &[f64]| Tensor::from_vec(x.iter().map(|&v| T::from_f64(v)).collect(), shape);
                sd.tensors.insert(format!("factor{k}.{name}"), t(&f.stat));
                sd.tensors.insert(format!("factor{k}_root.{name}"), t(&f.root));
            }
        }
        sd
    }

    /// Restores what [`Shampoo::state_dict`] saved (the configuration other than the learning rate stays this
    /// optimiser's own). On `Err(BadStateDict)` (another algorithm, a missing entry, a factor whose shape does
    /// not fit its parameter) nothing changed.
    pub fn load_state_dict(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let bad = |m: String| OptimError::BadStateDict(format!("shampoo: {m}"));
        let (step, lr, layout) = evaluate::load_header(sd, "shampoo", "exp_avg")?;
        let config = ShampooConfig { lr, ..self.config.clone() };
        config.validate().map_err(|e| bad(e.to_string()))?;
        let m = evaluate::load_flat(sd, "shampoo", "exp_avg", &layout)?;
        let v = evaluate::load_flat(sd, "shampoo", "graft_exp_avg_sq", &layout)?;
        let mut state = Self::fresh_state(&config, layout);
        state.step = step;
        for (i, ts) in state.tensors.iter_mut().enumerate() {
            let name = &state.layout.names[i];
            let range = state.layout.range(i);
            ts.m = m[range.clone()].to_vec();
            ts.v = v[range].to_vec();
            for (k, f) in ts.factors.iter_mut().enumerate() {
                let get = |key: String| sd.tensors.get(&key).ok_or_else(|| bad(format!("no `{key}`")));
                let (stat, root) = (get(format!("factor{k}.{name}"))?, get(format!("factor{k}_root.{name}"))?);
                let (d, diagonal) = match stat.shape() {
                    [d] => (*d, true),
                    [d, e] if d == e => (*d, false),
                    other => return Err(bad(format!("`factor{k}.{name}` has shape {other:?}"))),
                };
                if d != f.dim || stat.shape() != root.shape() {
                    return Err(bad(format!(
                        "`factor{k}.{name}` has shape {:?} and its root {:?}, the parameter's axis {}",
                        stat.shape(),
                        root.shape(),
                        f.dim
                    )));
                }
                f.diagonal = diagonal;
                f.stat = stat.as_slice().iter().map(|x| x.to_f64()).collect();
                f.root = root.as_slice().iter().map(|x| x.to_f64()).collect();
            }
        }
        self.config = config;
        self.state = (step > 0).then_some(state);
        Ok(())
    }

    fn fresh_state(config: &ShampooConfig, layout: Layout) -> State<T> {
        let tensors = layout
            .shapes
            .iter()
            .map(|shape| {
                let (rows, cols, order) = matrix_view(shape);
                let n = rows * cols;
                let max = config.max_preconditioner_dim;
                let factors = if order == 1 {
                    vec![Factor::new(rows, max)]
                } else {
                    vec![Factor::new(rows, max), Factor::new(cols, max)]
                };
                TensorState { rows, cols, m: vec![T::ZERO; n], v: vec![T::ZERO; n], factors }
            })
            .collect();
        State { layout, step: 0, tensors }
    }
}

/// `stat <- beta2 stat + c G Gᵀ` (`left`) or `+ c Gᵀ G`, `G` row-major `rows x cols`; only the diagonal for a
/// diagonal factor.
fn accumulate(f: &mut Factor, g: &[f64], rows: usize, cols: usize, left: bool, beta2: f64, c: f64) {
    let d = f.dim;
    // Entry (a, k) of the matrix whose rows the factor correlates: G for the left factor, Gᵀ for the right.
    let at = |a: usize, k: usize| if left { g[a * cols + k] } else { g[k * cols + a] };
    let len = if left { cols } else { rows };
    if beta2 != 1.0 {
        f.stat.iter_mut().for_each(|s| *s *= beta2);
    }
    if f.diagonal {
        for a in 0..d {
            f.stat[a] += c * (0..len).map(|k| at(a, k) * at(a, k)).sum::<f64>();
        }
        return;
    }
    let ggt = if left {
        gemm(g, (rows, cols), false, g, (rows, cols), true)
    } else {
        gemm(g, (rows, cols), true, g, (rows, cols), false)
    };
    for (s, x) in f.stat.iter_mut().zip(ggt) {
        *s += c * x;
    }
}

/// `op(a) op(b)` for row-major `a` (`ra x ca`) and `b`, `op` transposing when its flag is set: the tape's
/// matrix kernel on `f64` tensors.
fn gemm(a: &[f64], (ra, ca): (usize, usize), ta: bool, b: &[f64], (rb, cb): (usize, usize), tb: bool) -> Vec<f64> {
    let a = Tensor::from_vec(a.to_vec(), &[ra, ca]);
    let b = Tensor::from_vec(b.to_vec(), &[rb, cb]);
    kernels::matmul(&a, &b, ta, tb).expect("the factor shapes agree").into_vec()
}

/// Recomputes `root = (stat + eps I)^(-1/p)`; returns the QL iterations used.
fn refresh_root(f: &mut Factor, eps: f64, p: f64) -> usize {
    if f.diagonal {
        for (r, &s) in f.root.iter_mut().zip(&f.stat) {
            *r = (s.max(0.0) + eps).powf(-1.0 / p);
        }
        return 0;
    }
    let d = f.dim;
    let (lambda, q, iterations) = symmetric_eigen(&f.stat, d);
    let scale: Vec<f64> = lambda.iter().map(|&l| (l.max(0.0) + eps).powf(-1.0 / p)).collect();
    let q_scaled: Vec<f64> = q.iter().enumerate().map(|(k, x)| x * scale[k % d]).collect();
    f.root = gemm(&q_scaled, (d, d), false, &q, (d, d), true);
    iterations
}

/// The eigendecomposition `A = Q diag(λ) Qᵀ` of the symmetric `n x n` row-major `a`: Householder reduction to
/// tridiagonal form and the implicit QL algorithm with Wilkinson-type shifts (EISPACK's `tred2` and `tql2`,
/// Bowdler, Martin, Reinsch & Wilkinson, *Handbook for Automatic Computation* II; in the form of JAMA).
/// Returns `(λ unsorted, Q row-major with the eigenvectors as columns, the most QL iterations one eigenvalue
/// took)`. About `9 n^3` flops, several times fewer than cyclic Jacobi. A NaN or infinite entry gives NaN
/// eigenvalues (the caller's finiteness check reports it); each eigenvalue gets at most 100 iterations (two or
/// three is usual).
pub(crate) fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>, usize) {
    if n == 0 {
        return (Vec::new(), Vec::new(), 0);
    }
    if a.iter().any(|x| !x.is_finite()) {
        return (vec![f64::NAN; n], vec![f64::NAN; n * n], 0);
    }
    let mut v = a.to_vec();
    let (d, e) = tridiagonalize(&mut v, n);
    ql_implicit(d, e, &mut v, n)
}

/// `tred2`: overwrites `v` (holding `A`) with the orthogonal `Q` of `A = Q T Qᵀ`; returns the diagonal `d` and
/// the subdiagonal `e` (`e[i]` couples `i - 1` and `i`, `e[0] = 0`) of the tridiagonal `T`.
fn tridiagonalize(v: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut d: Vec<f64> = v[(n - 1) * n..].to_vec();
    let mut e = vec![0.0; n];
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[(i - 1) * n + j];
                v[i * n + j] = 0.0;
                v[j * n + i] = 0.0;
            }
        } else {
            // The Householder vector that zeroes row i left of the subdiagonal.
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].fill(0.0);
            for j in 0..i {
                let f = d[j];
                v[j * n + i] = f;
                let mut g = e[j] + v[j * n + j] * f;
                for k in j + 1..i {
                    g += v[k * n + j] * d[k];
                    e[k] += v[k * n + j] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[k * n + j] -= f * e[k] + g * d[k];
                }
                d[j] = v[(i - 1) * n + j];
                v[i * n + j] = 0.0;
            }
        }
        d[i] = h;
    }
    // Accumulate the transformations into Q.
    for i in 0..n - 1 {
        v[(n - 1) * n + i] = v[i * n + i];
        v[i * n + i] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[k * n + i + 1] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[k * n + i + 1] * v[k * n + j]).sum();
                for k in 0..=i {
                    v[k * n + j] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[k * n + i + 1] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[(n - 1) * n + j];
        v[(n - 1) * n + j] = 0.0;
    }
    v[n * n - 1] = 1.0;
    e[0] = 0.0;
    (d, e)
}

/// `tql2`: the eigenvalues of the tridiagonal `(d, e)` from [`tridiagonalize`] by implicit QL steps, the
/// rotations accumulated into `v`.
fn ql_implicit(mut d: Vec<f64>, mut e: Vec<f64>, v: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>, usize) {
    e.rotate_left(1);
    e[n - 1] = 0.0;
    let (mut f, mut tst1, mut most) = (0.0f64, 0.0f64, 0);
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        // The first negligible subdiagonal entry at or after l (e[n - 1] = 0 ends the search).
        let m = (l..n).find(|&m| e[m].abs() <= eps * tst1).unwrap_or(n - 1);
        let mut iterations = 0;
        while m > l && iterations < 100 {
            iterations += 1;
            // The implicit shift from the leading 2 x 2 block.
            let g = d[l];
            let mut p = (d[l + 1] - g) / (2.0 * e[l]);
            let mut r = p.hypot(1.0);
            if p < 0.0 {
                r = -r;
            }
            d[l] = e[l] / (p + r);
            d[l + 1] = e[l] * (p + r);
            let dl1 = d[l + 1];
            let mut h = g - d[l];
            for x in &mut d[l + 2..] {
                *x -= h;
            }
            f += h;
            // The QL sweep from m up to l.
            p = d[m];
            let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
            let el1 = e[l + 1];
            let (mut s, mut s2) = (0.0, 0.0);
            for i in (l..m).rev() {
                c3 = c2;
                c2 = c;
                s2 = s;
                let g = c * e[i];
                h = c * p;
                r = p.hypot(e[i]);
                e[i + 1] = s * r;
                s = e[i] / r;
                c = p / r;
                p = c * d[i] - s * g;
                d[i + 1] = h + s * (c * g + s * d[i]);
                for k in 0..n {
                    let (vi, vi1) = (v[k * n + i], v[k * n + i + 1]);
                    v[k * n + i + 1] = s * vi + c * vi1;
                    v[k * n + i] = c * vi - s * vi1;
                }
            }
            p = -s * s2 * c3 * el1 * e[l] / dl1;
            e[l] = s * p;
            d[l] = c * p;
            if e[l].abs() <= eps * tst1 {
                break;
            }
        }
        most = most.max(iterations);
        d[l] += f;
        e[l] = 0.0;
    }
    (d, v.to_vec(), most)
}

/// `PL M PR` (or `PL m` for a vector), `M` row-major `rows x cols`.
fn precondition(ts: &TensorState<impl Float>, m: &[f64]) -> Vec<f64> {
    let (rows, cols) = (ts.rows, ts.cols);
    let left = &ts.factors[0];
    let mut x = if left.diagonal {
        (0..rows * cols).map(|k| left.root[k / cols] * m[k]).collect()
    } else {
        gemm(&left.root, (rows, rows), false, m, (rows, cols), false)
    };
    if let Some(right) = ts.factors.get(1) {
        if right.diagonal {
            for (k, v) in x.iter_mut().enumerate() {
                *v *= right.root[k % cols];
            }
        } else {
            x = gemm(&x, (rows, cols), false, &right.root, (cols, cols), false);
        }
    }
    x
}

impl<T: Float> StochasticOptimizer<T> for Shampoo<T> {
    fn step(&mut self, model: &mut dyn Module<T>, closure: &mut Closure<'_, T>) -> Result<StepReport<T>, OptimError> {
        if let Some(s) = &self.state {
            s.layout.check(&*model)?;
        }
        let (loss, g) = evaluate::loss_and_gradient(&*model, closure);
        check_loss(loss)?;
        let fresh;
        let state = match &self.state {
            Some(s) => s,
            None => {
                fresh = Self::fresh_state(&self.config, Layout::of(&*model));
                &fresh
            }
        };
        let layout = &state.layout;
        layout.check_gradient(&g)?;

        let c = &self.config;
        let step = state.step + 1;
        let refresh = (step - 1).is_multiple_of(c.precondition_interval);
        let powi = |b: f64| b.powi(step.min(i32::MAX as u64) as i32);
        let (b1, b2) = c.betas;
        let (bc1, bcg) = (1.0 - powi(b1), 1.0 - powi(c.graft_beta2));
        let stat_weight = if b2 == 1.0 { 1.0 } else { 1.0 - b2 };
        let (tb1, tgb) = (T::from_f64(b1), T::from_f64(c.graft_beta2));
        let coupled = if c.decoupled_weight_decay { 0.0 } else { c.weight_decay };
        let shrink = if c.decoupled_weight_decay { 1.0 - c.lr * c.weight_decay } else { 1.0 };

        let mut w = flatten_params(&*model);
        let mut tensors = state.tensors.clone();
        let mut max_iterations = 0;
        for (i, ts) in tensors.iter_mut().enumerate() {
            let range = layout.range(i);
            let wi = &mut w[range.clone()];
            let gi: Vec<T> = g[range].iter().zip(wi.iter()).map(|(&g, &w)| g + T::from_f64(coupled) * w).collect();
            for ((m, v), &g) in ts.m.iter_mut().zip(ts.v.iter_mut()).zip(&gi) {
                *m = tb1 * *m + (T::ONE - tb1) * g;
                *v = tgb * *v + (T::ONE - tgb) * g * g;
            }
            let g64: Vec<f64> = gi.iter().map(|g| g.to_f64()).collect();
            let (rows, cols) = (ts.rows, ts.cols);
            let p = 2.0 * ts.factors.len() as f64;
            for (k, f) in ts.factors.iter_mut().enumerate() {
                accumulate(f, &g64, rows, cols, k == 0, b2, stat_weight);
                if refresh {
                    max_iterations = max_iterations.max(refresh_root(f, c.eps, p));
                }
                // The state lives in `T` (computed in f64, stored rounded), so a state dict of `T` tensors
                // holds it exactly.
                f.stat.iter_mut().chain(f.root.iter_mut()).for_each(|x| *x = T::from_f64(*x).to_f64());
            }
            let m_hat: Vec<f64> = ts.m.iter().map(|m| m.to_f64() / bc1).collect();
            let adam_norm = m_hat
                .iter()
                .zip(&ts.v)
                .map(|(m, v)| m / ((v.to_f64() / bcg).sqrt() + c.graft_eps))
                .map(|a| a * a)
                .sum::<f64>()
                .sqrt();
            let s = precondition(ts, &m_hat);
            let s_norm = s.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = if s_norm > 0.0 { adam_norm / s_norm } else { 0.0 };
            for (w, s) in wi.iter_mut().zip(&s) {
                *w = T::from_f64(w.to_f64() * shrink - c.lr * scale * s);
            }
        }
        for (i, ts) in tensors.iter().enumerate() {
            let finite = ts.m.iter().chain(&ts.v).all(|x| x.is_finite())
                && ts.factors.iter().all(|f| f.stat.iter().chain(&f.root).all(|x| x.is_finite()));
            if !finite {
                return Err(OptimError::NonFiniteUpdate { param: layout.names[i].clone() });
            }
        }
        layout.check_update(&w)?;

        unflatten_params(model, &w);
        let layout = layout.clone();
        self.state = Some(State { layout, step, tensors });
        self.info = ShampooInfo { preconditioners_refreshed: refresh, max_ql_iterations: max_iterations };
        Ok(StepReport { loss, evaluations: 1, curvature_products: 0 })
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError> {
        ShampooConfig { lr, ..self.config.clone() }.validate()?;
        self.config.lr = lr;
        Ok(())
    }
}
