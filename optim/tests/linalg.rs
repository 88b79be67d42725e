//! Linear solvers: each against a system with a known solution.

use wengert_optim::linalg::cg::{self, CgConfig};
use wengert_optim::linalg::cholesky::Cholesky;
use wengert_optim::linalg::jacobi::{self, StationaryConfig};
use wengert_optim::linalg::lu::Lu;
use wengert_optim::linalg::qr::Qr;
use wengert_optim::linalg::{gauss_seidel, norm, DenseMatrix, FnOp, LinOp, LinalgError};

/// A deterministic SPD matrix `B^T B + shift I` with a spread of eigenvalues.
fn spd(n: usize, shift: f64) -> DenseMatrix<f64> {
    let b =
        DenseMatrix::from_fn(n, n, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.4 + if i == j { 0.5 } else { 0.0 });
    let mut a = b.gram();
    for i in 0..n {
        a[(i, i)] += shift;
    }
    a
}

/// `b = A x*` for a known `x*`.
fn rhs(a: &DenseMatrix<f64>) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = (0..a.cols()).map(|i| (i as f64 * 0.37).sin() + 0.5).collect();
    (a.matvec(&x), x)
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| f64::max(m, (x - y).abs()))
}

#[test]
fn cg_solves_an_n_by_n_spd_system_in_at_most_n_iterations() {
    for n in [5, 20, 40] {
        let a = spd(n, 0.5);
        let (b, xs) = rhs(&a);
        let mut x = vec![0.0; n];
        let rep = cg::solve(&a, &b, &mut x, &CgConfig { rtol: 1e-10, ..Default::default() }).unwrap();
        assert!(rep.converged && rep.iterations <= n, "n = {n}: {rep:?}");
        assert!(max_err(&x, &xs) < 1e-7, "n = {n}");
    }
}

#[test]
fn jacobi_preconditioning_helps_a_badly_scaled_system() {
    let n = 30;
    let base = spd(n, 1.0);
    // D A D with D spanning four orders of magnitude
    let d: Vec<f64> = (0..n).map(|i| 10f64.powf(2.0 * i as f64 / (n - 1) as f64)).collect();
    let a = DenseMatrix::from_fn(n, n, |i, j| d[i] * base[(i, j)] * d[j]);
    let (b, xs) = rhs(&a);
    let cfg = CgConfig { rtol: 1e-10, max_iter: Some(10 * n), ..Default::default() };
    let mut x = vec![0.0; n];
    let plain = cg::solve(&a, &b, &mut x, &cfg).unwrap();
    let mut xp = vec![0.0; n];
    let pre = cg::solve_preconditioned(&a, &b, &mut xp, &a.diagonal(), &cfg).unwrap();
    assert!(pre.converged && max_err(&xp, &xs) < 1e-6 * norm(&xs));
    assert!(pre.iterations < plain.iterations, "pcg {} vs cg {}", pre.iterations, plain.iterations);
}

#[test]
fn cg_reports_negative_curvature() {
    let a = DenseMatrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, -1.0]);
    let mut x = vec![0.0; 2];
    let e = cg::solve(&a, &[1.0, 1.0], &mut x, &CgConfig::default()).unwrap_err();
    assert!(matches!(e, LinalgError::NotPositiveDefinite { .. }));
}

#[test]
fn cg_works_matrix_free() {
    // tridiagonal (-1, 2.5, -1) applied without a matrix
    let n = 50;
    let op = FnOp::new(n, |x: &[f64], y: &mut [f64]| {
        for i in 0..x.len() {
            y[i] = 2.5 * x[i] - if i > 0 { x[i - 1] } else { 0.0 } - if i + 1 < x.len() { x[i + 1] } else { 0.0 };
        }
    });
    let b = vec![1.0; n];
    let mut x = vec![0.0; n];
    let rep = cg::solve(&op, &b, &mut x, &CgConfig::default()).unwrap();
    assert!(rep.converged);
    let mut ax = vec![0.0; n];
    op.apply(&x, &mut ax);
    assert!(max_err(&ax, &b) < 1e-8);
}

#[test]
fn jacobi_and_gauss_seidel_converge_on_diagonally_dominant_systems() {
    let n = 12;
    let a = DenseMatrix::from_fn(n, n, |i, j| if i == j { 10.0 } else { 1.0 / (1.0 + (i + j) as f64) });
    let (b, xs) = rhs(&a);
    let cfg = StationaryConfig::default();
    let mut xj = vec![0.0; n];
    let rj = jacobi::solve(&a, &b, &mut xj, &cfg).unwrap();
    let mut xg = vec![0.0; n];
    let rg = gauss_seidel::solve(&a, &b, &mut xg, &cfg).unwrap();
    assert!(rj.converged && rg.converged);
    assert!(max_err(&xj, &xs) < 1e-8 && max_err(&xg, &xs) < 1e-8);
    assert!(rg.iterations < rj.iterations, "GS {} vs Jacobi {}", rg.iterations, rj.iterations);
    let zero = DenseMatrix::from_vec(2, 2, vec![0.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        jacobi::solve(&zero, &[1.0, 1.0], &mut [0.0; 2], &cfg).unwrap_err(),
        LinalgError::ZeroDiagonal { row: 0 }
    );
}

#[test]
fn lu_solves_a_general_system_and_needs_pivoting() {
    // a zero in the (0, 0) position: LU without pivoting would divide by zero
    let a = DenseMatrix::from_vec(3, 3, vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0]);
    let (b, xs) = rhs(&a);
    let lu = Lu::factor(&a).unwrap();
    assert!(max_err(&lu.solve(&b), &xs) < 1e-14);
    // det = 0*(1*1-0*0) - 2*(1*1-0*3) + 1*(1*0-1*3) = -5
    assert!((lu.determinant() + 5.0).abs() < 1e-14);
    let singular = DenseMatrix::from_vec(2, 2, vec![1.0, 2.0, 2.0, 4.0]);
    assert!(matches!(Lu::factor(&singular), Err(LinalgError::Singular { .. })));
}

