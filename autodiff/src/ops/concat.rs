//! `concat(xs, axis)` joins along an existing axis; `stack(xs, axis)` along a new one.
//!
//! Rule: `dx_i = slice(g, axis, offset_i..offset_i + n_i)`; `stack` is `unsqueeze` + `concat`.

use smallvec::SmallVec;

use crate::error::arg_err;
use crate::tensor::kernels;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Concat(usize);

impl<T: Float> Op<T> for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::concat(x, self.0)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let mut off = 0;
        let mut out = SmallVec::new();
        for (xi, &need) in x.iter().zip(needs) {
            let n = xi.shape()[self.0];
            out.push(need.then(|| g.slice(self.0, off..off + n)));
            off += n;
        }
        out
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let parts: Vec<_> = x
            .iter()
            .zip(t)
            .map(|(xi, ti)| ti.unwrap_or_else(|| xi.constant_like(Tensor::zeros(&xi.shape()))))
            .collect();
        Some(concat(&parts, self.0))
    }
}

/// The variables joined along `axis` (all other axes must agree).
///
/// # Panics
/// If `xs` is empty or the shapes disagree; see [`try_concat`].
#[track_caller]
pub fn concat<'t, T: Float>(xs: &[Var<'t, T>], axis: usize) -> Var<'t, T> {
    try_concat(xs, axis).unwrap_or_else(|e| panic!("{e}"))
}

/// [`concat()`], or an error naming the op and the disagreeing shapes.
#[track_caller]
pub fn try_concat<'t, T: Float>(xs: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
    match xs.first() {
        None => arg_err("concat", "no tensors to concatenate"),
        Some(x) => x.tape().apply(Concat(axis), xs),
    }
}

/// The variables (all of one shape) stacked along a new axis `axis`.
///
/// # Panics
/// If `xs` is empty or the shapes disagree.
#[track_caller]
pub fn stack<'t, T: Float>(xs: &[Var<'t, T>], axis: usize) -> Var<'t, T> {
    let parts: Vec<_> = xs.iter().map(|x| x.unsqueeze(axis)).collect();
    concat(&parts, axis)
}
