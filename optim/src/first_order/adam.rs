//! Adam with bias correction (Kingma & Ba 2015; Goodfellow et al., Algorithm 8.7) and the AMSGrad option
//! (Reddi et al. 2018), exactly as PyTorch's `torch.optim.Adam`:
//!
//! ```text
//! g  <- grad + weight_decay * w                  (L2 penalty, coupled)
//! m  <- m + (1 - beta1) (g - m)                  (= beta1 m + (1 - beta1) g)
//! v  <- beta2 v + (1 - beta2) g * g
//! vmax <- max(vmax, v); use vmax for v           (amsgrad)
//! w  <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```
//!
//! (computed as `sqrt(v) * (1 / sqrt(1 - beta2^t))`, equal to PyTorch's iterates up to rounding)
//!
//! `eps` is added *outside* the square root, after bias correction, as in PyTorch and the original paper;
//! Algorithm 8.7 writes `sqrt(r_hat + delta)` instead.

use wengert_autodiff::Float;

use super::engine::{beta_pow, Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`Adam`]. Defaults as PyTorch (and Algorithm 8.7): `lr = 1e-3`, `betas = (0.9, 0.999)`,
/// `eps = 1e-8`, `weight_decay = 0`, `amsgrad = false`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    /// Step size.
    pub lr: f64,
    /// Decay rates `(beta1, beta2)` of the first and second moment estimates, each in `[0, 1)`.
    pub betas: (f64, f64),
    /// Added to the bias-corrected root mean square.
    pub eps: f64,
    /// L2 penalty added to the gradient (use [`AdamW`](super::AdamW) for decoupled decay).
    pub weight_decay: f64,
    /// Normalise by the running maximum of `v` (AMSGrad).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, amsgrad: false }
    }
}

impl AdamConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdamConfig { lr, ..Self::default() }
    }

    /// Switches AMSGrad on or off.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    pub(crate) fn validate_common(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check_nonneg("eps", self.eps)?;
        check_unit("beta1", self.betas.0)?;
        check_unit("beta2", self.betas.1)?;
        check_nonneg("weight_decay", self.weight_decay)
    }

    pub(crate) fn adam_coeffs<T: Float>(&self, step: u64, l2: f64, shrink: f64) -> AdamCoeffs<T> {
        let bc1 = 1.0 - beta_pow(self.betas.0, step);
        let bc2 = 1.0 - beta_pow(self.betas.1, step);
        AdamCoeffs {
            step_size: T::from_f64(self.lr / bc1),
            inv_bc2_sqrt: T::from_f64(1.0 / bc2.sqrt()),
            one_minus_b1: T::from_f64(1.0 - self.betas.0),
            b2: T::from_f64(self.betas.1),
            one_minus_b2: T::from_f64(1.0 - self.betas.1),
            eps: T::from_f64(self.eps),
            l2: T::from_f64(l2),
            shrink: T::from_f64(shrink),
            decay: l2 != 0.0,
            decoupled: shrink != 1.0,
        }
    }
}

/// Adam (see the [module docs](self)).
pub type Adam<T> = FirstOrder<T, AdamConfig>;

#[doc(hidden)]
pub struct AdamCoeffs<T> {
    step_size: T,
    inv_bc2_sqrt: T,
    one_minus_b1: T,
    b2: T,
    one_minus_b2: T,
    eps: T,
    l2: T,
    shrink: T,
    decay: bool,
    decoupled: bool,
}

pub(crate) const ADAM_BUFFERS: &[Buffer] = &[Buffer::ExpAvg, Buffer::ExpAvgSq];
pub(crate) const AMSGRAD_BUFFERS: &[Buffer] = &[Buffer::ExpAvg, Buffer::ExpAvgSq, Buffer::MaxExpAvgSq];

/// The fused Adam/AdamW update over one chunk (shared with [`AdamW`](super::AdamW)).
///
/// The bias correction of `v` is applied as a multiplication by `1 / sqrt(1 - beta2^t)` (PyTorch divides by
/// `sqrt(1 - beta2^t)`): the iterates agree with PyTorch's to rounding, and the loop has one division.
/// The loop is written out for the common case (no weight decay, no AMSGrad) so that it vectorises.
pub(crate) fn adam_kernel<T: Float>(c: &AdamCoeffs<T>, w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
    #[inline(always)]
    fn moments<T: Float>(c: &AdamCoeffs<T>, w: &mut T, g: T, m: &mut T, v: &mut T) {
        if c.decoupled {
            *w *= c.shrink;
        }
        let g = if c.decay { g + c.l2 * *w } else { g };
        *m += (g - *m) * c.one_minus_b1;
        *v = c.b2 * *v + c.one_minus_b2 * g * g;
    }
    let (s, inv, eps) = (c.step_size, c.inv_bc2_sqrt, c.eps);
    match bufs {
        [m, v] if !c.decay && !c.decoupled => {
            let (omb1, b2, omb2) = (c.one_minus_b1, c.b2, c.one_minus_b2);
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m += (g - *m) * omb1;
                *v = b2 * *v + omb2 * g * g;
                *w -= s * *m / (v.sqrt() * inv + eps);
            }
        }
        [m, v] => {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                moments(c, w, g, m, v);
                *w -= s * *m / (v.sqrt() * inv + eps);
            }
        }
        [m, v, vmax] => {
            for ((((w, &g), m), v), vmax) in
                w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()).zip(vmax.iter_mut())
            {
                moments(c, w, g, m, v);
                *vmax = vmax.max(*v);
                *w -= s * *m / (vmax.sqrt() * inv + eps);
            }
        }
        _ => unreachable!("adam keeps two or three buffers"),
    }
}

impl<T: Float> Algorithm<T> for AdamConfig {
    type Coeffs = AdamCoeffs<T>;
    const NAME: &'static str = "adam";

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
        self.validate_common()
    }
    fn coeffs(&self, step: u64, _: &mut [f64]) -> AdamCoeffs<T> {
        self.adam_coeffs(step, self.weight_decay, 1.0)
    }
    fn update(&self, c: &AdamCoeffs<T>, w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        adam_kernel(c, w, g, bufs)
    }
}
