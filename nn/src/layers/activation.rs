//! Activation layers without parameters, and [`Activation`], the choice of one.
//!
//! Each layer applies the tape op of the same name elementwise; the formula is on the layer.

use wengert_autodiff::{Float, Var};

use super::gelu::{gelu, Gelu};
use crate::{Bound, Module, Param, Parameters};

macro_rules! activation_layer {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl<T: Float> Parameters<T> for $name {
            fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
            fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
        }

        impl<T: Float> Module<T> for $name {
            fn forward<'t>(&self, _: &Bound<'t, T>, $x: Var<'t, T>) -> Var<'t, T> {
                $body
            }
        }
    };
}

activation_layer!(
    /// `relu(x) = max(x, 0)`.
    Relu, |x| x.relu()
);
activation_layer!(
    /// `sigmoid(x) = 1 / (1 + e^-x)`.
    Sigmoid, |x| x.sigmoid()
);
activation_layer!(
    /// `tanh(x)`.
    Tanh, |x| x.tanh()
);
activation_layer!(
    /// `softplus(x) = ln(1 + e^x)`, computed stably.
    Softplus, |x| x.softplus()
);

/// `leaky_relu(x) = x` for `x > 0`, `slope * x` otherwise (PyTorch's default slope is `0.01`).
#[derive(Clone, Copy, Debug)]
pub struct LeakyRelu {
    /// The slope for negative inputs.
    pub slope: f64,
}

impl Default for LeakyRelu {
    /// Slope `0.01`, as PyTorch's `nn.LeakyReLU()`.
    fn default() -> Self {
        LeakyRelu { slope: 0.01 }
    }
}

impl<T: Float> Parameters<T> for LeakyRelu {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for LeakyRelu {
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        x.leaky_relu(T::from_f64(self.slope))
    }
}

/// The choice of a nonlinearity, for builders such as [`Mlp`](super::Mlp).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// [`Relu`].
    Relu,
    /// [`LeakyRelu`] with the given slope.
    LeakyRelu(f64),
    /// [`Sigmoid`].
    Sigmoid,
    /// [`Tanh`].
    Tanh,
    /// [`Softplus`].
    Softplus,
    /// [`Gelu`] (tanh approximation).
    Gelu,
}

impl Activation {
    /// Applies the nonlinearity to `x`.
    pub fn apply<'t, T: Float>(self, x: Var<'t, T>) -> Var<'t, T> {
        match self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(s) => x.leaky_relu(T::from_f64(s)),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => x.softplus(),
            Activation::Gelu => gelu(x),
        }
    }

    /// The nonlinearity as a boxed layer, for [`Sequential`](super::Sequential).
    pub fn layer<T: Float>(self) -> Box<dyn Module<T>> {
        match self {
            Activation::Relu => Box::new(Relu),
            Activation::LeakyRelu(slope) => Box::new(LeakyRelu { slope }),
            Activation::Sigmoid => Box::new(Sigmoid),
            Activation::Tanh => Box::new(Tanh),
            Activation::Softplus => Box::new(Softplus),
            Activation::Gelu => Box::new(Gelu),
        }
    }

    /// The matching [`init::Nonlinearity`](crate::init::Nonlinearity) for gain computations
    /// (GELU and softplus use the ReLU gain, as is common practice).
    pub fn nonlinearity(self) -> crate::init::Nonlinearity {
        use crate::init::Nonlinearity as N;
        match self {
            Activation::Relu | Activation::Gelu | Activation::Softplus => N::Relu,
            Activation::LeakyRelu(s) => N::LeakyRelu(s),
            Activation::Sigmoid => N::Sigmoid,
            Activation::Tanh => N::Tanh,
        }
    }
}
