//! RMSProp (Hinton 2012; Goodfellow et al., Algorithm 8.5) with PyTorch's centred and momentum options, as
//! `torch.optim.RMSprop`:
//!
//! ```text
//! g   <- grad + weight_decay * w
//! r   <- alpha r + (1 - alpha) g * g
//! ga  <- alpha ga + (1 - alpha) g                  (centred only)
//! den  = sqrt(r - ga * ga) + eps   (centred)   or   sqrt(r) + eps
//! b   <- momentum b + g / den; w <- w - lr b       (momentum > 0)
//! w   <- w - lr g / den                            (otherwise)
//! ```
//!
//! Note `eps` is added *outside* the square root as in PyTorch (and the lecture slide
//! `theta - alpha grad / (sqrt(s) + eps)`); Algorithm 8.5 puts `delta` inside.

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder};
use super::error::{check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`RmsProp`]. Defaults as PyTorch: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`,
/// `weight_decay = 0`, `momentum = 0`, `centered = false`.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay rate of the squared-gradient average (Goodfellow's `rho`).
    pub alpha: f64,
    /// Added to the root mean square.
    pub eps: f64,
    /// L2 penalty.
    pub weight_decay: f64,
    /// Momentum of the normalised step.
    pub momentum: f64,
    /// Normalise by an estimate of the variance instead of the raw second moment.
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false }
    }
}

impl RmsPropConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        RmsPropConfig { lr, ..Self::default() }
    }
}

/// RMSProp (see the [module docs](self)).
pub type RmsProp<T> = FirstOrder<T, RmsPropConfig>;

#[doc(hidden)]
pub struct RmsPropCoeffs<T> {
    lr: T,
    alpha: T,
    eps: T,
    wd: T,
    mu: T,
}

impl<T: Float> Algorithm<T> for RmsPropConfig {
    type Coeffs = RmsPropCoeffs<T>;
    const NAME: &'static str = "rmsprop";

    fn buffers(&self) -> &'static [Buffer] {
        match (self.momentum > 0.0, self.centered) {
            (false, false) => &[Buffer::SquareAvg],
            (true, false) => &[Buffer::SquareAvg, Buffer::MomentumBuffer],
            (false, true) => &[Buffer::SquareAvg, Buffer::GradAvg],
            (true, true) => &[Buffer::SquareAvg, Buffer::MomentumBuffer, Buffer::GradAvg],
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
        check_unit("alpha", self.alpha)?;
        check_nonneg("eps", self.eps)?;
        check_nonneg("momentum", self.momentum)?;
        check_nonneg("weight_decay", self.weight_decay)
    }
    fn coeffs(&self, _: u64, _: &mut [f64]) -> RmsPropCoeffs<T> {
        RmsPropCoeffs {
            lr: T::from_f64(self.lr),
            alpha: T::from_f64(self.alpha),
            eps: T::from_f64(self.eps),
            wd: T::from_f64(self.weight_decay),
            mu: T::from_f64(self.momentum),
        }
    }
    fn update(&self, c: &RmsPropCoeffs<T>, w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let decay = self.weight_decay != 0.0;
        let one = T::ONE;
        let (sq, rest) = bufs.split_first_mut().expect("square_avg");
        let (mom, centred): (Option<&mut [T]>, Option<&mut [T]>) = match (self.momentum > 0.0, rest) {
            (false, []) => (None, None),
            (true, [m]) => (Some(&mut **m), None),
            (false, [ga]) => (None, Some(&mut **ga)),
            (true, [m, ga]) => (Some(&mut **m), Some(&mut **ga)),
            _ => unreachable!("buffers() fixes the layout"),
        };
        let (mut mom, mut centred) = (mom, centred);
        for i in 0..w.len() {
            let gi = if decay { g[i] + c.wd * w[i] } else { g[i] };
            sq[i] = c.alpha * sq[i] + (one - c.alpha) * gi * gi;
            let den = match centred.as_deref_mut() {
                Some(ga) => {
                    ga[i] = ga[i] + (gi - ga[i]) * (one - c.alpha);
                    (sq[i] - ga[i] * ga[i]).sqrt() + c.eps
                }
                None => sq[i].sqrt() + c.eps,
            };
            match mom.as_deref_mut() {
                Some(b) => {
                    b[i] = c.mu * b[i] + gi / den;
                    w[i] -= c.lr * b[i];
                }
                None => w[i] -= c.lr * gi / den,
            }
        }
    }
}
