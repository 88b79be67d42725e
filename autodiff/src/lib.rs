//! # wengert-autodiff
//!
//! n-dimensional tensors, a define-by-run tape (the Wengert list), and reverse- and forward-mode
//! differentiation to any order, in any nesting.
//!
//! | where | what |
//! |---|---|
//! | [`Tensor`], [`kernels`] | `f32`/`f64` n-d arrays, shared storage, NumPy broadcasting |
//! | [`Tape`], [`Var`] | recording ops; reverse mode ([`Tape::grad`], [`Tape::grad_graph`], [`Tape::vjp`]); forward mode ([`Tape::dual`], [`Tape::set_tangent`], [`Var::tangent`], and [`Tape::jvp`], a tangent sweep over a recording) |
//! | [`ops`] | every differentiable op, one module each, reverse and forward (JVP) rules written in tape ops; [`ops::REGISTRY`] lists them |
//! | [`Op`] | the trait built-in and user-defined ops implement |
//! | [`functional`] | JAX-style `grad`, `value_and_grad`, `vjp`, `jvp`, `linearize`, `hvp` (three modes), `hessian`, `jacfwd`, `jacrev`, `jacobian` over closures |
//! | [`checkpoint()`] | gradient checkpointing: a block's intermediates recomputed instead of kept |
//! | [`gradcheck`] | finite-difference checks of gradients, JVPs and Hessian-vector products |
//!
//! ## Errors: what panics, what returns `Result`
//!
//! - **Programmer errors panic in the plain form.** Shapes that do not agree or broadcast, an axis or
//!   index out of range, a non-scalar output given to [`Tape::grad`]: `a + b`, `x.matmul(w)`,
//!   `x.sum_axes(&[2], false)`, `tape.grad(y, &[x])` panic with a message that names the op and the
//!   shapes or values (`add: shape mismatch between [2, 3] and [4]`), reported at the caller's line
//!   (every panicking entry point is `#[track_caller]`), and say so in a `# Panics` section.
//! - **Every such call has a `try_` form that never panics**: `try_add`, `try_matmul`,
//!   `try_sum_axes`, [`Tape::try_grad`], [`try_concat`], ... return [`Result`] with an
//!   [`AutodiffError`] instead, for input that comes from data rather than code.
//! - **Calls whose failure is a normal outcome return only `Result`**: [`Tape::apply`] (user ops),
//!   [`Tape::vjp`], [`Tape::check`], the public [`kernels`], the gradient checks of [`gradcheck`].
//! - **Non-finite values are not errors**: they propagate as IEEE arithmetic says (the mean of an
//!   empty tensor is NaN, as in PyTorch). Anomaly mode ([`Tape::with_anomaly_detection`]) reports the
//!   first op whose forward value, or whose backward rule, produced one, with the line that recorded it.
//! - **Empty tensors work**: broadcasting over, reducing over and selecting nothing give empty (or, for
//!   sums, zero) results, and their gradients, as in PyTorch.
//! - **Axes are `isize` everywhere** on [`Var`] (reductions, softmax, slice, pad, concat, stack,
//!   gather, index_select, transpose, permute, unsqueeze): negative axes count from the end, as in
//!   NumPy and PyTorch. The low-level [`kernels`] take axes already normalised, as `usize`.
//! - A variable used on a tape it does not belong to, or after [`Tape::truncate`] forgot it, is a
//!   programmer error too: [`Tape::apply`] and the `try_` forms return it as an error.
//! - The crate has one error type, [`AutodiffError`].
//!
//! ```
//! use wengert_autodiff::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::from_vec(vec![0.5, -1.0], &[2]));
//! let y = (x.tanh() * x).sum();                       // y = sum x tanh x
//! let g = tape.grad_graph(y, &[x]).get(0).unwrap();   // recorded gradient
//! let v = tape.constant(Tensor::from_vec(vec![1.0, 0.0], &[2]));
//! let hv = tape.grad((g * v).sum(), &[x]).value(0);   // Hessian-vector product
//! assert_eq!(hv.shape(), &[2]);
//! assert!(hv.get(&[1]) == 0.0);                       // the Hessian is diagonal here
//! ```

mod checkpoint;
mod error;
mod float;
pub mod functional;
pub mod gradcheck;
mod op;
pub mod ops;
mod tape;
pub mod tensor;
mod var;

pub use checkpoint::checkpoint;
pub use error::{AutodiffError, Phase, Result};
pub use float::Float;
pub use op::{InputGrads, Op};
pub use ops::{concat, stack, try_concat, try_stack};
pub use tape::{Gradients, Tape};
pub use tensor::{
    intra_op_parallel, kernels, release_cached_buffers, set_assist_thread, set_intra_op_parallel, Shape, Tensor,
};
pub use var::Var;
