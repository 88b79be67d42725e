//! `var_axes(x, axes, correction)` and `std_axes`: the variance and standard deviation over axes,
//! as PyTorch's `var`/`std` with `correction` (Bessel's correction is `correction = 1`).
//!
//! Composites: `var = sum((x - mean)^2) / (n - correction)`, `std = sqrt(var)`; no rule of their own.

use crate::error::arg_err;
use crate::error::or_panic;
use crate::tensor::normalize_axes;
use crate::{Float, Result, Var};

impl<'t, T: Float> Var<'t, T> {
    /// Variance over `axes`: `sum((x - mean(x))^2) / (n - correction)` with `n` the number of reduced
    /// entries (PyTorch's `var(dim, correction=, keepdim=)`; `correction = 1` is the unbiased estimate,
    /// `0` the population variance, as batch norm's normalisation uses).
    ///
    /// ```
    /// use wengert_autodiff::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
    /// assert_eq!(x.var_axes(&[1], 0, false).value().to_vec(), vec![0.25, 0.25]);
    /// // sum of squares 2.25 + 0.25 + 0.25 + 2.25 = 5 over 4 - 1 degrees of freedom
    /// assert!((x.var_axes(&[0, 1], 1, false).item() - 5.0 / 3.0).abs() < 1e-15);
    /// ```
    ///
    /// # Panics
    /// If an axis is out of range or `correction >= n`; see [`Var::try_var_axes`].
    #[track_caller]
    pub fn var_axes(self, axes: &[isize], correction: usize, keepdim: bool) -> Self {
        or_panic(self.try_var_axes(axes, correction, keepdim))
    }

    /// [`Var::var_axes`], or an error naming the bad axis or the correction that leaves no degrees of freedom.
    #[track_caller]
    pub fn try_var_axes(self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Self> {
        let shape = self.shape();
        let norm = normalize_axes("var", axes, shape.len())?;
        let n: usize = norm.iter().map(|&a| shape[a]).product();
        if n <= correction {
            return arg_err(
                "var",
                format!("correction {correction} leaves no degrees of freedom for {n} entries per reduction"),
            );
        }
        let centred = self - self.mean_axes(axes, true);
        let ss = centred.square().sum_axes(axes, keepdim);
        Ok(ss.mul_scalar(T::ONE / T::from_usize(n - correction)))
    }

    /// Standard deviation over `axes`: `sqrt(var_axes(axes, correction, keepdim))`.
    ///
    /// # Panics
    /// As [`Var::var_axes`].
    #[track_caller]
    pub fn std_axes(self, axes: &[isize], correction: usize, keepdim: bool) -> Self {
        self.var_axes(axes, correction, keepdim).sqrt()
    }
}
