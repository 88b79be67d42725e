//! A constant learning rate: `alpha_k = alpha0`.

use super::Schedule;

/// `alpha_k = lr` for every `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    /// The learning rate.
    pub lr: f64,
}

impl Constant {
    /// The constant schedule `lr`.
    pub fn new(lr: f64) -> Self {
        Constant { lr }
    }
}

impl Schedule for Constant {
    fn lr_at(&self, _k: u64) -> f64 {
        self.lr
    }
}
