//! Nesterov momentum in the look-ahead form of Goodfellow et al., Algorithm 8.3 (Sutskever et al. 2013):
//!
//! ```text
//! theta~ <- theta + alpha v            (interim point)
//! g      <- grad L(theta~)
//! v      <- alpha v - epsilon g
//! theta  <- theta + v
//! ```
//!
//! Use [`FirstOrder::step_look_ahead`](super::FirstOrder::step_look_ahead) with a closure computing the gradient at the point it is given.
//! [`Optimizer::step`](super::Optimizer::step) alone applies the last two lines to gradients the caller
//! evaluated at `theta~` itself.
//!
//! Relation to PyTorch's `nesterov = true` ([`Sgd`](super::Sgd)): writing `phi = theta + alpha v`, the
//! recursion becomes `v <- alpha v - epsilon grad L(phi); phi <- phi + alpha v - epsilon grad L(phi)`, which is
//! PyTorch's update (with its buffer `b = -v / epsilon`) on the point `phi`. So starting from `v = 0` the
//! PyTorch iterates are this form's look-ahead points, and both approach the same minimiser.

use wengert_autodiff::Float;

use super::engine::{Algorithm, Buffer, FirstOrder, LookAhead};
use super::error::{check_nonneg, check_unit, OptimError};

/// Hyperparameters of [`Nesterov`]. Defaults `lr = 1e-2`, `momentum = 0.9` (as [`MomentumConfig`](super::MomentumConfig)).
#[derive(Clone, Debug, PartialEq)]
pub struct NesterovConfig {
    /// Learning rate (Goodfellow's `epsilon`).
    pub lr: f64,
    /// Momentum (Goodfellow's `alpha`), in `[0, 1)`.
    pub momentum: f64,
}

impl Default for NesterovConfig {
    fn default() -> Self {
        NesterovConfig { lr: 1e-2, momentum: 0.9 }
    }
}

impl NesterovConfig {
    /// Learning rate `lr` and momentum `momentum`.
    pub fn new(lr: f64, momentum: f64) -> Self {
        NesterovConfig { lr, momentum }
    }
}

/// Nesterov momentum, look-ahead form (see the [module docs](self)).
pub type Nesterov<T> = FirstOrder<T, NesterovConfig>;

impl<T: Float> Algorithm<T> for NesterovConfig {
    type Coeffs = (T, T);
    const NAME: &'static str = "nesterov";

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
    fn update(&self, &(lr, alpha): &(T, T), w: &mut [T], g: &[T], bufs: &mut [&mut [T]]) {
        for ((w, &g), v) in w.iter_mut().zip(g).zip(bufs[0].iter_mut()) {
            *v = alpha * *v - lr * g;
            *w += *v;
        }
    }
}

impl<T: Float> LookAhead<T> for NesterovConfig {
    fn look_ahead(&self, w: &mut [T], bufs: &[&[T]]) {
        let alpha = T::from_f64(self.momentum);
        for (w, &v) in w.iter_mut().zip(bufs[0]) {
            *w += alpha * v;
        }
    }
}
