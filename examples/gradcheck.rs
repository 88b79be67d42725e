//! # Gradient checks, as users do them
//!
//! ```text
//! cargo run --release --example gradcheck [-- --fast]
//! ```
//!
//! "Numeric gradient: approximate, slow, easy to write. Analytic gradient: exact, fast, error-prone. In
//! practice: always use analytic gradient, but check implementation with numerical gradient." (cs231n
//! lecture 4.) Two ways to do that here:
//!
//! 1. **`grad_check_sparse`, by hand**: a hand-written, vectorised gradient of the multiclass SVM loss
//!    `L = 1/N sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + reg sum W^2` (the assignment's
//!    `svm_loss_vectorized`) is compared with central differences `(f(W + h e_k) - f(W - h e_k)) / 2h` at
//!    a few random entries `k`, printing the relative error `|a - n| / (|a| + |n|)` as the assignment's
//!    helper does. A correct gradient gives relative errors of 1e-9..1e-5 (h = 1e-7 in f64; tiny entries
//!    lose digits to cancellation, and a kink of `max` inside `[w - h, w + h]` would spoil one entry); a gradient with a bug (here: the regulariser's derivative written `reg W`
//!    instead of `2 reg W`) gives errors around 1e-2..1e-1. The hand-written gradient is also compared
//!    with the tape's.
//! 2. **`wengert_autodiff::gradcheck`**: the library's check for ops written with [`Op`]. A cube op whose
//!    backward forgot the square (`3 x` instead of `3 x^2`) fails, and the error names the input, the
//!    entry, both derivatives and the tolerance they missed:
//!
//! ```text
//! grad_check_sparse, correct gradient:
//!   numerical: +0.087881 analytic: +0.087881, relative error: 4.126e-8
//!   ...
//! grad_check_sparse, BUGGY (reg W instead of 2 reg W) gradient:
//!   numerical: +0.004717 analytic: +0.002358, relative error: 3.333e-1
//!   ...
//! hand-written vs tape gradient: max |difference| = 4.996e-16
//! gradcheck, correct cube op: gradient check passed (full): 4 entries, max error 7.332e-10, worst error/tolerance 3.09e-7
//! gradcheck, buggy cube op: gradient check failed: input 0, entry 3: analytic 9.0000000000e-1, numeric 2.6999999991e-1, error 6.300e-1 > tolerance 2.800e-4
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert::autodiff::gradcheck::{gradcheck, GradCheckConfig};
use wengert::autodiff::{kernels, AutodiffError, InputGrads, Op, Result, Tensor, Var};
use wengert::nn::data::Dataset;
use wengert::nn::datasets::digits_split;
use wengert::nn::loss::{multiclass_hinge, Reduction};
use wengert::prelude::*;

/// SVM loss and its hand-written gradient for `W: [C, D]` (row-major), `x: [N, D]`, labels `y`.
/// With `bug`, the regulariser's derivative is `reg W` instead of `2 reg W`.
pub fn svm_loss_and_grad(w: &[f64], x: &[f64], y: &[usize], c: usize, reg: f64, bug: bool) -> (f64, Vec<f64>) {
    let d = w.len() / c;
    let n = y.len();
    let mut loss = 0.0;
    let mut dw = vec![0.0; w.len()];
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let s: Vec<f64> = (0..c).map(|j| (0..d).map(|k| w[j * d + k] * xi[k]).sum()).collect();
        let mut positive = 0.0;
        for j in 0..c {
            let margin = s[j] - s[y[i]] + 1.0;
            if j != y[i] && margin > 0.0 {
                loss += margin;
                positive += 1.0;
                // d margin / d W_j = x_i
                for k in 0..d {
                    dw[j * d + k] += xi[k];
                }
            }
        }
        // d margin / d W_{y_i} = -x_i, once per positive margin
        for k in 0..d {
            dw[y[i] * d + k] -= positive * xi[k];
        }
    }
    loss /= n as f64;
    let reg_factor = if bug { 1.0 } else { 2.0 };
    for (g, &wk) in dw.iter_mut().zip(w) {
        *g = *g / n as f64 + reg_factor * reg * wk;
    }
    loss += reg * w.iter().map(|v| v * v).sum::<f64>();
    (loss, dw)
}

/// The lecture's `grad_check_sparse`: `num_checks` random entries, central difference with step `h`;
/// returns `(index, numeric, analytic, relative error)` per check.
pub fn grad_check_sparse(
    f: impl Fn(&[f64]) -> f64,
    x: &[f64],
    analytic: &[f64],
    num_checks: usize,
    h: f64,
    rng: &mut impl Rng,
) -> Vec<(usize, f64, f64, f64)> {
    let mut x = x.to_vec();
    (0..num_checks)
        .map(|_| {
            let ix = rng.random_range(0..x.len());
            let old = x[ix];
            x[ix] = old + h;
            let fxph = f(&x);
            x[ix] = old - h;
            let fxmh = f(&x);
            x[ix] = old;
            let numeric = (fxph - fxmh) / (2.0 * h);
            let a = analytic[ix];
            let rel = if numeric == 0.0 && a == 0.0 { 0.0 } else { (numeric - a).abs() / (numeric.abs() + a.abs()) };
            (ix, numeric, a, rel)
        })
        .collect()
}

