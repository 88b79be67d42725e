//! Finite-difference checks of derivatives: [`gradcheck`] (first order, reverse rules),
//! [`jvp_check`] (first order, forward rules) and [`hvp_check`] (second order,
//! Hessian-vector products), in `f64`.
//!
//! All compare what the tape computes with central differences and accept an entry when
//!
//! ```text
//! |analytic - numeric| <= atol + rtol * |numeric|
//! ```
//!
//! (the combined tolerance of `numpy.allclose` and PyTorch's `gradcheck`). On failure
//! they return [`AutodiffError::GradCheck`] for the worst entry, the one with the largest
//! `error / tolerance`; a NaN on either side counts as the worst possible entry.
//!
//! Small problems are checked entry by entry ([`CheckMode::Full`]); large ones along
//! seeded random directions ([`CheckMode::Projected`]); [`GradCheckConfig`] holds the
//! threshold, the step, the tolerances and the seed.
//!
//! ```
//! use wengert_autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
//! use wengert_autodiff::Tensor;
//!
//! // f(a, b) = sum tanh(a) * b^2, with broadcasting of b: [3] over a: [2, 3]
//! fn f<'t>(x: &[wengert_autodiff::Var<'t, f64>]) -> wengert_autodiff::Var<'t, f64> {
//!     (x[0].tanh() * x[1].square()).sum()
//! }
//! let a = Tensor::from_vec(vec![0.1, -0.4, 0.9, 1.3, -2.0, 0.2], &[2, 3]);
//! let b = Tensor::from_vec(vec![0.5, -1.5, 2.0], &[3]);
//! let cfg = GradCheckConfig::default();
//! let report = gradcheck(f, &[a.clone(), b.clone()], &cfg).unwrap();
//! assert_eq!(report.checked, 9); // one output, 6 + 3 input entries
//! assert!(hvp_check(f, &[a, b], &cfg).is_ok());
//! ```

use std::fmt;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::arg_err;
use crate::functional::HvpMode;
use crate::{AutodiffError, Result, Tape, Tensor, Var};

/// Options of [`gradcheck`] and [`hvp_check`].
///
/// The defaults follow PyTorch's `torch.autograd.gradcheck` (`eps = 1e-6`,
/// `atol = 1e-5`, `rtol = 1e-3`, all in `f64`).
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckConfig {
    /// Step `h` of the central difference `(f(x + h d) - f(x - h d)) / 2h`. Default `1e-6`.
    pub eps: f64,
    /// Absolute tolerance. Default `1e-5`.
    pub atol: f64,
    /// Relative tolerance, relative to the numeric value. Default `1e-3`.
    pub rtol: f64,
    /// Seed of the random directions and output weights. Default `0`.
    pub seed: u64,
    /// Random directions per input tensor in projected mode. Default `8`.
    pub projections: usize,
    /// Check entry by entry when the input entries (all tensors together) and the output
    /// entries are each at most this many; otherwise project. Default `64`.
    pub full_max_entries: usize,
    /// How [`hvp_check`] computes its Hessian-vector products. Default forward over reverse.
    pub hvp_mode: HvpMode,
}

impl Default for GradCheckConfig {
    fn default() -> Self {
        GradCheckConfig {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            seed: 0,
            projections: 8,
            full_max_entries: 64,
            hvp_mode: HvpMode::default(),
        }
    }
}

impl GradCheckConfig {
    /// Tolerances for derivative rules on well-scaled inputs (entries of order 1): `atol = 1e-8`,
    /// `rtol = 1e-7`, with the default step `1e-6`. A central difference in `f64` is then
    /// accurate to about `1e-10` (rounding `1e-16 / h` plus truncation `h^2`), so a rule wrong by
    /// `1e-6` relative fails by a factor of ten while a right one passes with a margin of about a
    /// hundred. The gradient-check table uses it.
    pub fn strict() -> Self {
        GradCheckConfig { atol: 1e-8, rtol: 1e-7, ..Self::default() }
    }
}

