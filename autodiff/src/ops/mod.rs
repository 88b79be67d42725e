//! The differentiable ops, one module each: forward, derivative rule, doc and tests together.
//!
//! Primitives implement [`Op`] with a backward rule written in tape
//! ops; composites (`mean`, `softmax`, `dot`, ...) are built from primitives and
//! need no rule of their own. Every op has a row in the gradient-check table
//! (`tests/gradcheck_table.rs`), checked at orders 1 and 2.

pub(crate) use crate::error::or_panic;
use crate::{Float, InputGrads, Op, Var};

/// Declares the op modules and, from the same lines, [`REGISTRY`]: adding a module means adding
/// its line here, with the names of its primitives and composites.
macro_rules! op_modules {
    ($($module:ident: [$($p:literal),*] [$($c:literal),*];)*) => {
        $(mod $module;)*

        /// Every op module, with the [`Op::name`]s of the primitives it defines and the names of the
        /// composites it builds from other ops. The gradient-check table (`tests/gradcheck_table.rs`)
        /// reads it: every name must have a row of that exact name, and every op the table records
        /// must be listed here.
        pub const REGISTRY: &[OpModule] = &[
            $(OpModule { module: stringify!($module), primitives: &[$($p),*], composites: &[$($c),*] },)*
        ];
    };
}

/// One op module of [`REGISTRY`].
#[derive(Debug, Clone, Copy)]
pub struct OpModule {
    /// The module (file or folder) under `ops/`.
    pub module: &'static str,
    /// The [`Op::name`]s of the primitives it defines (each with a reverse and a JVP rule).
    pub primitives: &'static [&'static str],
    /// The `Var` methods or functions it builds from other ops (no rule of their own).
    pub composites: &'static [&'static str],
}

op_modules! {
    // Elementwise arithmetic (broadcasting).
    add: ["add"] [];
    div: ["div"] [];
    maximum: ["maximum", "minimum"] [];
    mul: ["mul"] [];
    pow: ["powf", "scaled_mul", "pow"] ["square"];
    scalar: ["add_scalar", "mul_scalar"] [];
    sub: ["sub"] [];
    // Elementwise functions (the comparisons give constant masks: no derivative to check).
    abs: ["abs"] [];
    atan: ["atan"] [];
    clamp: ["clamp"] [];
    compare: [] [];
    erf: ["erf"] [];
    exp: ["exp"] [];
    expm1: ["expm1"] [];
    leaky_relu: ["leaky_relu"] [];
    log: ["log"] [];
    log1p: ["log1p"] [];
    neg: ["neg"] [];
    relu: ["relu"] [];
    rsqrt: ["rsqrt"] [];
    sigmoid: ["sigmoid"] [];
    sign: ["sign"] [];
    sin_cos: ["sin", "cos"] [];
    softplus: ["softplus"] [];
    sqrt: ["sqrt"] [];
    tanh: ["tanh", "tanh_grad"] [];
    where_: ["where"] [];
    // Shapes and movement.
    broadcast: ["broadcast_to", "sum_to"] [];
    concat: ["concat"] ["stack"];
    permute: ["permute"] ["transpose", "t"];
    reshape: ["reshape"] ["flatten", "unsqueeze"];
    slice: ["slice", "pad"] [];
    // Reductions.
    logsumexp: [] ["logsumexp"];
    max_reduce: ["max", "min"] [];
    softmax: [] ["softmax", "log_softmax"];
    sum: ["sum"] ["mean"];
    var: [] ["var_axes", "std_axes"];
    // Linear algebra.
    dot: [] ["dot", "outer"];
    matmul: ["matmul"] [];
    // Convolution and pooling.
    conv: ["conv2d", "conv_transpose2d", "conv2d_weight_grad"] ["conv1d"];
    pool2d: [] ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"];
    // Indexing.
    gather: ["gather", "scatter_add"] ["pick"];
    index_select: ["index_select", "index_add"] [];
    one_hot: [] ["one_hot"];
}

pub use concat::{concat, stack, try_concat, try_stack};
pub use conv::{Conv1dArgs, Conv2dArgs, ConvArgs};
pub use gather::{Gather, ScatterAdd};
pub use index_select::{IndexAdd, IndexSelect};
pub use matmul::MatMul;
pub use pool2d::Pool2dArgs;

/// Records `op` on the tape of `inputs[0]`, panicking with the op's error (shape
/// mismatch, index out of range) at the caller's location.
#[track_caller]
pub(crate) fn record<'t, T: Float>(op: impl Op<T>, inputs: &[Var<'t, T>]) -> Var<'t, T> {
    or_panic(inputs[0].tape().apply(op, inputs))
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
