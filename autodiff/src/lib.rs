//! # wengert-autodiff
//!
//! n-dimensional tensors, a define-by-run tape (the Wengert list) and reverse-mode
//! differentiation to any order.
//!
//! | where | what |
//! |---|---|
//! | [`Tensor`], [`kernels`] | `f32`/`f64` n-d arrays, shared storage, NumPy broadcasting |
//! | [`Tape`], [`Var`] | recording ops and running reverse mode ([`Tape::grad`], [`Tape::grad_graph`], [`Tape::vjp`]) |
//! | [`ops`] | every differentiable op, one module each, rules written in tape ops |
//! | [`Op`] | the trait built-in and user-defined ops implement |
//! | [`functional`] | JAX-style `grad`, `value_and_grad`, `vjp`, `jvp`, `hvp`, `hessian`, `jacobian` over closures |
//! | [`gradcheck`] | finite-difference checks of gradients and Hessian-vector products |
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

mod error;
mod float;
pub mod functional;
pub mod gradcheck;
mod op;
pub mod ops;
mod tape;
pub mod tensor;
mod var;

pub use error::{AutodiffError, Result};
pub use float::Float;
pub use op::{InputGrads, Op};
pub use ops::{concat, stack, try_concat};
pub use tape::{Gradients, Tape};
pub use tensor::{kernels, release_cached_buffers, set_assist_thread, Shape, Tensor};
pub use var::Var;
