//! Stochastic gradient descent with optional momentum, dampening, L2 weight decay and Nesterov momentum,
//! exactly as PyTorch's `torch.optim.SGD`.
//!
//! With `g = grad + weight_decay * w` and momentum buffer `b` (set to `g` on the first step):
//!
//! ```text
//! b <- momentum * b + (1 - dampening) * g
//! d <- g + momentum * b     (nesterov)      or      d <- b     (otherwise; d <- g without momentum)
//! w <- w - lr * d
//! ```
//!
//! `momentum = 0` is Goodfellow et al. Algorithm 8.1. With momentum this is the lecture's
//! `v^{k+1} = beta v^k + grad L(theta^k)`, `theta^{k+1} = theta^k - alpha v^{k+1}`; the other lecture form
//! (`v <- rho v - alpha g; w <- w + v`, Algorithm 8.2) is [`Momentum`](super::Momentum): identical iterates while
//! the learning rate is constant, different ones once a schedule changes it (this form rescales the whole
//! velocity by the new rate; Algorithm 8.2 only the new gradient).
//!
//! `nesterov = true` is Nesterov momentum rewritten in terms of the current point (Sutskever et al. 2013): its
//! iterates are the look-ahead points `theta + momentum v` of [`Nesterov`](super::Nesterov) (Algorithm 8.3)
//! when both start with zero velocity, so it needs no gradient at a shifted point.

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::{check, check_nonneg, OptimError};

/// Hyperparameters of [`Sgd`]. Defaults follow PyTorch 2.x: `lr = 1e-3`, `momentum = 0`, `dampening = 0`,
/// `weight_decay = 0`, `nesterov = false`.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate `lr`.
    pub lr: f64,
    /// Momentum factor (0 disables the momentum buffer).
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer.
    pub dampening: f64,
    /// L2 penalty: `g <- g + weight_decay * w`.
    pub weight_decay: f64,
    /// Nesterov momentum (PyTorch form); needs `momentum > 0` and `dampening = 0`.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }
}

impl SgdConfig {
    /// Plain gradient descent `w <- w - lr g` with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        SgdConfig { lr, ..Self::default() }
    }

    /// Sets the momentum factor.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening.
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Switches Nesterov momentum on or off.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

/// SGD (see the [module docs](self)).
pub type Sgd<T> = FirstOrder<T, SgdConfig>;

#[doc(hidden)]
pub struct SgdCoeffs<T> {
    lr: T,
    mu: T,
    one_minus_damp: T,
    wd: T,
    first: bool,
}

impl<T: Float> Algorithm<T> for SgdConfig {
    type Coeffs = SgdCoeffs<T>;
    const NAME: &'static str = "sgd";

    fn buffers(&self) -> &'static [Buffer] {
        if self.momentum != 0.0 {
            &[Buffer::MomentumBuffer]
        } else {
            &[]
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check_nonneg("momentum", self.momentum)?;
        check_nonneg("weight_decay", self.weight_decay)?;
        check(self.dampening.is_finite(), || format!("dampening = {} must be finite", self.dampening))?;
        check(!self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0), || {
            "nesterov needs momentum > 0 and dampening = 0".to_string()
        })
    }
    fn coeffs(&self, step: u64, _: &mut [f64]) -> SgdCoeffs<T> {
        SgdCoeffs {
            lr: T::from_f64(self.lr),
            mu: T::from_f64(self.momentum),
            one_minus_damp: T::from_f64(1.0 - self.dampening),
            wd: T::from_f64(self.weight_decay),
            first: step == 1,
        }
    }
    fn update(&self, c: &SgdCoeffs<T>, w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let decay = self.weight_decay != 0.0;
        match bufs {
            [] => {
                for (w, &g) in w.iter_mut().zip(g) {
                    let g = if decay { g + c.wd * *w } else { g };
                    *w -= c.lr * g;
                }
            }
            [b] => {
                for ((w, &g), b) in w.iter_mut().zip(g).zip(b.iter_mut()) {
                    let g = if decay { g + c.wd * *w } else { g };
                    *b = if c.first { g } else { c.mu * *b + c.one_minus_damp * g };
                    let d = if self.nesterov { g + c.mu * *b } else { *b };
                    *w -= c.lr * d;
                }
            }
            _ => unreachable!("sgd keeps at most one buffer"),
        }
    }
}
