//! L2 regularisation `lambda R(W)` with `R(W) = sum W^2`.

use wengert_autodiff::{Float, Var};

use crate::Bound;

/// `lambda * sum_k sum(W_k^2)` over the given variables (the lectures' `lambda R(W)`;
/// its gradient is `2 lambda W_k`, so it equals weight decay `2 lambda` in plain SGD).
///
/// # Panics
/// If `params` is empty (there would be no tape to record on).
#[track_caller]
pub fn l2_penalty<'t, T: Float>(params: &[Var<'t, T>], lambda: T) -> Var<'t, T> {
    assert!(!params.is_empty(), "l2_penalty: no parameters given");
    let r = params.iter().map(|w| w.square().sum()).reduce(|a, b| a + b).expect("non-empty");
    r * lambda
}

/// [`l2_penalty`] over the bound parameters whose names satisfy `select` (typically
/// `|name| name.ends_with("weight")`, leaving biases unregularised). Frozen parameters
/// are included in the value but get no gradient. With no parameter selected it is the
/// constant `0`.
pub fn l2_regularization<'t, T: Float>(p: &Bound<'t, T>, lambda: f64, select: impl Fn(&str) -> bool) -> Var<'t, T> {
    let vars: Vec<_> = p.named_vars().filter(|(n, _)| select(n)).map(|(_, v)| v).collect();
    if vars.is_empty() {
        return p.tape().scalar(T::ZERO);
    }
    l2_penalty(&vars, T::from_f64(lambda))
}
