//! [`Buffer`]: a tensor that is part of a model's state but is not trained (running statistics).

use std::sync::{Mutex, MutexGuard};

use wengert_autodiff::{Float, Tensor};

/// A named tensor of a model's state that no optimiser touches: batch norm's `running_mean`,
/// `running_var` and `num_batches_tracked` (PyTorch's `register_buffer`).
///
/// Buffers are visited by [`Parameters::visit_buffers`](crate::Parameters::visit_buffers), saved and
/// loaded with the parameters by [`checkpoint`](crate::checkpoint), and never recorded as variables,
/// so they get no gradient. A layer updates its buffers during a training-mode forward pass, which
/// takes `&self`: the tensor sits behind a [`Mutex`] so that models stay `Send + Sync`.
#[derive(Debug)]
pub struct Buffer<T: Float> {
    value: Mutex<Tensor<T>>,
}

impl<T: Float> Buffer<T> {
    /// A buffer holding `value`.
    pub fn new(value: Tensor<T>) -> Self {
        Buffer { value: Mutex::new(value) }
    }

    fn lock(&self) -> MutexGuard<'_, Tensor<T>> {
        // A panic while the lock was held cannot leave a half-written tensor (updates replace it whole).
        self.value.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current value (a cheap clone: tensors share their storage).
    pub fn get(&self) -> Tensor<T> {
        self.lock().clone()
    }

    /// Replaces the value.
    pub fn set(&self, value: Tensor<T>) {
        *self.lock() = value;
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.lock().shape().to_vec()
    }
}

impl<T: Float> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        Buffer::new(self.get())
    }
}
