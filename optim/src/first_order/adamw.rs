//! AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), exactly as PyTorch's
//! `torch.optim.AdamW`:
//!
//! ```text
//! w <- w (1 - lr * weight_decay)
//! then the Adam update of [`Adam`](super::Adam) without L2 term
//! ```

use wengert_autodiff::Float;

use super::adam::{adam_kernel, AdamCoeffs, AdamConfig, ADAM_BUFFERS, AMSGRAD_BUFFERS};
use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::OptimError;

/// Hyperparameters of [`AdamW`]. Defaults as PyTorch: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 1e-2`, `amsgrad = false`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Step size.
    pub lr: f64,
    /// Decay rates `(beta1, beta2)`.
    pub betas: (f64, f64),
    /// Added to the bias-corrected root mean square.
    pub eps: f64,
    /// Decoupled decay: `w <- w (1 - lr weight_decay)` each step.
    pub weight_decay: f64,
    /// AMSGrad.
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 1e-2, amsgrad: false }
    }
}

impl AdamWConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdamWConfig { lr, ..Self::default() }
    }

    fn as_adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            amsgrad: self.amsgrad,
        }
    }
}

/// AdamW (see the [module docs](self)).
pub type AdamW<T> = FirstOrder<T, AdamWConfig>;

impl<T: Float> Algorithm<T> for AdamWConfig {
    type Coeffs = AdamCoeffs<T>;
    const NAME: &'static str = "adamw";

    fn buffers(&self) -> &'static [Buffer] {
        if self.amsgrad {
            AMSGRAD_BUFFERS
        } else {
            ADAM_BUFFERS
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        self.as_adam().validate_common()
    }
    fn coeffs(&self, step: u64, _: &mut [f64]) -> AdamCoeffs<T> {
        self.as_adam().adam_coeffs(step, 0.0, 1.0 - self.lr * self.weight_decay)
    }
    fn update(&self, c: &AdamCoeffs<T>, w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        adam_kernel(c, w, g, bufs)
    }
}
