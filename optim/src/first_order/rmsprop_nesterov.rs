//! RMSProp with Nesterov momentum, Goodfellow et al., Algorithm 8.6 (look-ahead form):
//!
//! ```text
//! theta~ <- theta + alpha v                       (interim point)
//! g      <- grad L(theta~)
//! r      <- rho r + (1 - rho) g * g
//! v      <- alpha v - epsilon g / sqrt(delta + r)
//! theta  <- theta + v
//! ```
//!
//! Algorithm 8.6 divides by `sqrt(r)`; we add Algorithm 8.5's `delta` inside the root so a zero gradient
//! does not divide zero by zero. Drive it with [`FirstOrder::step_look_ahead`](super::FirstOrder::step_look_ahead)
//! (gradient evaluated at `theta~`). No PyTorch counterpart.

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder, LookAhead};
use super::error::{check, check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`RmsPropNesterov`]. Defaults: `lr = 1e-3`, `rho = 0.9` (Hinton's lecture),
/// `momentum = 0.9`, `delta = 1e-6` (Algorithm 8.5's suggestion).
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropNesterovConfig {
    /// Global learning rate `epsilon`.
    pub lr: f64,
    /// Decay rate `rho` of the squared-gradient average.
    pub rho: f64,
    /// Momentum coefficient `alpha`.
    pub momentum: f64,
    /// Stabiliser `delta` inside the square root.
    pub delta: f64,
}

impl Default for RmsPropNesterovConfig {
    fn default() -> Self {
        RmsPropNesterovConfig { lr: 1e-3, rho: 0.9, momentum: 0.9, delta: 1e-6 }
    }
}

impl RmsPropNesterovConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        RmsPropNesterovConfig { lr, ..Self::default() }
    }
}

/// RMSProp with Nesterov momentum (see the [module docs](self)).
pub type RmsPropNesterov<T> = FirstOrder<T, RmsPropNesterovConfig>;

impl<T: Float> Algorithm<T> for RmsPropNesterovConfig {
    type Coeffs = [T; 4];
    const NAME: &'static str = "rmsprop_nesterov";

    fn buffers(&self) -> &'static [Buffer] {
        &[Buffer::SquareAvg, Buffer::Velocity]
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }
    fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("lr", self.lr)?;
        check_unit("rho", self.rho)?;
        check_unit("momentum", self.momentum)?;
        check(self.delta.is_finite() && self.delta > 0.0, || format!("delta = {} must be finite and > 0", self.delta))
    }
    fn coeffs(&self, _: u64, _: &mut [f64]) -> [T; 4] {
        [self.lr, self.rho, self.momentum, self.delta].map(T::from_f64)
    }
    fn update(&self, &[lr, rho, alpha, delta]: &[T; 4], w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        let [r, v] = bufs else { unreachable!("two buffers") };
        for i in 0..w.len() {
            r[i] = rho * r[i] + (T::ONE - rho) * g[i] * g[i];
            v[i] = alpha * v[i] - lr * g[i] / (delta + r[i]).sqrt();
            w[i] += v[i];
        }
    }
}

impl<T: Float> LookAhead<T> for RmsPropNesterovConfig {
    fn look_ahead(&self, w: &mut [T], bufs: &[&[T]]) {
        let alpha = T::from_f64(self.momentum);
        for (w, &v) in w.iter_mut().zip(bufs[1]) {
            *w += alpha * v;
        }
    }
}