/// Which derivative a check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// First derivatives ([`gradcheck`]).
    Gradient,
    /// Hessian-vector products ([`hvp_check`]).
    Hvp,
    /// Forward-mode (JVP) rules against finite differences ([`jvp_check`]).
    Jvp,
    /// Forward-mode (JVP) rules against the reverse rules, `<J t, u> = <t, Jᵀ u>` ([`jvp_check`]).
    JvpVsVjp,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Gradient => "gradient",
            Check::Hvp => "hvp",
            Check::Jvp => "jvp",
            Check::JvpVsVjp => "jvp vs vjp",
        })
    }
}

/// Which derivative a failed check found wrong (in [`AutodiffError::GradCheck`]); multi-indices
/// are into the tensors' own shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// A Jacobian entry (full gradient check): `d f(x)[output] / d x_input[entry]`.
    Jacobian {
        /// Index into the output `f(x)`.
        output: Vec<usize>,
        /// Index into the input tensor.
        entry: Vec<usize>,
    },
    /// A Hessian entry (full HVP check): `d (ds/dx_grad_input)[grad_entry] / d x_input[entry]`.
    Hessian {
        /// The input tensor of the gradient entry.
        grad_input: usize,
        /// Index of the gradient entry in that input.
        grad_entry: Vec<usize>,
        /// Index into the input tensor of the direction.
        entry: Vec<usize>,
    },
    /// Random direction number `n` in the input tensor (projected mode).
    Direction(usize),
}

/// Multi-index of the flat (row-major) index `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &n) in idx.iter_mut().zip(shape).rev() {
        *i = flat % n.max(1);
        flat /= n.max(1);
    }
    idx
}

/// How a check compared derivatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Every entry of the Jacobian (or Hessian).
    Full,
    /// Random directions: `directions` per input tensor.
    Projected {
        /// Directions per input tensor.
        directions: usize,
    },
}

/// What a passing check compared.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckReport {
    /// Which derivative was compared.
    pub check: Check,
    /// Entry by entry, or along random directions.
    pub mode: CheckMode,
    /// Number of (analytic, numeric) pairs compared.
    pub checked: usize,
    /// The largest `|analytic - numeric|`.
    pub max_error: f64,
    /// The largest `|analytic - numeric| / (atol + rtol |numeric|)`: below 1 when passing.
    pub worst_ratio: f64,
    /// Ops whose tangent came from the double-vjp default of [`Op::jvp`](crate::Op::jvp) during
    /// the check (ops without a JVP rule of their own); see [`Tape::ops_without_jvp`].
    pub ops_without_jvp: Vec<&'static str>,
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            CheckMode::Full => "full".to_string(),
            CheckMode::Projected { directions } => format!("{directions} random directions per input"),
        };
        write!(
            f,
            "{} check passed ({mode}): {} entries, max error {:.3e}, worst error/tolerance {:.2e}",
            self.check, self.checked, self.max_error, self.worst_ratio
        )
    }
}

/// The worst comparison so far.
struct Tracker<'c> {
    cfg: &'c GradCheckConfig,
    check: Check,
    checked: usize,
    max_error: f64,
    worst: Option<(f64, AutodiffError)>,
}

impl<'c> Tracker<'c> {
    fn new(cfg: &'c GradCheckConfig, check: Check) -> Self {
        Tracker { cfg, check, checked: 0, max_error: 0.0, worst: None }
    }

    /// Compares one pair; `at` says where, and is only called for a new worst entry.
    fn compare(&mut self, input: usize, at: impl FnOnce() -> Position, analytic: f64, numeric: f64) {
        let error = (analytic - numeric).abs();
        let tolerance = self.cfg.atol + self.cfg.rtol * numeric.abs();
        let ratio = if error.is_finite() { error / tolerance } else { f64::INFINITY };
        self.checked += 1;
        if error.is_finite() {
            self.max_error = self.max_error.max(error);
        } else {
            self.max_error = f64::INFINITY;
        }
        if self.worst.as_ref().is_none_or(|(r, _)| ratio > *r) {
            let at = at();
            let e = AutodiffError::GradCheck { check: self.check, input, at, analytic, numeric, error, tolerance };
            self.worst = Some((ratio, e));
        }
    }