#[test]
fn cholesky_solves_spd_and_rejects_indefinite() {
    let a = spd(10, 0.1);
    let (b, xs) = rhs(&a);
    let c = Cholesky::factor(&a).unwrap();
    assert!(max_err(&c.solve(&b), &xs) < 1e-10);
    // L L^T reproduces A
    let l = c.l();
    assert!(max_err(l.matmul(&l.transpose()).as_slice(), a.as_slice()) < 1e-12);
    let indef = DenseMatrix::from_vec(2, 2, vec![1.0, 2.0, 2.0, 1.0]);
    assert_eq!(Cholesky::factor(&indef).unwrap_err(), LinalgError::NotPositiveDefinite { index: 1 });
}

#[test]
fn qr_least_squares_matches_the_normal_equations() {
    let (m, n) = (15, 4);
    let a = DenseMatrix::from_fn(m, n, |i, j| ((i as f64 + 1.0) * 0.3).powi(j as i32) + 0.01 * ((i * j) % 3) as f64);
    let b: Vec<f64> = (0..m).map(|i| (i as f64 * 0.5).cos()).collect();
    let x = Qr::factor(&a).unwrap().solve_least_squares(&b).unwrap();
    let normal = Cholesky::factor(&a.gram()).unwrap().solve(&a.matvec_t(&b));
    assert!(max_err(&x, &normal) < 1e-8, "{x:?} vs {normal:?}");
    // the residual is orthogonal to the columns of A
    let r: Vec<f64> = a.matvec(&x).iter().zip(&b).map(|(p, q)| p - q).collect();
    assert!(norm(&a.matvec_t(&r)) < 1e-10);
    // R is upper triangular with R^T R = A^T A
    let rr = Qr::factor(&a).unwrap().r();
    assert!(max_err(rr.transpose().matmul(&rr).as_slice(), a.gram().as_slice()) < 1e-10);
    let rank_deficient = DenseMatrix::from_fn(5, 2, |i, _| i as f64);
    assert!(Qr::factor(&rank_deficient).unwrap().solve_least_squares(&[1.0; 5]).is_err());
}

/// "GD or SGD is not a way to solve a linear system": on `A x = b` with condition number 1e3, gradient
/// descent on `1/2 x^T A x - b^T x` with the best fixed step `2 / (l_min + l_max)` is still far from the solution
/// after 20 n iterations, where CG has converged (relative residual 1e-10) within 2 n (n in exact arithmetic;
/// rounding costs a few more at this condition number).
#[test]
fn gradient_descent_is_not_a_linear_solver() {
    let n = 20;
    let eig: Vec<f64> = (0..n).map(|i| 10f64.powf(3.0 * i as f64 / (n - 1) as f64)).collect();
    let a = DenseMatrix::from_fn(n, n, |i, j| if i == j { eig[i] } else { 0.0 });
    let (b, xs) = rhs(&a);
    let mut x = vec![0.0; n];
    let cfg = CgConfig { rtol: 1e-10, max_iter: Some(2 * n), ..Default::default() };
    let rep = cg::solve(&a, &b, &mut x, &cfg).unwrap();
    assert!(rep.converged && max_err(&x, &xs) < 1e-4, "{rep:?} {}", max_err(&x, &xs));
    let step = 2.0 / (eig[0] + eig[n - 1]);
    let mut xg = vec![0.0; n];
    for _ in 0..20 * n {
        let g: Vec<f64> = a.matvec(&xg).iter().zip(&b).map(|(p, q)| p - q).collect();
        xg.iter_mut().zip(&g).for_each(|(xi, gi)| *xi -= step * gi);
    }
    let err = max_err(&xg, &xs);
    assert!(err > 0.1, "GD error {err}");
    // A is diagonal and x_0 = 0: the slowest component's error is exactly |xs_0| (1 - step l_min)^(20 n),
    // 0.5 * 0.449 = 0.225: linear convergence at the rate theory gives, not a slow solver that happens to lag
    let predicted = xs[0].abs() * (1.0 - step * eig[0]).powi(20 * n as i32);
    assert!(((xg[0] - xs[0]).abs() - predicted).abs() < 1e-12, "{} vs {predicted}", (xg[0] - xs[0]).abs());
}
