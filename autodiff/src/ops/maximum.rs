//! Elementwise `maximum(a, b)` and `minimum(a, b)`, with broadcasting.
//!
//! Rule: the gradient goes to the larger (smaller) operand; at ties it is split
//! evenly, `da = g * m`, `db = g * (1 - m)` with `m = [a > b] + 0.5 [a == b]`
//! (as PyTorch). The mask is piecewise constant, so it has no derivative.

use super::{grads, record};
use crate::tensor::kernels::zip;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Extremum {
    max: bool,
}

impl Extremum {
    /// `m = [a > b] + 0.5 [a == b]` (`<` for the minimum): the share of the gradient going to `a`.
    fn mask<T: Float>(&self, a: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
        let half = T::from_f64(0.5);
        let sel = if self.max { |a: T, b: T| a > b } else { |a: T, b: T| a < b };
        zip("maximum", a, b, |a, b| {
            if a == b {
                half
            } else if sel(a, b) {
                T::ONE
            } else {
                T::ZERO
            }
        })
        .expect("shapes broadcast in forward")
    }
}

impl<T: Float> Op<T> for Extremum {
    fn name(&self) -> &'static str {
        if self.max {
            "maximum"
        } else {
            "minimum"
        }
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        if self.max {
            zip("maximum", x[0], x[1], |a, b| if a >= b { a } else { b })
        } else {
            zip("minimum", x[0], x[1], |a, b| if a <= b { a } else { b })
        }
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let m = g.constant_like(self.mask(&x[0].value(), &x[1].value()));
        grads([needs[0].then(|| (g * m).sum_to(&x[0].shape())), needs[1].then(|| (g - g * m).sum_to(&x[1].shape()))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let m = out.constant_like(self.mask(&x[0].value(), &x[1].value()));
        // d max(a, b) = m ta + (1 - m) tb
        super::tangent_sum([t[0].map(|ta| ta * m), t[1].map(|tb| tb - tb * m)], out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Elementwise maximum, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_maximum`].
    #[track_caller]
    pub fn maximum(self, other: Self) -> Self {
        record(Extremum { max: true }, &[self, other])
    }

    /// [`Var::maximum`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_maximum(self, other: Self) -> Result<Self> {
        self.tape().apply(Extremum { max: true }, &[self, other])
    }

    /// Elementwise minimum, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_minimum`].
    #[track_caller]
    pub fn minimum(self, other: Self) -> Self {
        record(Extremum { max: false }, &[self, other])
    }

    /// [`Var::minimum`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_minimum(self, other: Self) -> Result<Self> {
        self.tape().apply(Extremum { max: false }, &[self, other])
    }
}