    fn finish(self, mode: CheckMode) -> Result<GradCheckReport> {
        let worst_ratio = match self.worst {
            Some((r, e)) if r > 1.0 => return Err(e),
            Some((r, _)) => r,
            None => 0.0,
        };
        Ok(GradCheckReport {
            check: self.check,
            mode,
            checked: self.checked,
            max_error: self.max_error,
            worst_ratio,
            ops_without_jvp: Vec::new(),
        })
    }
}

/// `f(xs)` with the inputs recorded as constants (no backward bookkeeping).
fn eval<F>(f: &F, xs: &[Tensor<f64>]) -> Tensor<f64>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let tape = Tape::new();
    let vars: Vec<_> = xs.iter().map(|x| tape.constant(x.clone())).collect();
    f(&vars).value()
}

/// `xs` with `h * d` added to input `j`.
fn shifted(xs: &[Tensor<f64>], j: usize, d: &Tensor<f64>, h: f64) -> Vec<Tensor<f64>> {
    let mut out = xs.to_vec();
    for (a, b) in out[j].data_mut().iter_mut().zip(d.as_slice()) {
        *a += h * b;
    }
    out
}

/// `xs` with `h` added to entry `k` of input `j`.
fn bumped(xs: &[Tensor<f64>], j: usize, k: usize, h: f64) -> Vec<Tensor<f64>> {
    let mut out = xs.to_vec();
    out[j].data_mut()[k] += h;
    out
}

fn inner(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| x * y).sum()
}

fn unit(shape: &[usize], i: usize) -> Tensor<f64> {
    let mut e = Tensor::zeros(shape);
    e.data_mut()[i] = 1.0;
    e
}

fn check_inputs(xs: &[Tensor<f64>]) -> Result<()> {
    if xs.is_empty() {
        return arg_err("gradcheck", "no inputs to check");
    }
    Ok(())
}

/// Checks the first derivatives of `f` at `inputs` against central differences.
///
/// `f` may return any shape. In [`CheckMode::Full`] every Jacobian entry is compared:
/// the analytic rows come from vector-Jacobian products with unit output vectors, the
/// numeric columns from `(f(x + h e_k) - f(x - h e_k)) / 2h`. In
/// [`CheckMode::Projected`], for each input tensor and each of `projections` random
/// directions `d` (in that input only) with random output weights `w`, the scalar
/// `wᵀ J d` from the tape is compared with `<w, f(x + h d) - f(x - h d)> / 2h`.
///
/// In the returned error, `input` is the input tensor `j` and `at` is the Jacobian entry
/// ([`Position::Jacobian`]: the output's index and the input's, each a multi-index into its
/// own shape) in full mode, the direction number ([`Position::Direction`]) in projected mode.
///
/// # Errors
/// [`AutodiffError::GradCheck`] for the worst entry if any exceeds its tolerance;
/// [`AutodiffError::InvalidArgument`] for no inputs; errors of the tape's backward pass.
///
/// ```
/// use wengert_autodiff::gradcheck::{gradcheck, CheckMode, GradCheckConfig};
/// use wengert_autodiff::Tensor;
/// // a non-scalar output: f(x) = x * sin(x), Jacobian diag(sin x + x cos x)
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]);
/// let r = gradcheck(|v| v[0] * v[0].sin(), &[x], &GradCheckConfig::default()).unwrap();
/// assert_eq!((r.mode, r.checked), (CheckMode::Full, 9));
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor<f64>], cfg: &GradCheckConfig) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    check_inputs(inputs)?;
    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let y_shape = y.shape();
    let m = y.numel();
    let n_total: usize = inputs.iter().map(|x| x.numel()).sum();
    let mark = tape.len();
    let vjp = |u: Tensor<f64>| -> Result<Vec<Tensor<f64>>> {
        let g = tape.vjp(y, &vars, tape.constant(u), false)?.values();
        tape.truncate(mark);
        Ok(g)
    };
    let mut t = Tracker::new(cfg, Check::Gradient);
    let h = cfg.eps;
    if n_total <= cfg.full_max_entries && m <= cfg.full_max_entries {
        // rows[i][j] = e_iᵀ (d f / d x_j)
        let rows = (0..m).map(|i| vjp(unit(&y_shape, i))).collect::<Result<Vec<_>>>()?;
        for (j, x) in inputs.iter().enumerate() {
            for k in 0..x.numel() {
                let fp = eval(&f, &bumped(inputs, j, k, h));
                let fm = eval(&f, &bumped(inputs, j, k, -h));
                for (i, row) in rows.iter().enumerate() {
                    let numeric = (fp.as_slice()[i] - fm.as_slice()[i]) / (2.0 * h);
                    let at = || Position::Jacobian { output: unravel(i, &y_shape), entry: unravel(k, x.shape()) };
                    t.compare(j, at, row[j].as_slice()[k], numeric);
                }
            }
        }
        t.finish(CheckMode::Full)
    } else {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        for (j, x) in inputs.iter().enumerate() {
            for p in 0..cfg.projections {
                let d = Tensor::randn(x.shape(), 0.0, 1.0, &mut rng);
                let w = Tensor::randn(&y_shape, 0.0, 1.0, &mut rng);
                let analytic = inner(&vjp(w.clone())?[j], &d);
                let fp = eval(&f, &shifted(inputs, j, &d, h));
                let fm = eval(&f, &shifted(inputs, j, &d, -h));
                let numeric = (inner(&w, &fp) - inner(&w, &fm)) / (2.0 * h);
                t.compare(j, || Position::Direction(p), analytic, numeric);
            }
        }
        t.finish(CheckMode::Projected { directions: cfg.projections })
    }
}

