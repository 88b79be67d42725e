//! The dense trust-region subproblem solver (`linalg::trust_region`, Moré-Sorensen) against a brute-force
//! minimum over the ball in two dimensions, and its optimality conditions in more.

use wengert_optim::linalg::cholesky::Cholesky;
use wengert_optim::linalg::{norm, trust_region, DenseMatrix};

fn model(h: &DenseMatrix<f64>, g: &[f64], p: &[f64]) -> f64 {
    let hp = h.matvec(p);
    g.iter().zip(p).map(|(a, b)| a * b).sum::<f64>() + 0.5 * p.iter().zip(&hp).map(|(a, b)| a * b).sum::<f64>()
}

/// A deterministic symmetric matrix with entries in [-1, 1] plus `shift I`.
fn sym(n: usize, seed: usize, shift: f64) -> DenseMatrix<f64> {
    let mut a = DenseMatrix::from_fn(n, n, |i, j| (((i + j) * 7 + seed * 13 + i * j * 5) % 19) as f64 / 9.5 - 1.0);
    a.symmetrize();
    for i in 0..n {
        a[(i, i)] += shift;
    }
    a
}

/// The minimum of the model over the disc of radius `r` in 2-D: the boundary on a fine grid, and the interior
/// stationary point when `H` is positive definite and it lies inside.
fn brute_force_2d(h: &DenseMatrix<f64>, g: &[f64], r: f64) -> f64 {
    let mut best = f64::INFINITY;
    for k in 0..200_000 {
        let t = k as f64 * std::f64::consts::TAU / 200_000.0;
        best = best.min(model(h, g, &[r * t.cos(), r * t.sin()]));
    }
    if let Ok(c) = Cholesky::factor(h) {
        let p: Vec<f64> = c.solve(g).iter().map(|v| -v).collect();
        if norm(&p) <= r {
            best = best.min(model(h, g, &p));
        }
    }
    best
}

#[test]
fn two_dimensional_steps_are_the_minimum_over_their_ball() {
    let mut boundary = 0;
    for seed in 0..12 {
        for shift in [-1.5, -0.3, 0.0, 0.8, 2.5] {
            for delta in [0.05, 0.5, 3.0] {
                let h = sym(2, seed, shift);
                let g = [((seed * 3) % 5) as f64 / 2.0 - 1.0, ((seed * 7) % 5) as f64 / 3.0 - 0.6];
                let (lambda, p) = trust_region::solve(&h, &g, delta, 0.0).unwrap();
                let pn = norm(&p);
                assert!(lambda >= 0.0 && pn <= 1.1 * delta, "seed {seed} shift {shift} delta {delta}: {pn}");
                if lambda > 0.0 {
                    boundary += 1;
                    assert!((pn - delta).abs() <= 0.1 * delta, "seed {seed} shift {shift}: |p| = {pn}, delta {delta}");
                }
                // p solves the subproblem of radius ||p|| (Moré-Sorensen): no point of that ball does better
                let m = model(&h, &g, &p);
                let bf = brute_force_2d(&h, &g, pn);
                assert!(m <= bf + 1e-9 * (1.0 + bf.abs()), "seed {seed} shift {shift} delta {delta}: {m} > {bf}");
            }
        }
    }
    assert!(boundary > 50, "most cases have the step on the boundary: {boundary}");
}

#[test]
fn steps_satisfy_the_optimality_conditions() {
    for n in [3, 5, 8] {
        for shift in [-2.0, 0.0, 3.0] {
            let h = sym(n, n, shift);
            let g: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            for delta in [0.1, 1.0, 10.0] {
                let (lambda, p) = trust_region::solve(&h, &g, delta, 0.0).unwrap();
                // (H + lambda I) p = -g
                let hp = h.matvec(&p);
                let res: Vec<f64> = (0..n).map(|i| hp[i] + lambda * p[i] + g[i]).collect();
                assert!(norm(&res) <= 1e-10 * (1.0 + norm(&g)), "n {n} shift {shift} delta {delta}: {res:?}");
                // H + lambda I positive semi-definite
                let mut m = h.clone();
                for i in 0..n {
                    m[(i, i)] += lambda + 1e-10;
                }
                assert!(Cholesky::factor(&m).is_ok(), "n {n} shift {shift}: H + {lambda} I is indefinite");
                // lambda (delta - ||p||) = 0 to 10%
                let pn = norm(&p);
                if lambda > 0.0 {
                    assert!((pn - delta).abs() <= 0.1 * delta, "n {n} shift {shift}: |p| = {pn}, delta = {delta}");
                } else {
                    assert!(pn <= delta);
                }
            }
        }
    }
}

#[test]
fn non_finite_input_gives_none() {
    let h = DenseMatrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, f64::NAN]);
    assert!(trust_region::solve(&h, &[1.0, 1.0], 1.0, 0.0).is_none());
    let h = DenseMatrix::identity(2);
    assert!(trust_region::solve(&h, &[1.0, 1.0], 0.0, 0.0).is_none());
}
