//! GELU, in the tanh approximation, composed from tape ops.

use wengert_autodiff::{Float, Var};

use crate::{Bound, Module, Param, Parameters};

/// `gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`: the tanh approximation of
/// `x Phi(x)` (Hendrycks & Gimpel 2016; PyTorch's `GELU(approximate='tanh')`).
///
/// Composed from tape ops (`mul`, `tanh`, scalars), so it needs no derivative rule of its
/// own and is differentiable to any order. The approximation differs from the exact
/// `x Phi(x)` by less than `1e-3` everywhere.
#[track_caller]
pub fn gelu<'t, T: Float>(x: Var<'t, T>) -> Var<'t, T> {
    let c = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
    let inner = (x + x * x * x * T::from_f64(0.044715)) * c;
    x * (inner.tanh() + T::ONE) * T::from_f64(0.5)
}

/// The GELU activation layer (tanh approximation, see [`gelu`]); no parameters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gelu;

impl<T: Float> Parameters<T> for Gelu {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for Gelu {
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        gelu(x)
    }
}
