//! NAdam: Adam with Nesterov momentum (Dozat 2016), as PyTorch's `torch.optim.NAdam`, including its momentum
//! schedule `mu_t = beta1 (1 - 0.5 * 0.96^(t psi))` (`psi = momentum_decay`):
//!
//! ```text
//! g  <- grad + weight_decay * w
//! P_t = prod_{i <= t} mu_i                       (per-parameter scalar state `mu_product`)
//! m  <- m + (1 - beta1) (g - m);   v <- beta2 v + (1 - beta2) g * g
//! d   = sqrt(v / (1 - beta2^t)) + eps
//! w  <- w - lr (1 - mu_t) / (1 - P_t) * g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d
//! ```

use wengert_autodiff::Float;

use super::engine::{beta_pow, Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`NAdam`]. Defaults as PyTorch: `lr = 2e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 0`, `momentum_decay = 4e-3`.
#[derive(Clone, Debug, PartialEq)]
pub struct NAdamConfig {
    /// Step size.
    pub lr: f64,
    /// `(beta1, beta2)`.
    pub betas: (f64, f64),
    /// Added to the bias-corrected root mean square.
    pub eps: f64,
    /// L2 penalty.
    pub weight_decay: f64,
    /// `psi` of the momentum schedule.
    pub momentum_decay: f64,
}

impl Default for NAdamConfig {
    fn default() -> Self {
        NAdamConfig { lr: 2e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, momentum_decay: 4e-3 }
    }
}

impl NAdamConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        NAdamConfig { lr, ..Self::default() }
    }
}

/// NAdam (see the [module docs](self)).
pub type NAdam<T> = FirstOrder<T, NAdamConfig>;

impl<T: Float> Algorithm<T> for NAdamConfig {
    /// `[coefficient of g, coefficient of m, 1 - beta1, beta2, 1 - beta2, bias_correction2, eps, weight_decay]`
    type Coeffs = [T; 8];
    const NAME: &'static str = "nadam";
    const SCALARS: &'static [&'static str] = &["mu_product"];

    fn buffers(&self) -> &'static [Buffer] {
        &[Buffer::ExpAvg, Buffer::ExpAvgSq]
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
        check_nonneg("momentum_decay", self.momentum_decay)?;
        check_nonneg("weight_decay", self.weight_decay)
    }
    fn init_scalars(&self) -> Vec<f64> {
        vec![1.0]
    }
    fn coeffs(&self, step: u64, scalars: &mut [f64]) -> [T; 8] {
        let (b1, b2) = self.betas;
        let t = step as f64;
        let mu = b1 * (1.0 - 0.5 * 0.96f64.powf(t * self.momentum_decay));
        let mu_next = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * self.momentum_decay));
        scalars[0] *= mu;
        let p = scalars[0];
        let cg = -self.lr * (1.0 - mu) / (1.0 - p);
        let cm = -self.lr * mu_next / (1.0 - p * mu_next);
        let bc2 = 1.0 - beta_pow(b2, step);
        [cg, cm, 1.0 - b1, b2, 1.0 - b2, bc2, self.eps, self.weight_decay].map(T::from_f64)
    }
    fn update(&self, c: &[T; 8], w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let &[cg, cm, one_minus_b1, b2, one_minus_b2, bc2, eps, wd] = c;
        let decay = self.weight_decay != 0.0;
        let [m, v] = bufs else { unreachable!("two buffers") };
        for i in 0..w.len() {
            let gi = if decay { g[i] + wd * w[i] } else { g[i] };
            m[i] += (gi - m[i]) * one_minus_b1;
            v[i] = b2 * v[i] + one_minus_b2 * gi * gi;
            let d = (v[i] / bc2).sqrt() + eps;
            w[i] += cg * gi / d;
            w[i] += cm * m[i] / d;
        }
    }
}
