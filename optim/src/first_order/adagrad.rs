//! AdaGrad (Duchi et al. 2011; Goodfellow et al., Algorithm 8.4), as PyTorch's `torch.optim.Adagrad`:
//!
//! ```text
//! g   <- grad + weight_decay * w
//! clr  = lr / (1 + (t - 1) * lr_decay)
//! r   <- r + g * g
//! w   <- w - clr * g / (sqrt(r) + eps)          (eps outside the square root, as PyTorch and Alg. 8.4)
//! ```

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, OptimError};

/// Hyperparameters of [`Adagrad`]. Defaults as PyTorch: `lr = 1e-2`, `lr_decay = 0`, `weight_decay = 0`,
/// `initial_accumulator_value = 0`, `eps = 1e-10`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Global learning rate.
    pub lr: f64,
    /// Learning-rate decay `clr = lr / (1 + (t - 1) lr_decay)`.
    pub lr_decay: f64,
    /// L2 penalty.
    pub weight_decay: f64,
    /// Initial value of the squared-gradient sum `r`.
    pub initial_accumulator_value: f64,
    /// Added to `sqrt(r)` (Goodfellow's `delta`).
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig { lr: 1e-2, lr_decay: 0.0, weight_decay: 0.0, initial_accumulator_value: 0.0, eps: 1e-10 }
    }
}

impl AdagradConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdagradConfig { lr, ..Self::default() }
    }
}

/// AdaGrad (see the [module docs](self)).
pub type Adagrad<T> = FirstOrder<T, AdagradConfig>;

impl<T: Float> Algorithm<T> for AdagradConfig {
    type Coeffs = (T, T, T);
    const NAME: &'static str = "adagrad";

    fn buffers(&self) -> &'static [Buffer] {
        &[Buffer::Sum]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check_nonneg("lr_decay", self.lr_decay)?;
        check_nonneg("weight_decay", self.weight_decay)?;
        check_nonneg("initial_accumulator_value", self.initial_accumulator_value)?;
        check_nonneg("eps", self.eps)
    }
    fn init_buffer(&self, _: usize) -> T {
        T::from_f64(self.initial_accumulator_value)
    }
    fn coeffs(&self, step: u64, _: &mut [f64]) -> (T, T, T) {
        let clr = self.lr / (1.0 + (step - 1) as f64 * self.lr_decay);
        (T::from_f64(clr), T::from_f64(self.weight_decay), T::from_f64(self.eps))
    }
    fn update(&self, &(clr, wd, eps): &(T, T, T), w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let decay = self.weight_decay != 0.0;
        for ((w, &g), r) in w.iter_mut().zip(g).zip(bufs[0].iter_mut()) {
            let g = if decay { g + wd * *w } else { g };
            *r += g * g;
            *w -= clr * g / (r.sqrt() + eps);
        }
    }
}
