//! Normalised-gradient (sign) descent: the lecture's answer to badly conditioned curvature, "normalise the
//! gradient magnitude and retain only the direction; move a fixed distance along each axis at each step":
//!
//! ```text
//! w_i <- w_i - lr * g_i / |g_i|        (0 where g_i = 0)
//! ```
//!
//! Every coordinate moves by exactly `lr`, so on `L = 0.1 w1^2 + 2 w2^2` both axes progress alike; with a
//! constant rate the iterates end up oscillating within `lr` of the minimum (pair it with a decaying
//! [`schedule`](crate::schedule)). No PyTorch counterpart (it is signSGD, Bernstein et al. 2018).

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, OptimError};

/// Hyperparameters of [`SignDescent`]. Default `lr = 1e-2`.
#[derive(Clone, Debug, PartialEq)]
pub struct SignDescentConfig {
    /// The distance moved along each axis per step.
    pub lr: f64,
}

impl Default for SignDescentConfig {
    fn default() -> Self {
        SignDescentConfig { lr: 1e-2 }
    }
}

impl SignDescentConfig {
    /// Step length `lr` per axis.
    pub fn new(lr: f64) -> Self {
        SignDescentConfig { lr }
    }
}

/// Sign descent (see the [module docs](self)).
pub type SignDescent<T> = FirstOrder<T, SignDescentConfig>;

impl<T: Float> Algorithm<T> for SignDescentConfig {
    type Coeffs = T;
    const NAME: &'static str = "sign_descent";

    fn buffers(&self) -> &'static [Buffer] {
        &[]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)
    }
    fn coeffs(&self, _: u64, _: &mut [f64]) -> T {
        T::from_f64(self.lr)
    }
    fn update(&self, &lr: &T, w: &mut [T], g: &[T], _: &mut [&mut [T]]) {
        for (w, &g) in w.iter_mut().zip(g) {
            *w -= lr * g.signum0();
        }
    }
}
