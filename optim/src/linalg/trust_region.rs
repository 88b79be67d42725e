//! The trust-region subproblem for a dense symmetric (possibly indefinite) `H`:
//!
//! ```text
//! min_p  g^T p + 1/2 p^T H p   subject to   ||p|| <= delta,
//! ```
//!
//! solved as Moré & Sorensen, "Computing a trust region step" (SIAM J. Sci. Stat. Comput. 4, 1983; Nocedal &
//! Wright, *Numerical Optimization*, 2nd ed., Algorithm 4.3). The solution satisfies
//! `(H + lambda I) p = -g` with `H + lambda I` positive semi-definite, `lambda >= 0` and
//! `lambda (delta - ||p||) = 0`. If `H` is positive definite and its Newton step `-H^-1 g` fits, that step is the
//! answer (`lambda = 0`); otherwise `lambda` is found by safeguarded Newton iterations on
//! `phi(lambda) = 1/||p(lambda)|| - 1/delta`, each one Cholesky factorisation of `H + lambda I`:
//!
//! ```text
//! lambda <- lambda + (||p|| / ||q||)^2 (||p|| - delta) / delta,    L q = p,  L L^T = H + lambda I,
//! ```
//!
//! inside an interval `[lambda_lo, lambda_hi]` that brackets the solution (`lambda_hi = ||g|| / delta + ||H||_1`,
//! `lambda_lo` raised at every failed factorisation or too long step). The iteration stops when `||p||` is within
//! 10% of `delta` (Moré-Sorensen's `sigma_1 = 0.1`, as MINPACK's `lmpar`). In the *hard case* (`g` orthogonal
//! to the eigenvectors of the smallest eigenvalue of `H`) no `lambda` gives `||p|| = delta`; the best step found
//! inside the region is returned (a descent step shorter than the exact solution's, without the added
//! eigenvector component).
//!
//! ```
//! use wengert_optim::linalg::{trust_region, DenseMatrix};
//! // H = diag(1, -1), g = (1, 1): indefinite, the step is on the boundary with lambda > 1
//! let h = DenseMatrix::from_vec(2, 2, vec![1.0_f64, 0.0, 0.0, -1.0]);
//! let (lambda, p) = trust_region::solve(&h, &[1.0, 1.0], 2.0, 0.0).unwrap();
//! assert!(lambda > 1.0);
//! let pn = (p[0] * p[0] + p[1] * p[1]).sqrt();
//! assert!((pn - 2.0).abs() <= 0.2);
//! ```

use wengert_autodiff::Float;

use super::cholesky::Cholesky;
use super::{norm, DenseMatrix};

/// `(lambda, p)` solving the subproblem above to 10% in `||p||` (see the module doc), starting the search from the
/// estimate `lambda0` (the previous solution's, or `0`). `None` if `H`, `g` or `delta` is not finite, or `delta`
/// is not positive.
///
/// # Panics
/// If `H` is not square of the length of `g`.
#[track_caller]
pub fn solve<T: Float>(h: &DenseMatrix<T>, g: &[T], delta: T, lambda0: T) -> Option<(T, Vec<T>)> {
    let n = g.len();
    assert!(h.rows() == n && h.cols() == n, "trust_region::solve: H is {}x{}, g has {n}", h.rows(), h.cols());
    let finite = h.as_slice().iter().chain(g).all(|v| v.is_finite());
    if !(delta > T::ZERO && delta.is_finite() && finite) {
        return None;
    }
    let step = |lambda: T| {
        let mut m = h.clone();
        for i in 0..n {
            m[(i, i)] += lambda;
        }
        let c = Cholesky::factor(&m).ok()?;
        let p: Vec<T> = c.solve(g).iter().map(|&v| -v).collect();
        p.iter().all(|v| v.is_finite()).then_some((c, p))
    };
    let gnorm = norm(g);
    let hnorm = (0..n).map(|i| (0..n).map(|j| h[(i, j)].abs()).sum::<T>()).fold(T::ZERO, T::max);
    let mut lo = (0..n).map(|i| -h[(i, i)]).fold(T::ZERO, T::max);
    let mut hi = gnorm / delta + hnorm;
    if gnorm == T::ZERO {
        // no gradient: the minimiser is 0 unless H has negative curvature (the hard case; 0 is returned)
        return Some((lo, vec![T::ZERO; n]));
    }
    if let Some((_, p)) = step(T::ZERO) {
        if norm(&p) <= delta {
            return Some((T::ZERO, p));
        }
    }
    let (tenth, thousandth) = (T::from_f64(0.1), T::from_f64(1e-3));
    let safeguard = |lo: T, hi: T| (lo * hi).sqrt().max(lo + thousandth * (hi - lo));
    let mut lambda = if lambda0 > lo && lambda0 < hi { lambda0 } else { safeguard(lo, hi) };
    let mut best: Option<(T, Vec<T>)> = None;
    for _ in 0..100 {
        let Some((c, p)) = step(lambda) else {
            // H + lambda I is not positive definite: lambda is below -lambda_min(H)
            lo = lo.max(lambda);
            lambda = safeguard(lo, hi);
            continue;
        };
        let pn = norm(&p);
        if (pn - delta).abs() <= tenth * delta {
            return Some((lambda, p));
        }
        if pn < delta {
            hi = hi.min(lambda);
            if best.as_ref().is_none_or(|(_, b)| norm(b) < pn) {
                best = Some((lambda, p.clone()));
            }
        } else {
            lo = lo.max(lambda);
        }
        // q = L^-1 p by forward substitution
        let l = c.l();
        let mut q = vec![T::ZERO; n];
        for i in 0..n {
            let s: T = (0..i).map(|k| l[(i, k)] * q[k]).sum();
            q[i] = (p[i] - s) / l[(i, i)];
        }
        let qn = norm(&q);
        let next = lambda + (pn / qn) * (pn / qn) * (pn - delta) / delta;
        lambda = if next > lo && next < hi && next.is_finite() { next } else { safeguard(lo, hi) };
        if hi - lo <= T::EPSILON * hi {
            break;
        }
    }
    best
}
