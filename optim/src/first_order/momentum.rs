//! Gradient descent with momentum in the velocity form of Goodfellow et al., Algorithm 8.2:
//!
//! ```text
//! v <- rho v - alpha g
//! w <- w + v
//! ```
//!
//! While `alpha` is constant this gives the same iterates as [`Sgd`](super::Sgd) with momentum (the lecture's
//! `v <- rho v + g; w <- w - alpha v`, PyTorch's form), because then `v_here = -alpha v_pytorch`. When `alpha`
//! changes between steps they differ: here the new rate scales only the new gradient, there it rescales the
//! accumulated velocity too.

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`Momentum`]. No PyTorch counterpart; defaults `lr = 1e-2`, `momentum = 0.9` (a common
/// value quoted by Goodfellow et al., Sec. 8.3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentumConfig {
    /// Learning rate `alpha` (Goodfellow's `epsilon`).
    pub lr: f64,
    /// Momentum `rho` (Goodfellow's `alpha`), in `[0, 1)`.
    pub momentum: f64,
}

impl Default for MomentumConfig {
    fn default() -> Self {
        MomentumConfig { lr: 1e-2, momentum: 0.9 }
    }
}

impl MomentumConfig {
    /// Learning rate `lr` and momentum `momentum`.
    pub fn new(lr: f64, momentum: f64) -> Self {
        MomentumConfig { lr, momentum }
    }
}

/// Momentum in velocity form (see the [module docs](self)).
pub type Momentum<T> = FirstOrder<T, MomentumConfig>;

impl<T: Float> Algorithm<T> for MomentumConfig {
    type Coeffs = (T, T);
    const NAME: &'static str = "momentum";

    fn buffers(&self) -> &'static [Buffer] {
        &[Buffer::Velocity]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check_unit("momentum", self.momentum)
    }
    fn coeffs(&self, _: u64, _: &mut [f64]) -> (T, T) {
        (T::from_f64(self.lr), T::from_f64(self.momentum))
    }
    fn update(&self, &(lr, rho): &(T, T), w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        for ((w, &g), v) in w.iter_mut().zip(g).zip(bufs[0].iter_mut()) {
            *v = rho * *v - lr * g;
            *w += *v;
        }
    }
}