/// Checks Hessian-vector products of `f` at `inputs` against central differences of
/// gradients.
///
/// For a scalar `f` the checked function is `s = f`; otherwise `s(x) = <f(x), w>` with
/// seeded random weights `w`. The tape's `H v` (reverse over reverse: `∇ <∇s(x), v>`,
/// the gradient recorded once) is compared entry by entry with
/// `(∇s(x + h v) - ∇s(x - h v)) / 2h`, for `v` every unit vector
/// ([`CheckMode::Full`], all input entries together at most `full_max_entries`) or
/// `projections` random directions per input tensor ([`CheckMode::Projected`]).
/// Ops whose second derivative is zero are checked too: their `H v` must come out zero,
/// or equal to the product-rule terms around them.
///
/// In the returned error, `input` is the input tensor `j` of the direction and `at` is the
/// Hessian entry ([`Position::Hessian`]: which gradient entry, of which input, against which
/// entry of `x_j`) in full mode, the direction number in projected mode.
///
/// # Errors
/// As [`gradcheck`], with `check: Check::Hvp`.
///
/// ```
/// use wengert_autodiff::gradcheck::{hvp_check, GradCheckConfig};
/// use wengert_autodiff::Tensor;
/// // s(x) = sum exp(x) x: H = diag((x + 2) e^x)
/// let x = Tensor::from_vec(vec![0.3, -1.2, 0.7], &[3]);
/// let r = hvp_check(|v| (v[0].exp() * v[0]).sum(), &[x], &GradCheckConfig::default()).unwrap();
/// assert_eq!(r.checked, 9);
/// ```
pub fn hvp_check<F>(f: F, inputs: &[Tensor<f64>], cfg: &GradCheckConfig) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    check_inputs(inputs)?;
    let y_shape = eval(&f, inputs).shape_vec();
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x9e37_79b9_7f4a_7c15);
    let w = (y_shape.iter().product::<usize>() > 1).then(|| Tensor::randn(&y_shape, 0.0, 1.0, &mut rng));
    let grad_at = |xs: &[Tensor<f64>]| -> Result<Tensor<f64>> {
        let tape = Tape::new();
        let vars: Vec<_> = xs.iter().map(|x| tape.var(x.clone())).collect();
        let y = scalarize(&f, w.as_ref(), &vars);
        Ok(flat(&tape.try_grad(y, &vars)?.values()))
    };

    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let y = scalarize(&f, w.as_ref(), &vars);
    let g = tape.grad_graph(y, &vars);
    let gs: Vec<_> = (0..vars.len()).map(|i| g.dense(i)).collect();
    let mark = tape.len();
    // H v for v nonzero in input j only, by the configured mode.
    let hvp = |j: usize, v: &Tensor<f64>| -> Result<Tensor<f64>> {
        let v = tape.constant(v.clone());
        let hv = match cfg.hvp_mode {
            HvpMode::ForwardOverReverse => tape.jvp(&gs, &[vars[j]], &[v], false)?.values(),
            HvpMode::ReverseOverReverse => match g.get(j) {
                Some(gj) => tape.vjp(gj, &vars, v, false)?.values(),
                None => zeros_like(&vars),
            },
            HvpMode::ReverseOverForward => match tape.jvp(&[y], &[vars[j]], &[v], true)?.get(0) {
                Some(jv) => tape.try_grad(jv, &vars)?.values(),
                None => zeros_like(&vars),
            },
        };
        tape.truncate(mark);
        Ok(flat(&hv))
    };

    let n_total: usize = inputs.iter().map(|x| x.numel()).sum();
    let full = n_total <= cfg.full_max_entries;
    let mut t = Tracker::new(cfg, Check::Hvp);
    let h = cfg.eps;
    for (j, x) in inputs.iter().enumerate() {
        let count = if full { x.numel() } else { cfg.projections };
        for k in 0..count {
            let v = if full { unit(x.shape(), k) } else { Tensor::randn(x.shape(), 0.0, 1.0, &mut rng) };
            let analytic = hvp(j, &v)?;
            let gp = grad_at(&shifted(inputs, j, &v, h))?;
            let gm = grad_at(&shifted(inputs, j, &v, -h))?;
            for r in 0..n_total {
                let numeric = (gp.as_slice()[r] - gm.as_slice()[r]) / (2.0 * h);
                let at = || {
                    if !full {
                        return Position::Direction(k);
                    }
                    // Gradient entry r of all inputs concatenated: input i, entry r - (entries before i).
                    let (mut i, mut e) = (0, r);
                    while e >= inputs[i].numel() {
                        e -= inputs[i].numel();
                        i += 1;
                    }
                    let (grad_entry, entry) = (unravel(e, inputs[i].shape()), unravel(k, x.shape()));
                    Position::Hessian { grad_input: i, grad_entry, entry }
                };
                t.compare(j, at, analytic.as_slice()[r], numeric);
            }
        }
    }
    let mut report =
        t.finish(if full { CheckMode::Full } else { CheckMode::Projected { directions: cfg.projections } })?;
    report.ops_without_jvp = tape.ops_without_jvp();
    Ok(report)
}

