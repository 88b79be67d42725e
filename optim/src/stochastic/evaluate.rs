//! Evaluating a [`Closure`] for the preconditioned optimisers of this folder (Shampoo, Sophia, AdaHessian):
//! the loss and gradient of the trainable parameters as one flat vector, the Hessian of the loss as an
//! operator ([`HessianOperator`], the crate's one exact Hessian-vector product), Hutchinson probes, and
//! writing an update into the model only once every new value is finite.
//!
//! The flat vector concatenates the trainable (not frozen) parameters in visiting order, each row-major;
//! [`Layout`] records their names, shapes and offsets.

use std::cell::RefCell;

use rand::Rng;
use wengert_autodiff::functional::HessianOperator;
use wengert_autodiff::{Float, Tensor, Var};
use wengert_nn::{Bound, Module};

use super::Closure;
use crate::OptimError;

/// Names, shapes and offsets of a model's trainable parameters in the flat vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub names: Vec<String>,
    pub shapes: Vec<Vec<usize>>,
    /// `offsets[i]..offsets[i + 1]` is parameter `i`; `offsets.len() == names.len() + 1`.
    pub offsets: Vec<usize>,
}

impl Layout {
    /// The trainable parameters of `model`.
    pub fn of<T: Float>(model: &dyn Module<T>) -> Self {
        let (mut names, mut shapes, mut offsets) = (Vec::new(), Vec::new(), vec![0]);
        model.visit("", &mut |name, p| {
            if !p.is_frozen() {
                names.push(name.to_string());
                shapes.push(p.shape().to_vec());
                offsets.push(offsets.last().copied().unwrap_or(0) + p.numel());
            }
        });
        Layout { names, shapes, offsets }
    }

    /// Total number of trainable scalars.
    pub fn len(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    /// The index range of parameter `i` in the flat vector.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    /// `Ok` if `model` still has this layout (an optimiser's state belongs to one), else `ShapeMismatch`
    /// naming the first parameter that differs.
    pub fn check<T: Float>(&self, model: &dyn Module<T>) -> Result<(), OptimError> {
        let now = Layout::of(model);
        if &now == self {
            return Ok(());
        }
        let i = (0..self.names.len().min(now.names.len()))
            .find(|&i| self.names[i] != now.names[i] || self.shapes[i] != now.shapes[i])
            .unwrap_or(self.names.len().min(now.names.len()));
        let param = now.names.get(i).or(self.names.get(i)).cloned().unwrap_or_default();
        Err(OptimError::ShapeMismatch {
            param,
            expected: self.shapes.get(i).cloned().unwrap_or_default(),
            got: now.shapes.get(i).cloned().unwrap_or_default(),
        })
    }

    /// `Err(NonFinite)` naming the first parameter whose entry of the gradient `g` is not finite.
    pub fn check_gradient<T: Float>(&self, g: &[T]) -> Result<(), OptimError> {
        self.first_non_finite(g).map_or(Ok(()), |param| Err(OptimError::NonFinite { param }))
    }

    /// `Err(NonFiniteUpdate)` naming the first parameter whose entry of `x` (a new value or state) is not finite.
    pub fn check_update<T: Float>(&self, x: &[T]) -> Result<(), OptimError> {
        self.first_non_finite(x).map_or(Ok(()), |param| Err(OptimError::NonFiniteUpdate { param }))
    }

    fn first_non_finite<T: Float>(&self, x: &[T]) -> Option<String> {
        let k = x.iter().position(|v| !v.is_finite())?;
        let i = self.offsets.partition_point(|&o| o <= k) - 1;
        Some(self.names[i].clone())
    }
}

/// `Err(NonFinite)` for a loss that is NaN or infinite (the "parameter" is named `loss`).
pub(crate) fn check_loss<T: Float>(loss: T) -> Result<(), OptimError> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(OptimError::NonFinite { param: "loss".to_string() })
    }
}

/// The trainable parameters of `model` as one flat vector.
pub(crate) fn flat_parameters<T: Float>(model: &dyn Module<T>) -> Vec<T> {
    let mut x = Vec::new();
    model.visit("", &mut |_, p| {
        if !p.is_frozen() {
            x.extend_from_slice(p.value().as_slice())
        }
    });
    x
}

/// Writes the flat vector `x` into the trainable parameters of `model` (the caller checked it is finite).
pub(crate) fn write_parameters<T: Float>(model: &mut dyn Module<T>, x: &[T]) {
    let mut off = 0;
    model.visit_mut("", &mut |_, p| {
        if !p.is_frozen() {
            let k = p.numel();
            p.value_mut().data_mut().copy_from_slice(&x[off..off + k]);
            off += k;
        }
    });
}

