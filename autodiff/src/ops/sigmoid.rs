//! `sigmoid(x) = 1 / (1 + e^-x)`, evaluated without overflow for large `|x|`.
//!
//! Rule: `dx = g * out * (1 - out)`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Sigmoid;

impl<T: Float> Op<T> for Sigmoid {
    fn name(&self) -> &'static str {
        "sigmoid"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| {
            if v >= T::ZERO {
                T::ONE / (T::ONE + (-v).exp())
            } else {
                let e = v.exp();
                e / (T::ONE + e)
            }
        }))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * (out - out.square()))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * (out - out.square()))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Logistic sigmoid `1 / (1 + e^-x)` elementwise.
    #[track_caller]
    pub fn sigmoid(self) -> Self {
        record(Sigmoid, &[self])
    }
}