fn zeros_like(vars: &[Var<'_, f64>]) -> Vec<Tensor<f64>> {
    vars.iter().map(|x| Tensor::zeros(x.shape().as_slice())).collect()
}

/// Checks the forward-mode (JVP) rules of `f` at `inputs`, twice: against central differences,
/// and against the reverse rules by the duality `<J t, u> = <t, Jᵀ u>`.
///
/// `f` is recorded once; each `J t` is one tangent sweep over the recording ([`Tape::jvp`]).
/// In [`CheckMode::Full`] the tangents are the unit vectors of each input, and each column
/// `J e_k` is compared entry by entry with `(f(x + h e_k) - f(x - h e_k)) / 2h` (tolerances of
/// `cfg`) and with the same column of `J` from vector-Jacobian products (to `1e-12` absolute
/// plus `1e-10` relative: both are exact up to rounding). In [`CheckMode::Projected`], for each
/// input and each of `projections` random tangents `t` and output weights `u`, `J t` is compared
/// with the central difference along `t` entry by entry, and `<J t, u>` with `<t, Jᵀ u>`.
///
/// # Errors
/// As [`gradcheck`], with `check: Check::Jvp` against finite differences and
/// `Check::JvpVsVjp` for the duality.
///
/// ```
/// use wengert_autodiff::gradcheck::{jvp_check, GradCheckConfig};
/// use wengert_autodiff::Tensor;
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]);
/// let r = jvp_check(|v| v[0].tanh() * v[0].exp(), &[x], &GradCheckConfig::strict()).unwrap();
/// assert!(r.ops_without_jvp.is_empty());
/// ```
pub fn jvp_check<F>(f: F, inputs: &[Tensor<f64>], cfg: &GradCheckConfig) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    check_inputs(inputs)?;
    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let y_shape = y.shape();
    let m = y.numel();
    let n_total: usize = inputs.iter().map(|x| x.numel()).sum();
    let mark = tape.len();
    let jvp = |j: usize, t: Tensor<f64>| -> Result<Tensor<f64>> {
        let r = tape.jvp(&[y], &[vars[j]], &[tape.constant(t)], false)?.value(0);
        tape.truncate(mark);
        Ok(r)
    };
    let vjp = |u: Tensor<f64>| -> Result<Vec<Tensor<f64>>> {
        let g = tape.vjp(y, &vars, tape.constant(u), false)?.values();
        tape.truncate(mark);
        Ok(g)
    };
    let exact = GradCheckConfig { atol: 1e-12, rtol: 1e-10, ..cfg.clone() };
    let mut fd = Tracker::new(cfg, Check::Jvp);
    let mut dual = Tracker::new(&exact, Check::JvpVsVjp);
    let h = cfg.eps;
    let full = n_total <= cfg.full_max_entries && m <= cfg.full_max_entries;
    if full {
        let rows = (0..m).map(|i| vjp(unit(&y_shape, i))).collect::<Result<Vec<_>>>()?;
        for (j, x) in inputs.iter().enumerate() {
            for k in 0..x.numel() {
                let col = jvp(j, unit(x.shape(), k))?;
                let fp = eval(&f, &bumped(inputs, j, k, h));
                let fm = eval(&f, &bumped(inputs, j, k, -h));
                for (i, row) in rows.iter().enumerate() {
                    let numeric = (fp.as_slice()[i] - fm.as_slice()[i]) / (2.0 * h);
                    let at = || Position::Jacobian { output: unravel(i, &y_shape), entry: unravel(k, x.shape()) };
                    fd.compare(j, at, col.as_slice()[i], numeric);
                    dual.compare(j, at, col.as_slice()[i], row[j].as_slice()[k]);
                }
            }
        }
    } else {
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5851_f42d_4c95_7f2d);
        for (j, x) in inputs.iter().enumerate() {
            for p in 0..cfg.projections {
                let d = Tensor::randn(x.shape(), 0.0, 1.0, &mut rng);
                let u = Tensor::randn(&y_shape, 0.0, 1.0, &mut rng);
                let jt = jvp(j, d.clone())?;
                let fp = eval(&f, &shifted(inputs, j, &d, h));
                let fm = eval(&f, &shifted(inputs, j, &d, -h));
                for i in 0..m {
                    let numeric = (fp.as_slice()[i] - fm.as_slice()[i]) / (2.0 * h);
                    fd.compare(j, || Position::Direction(p), jt.as_slice()[i], numeric);
                }
                dual.compare(j, || Position::Direction(p), inner(&jt, &u), inner(&vjp(u)?[j], &d));
            }
        }
    }
    let mode = if full { CheckMode::Full } else { CheckMode::Projected { directions: cfg.projections } };
    let a = fd.finish(mode)?;
    let b = dual.finish(mode)?;
    Ok(GradCheckReport {
        check: Check::Jvp,
        mode,
        checked: a.checked + b.checked,
        max_error: a.max_error,
        worst_ratio: a.worst_ratio.max(b.worst_ratio),
        ops_without_jvp: tape.ops_without_jvp(),
    })
}

/// `f(xs)` summed, or `<f(xs), w>` with the weights `w`.
fn scalarize<'t, F>(f: &F, w: Option<&Tensor<f64>>, xs: &[Var<'t, f64>]) -> Var<'t, f64>
where
    F: for<'s> Fn(&[Var<'s, f64>]) -> Var<'s, f64>,
{
    let y = f(xs);
    match w {
        Some(w) => (y * y.constant_like(w.clone())).sum(),
        None => y.sum(),
    }
}

/// All tensors flattened and concatenated.
fn flat(ts: &[Tensor<f64>]) -> Tensor<f64> {
    let v: Vec<f64> = ts.iter().flat_map(|t| t.as_slice().iter().copied()).collect();
    let n = v.len();
    Tensor::from_vec(v, &[n])
}
