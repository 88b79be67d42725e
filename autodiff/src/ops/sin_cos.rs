//! `sin(x)` and `cos(x)`: each one's rule is written with the other.
//!
//! Rules: `d sin x = g cos x`, `d cos x = -g sin x`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Sin;
struct Cos;

impl<T: Float> Op<T> for Sin {
    fn name(&self) -> &'static str {
        "sin"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.sin()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * x[0].cos())])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * x[0].cos())
    }
}

impl<T: Float> Op<T> for Cos {
    fn name(&self) -> &'static str {
        "cos"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.cos()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(-(g * x[0].sin()))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| -(t * x[0].sin()))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Sine elementwise.
    #[track_caller]
    pub fn sin(self) -> Self {
        record(Sin, &[self])
    }

    /// Cosine elementwise.
    #[track_caller]
    pub fn cos(self) -> Self {
        record(Cos, &[self])
    }
}
