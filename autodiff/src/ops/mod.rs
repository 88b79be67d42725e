//! The differentiable ops, one module each: forward, derivative rule, doc and tests together.
//!
//! Primitives implement [`Op`] with a backward rule written in tape
//! ops; composites (`mean`, `softmax`, `dot`, ...) are built from primitives and
//! need no rule of their own. Every op has a row in the gradient-check table
//! (`tests/gradcheck_table.rs`), checked at orders 1 and 2.

use crate::{Float, InputGrads, Op, Var};

// Elementwise arithmetic (broadcasting).
mod add;
mod div;
mod maximum;
mod mul;
mod pow;
mod scalar;
mod sub;
// Elementwise functions.
mod abs;
mod clamp;
mod compare;
mod erf;
mod exp;
mod expm1;
mod leaky_relu;
mod log;
mod log1p;
mod neg;
mod relu;
mod rsqrt;
mod sigmoid;
mod sign;
mod sin_cos;
mod softplus;
mod sqrt;
mod tanh;
mod where_;
// Shapes and movement.
mod broadcast;
mod concat;
mod permute;
mod reshape;
mod slice;
// Reductions.
mod logsumexp;
mod max_reduce;
mod softmax;
mod sum;
mod var;
// Linear algebra.
mod dot;
mod matmul;
// Convolution and pooling.
mod conv;
mod pool2d;
// Indexing.
mod gather;
mod index_select;
mod one_hot;

pub use concat::{concat, stack, try_concat};
pub use conv::{Conv1dArgs, Conv2dArgs, ConvArgs};
pub use gather::{Gather, ScatterAdd};
pub use index_select::{IndexAdd, IndexSelect};
pub use matmul::MatMul;
pub use pool2d::Pool2dArgs;

/// Records `op` on the tape of `inputs[0]`, panicking with the op's error (shape
/// mismatch, index out of range) at the caller's location.
#[track_caller]
pub(crate) fn record<'t, T: Float>(op: impl Op<T>, inputs: &[Var<'t, T>]) -> Var<'t, T> {
    inputs[0].tape().apply(op, inputs).unwrap_or_else(|e| panic!("{e}"))
}

/// The output tangent of an op whose tangent is a sum of one term per input (`None`: no term),
/// broadcast to the output's shape (a term may have an input's smaller, broadcasting shape).
pub(crate) fn tangent_sum<'t, T: Float, const N: usize>(
    terms: [Option<Var<'t, T>>; N],
    out: Var<'t, T>,
) -> Option<Var<'t, T>> {
    let sum = terms.into_iter().flatten().reduce(|a, b| a + b)?;
    Some(sum.broadcast_to(&out.shape()))
}

/// Builds an [`InputGrads`] from a fixed list.
pub(crate) fn grads<'t, T: Float, const N: usize>(g: [Option<Var<'t, T>>; N]) -> InputGrads<'t, T> {
    g.into_iter().collect()
}
