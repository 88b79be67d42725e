//! n-dimensional, row-major, reference-counted tensors.
//!
//! A [`Tensor`] is a shape plus shared, immutable storage: cloning is a
//! reference-count increment. Mutation ([`Tensor::data_mut`]) copies the
//! storage first if it is shared (copy-on-write), so a value recorded on a
//! tape can never be changed behind the tape's back.

mod assist;
mod construct;
mod display;
pub mod kernels;
mod lanes;
mod packed;
pub mod parallel;
mod pool;
mod shape;
mod thin;
mod vmath;

use std::sync::Arc;

pub use assist::set_assist_thread;
pub use parallel::{intra_op_parallel, set_intra_op_parallel};
pub use pool::release_cached_buffers;
pub use shape::{broadcast_shapes, normalize_axes, normalize_axis, numel, strides_of, Shape};

use pool::Buffer;

use crate::error::{or_panic, shape_err, Result};
use crate::Float;

/// An n-dimensional array of `f32` or `f64`, row-major, with shared storage.
///
/// ```
/// use wengert_autodiff::Tensor;
/// let t = Tensor::from_vec(vec![1.0_f64, 2.0, 3.0, 4.0], &[2, 2]);
/// assert_eq!(t.shape(), &[2, 2]);
/// assert_eq!(t.get(&[1, 0]), 3.0);
/// ```
#[derive(Clone)]
pub struct Tensor<T> {
    data: Arc<Buffer<T>>,
    shape: Shape,
}

impl<T: Float> Tensor<T> {
    /// Builds a tensor from row-major data.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`; see [`Tensor::try_from_vec`].
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Self {
        or_panic(Self::try_from_vec(data, shape))
    }

    /// Builds a tensor from row-major data, or fails if the length disagrees with the shape.
    pub fn try_from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        if data.len() != numel(shape) {
            return shape_err("from_vec", &[data.len()], shape);
        }
        Ok(Tensor { data: Arc::new(Buffer::new(data)), shape: Shape::from_slice(shape) })
    }

    pub(crate) fn from_parts(data: Vec<T>, shape: Shape) -> Self {
        debug_assert_eq!(data.len(), numel(&shape));
        Tensor { data: Arc::new(Buffer::new(data)), shape }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The shape as an owned [`Shape`].
    pub fn shape_vec(&self) -> Shape {
        self.shape.clone()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.as_slice().len()
    }

    /// The elements, row-major.
    pub fn as_slice(&self) -> &[T] {
        self.data.as_slice()
    }

    /// The elements, row-major, for writing; copies the storage first if it is shared.
    pub fn data_mut(&mut self) -> &mut [T] {
        Arc::make_mut(&mut self.data).as_mut_slice()
    }

    /// For a 2-D tensor that is the left operand of thin products: its elements column-major, once it
    /// has been used so often that keeping a second layout pays (see `pool::Buffer`).
    pub(crate) fn column_major(&self) -> Option<&[T]> {
        match *self.shape() {
            [rows, cols] => self.data.column_major(rows, cols),
            _ => None,
        }
    }

    /// The elements as a `Vec` (no copy when the storage is not shared).
    pub fn into_vec(self) -> Vec<T> {
        Arc::try_unwrap(self.data).map_or_else(|a| a.as_slice().to_vec(), Buffer::into_vec)
    }

    /// The elements copied into a `Vec`.
    pub fn to_vec(&self) -> Vec<T> {
        self.data.as_slice().to_vec()
    }

    /// The element at a multi-index.
    ///
    /// # Panics
    /// If the index has the wrong length or is out of range.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> T {
        assert_eq!(index.len(), self.ndim(), "get: index {index:?} for shape {:?}", self.shape());
        let mut off = 0;
        for (d, (&i, &n)) in index.iter().zip(self.shape.iter()).enumerate() {
            assert!(i < n, "get: index {i} is out of range for bound {n} (axis {d})");
            off = off * n + i;
        }
        self.data.as_slice()[off]
    }

    /// The single value of a tensor with one element.
    ///
    /// # Panics
    /// If the tensor has more or fewer than one element.
    #[track_caller]
    pub fn item(&self) -> T {
        assert_eq!(self.numel(), 1, "item: tensor of shape {:?} has {} elements", self.shape(), self.numel());
        self.data.as_slice()[0]
    }

    /// Same data, new shape (no copy).
    ///
    /// # Panics
    /// If the element counts differ; see [`Tensor::try_reshape`].
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        or_panic(self.try_reshape(shape))
    }

    /// Same data, new shape, or an error if the element counts differ.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Self> {
        if numel(shape) != self.numel() {
            return shape_err("reshape", self.shape(), shape);
        }
        Ok(Tensor { data: self.data.clone(), shape: Shape::from_slice(shape) })
    }

    /// Converts the element type (`f32` <-> `f64`).
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor::from_parts(self.as_slice().iter().map(|&x| U::from_f64(x.to_f64())).collect(), self.shape.clone())
    }

    /// `true` if every element is finite.
    pub fn all_finite(&self) -> bool {
        self.as_slice().iter().all(|x| x.is_finite())
    }

    /// `true` if both tensors share storage (a clone of one another).
    pub fn shares_storage(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl<T: Float> PartialEq for Tensor<T> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.as_slice() == other.as_slice()
    }
}
