//! AdaMax, the infinity-norm variant of Adam (Kingma & Ba 2015, Sec. 7.1), as PyTorch's `torch.optim.Adamax`:
//!
//! ```text
//! g <- grad + weight_decay * w
//! m <- m + (1 - beta1) (g - m)
//! u <- max(beta2 u, |g| + eps)
//! w <- w - lr / (1 - beta1^t) * m / u
//! ```

use wengert_autodiff::Float;

use super::engine::{beta_pow, Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`Adamax`]. Defaults as PyTorch: `lr = 2e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamaxConfig {
    /// Step size.
    pub lr: f64,
    /// `(beta1, beta2)`: decay of the first moment and of the infinity norm.
    pub betas: (f64, f64),
    /// Added to `|g|` inside the max.
    pub eps: f64,
    /// L2 penalty.
    pub weight_decay: f64,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        AdamaxConfig { lr: 2e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0 }
    }
}

impl AdamaxConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdamaxConfig { lr, ..Self::default() }
    }
}

/// AdaMax (see the [module docs](self)).
pub type Adamax<T> = FirstOrder<T, AdamaxConfig>;

impl<T: Float> Algorithm<T> for AdamaxConfig {
    type Coeffs = [T; 5];
    const NAME: &'static str = "adamax";

    fn buffers(&self) -> &'static [Buffer] {
        &[Buffer::ExpAvg, Buffer::ExpInf]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check_nonneg("eps", self.eps)?;
        check_unit("beta1", self.betas.0)?;
        check_unit("beta2", self.betas.1)?;
        check_nonneg("weight_decay", self.weight_decay)
    }
    fn coeffs(&self, step: u64, _: &mut [f64]) -> [T; 5] {
        let clr = self.lr / (1.0 - beta_pow(self.betas.0, step));
        [clr, 1.0 - self.betas.0, self.betas.1, self.eps, self.weight_decay].map(T::from_f64)
    }
    fn update(&self, &[clr, one_minus_b1, b2, eps, wd]: &[T; 5], w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let decay = self.weight_decay != 0.0;
        let [m, u] = bufs else { unreachable!("two buffers") };
        for i in 0..w.len() {
            let gi = if decay { g[i] + wd * w[i] } else { g[i] };
            m[i] += (gi - m[i]) * one_minus_b1;
            u[i] = (b2 * u[i]).max(gi.abs() + eps);
            w[i] -= clr * m[i] / u[i];
        }
    }
}
