use rand::Rng;

use super::{numel, Shape, Tensor};
use crate::Float;

impl<T: Float> Tensor<T> {
    /// A rank-0 tensor holding `x`.
    pub fn scalar(x: T) -> Self {
        Tensor::from_parts(vec![x], Shape::new())
    }

    /// A tensor of the given shape filled with `x`.
    pub fn full(shape: &[usize], x: T) -> Self {
        Tensor::from_parts(super::pool::full(numel(shape), x), Shape::from_slice(shape))
    }

    /// Zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::ZERO)
    }

    /// Ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::ONE)
    }

    /// A tensor of zeros with the shape of `self`.
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.shape())
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut d = vec![T::ZERO; n * n];
        for i in 0..n {
            d[i * n + i] = T::ONE;
        }
        Tensor::from_parts(d, Shape::from_slice(&[n, n]))
    }

    /// `start, start + step, ...` up to but excluding `end` (as `numpy.arange`).
    ///
    /// # Panics
    /// If `step` is zero.
    #[track_caller]
    pub fn arange(start: T, end: T, step: T) -> Self {
        assert!(step != T::ZERO, "arange: step must be non-zero");
        let n = ((end - start) / step).to_f64().ceil().max(0.0) as usize;
        let d: Vec<T> = (0..n).map(|i| start + T::from_usize(i) * step).collect();
        Tensor::from_parts(d, Shape::from_slice(&[n]))
    }

    /// `n` evenly spaced points from `start` to `end`, both included (as `numpy.linspace`).
    pub fn linspace(start: T, end: T, n: usize) -> Self {
        let d: Vec<T> = match n {
            0 => vec![],
            1 => vec![start],
            _ => {
                let step = (end - start) / T::from_usize(n - 1);
                (0..n).map(|i| if i == n - 1 { end } else { start + T::from_usize(i) * step }).collect()
            }
        };
        Tensor::from_parts(d, Shape::from_slice(&[n]))
    }

    /// Independent draws from `U[low, high)`, from the caller's (seeded) generator.
    pub fn rand_uniform<R: Rng + ?Sized>(shape: &[usize], low: T, high: T, rng: &mut R) -> Self {
        let (lo, hi) = (low.to_f64(), high.to_f64());
        let d = (0..numel(shape)).map(|_| T::from_f64(lo + (hi - lo) * rng.random::<f64>())).collect();
        Tensor::from_parts(d, Shape::from_slice(shape))
    }

    /// Independent draws from `N(mean, std^2)` (Box-Muller), from the caller's (seeded) generator.
    pub fn randn<R: Rng + ?Sized>(shape: &[usize], mean: T, std: T, rng: &mut R) -> Self {
        let n = numel(shape);
        let mut d = Vec::with_capacity(n);
        while d.len() < n {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
            let u2: f64 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let th = std::f64::consts::TAU * u2;
            d.push(T::from_f64(mean.to_f64() + std.to_f64() * r * th.cos()));
            if d.len() < n {
                d.push(T::from_f64(mean.to_f64() + std.to_f64() * r * th.sin()));
            }
        }
        Tensor::from_parts(d, Shape::from_slice(shape))
    }
}

impl<T: Float> From<T> for Tensor<T> {
    fn from(x: T) -> Self {
        Tensor::scalar(x)
    }
}

impl<T: Float> From<Vec<T>> for Tensor<T> {
    /// A rank-1 tensor.
    fn from(v: Vec<T>) -> Self {
        let n = v.len();
        Tensor::from_parts(v, Shape::from_slice(&[n]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn constructors() {
        assert_eq!(Tensor::<f64>::arange(0.0, 1.0, 0.25).to_vec(), vec![0.0, 0.25, 0.5, 0.75]);
        assert_eq!(Tensor::<f64>::linspace(0.0, 1.0, 5).to_vec(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(Tensor::<f32>::eye(2).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
        let a = Tensor::<f64>::randn(&[1000], 1.0, 2.0, &mut StdRng::seed_from_u64(0));
        let b = Tensor::<f64>::randn(&[1000], 1.0, 2.0, &mut StdRng::seed_from_u64(0));
        assert_eq!(a, b);
        let mean = a.as_slice().iter().sum::<f64>() / 1000.0;
        let var = a.as_slice().iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 1000.0;
        assert!((mean - 1.0).abs() < 0.2 && (var.sqrt() - 2.0).abs() < 0.2, "{mean} {var}");
        let u = Tensor::<f32>::rand_uniform(&[100], -1.0, 1.0, &mut StdRng::seed_from_u64(1));
        assert!(u.as_slice().iter().all(|&x| (-1.0..1.0).contains(&x)));
    }
}
