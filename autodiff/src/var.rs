//! [`Var`]: a `Copy` handle to a node on a [`Tape`], with operator overloading.

use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::{Float, Shape, Tape, Tensor};

/// A handle to a value recorded on a [`Tape`]: cheap to copy, and every op on it
/// records a new node.
///
/// Arithmetic operators work between variables (with NumPy broadcasting) and with
/// scalars on either side. The binary operators panic on a shape mismatch with a
/// message naming the op and both shapes; the `try_` methods return the error.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Float> {
    tape: &'t Tape<T>,
    id: usize,
}

impl<'t, T: Float> Var<'t, T> {
    pub(crate) fn from_id(tape: &'t Tape<T>, id: usize) -> Self {
        Var { tape, id }
    }

    /// The node's position on the tape.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The tape this variable lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The value (a cheap, shared clone).
    pub fn value(&self) -> Tensor<T> {
        self.tape.value_of(self.id)
    }

    /// The shape of the value.
    pub fn shape(&self) -> Shape {
        self.tape.nodes.borrow()[self.id].value.shape_vec()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.tape.nodes.borrow()[self.id].value.numel()
    }

    /// The single value of a one-element variable.
    ///
    /// # Panics
    /// If the variable has more than one element.
    #[track_caller]
    pub fn item(&self) -> T {
        self.tape.nodes.borrow()[self.id].value.item()
    }

    /// Whether gradients can flow into this variable.
    pub fn requires_grad(&self) -> bool {
        self.tape.requires_grad(self.id)
    }

    /// The forward-mode tangent of this variable, if it has one (see [`Tape::set_tangent`] and
    /// [`Tape::dual`]).
    pub fn tangent(&self) -> Option<Self> {
        self.tape.tangent_of(self.id).map(|t| Var::from_id(self.tape, t))
    }

    /// A constant on the same tape.
    #[track_caller]
    pub fn constant_like(&self, value: Tensor<T>) -> Self {
        self.tape.constant(value)
    }
}

impl<T: Float> fmt::Display for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value(), f)
    }
}

impl<T: Float> fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var#{} ", self.id)?;
        fmt::Display::fmt(&self.value(), f)
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $var_method:ident, $scalar_rhs:expr, $scalar_lhs:expr) => {
        impl<'t, T: Float> $trait for Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $method(self, rhs: Var<'t, T>) -> Var<'t, T> {
                self.$var_method(rhs)
            }
        }
        impl<'t, T: Float> $trait<T> for Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $method(self, rhs: T) -> Var<'t, T> {
                let f: fn(Var<'t, T>, T) -> Var<'t, T> = $scalar_rhs;
                f(self, rhs)
            }
        }
        impl<'t> $trait<Var<'t, f32>> for f32 {
            type Output = Var<'t, f32>;
            #[track_caller]
            fn $method(self, rhs: Var<'t, f32>) -> Var<'t, f32> {
                let f: fn(f32, Var<'t, f32>) -> Var<'t, f32> = $scalar_lhs;
                f(self, rhs)
            }
        }
        impl<'t> $trait<Var<'t, f64>> for f64 {
            type Output = Var<'t, f64>;
            #[track_caller]
            fn $method(self, rhs: Var<'t, f64>) -> Var<'t, f64> {
                let f: fn(f64, Var<'t, f64>) -> Var<'t, f64> = $scalar_lhs;
                f(self, rhs)
            }
        }
    };
}

binary_operator!(Add, add, add, |x, c| x.add_scalar(c), |c, x| x.add_scalar(c));
binary_operator!(Sub, sub, sub, |x, c| x.add_scalar(-c), |c, x| x.neg().add_scalar(c));
binary_operator!(Mul, mul, mul, |x, c| x.mul_scalar(c), |c, x| x.mul_scalar(c));
binary_operator!(Div, div, div, |x, c| x.mul_scalar(T::ONE / c), |c, x| x.powf(-1.0).mul_scalar(c));

impl<'t, T: Float> Neg for Var<'t, T> {
    type Output = Var<'t, T>;
    #[track_caller]
    fn neg(self) -> Var<'t, T> {
        Var::neg(self)
    }
}
