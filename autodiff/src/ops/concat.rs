//! `concat(xs, axis)` joins along an existing axis; `stack(xs, axis)` along a new one.
//!
//! Rule: `dx_i = slice(g, axis, offset_i..offset_i + n_i)`; `stack` is `unsqueeze` + `concat`.

use super::{or_panic, record};
use smallvec::SmallVec;

use crate::error::{arg_err, shape_err};
use crate::tensor::{kernels, normalize_axis};
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
            out.push(need.then(|| g.slice(self.0 as isize, off..off + n)));
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
        Some(record(Concat(self.0), &parts))
    }
}

/// The variables joined along `axis` (negative counts from the end; all other axes must agree),
/// as `torch.cat`.
///
/// # Panics
/// If `xs` is empty, the axis is out of range or the shapes disagree; see [`try_concat`].
#[track_caller]
pub fn concat<'t, T: Float>(xs: &[Var<'t, T>], axis: isize) -> Var<'t, T> {
    or_panic(try_concat(xs, axis))
}

/// [`concat()`], or an error naming the op and the bad axis or the disagreeing shapes.
#[track_caller]
pub fn try_concat<'t, T: Float>(xs: &[Var<'t, T>], axis: isize) -> Result<Var<'t, T>> {
    match xs.first() {
        None => arg_err("concat", "no tensors to concatenate"),
        Some(x) => {
            let axis = normalize_axis("concat", axis, x.shape().len())?;
            x.tape().apply(Concat(axis), xs)
        }
    }
}

/// The variables (all of one shape) stacked along a new axis `axis` of the result
/// (`-1` is the new last axis), as `torch.stack`.
///
/// # Panics
/// If `xs` is empty, the shapes differ or the axis is out of range; see [`try_stack`].
#[track_caller]
pub fn stack<'t, T: Float>(xs: &[Var<'t, T>], axis: isize) -> Var<'t, T> {
    or_panic(try_stack(xs, axis))
}

/// [`stack()`], or an error naming the op and the bad axis or the differing shapes.
#[track_caller]
pub fn try_stack<'t, T: Float>(xs: &[Var<'t, T>], axis: isize) -> Result<Var<'t, T>> {
    let Some(first) = xs.first() else { return arg_err("stack", "no tensors to stack") };
    let shape = first.shape();
    if let Some(x) = xs.iter().find(|x| x.shape() != shape) {
        return shape_err("stack", &shape, &x.shape());
    }
    let axis = normalize_axis("stack", axis, shape.len() + 1)? as isize;
    let parts = xs.iter().map(|x| x.try_unsqueeze(axis)).collect::<Result<Vec<_>>>()?;
    try_concat(&parts, axis)
}
