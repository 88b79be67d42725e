//! [`Param`]: a trainable tensor owned by a model between steps.

use std::sync::atomic::{AtomicU64, Ordering};

use wengert_autodiff::{Float, Tensor};

/// A process-unique identity of a [`Param`], used to key gradients to parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A trainable tensor. A model owns its parameters between steps; each step records
/// them on a fresh tape through a [`Bound`](crate::Bound).
#[derive(Clone, Debug)]
pub struct Param<T: Float> {
    id: ParamId,
    value: Tensor<T>,
    frozen: bool,
}

impl<T: Float> Param<T> {
    /// A new, trainable parameter with a fresh identity.
    pub fn new(value: Tensor<T>) -> Self {
        Param { id: ParamId(NEXT_ID.fetch_add(1, Ordering::Relaxed)), value, frozen: false }
    }

    /// This parameter's identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The current value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The current value, for in-place updates (optimisers).
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }

    /// Replaces the value.
    pub fn set(&mut self, value: Tensor<T>) {
        self.value = value;
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.value.numel()
    }

    /// A frozen parameter is recorded as a constant: it gets no gradient and optimisers skip it.
    pub fn set_frozen(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// Whether the parameter is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }
}
