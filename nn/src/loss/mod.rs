//! Losses, one per file, each reducing per-element or per-sample losses with a [`Reduction`].
//!
//! All are composed from tape ops, so they are differentiable to any order (exact
//! Hessian-vector products through `grad_graph`). Targets are tape variables (usually
//! constants); class labels are integer slices.
//!
//! | loss | per element / sample `L_i` |
//! |---|---|
//! | [`mse`] | `(x_i - y_i)^2` |
//! | [`l1`] | `abs(x_i - y_i)` |
//! | [`huber`] | `0.5 d^2` if `abs(d) < delta`, else `delta (abs(d) - 0.5 delta)`, `d = x_i - y_i` |
//! | [`cross_entropy`] | `-log softmax(s_i)_{y_i} = -s_{i,y_i} + log sum_j e^{s_ij}` (softmax loss) |
//! | [`nll`] | `-logp_{i,y_i}` (from log-probabilities) |
//! | [`bce_with_logits`] | `softplus(x_i) - x_i y_i = max(x_i, 0) - x_i y_i + log(1 + e^-abs(x_i))` |
//! | [`multiclass_hinge`] | `sum_{j != y_i} max(0, s_ij - s_{i,y_i} + margin)` (multiclass SVM loss) |
//! | [`l2_penalty`], [`l2_regularization`] | `lambda R(W)`, `R(W) = sum_k sum W_k^2` |
//!
//! The full objective of the lectures is `L = 1/N sum_i L_i + lambda R(W)`:
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use wengert_autodiff::{Tape, Tensor};
//! use wengert_nn::layers::{Activation, Mlp};
//! use wengert_nn::loss::{cross_entropy, l2_regularization, Reduction};
//! use wengert_nn::{Bound, Module};
//!
//! let model = Mlp::<f64>::new(&[4, 8, 3], Activation::Relu, &mut StdRng::seed_from_u64(0));
//! let tape = Tape::new();
//! let p = Bound::new(&tape, &model);
//! let logits = model.forward(&p, tape.constant(Tensor::ones(&[2, 4])));
//! let data = cross_entropy(logits, &[0, 2], Reduction::Mean);
//! let loss = data + l2_regularization(&p, 1e-4, |name| name.ends_with("weight"));
//! let grads = p.grad(loss);
//! assert_eq!(grads.len(), 4);
//! ```

mod bce;
mod cross_entropy;
mod hinge;
mod huber;
mod l1;
mod l2;
mod mse;
mod nll;

pub use bce::{bce_with_logits, try_bce_with_logits};
pub use cross_entropy::cross_entropy;
pub use hinge::multiclass_hinge;
pub use huber::huber;
pub use l1::l1;
pub use l2::{l2_penalty, l2_regularization};
pub use mse::mse;
pub use nll::nll;

use wengert_autodiff::{Float, Var};

/// How per-element (or per-sample) losses are combined, as PyTorch's `reduction=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over all elements (samples): `1/N sum_i L_i`. The default, as in PyTorch.
    #[default]
    Mean,
    /// The sum `sum_i L_i`.
    Sum,
    /// No reduction: the per-element (per-sample) losses themselves.
    None,
}

impl Reduction {
    /// Reduces `losses` as this reduction says.
    pub fn apply<'t, T: Float>(self, losses: Var<'t, T>) -> Var<'t, T> {
        match self {
            Reduction::Mean => losses.mean(),
            Reduction::Sum => losses.sum(),
            Reduction::None => losses,
        }
    }
}

/// Panics unless `a` and `b` have the same shape (losses do not broadcast silently).
#[track_caller]
fn same_shape<T: Float>(loss: &str, a: Var<'_, T>, b: Var<'_, T>) {
    let (sa, sb) = (a.shape(), b.shape());
    assert!(sa == sb, "{loss}: prediction shape {:?} differs from target shape {:?}", sa.as_slice(), sb.as_slice());
}

/// Panics unless `scores` is `[N, C]` with `N == labels.len()` and every label `< C`.
#[track_caller]
fn check_labels<T: Float>(loss: &str, scores: Var<'_, T>, labels: &[usize]) {
    let s = scores.shape();
    assert!(
        s.len() == 2 && s[0] == labels.len(),
        "{loss}: scores must be [N, C] with N = {} labels, got {:?}",
        labels.len(),
        s.as_slice()
    );
    if let Some(&bad) = labels.iter().find(|&&l| l >= s[1]) {
        panic!("{loss}: label {bad} out of range for {} classes", s[1]);
    }
}