/// `y = x^3`, with a backward that is right (`3 x^2 g`) or wrong (`3 x g`).
pub struct Cube {
    /// Use the wrong derivative.
    pub bug: bool,
}

impl Op<f64> for Cube {
    fn name(&self) -> &'static str {
        "cube"
    }

    fn forward(&self, x: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
        Ok(kernels::map(x[0], |v| v * v * v))
    }

    fn backward<'t>(
        &self,
        x: &[Var<'t, f64>],
        _y: Var<'t, f64>,
        g: Var<'t, f64>,
        _needs: &[bool],
    ) -> InputGrads<'t, f64> {
        let x = x[0];
        let d = if self.bug { x * 3.0 } else { x.square() * 3.0 };
        [Some(g * d)].into_iter().collect()
    }
}

/// `sum(x^3)` through the correct [`Cube`].
fn sum_cube<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
    v[0].tape().apply(Cube { bug: false }, &[v[0]]).expect("elementwise").sum()
}

/// `sum(x^3)` through the buggy [`Cube`].
fn sum_cube_buggy<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
    v[0].tape().apply(Cube { bug: true }, &[v[0]]).expect("elementwise").sum()
}

/// What the checks found.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Largest relative error of the correct hand-written gradient.
    pub correct_max_rel_error: f64,
    /// Largest relative error of the buggy one.
    pub buggy_max_rel_error: f64,
    /// Largest `|hand-written - tape|` over all entries.
    pub hand_vs_tape: f64,
    /// Whether `gradcheck` accepted the correct cube op.
    pub cube_ok: bool,
    /// `gradcheck`'s error for the buggy cube op.
    pub cube_bug_error: Option<AutodiffError>,
}

/// Runs both checks; see the module docs.
pub fn run(fast: bool) -> Summary {
    let split = digits_split::<f64>();
    let n = if fast { 50 } else { 200 };
    let batch = split.train.batch(&(0..n).collect::<Vec<_>>());
    let (x, y) = (batch.x.as_slice().to_vec(), batch.labels().to_vec());
    let (c, d, reg) = (10, 64, 0.1);
    let mut rng = StdRng::seed_from_u64(0);
    let w: Vec<f64> = Tensor::<f64>::randn(&[c, d], 0.0, 1e-2, &mut rng).as_slice().to_vec();
    let f = |w: &[f64]| svm_loss_and_grad(w, &x, &y, c, reg, false).0;
    let num_checks = if fast { 5 } else { 10 };

    let mut max_rel = [0.0f64; 2];
    for (k, bug) in [false, true].into_iter().enumerate() {
        let (_, grad) = svm_loss_and_grad(&w, &x, &y, c, reg, bug);
        println!("grad_check_sparse, {} gradient:", if bug { "BUGGY (reg W instead of 2 reg W)" } else { "correct" });
        for (_, numeric, analytic, rel) in grad_check_sparse(f, &w, &grad, num_checks, 1e-7, &mut rng) {
            println!("  numerical: {numeric:+.6} analytic: {analytic:+.6}, relative error: {rel:.3e}");
            max_rel[k] = max_rel[k].max(rel);
        }
    }

    // the tape differentiates the same loss, written with library ops
    let (_, hand) = svm_loss_and_grad(&w, &x, &y, c, reg, false);
    let tape = Tape::<f64>::new();
    let wv = tape.var(Tensor::from_vec(w.clone(), &[c, d]));
    let scores = tape.constant(batch.x.clone()).matmul_t(wv, false, true);
    let loss = multiclass_hinge(scores, &y, 1.0, Reduction::Mean) + wv.square().sum() * reg;
    let g = tape.grad(loss, &[wv]).value(0);
    let hand_vs_tape = hand.iter().zip(g.as_slice()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("hand-written vs tape gradient: max |difference| = {hand_vs_tape:.3e}");

    // wengert_autodiff::gradcheck on a user op
    let input = Tensor::from_vec(vec![0.5, -1.2, 1.7, 0.3], &[4]);
    let cfg = GradCheckConfig::default();
    let ok = gradcheck(sum_cube, std::slice::from_ref(&input), &cfg);
    match &ok {
        Ok(report) => println!("gradcheck, correct cube op: {report}"),
        Err(e) => println!("gradcheck, correct cube op FAILED: {e}"),
    }
    let bad = gradcheck(sum_cube_buggy, std::slice::from_ref(&input), &cfg);
    match &bad {
        Ok(report) => println!("gradcheck, buggy cube op passed?! {report}"),
        Err(e) => println!("gradcheck, buggy cube op: {e}"),
    }
    Summary {
        correct_max_rel_error: max_rel[0],
        buggy_max_rel_error: max_rel[1],
        hand_vs_tape,
        cube_ok: ok.is_ok(),
        cube_bug_error: bad.err(),
    }
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    run(args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1"));
}
