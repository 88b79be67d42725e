//! [`Flatten`]: merges a range of axes into one.

use wengert_autodiff::{Float, Var};

use crate::{Bound, Module, Param, Parameters};

/// Merges axes `start_dim..=end_dim` into one, as PyTorch's `nn.Flatten(start_dim=1, end_dim=-1)`:
/// `[N, C, H, W] -> [N, C H W]` by default. A reshape (no copy of the data, no parameters); negative
/// `end_dim` counts from the end.
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// First axis merged. Default `1` (keep the batch axis).
    pub start_dim: usize,
    /// Last axis merged; negative counts from the end. Default `-1`.
    pub end_dim: isize,
}

impl Default for Flatten {
    /// `start_dim = 1`, `end_dim = -1`, as PyTorch.
    fn default() -> Self {
        Flatten { start_dim: 1, end_dim: -1 }
    }
}

impl Flatten {
    /// Flattens every axis after the batch axis (PyTorch's default).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Float> Parameters<T> for Flatten {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for Flatten {
    /// See [`Flatten`].
    ///
    /// # Panics
    /// If the axes are out of range for `x` or `start_dim > end_dim`.
    #[track_caller]
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        let r = s.len() as isize;
        let end = if self.end_dim < 0 { r + self.end_dim } else { self.end_dim };
        assert!(
            (self.start_dim as isize) <= end && end < r,
            "Flatten: axes {}..={} out of range for an input of shape {:?}",
            self.start_dim,
            self.end_dim,
            s.as_slice()
        );
        let end = end as usize;
        let mut shape: Vec<usize> = s[..self.start_dim].to_vec();
        shape.push(s[self.start_dim..=end].iter().product());
        shape.extend_from_slice(&s[end + 1..]);
        x.reshape(&shape)
    }
}

/// Splits axis `dim` into `sizes`, as PyTorch's `nn.Unflatten(dim, sizes)`: the inverse of [`Flatten`],
/// e.g. rows of 64 pixels `[N, 64]` into images `[N, 1, 8, 8]` with `Unflatten::new(1, &[1, 8, 8])`.
/// A reshape, no parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unflatten {
    /// The axis split.
    pub dim: usize,
    /// Its new sizes (their product must be the axis' size).
    pub sizes: Vec<usize>,
}

impl Unflatten {
    /// Splits axis `dim` into `sizes`.
    pub fn new(dim: usize, sizes: &[usize]) -> Self {
        Unflatten { dim, sizes: sizes.to_vec() }
    }
}

impl<T: Float> Parameters<T> for Unflatten {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for Unflatten {
    /// See [`Unflatten`].
    ///
    /// # Panics
    /// If `dim` is out of range or the sizes do not multiply to that axis' size.
    #[track_caller]
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        assert!(
            self.dim < s.len() && self.sizes.iter().product::<usize>() == s[self.dim],
            "Unflatten: cannot split axis {} of an input of shape {:?} into {:?}",
            self.dim,
            s.as_slice(),
            self.sizes
        );
        let mut shape = s[..self.dim].to_vec();
        shape.extend_from_slice(&self.sizes);
        shape.extend_from_slice(&s[self.dim + 1..]);
        x.reshape(&shape)
    }
}
