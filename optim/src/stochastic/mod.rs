//! Minibatch second-order optimisers, stepped with a closure that re-evaluates the loss on the current minibatch
//! (as PyTorch's `torch.optim.LBFGS.step(closure)`).
//!
//! The closure records the model's forward pass with the parameters bound on a tape the optimiser owns and
//! returns the outputs with an [`OutputLoss`] on them ([`Evaluation`]). From the outputs and the loss an
//! optimiser gets the loss value, its gradient, Hessian-vector products, Gauss-Newton products
//! `J^T H_L J v` and Fisher estimates with labels sampled from the model ([`OutputLoss::sample`]). It may call
//! the closure several times in one step (a line search, a curvature minibatch), and the closure must evaluate
//! the same minibatch each time.
//!
//! | optimiser | file | what |
//! |---|---|---|
//! | [`StochasticOptimizer`] | `mod.rs` | the trait every optimiser here implements; [`Closure`], [`Evaluation`], [`StepReport`] |
//! | [`HessianFree`](hessian_free::HessianFree) | `hessian_free.rs` | truncated CG on damped Gauss-Newton products `(G + lambda I) d = -g`, Levenberg-Marquardt damping, warm start, CG-iterate backtracking, curvature minibatch (Martens 2010) |
//! | [`Shampoo`](shampoo::Shampoo) | `shampoo.rs` | Kronecker-factored `L^-1/4 G R^-1/4` (Gupta et al. 2018), inverse roots every `T` steps, grafted to Adam's per-tensor step size |
//! | [`Sophia`](sophia::Sophia) | `sophia.rs` | clipped diagonal-Newton momentum step, Hessian diagonal by Hutchinson (Sophia-H) or Gauss-Newton-Bartlett (Sophia-G) every `k` steps (Liu et al. 2023) |
//! | [`AdaHessian`](adahessian::AdaHessian) | `adahessian.rs` | Adam with the squared gradient replaced by the squared Hutchinson Hessian diagonal, spatially averaged for kernels (Yao et al. 2021) |
//! | [`Kfac`](kfac::Kfac) | `kfac.rs` | K-FAC (Martens & Grosse 2015; KFC for `Conv2d`, Grosse & Martens 2016): Kronecker-factored Fisher blocks per `Linear`/`Conv2d` layer, π-damped inverses every `T` steps, KL-clipped momentum step; SGD fallback for other parameters |
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use wengert_autodiff::{Tape, Tensor};
//! use wengert_nn::layers::{Activation, Mlp};
//! use wengert_nn::{Bound, Module};
//! use wengert_optim::curvature::OutputLoss;
//! use wengert_optim::stochastic::{closure, Closure, Evaluation};
//!
//! let model = Mlp::<f64>::new(&[4, 8, 3], Activation::Tanh, &mut StdRng::seed_from_u64(0));
//! let (x, labels) = (Tensor::ones(&[2, 4]), vec![0, 2]);
//! // `closure` pins the higher-ranked signature of a closure kept in a variable (an inline closure passed to
//! // `step(&mut model, &mut |m, p| ...)` gets it from the expected type)
//! let mut closure = closure(|m: &dyn Module<f64>, p| Evaluation {
//!     outputs: m.forward(p, p.tape().constant(x.clone())),
//!     loss: OutputLoss::CrossEntropy { labels: labels.clone() },
//! });
//! let closure: &mut Closure<'_, f64> = &mut closure; // what `StochasticOptimizer::step` takes
//! let tape = Tape::new();
//! let p = Bound::new(&tape, &model);
//! let eval = closure(&model, &p);
//! let loss = eval.loss.value(eval.outputs);
//! assert!(loss.item() > 0.0);
//! assert_eq!(p.grad(loss).len(), 4);
//! ```

use wengert_autodiff::{Float, Var};
use wengert_nn::{Bound, Module};

pub mod adahessian;
mod evaluate;
pub mod hessian_free;
pub mod kfac;
pub mod shampoo;
pub mod sophia;

pub use crate::curvature::OutputLoss;
use crate::OptimError;

/// What a [`Closure`] returns: the model's outputs on the minibatch, recorded on the optimiser's tape, and the
/// loss on them (its labels or targets).
pub struct Evaluation<'t, T: Float> {
    /// The model's outputs (logits, log-probabilities or predictions), recorded with the bound parameters.
    pub outputs: Var<'t, T>,
    /// The loss as a function of `outputs`.
    pub loss: OutputLoss<T>,
}

/// `closure(model, p)` records the model's forward pass on the current minibatch with the parameters bound in
/// `p` (`model.forward(p, p.tape().constant(x))`) and returns the outputs with the loss on them. An optimiser
/// may call it several times in one step; it must evaluate the same minibatch each time.
pub type Closure<'c, T> = dyn for<'t> FnMut(&dyn Module<T>, &Bound<'t, T>) -> Evaluation<'t, T> + 'c;

/// Returns `f` unchanged, with the higher-ranked signature of a [`Closure`]: Rust infers it for a closure
/// passed inline where a `&mut Closure` is expected, but not for one first stored in a `let`.
pub fn closure<'c, T: Float, F>(f: F) -> F
where
    F: for<'t> FnMut(&dyn Module<T>, &Bound<'t, T>) -> Evaluation<'t, T> + 'c,
{
    f
}

/// A minibatch optimiser that steps a model with a [`Closure`].
pub trait StochasticOptimizer<T: Float> {
    /// One step: evaluates the closure, updates the model's trainable parameters, returns what happened.
    /// On `Err` no parameter and no optimiser state has changed (a non-finite loss, gradient or curvature
    /// gives an [`OptimError`]).
    fn step(&mut self, model: &mut dyn Module<T>, closure: &mut Closure<'_, T>) -> Result<StepReport<T>, OptimError>;

    /// The current learning rate (step-size multiplier).
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (for schedules); `Err(InvalidConfig)` if it is not finite and positive.
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError>;
}

/// What one [`StochasticOptimizer::step`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport<T> {
    /// The minibatch loss at the parameters before the step.
    pub loss: T,
    /// Closure calls made in the step.
    pub evaluations: usize,
    /// Curvature products (Hessian-, Gauss-Newton- or Fisher-vector products, or their equivalent) computed.
    pub curvature_products: usize,
}
