//! Evaluating a [`Closure`] for the preconditioned optimisers of this folder (Shampoo, Sophia, AdaHessian):
//! the loss and gradient of the trainable parameters as one flat vector, one-probe Hutchinson estimates on
//! the loss Hessian ([`LossHessian`], the tape's exact Hessian-vector product), and the checks that let a
//! step write its update only once every new value is finite.
//!
//! The flat vector is the layout of [`flatten_params`](crate::objective::flatten_params): the trainable (not
//! frozen) parameters in visiting order, each row-major; [`Layout`] records their names, shapes and offsets.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_autodiff::{Float, Tensor};
use wengert_nn::{f64_from_meta, f64_to_meta, Bound, Module, StateDict};

use super::Closure;
use crate::curvature::{rademacher, LossHessian};
use crate::linalg::LinOp;
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

    /// No parameters (the layout of an optimiser that has not stepped).
    pub fn empty() -> Self {
        Layout { names: Vec::new(), shapes: Vec::new(), offsets: vec![0] }
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
            Probe::Rademacher => rademacher(n, rng),
            Probe::Gaussian => Tensor::randn(&[n], T::ZERO, T::ONE, rng).into_vec(),
        }
    }
}

/// Hutchinson's estimate `u ⊙ (H u)` of the Hessian diagonal from one probe `u` (flat layout), as AdaHessian
/// and Sophia-H take it at every refresh. ([`curvature::hutchinson_diagonal`](crate::curvature::hutchinson_diagonal)
/// averages two or more Rademacher probes and gives standard errors; these optimisers average over steps
/// instead, with their moving averages.)
pub(crate) fn hutchinson_diagonal<T: Float, R: Rng + ?Sized>(
    hessian: &LossHessian<T>,
    probe: Probe,
    rng: &mut R,
) -> Vec<T> {
    let u: Vec<T> = probe.draw(hessian.dim(), rng);
    let mut hu = vec![T::ZERO; u.len()];
    hessian.apply(&u, &mut hu);
    u.iter().zip(&hu).map(|(&u, &hu)| u * hu).collect()
}

/// The generator of step `step`'s probes or sampled labels, derived from `(seed, step)` as K-FAC does: a resumed
/// run draws what an uninterrupted one would, and a failed step leaves nothing behind.
pub(crate) fn step_rng(seed: u64, step: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The common part of a state dict: `algorithm`, `steps`, `learning_rate` (exact), and `params`, the trainable
/// parameters' names in visiting order (one per line).
pub(crate) fn state_header<T: Float>(algorithm: &str, steps: u64, lr: f64, layout: &Layout) -> StateDict<T> {
    let mut sd = StateDict::new();
    sd.metadata.insert("algorithm".into(), algorithm.into());
    sd.metadata.insert("steps".into(), steps.to_string());
    sd.metadata.insert("learning_rate".into(), f64_to_meta(lr));
    sd.metadata.insert("params".into(), layout.names.join("\n"));
    sd
}

/// Stores the flat `x` as one tensor per parameter, `{key}.{name}` with the parameter's shape.
pub(crate) fn save_flat<T: Float>(sd: &mut StateDict<T>, key: &str, layout: &Layout, x: &[T]) {
    for (i, name) in layout.names.iter().enumerate() {
        sd.tensors.insert(format!("{key}.{name}"), Tensor::from_vec(x[layout.range(i)].to_vec(), &layout.shapes[i]));
    }
}

/// What [`state_header`] saved: `(steps, learning rate, layout)`, the shapes read from the tensors
/// `{shape_key}.{name}`; `Err(BadStateDict)` naming what is missing or malformed.
pub(crate) fn load_header<T: Float>(
    sd: &StateDict<T>,
    algorithm: &str,
    shape_key: &str,
) -> Result<(u64, f64, Layout), OptimError> {
    let bad = |m: String| OptimError::BadStateDict(format!("{algorithm}: {m}"));
    if sd.metadata.get("algorithm").map(String::as_str) != Some(algorithm) {
        return Err(bad(format!("the state dict is for {:?}", sd.metadata.get("algorithm"))));
    }
    let steps = sd.metadata.get("steps").and_then(|s| s.parse().ok()).ok_or_else(|| bad("no `steps`".into()))?;
    let lr = sd
        .metadata
        .get("learning_rate")
        .and_then(|s| f64_from_meta(s))
        .ok_or_else(|| bad("no exact `learning_rate`".into()))?;
    let params = sd.metadata.get("params").ok_or_else(|| bad("no `params`".into()))?;
    let names: Vec<String> = if params.is_empty() { Vec::new() } else { params.lines().map(String::from).collect() };
    let (mut shapes, mut offsets) = (Vec::new(), vec![0]);
    for name in &names {
        let t =
            sd.tensors.get(&format!("{shape_key}.{name}")).ok_or_else(|| bad(format!("no `{shape_key}.{name}`")))?;
        shapes.push(t.shape().to_vec());
        offsets.push(offsets.last().copied().unwrap_or(0) + t.numel());
    }
    Ok((steps, lr, Layout { names, shapes, offsets }))
}

/// The flat vector stored by [`save_flat`] under `key`, each tensor checked against the layout's shape.
pub(crate) fn load_flat<T: Float>(
    sd: &StateDict<T>,
    algorithm: &str,
    key: &str,
    layout: &Layout,
) -> Result<Vec<T>, OptimError> {
    let mut x = Vec::with_capacity(layout.len());
    for (name, shape) in layout.names.iter().zip(&layout.shapes) {
        match sd.tensors.get(&format!("{key}.{name}")) {
            Some(t) if t.shape() == shape.as_slice() => x.extend_from_slice(t.as_slice()),
            Some(t) => {
                return Err(OptimError::BadStateDict(format!(
                    "{algorithm}: `{key}.{name}` has shape {:?}, the parameter {shape:?}",
                    t.shape()
                )))
            }
            None => return Err(OptimError::BadStateDict(format!("{algorithm}: no `{key}.{name}`"))),
        }
    }
    Ok(x)
}