/// The minibatch loss and its gradient with respect to the trainable parameters (flat), from one evaluation
/// of the closure; a parameter the loss does not reach has a zero gradient.
pub(crate) fn loss_and_gradient<T: Float>(model: &dyn Module<T>, closure: &mut Closure<'_, T>) -> (T, Vec<T>) {
    let tape = wengert_autodiff::Tape::new();
    let bound = Bound::new(&tape, model);
    let ev = closure(model, &bound);
    let loss = ev.loss.value(ev.outputs);
    let grads = bound.grad(loss);
    (loss.item(), flatten_grads(model, &grads))
}

/// The gradients of `grads` in the flat layout (zeros where a parameter has none).
pub(crate) fn flatten_grads<T: Float>(model: &dyn Module<T>, grads: &wengert_nn::Grads<T>) -> Vec<T> {
    let mut g = Vec::new();
    model.visit("", &mut |_, p| {
        if !p.is_frozen() {
            match grads.get(p) {
                Some(t) => g.extend_from_slice(t.as_slice()),
                None => g.extend(std::iter::repeat_n(T::ZERO, p.numel())),
            }
        }
    });
    g
}

/// The Hessian of the minibatch loss with respect to the trainable parameters (flat) at the current
/// parameters, recorded once by [`HessianOperator`] (one evaluation of the closure): its `value()` is the
/// loss, its `gradient()` the flat gradient, and each `apply(v)` one exact `H v`.
pub(crate) fn hessian_operator<T: Float>(model: &dyn Module<T>, closure: &mut Closure<'_, T>) -> HessianOperator<T> {
    let mut params: Vec<(Option<Vec<usize>>, Tensor<T>)> = Vec::new();
    model.visit("", &mut |_, p| {
        let shape = (!p.is_frozen()).then(|| p.shape().to_vec());
        // Frozen parameters are recorded as constants; their value is only needed then.
        let value = if p.is_frozen() { p.value().clone() } else { Tensor::zeros(&[0]) };
        params.push((shape, value));
    });
    let x = Tensor::from_vec(flat_parameters(model), &[Layout::of(model).len()]);
    let closure = RefCell::new(closure);
    HessianOperator::new(
        |x: Var<'_, T>| {
            let tape = x.tape();
            let mut off = 0;
            let vars: Vec<Var<'_, T>> = params
                .iter()
                .map(|(shape, value)| match shape {
                    Some(shape) => {
                        let k: usize = shape.iter().product();
                        off += k;
                        x.slice(0, off - k..off).reshape(shape)
                    }
                    None => tape.constant(value.clone()),
                })
                .collect();
            let bound = Bound::with_vars(tape, model, &vars);
            let mut closure = closure.borrow_mut();
            let ev = (*closure)(model, &bound);
            ev.loss.value(ev.outputs)
        },
        &x,
    )
}

/// The distribution of the probe vectors `u` of Hutchinson's estimator `diag(H) ≈ E[u ⊙ H u]`, which holds
/// for any `u` with independent entries of mean 0 and variance 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Entries `±1` with probability 1/2 each: the estimator of the diagonal has the least variance
    /// (Hutchinson 1990; AdaHessian's choice). When `H` is diagonal, `u ⊙ H u = diag(H)` exactly.
    Rademacher,
    /// Entries from `N(0, 1)` (Sophia's Hutchinson estimator, Liu et al. 2023, Section 2.3).
    Gaussian,
}

impl Probe {
    /// A probe vector of length `n` drawn from `rng`.
    pub(crate) fn draw<T: Float, R: Rng + ?Sized>(self, n: usize, rng: &mut R) -> Vec<T> {
        match self {
            Probe::Rademacher => (0..n).map(|_| if rng.random::<bool>() { T::ONE } else { -T::ONE }).collect(),
            Probe::Gaussian => (0..n).map(|_| T::from_f64(standard_normal(rng))).collect(),
        }
    }
}

/// One draw from `N(0, 1)` by the Box-Muller transform (`u1` in `(0, 1]`, so the logarithm is finite).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Hutchinson's estimate `u ⊙ (H u)` of the Hessian diagonal from one probe `u` (flat layout).
pub(crate) fn hutchinson_diagonal<T: Float, R: Rng + ?Sized>(
    hessian: &HessianOperator<T>,
    probe: Probe,
    rng: &mut R,
) -> Vec<T> {
    let u: Vec<T> = probe.draw(hessian.dim(), rng);
    let hu = hessian.apply(&Tensor::from_vec(u.clone(), &[u.len()]));
    u.iter().zip(hu.as_slice()).map(|(&u, &hu)| u * hu).collect()
}
