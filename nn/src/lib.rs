//! # wengert-nn
//!
//! Modules, layers, losses, initialisation, data pipeline, datasets and checkpoints
//! on the wengert tape.
//!
//! | where | what |
//! |---|---|
//! | [`Param`], [`Parameters`], [`Module`], [`Bound`], [`Grads`] | parameters owned by a model, recorded on a fresh tape each step |

mod module;
mod param;

pub use module::{join_name, Bound, Grads, Module, Parameters};
pub use param::{Param, ParamId};
