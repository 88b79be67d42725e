//! Adadelta (Zeiler 2012), as PyTorch's `torch.optim.Adadelta`:
//!
//! ```text
//! g  <- grad + weight_decay * w
//! r  <- rho r + (1 - rho) g * g
//! d   = sqrt(u + eps) / sqrt(r + eps) * g
//! u  <- rho u + (1 - rho) d * d
//! w  <- w - lr d
//! ```

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::{check, check_nonneg, OptimError};

/// Hyperparameters of [`Adadelta`]. Defaults as PyTorch: `lr = 1.0`, `rho = 0.9`, `eps = 1e-6`,
/// `weight_decay = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdadeltaConfig {
    /// Scale of the step (1 in Zeiler's paper).
    pub lr: f64,
    /// Decay of both running averages.
    pub rho: f64,
    /// Added inside both square roots.
    pub eps: f64,
    /// L2 penalty.
    pub weight_decay: f64,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0 }
    }
}

impl AdadeltaConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdadeltaConfig { lr, ..Self::default() }
    }
}

/// Adadelta (see the [module docs](self)).
pub type Adadelta<T> = FirstOrder<T, AdadeltaConfig>;

impl<T: Float> Algorithm<T> for AdadeltaConfig {
    type Coeffs = [T; 4];
    const NAME: &'static str = "adadelta";

    fn buffers(&self) -> &'static [Buffer] {
        &[Buffer::SquareAvg, Buffer::AccDelta]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check((0.0..=1.0).contains(&self.rho), || format!("rho = {} must be in [0, 1]", self.rho))?;
        check_nonneg("eps", self.eps)?;
        check_nonneg("weight_decay", self.weight_decay)
    }
    fn coeffs(&self, _: u64, _: &mut [f64]) -> [T; 4] {
        [self.lr, self.rho, self.eps, self.weight_decay].map(T::from_f64)
    }
    fn update(&self, &[lr, rho, eps, wd]: &[T; 4], w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let decay = self.weight_decay != 0.0;
        let [r, u] = bufs else { unreachable!("two buffers") };
        for i in 0..w.len() {
            let gi = if decay { g[i] + wd * w[i] } else { g[i] };
            r[i] = rho * r[i] + (T::ONE - rho) * gi * gi;
            let d = (u[i] + eps).sqrt() / (r[i] + eps).sqrt() * gi;
            u[i] = rho * u[i] + (T::ONE - rho) * d * d;
            w[i] -= lr * d;
        }
    }
}
