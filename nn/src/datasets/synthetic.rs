//! Seeded synthetic datasets for examples and tests: spirals, Gaussian blobs, linear and
//! sine regression, Bernoulli draws (the one-armed bandit of the lectures).
//!
//! Every generator takes a `seed` and draws from `StdRng::seed_from_u64(seed)`: the same seed
//! gives the same data (for the `rand` version pinned in `Cargo.lock`).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_autodiff::{Float, Tensor};

use crate::data::{Targets, TensorDataset};

/// One standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn tensor<T: Float>(v: Vec<f64>, shape: &[usize]) -> Tensor<T> {
    Tensor::from_vec(v.into_iter().map(T::from_f64).collect(), shape)
}

/// `classes` interleaved spiral arms of `points_per_class` points each in 2-D, as in the
/// cs231n "spiral data": for class `j` and `i = 0..N`, `r = i / (N - 1)`,
/// `t = 4 j + 4 r + noise * z` (`z ~ N(0, 1)`), point `r (sin t, cos t)`. Rows are grouped by
/// class; labels `0..classes`. cs231n uses `noise = 0.2`.
///
/// # Panics
/// If `points_per_class < 2` or `classes == 0`.
#[track_caller]
pub fn spirals<T: Float>(points_per_class: usize, classes: usize, noise: f64, seed: u64) -> TensorDataset<T> {
    assert!(points_per_class >= 2 && classes > 0, "spirals: need at least 2 points per class and 1 class");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(2 * points_per_class * classes);
    let mut y = Vec::with_capacity(points_per_class * classes);
    for j in 0..classes {
        for i in 0..points_per_class {
            let r = i as f64 / (points_per_class - 1) as f64;
            let t = 4.0 * j as f64 + 4.0 * r + noise * normal(&mut rng);
            x.extend([r * t.sin(), r * t.cos()]);
            y.push(j);
        }
    }
    TensorDataset::new(tensor(x, &[points_per_class * classes, 2]), Targets::Labels(y))
}

/// Isotropic Gaussian blobs: `centers.len()` classes of `points_per_class` points each,
/// `x = centers[j] + std * z`, `z ~ N(0, I)` (scikit-learn's `make_blobs` with given centers).
/// Rows are grouped by class.
///
/// # Panics
/// If `centers` is empty or the centers differ in dimension.
#[track_caller]
pub fn blobs<T: Float>(points_per_class: usize, centers: &[Vec<f64>], std: f64, seed: u64) -> TensorDataset<T> {
    assert!(!centers.is_empty(), "blobs: no centers");
    let d = centers[0].len();
    assert!(centers.iter().all(|c| c.len() == d), "blobs: centers differ in dimension");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(points_per_class * centers.len() * d);
    let mut y = Vec::with_capacity(points_per_class * centers.len());
    for (j, c) in centers.iter().enumerate() {
        for _ in 0..points_per_class {
            x.extend(c.iter().map(|m| m + std * normal(&mut rng)));
            y.push(j);
        }
    }
    TensorDataset::new(tensor(x, &[y.len(), d]), Targets::Labels(y))
}

/// Linear regression data `y = X w + b + noise * e` with `X ~ N(0, I)` of shape `[n, d]`
/// (`d = w.len()`), `e ~ N(0, 1)`; targets `[n, 1]`.
pub fn linear_regression<T: Float>(n: usize, w: &[f64], b: f64, noise: f64, seed: u64) -> TensorDataset<T> {
    let d = w.len();
    let mut rng = StdRng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| normal(&mut rng)).collect();
    let y: Vec<f64> =
        (0..n).map(|i| (0..d).map(|j| x[i * d + j] * w[j]).sum::<f64>() + b + noise * normal(&mut rng)).collect();
    TensorDataset::new(tensor(x, &[n, d]), Targets::Values(tensor(y, &[n, 1])))
}

/// Nonlinear regression data `y = sin(x) + noise * e` with `x ~ U[-pi, pi]`, `e ~ N(0, 1)`;
/// features and targets `[n, 1]`.
pub fn sine_regression<T: Float>(n: usize, noise: f64, seed: u64) -> TensorDataset<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    let pi = std::f64::consts::PI;
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-pi..pi)).collect();
    let y: Vec<f64> = x.iter().map(|v| v.sin() + noise * normal(&mut rng)).collect();
    TensorDataset::new(tensor(x, &[n, 1]), Targets::Values(tensor(y, &[n, 1])))
}

/// `n` independent Bernoulli(`p`) draws (`1` with probability `p`, else `0`), shape `[n]`.
///
/// # Panics
/// If `p` is not in `[0, 1]`.
#[track_caller]
pub fn bernoulli<T: Float>(n: usize, p: f64, seed: u64) -> Tensor<T> {
    assert!((0.0..=1.0).contains(&p), "bernoulli: p = {p} is not a probability");
    let mut rng = StdRng::seed_from_u64(seed);
    tensor((0..n).map(|_| if rng.random::<f64>() < p { 1.0 } else { 0.0 }).collect(), &[n])
}

/// The one-armed bandit training set of the lectures: 10 draws `1, 0, 0, 0, 0, 0, 0, 1, 1, 0`
/// (shape `[10]`). The maximum-likelihood estimate is `lambda = 0.3`; the lectures' training loss
/// `L(lambda) = -0.3 log(lambda) - 0.7 log(1 - lambda)` gives `L(0.3) = 0.27` with `log10`
/// (`0.61` with the natural log).
pub fn bandit_draws<T: Float>() -> Tensor<T> {
    tensor(vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0], &[10])
}
