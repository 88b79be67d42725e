//! The checks of first-order hyperparameters; the error type is the crate's one [`OptimError`].

pub use crate::error::OptimError;

/// `Err(InvalidConfig(what()))` unless `ok` (for configs validated in this crate).
pub fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::InvalidConfig(what()))
    }
}

/// `Err(InvalidConfig)` unless `value` is finite and `>= 0`: the range of learning rates, `eps`, weight decays
/// and every other non-negative hyperparameter (`lr = +inf` would write infinity into the parameters).
pub fn check_nonneg(name: &str, value: f64) -> Result<(), OptimError> {
    check(value.is_finite() && value >= 0.0, || format!("{name} = {value} must be finite and >= 0"))
}

/// `Err(InvalidConfig)` unless `value` is in `[0, 1)` (decay rates `beta`, `alpha`, `momentum`).
pub fn check_unit(name: &str, value: f64) -> Result<(), OptimError> {
    check((0.0..1.0).contains(&value), || format!("{name} = {value} must be in [0, 1)"))
}
