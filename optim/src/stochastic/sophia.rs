//! Sophia (Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for Language
//! Model Pre-training", ICLR 2024, Algorithm 3): a momentum step preconditioned by an exponential moving
//! average of a diagonal Hessian estimate that is refreshed every `k` steps, clipped coordinate-wise.
//!
//! ```text
//! g   = grad L(w)                                    (the minibatch loss, one closure evaluation)
//! m   = beta1 m + (1 - beta1) g
//! every k steps (t mod k = 1, t = 1, 2, ...):
//!     h = beta2 h + (1 - beta2) ĥ                    (h = 0 before the first estimate)
//! w   = w - lr weight_decay w                        (decoupled weight decay)
//! w   = w - lr clip(m / max(gamma h, eps), 1)        (clip(z, 1) = max(min(z, 1), -1) per coordinate)
//! ```
//!
//! The two estimators of the paper:
//!
//! - **Sophia-H** ([`Estimator::Hutchinson`]): `ĥ = u ⊙ (H u)` with one probe `u` (Gaussian in the paper;
//!   [`Probe`] chooses), an exact Hessian-vector product on the gradient's graph. `ĥ` may be negative;
//!   `max(gamma h, eps)` then makes the step a clipped sign step.
//! - **Sophia-G** ([`Estimator::GaussNewtonBartlett`]): labels `ŷ` are drawn from the model's own predictive
//!   distribution at the minibatch ([`OutputLoss::sample`](crate::curvature::OutputLoss::sample)),
//!   `ĝ = grad L̂(w)` is the gradient of the mean loss on them, and `ĥ = B ĝ ⊙ ĝ` with `B` the batch size
//!   (for cross-entropy; in general `1 / c` with `L = c sum_n nll_n`,
//!   [`OutputLoss::nll_scale`](crate::curvature::OutputLoss::nll_scale): `N C` for the mean squared error
//!   over `N x C` outputs): by Bartlett's identity `E[ĝ ĝᵀ] = c G`, so `E[ĥ] = diag G`, the Gauss-Newton
//!   matrix (the Fisher) of the loss. It costs no Hessian product,
//!   only a second backward pass over the same recording.
//!
//! Defaults follow the authors' code (`Liuhong99/Sophia`, `SophiaG`): `lr = 1e-4`, `betas = (0.965, 0.99)`,
//! `weight_decay = 0.1`, `k = 10`; `eps = 1e-12` as the paper; `gamma = 0.01` (the paper tunes `gamma` per
//! model; the authors' code folds the batch size into its `rho`, here `B` is inside `ĥ` as in Algorithm 2).
//!
//! ```
//! use wengert_optim::stochastic::sophia::{Estimator, Sophia, SophiaConfig};
//! let cfg = SophiaConfig { estimator: Estimator::GaussNewtonBartlett, ..SophiaConfig::default() };
//! assert!(Sophia::<f64>::new(cfg).is_ok());
//! assert!(Sophia::<f64>::new(SophiaConfig { k: 0, ..SophiaConfig::default() }).is_err());
//! ```

use rand::rngs::StdRng;
use wengert_autodiff::{Float, Tape};
use wengert_nn::{Bound, Module, StateDict};

pub use super::evaluate::Probe;
use super::evaluate::{self, check_loss, Layout};
use super::{Closure, StepReport, StochasticOptimizer};
use crate::curvature::LossHessian;
use crate::first_order::error_check as check;
use crate::objective::{flatten_params, unflatten_params};
use crate::OptimError;

/// How Sophia estimates the Hessian diagonal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// Sophia-H: Hutchinson's `u ⊙ (H u)` with one probe of the given distribution.
    Hutchinson(Probe),
    /// Sophia-G: Gauss-Newton-Bartlett `B ĝ ⊙ ĝ` with labels sampled from the model.
    GaussNewtonBartlett,
}

/// Hyperparameters of [`Sophia`] (defaults in the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct SophiaConfig {
    /// Step size `lr`.
    pub lr: f64,
    /// `(beta1, beta2)`: decay of the gradient's and of the Hessian estimate's moving averages, in `[0, 1)`.
    pub betas: (f64, f64),
    /// `gamma > 0`: the scale of the Hessian in the denominator (the clipping threshold is 1 after it).
    pub gamma: f64,
    /// `eps > 0`: the floor of the denominator.
    pub eps: f64,
    /// Decoupled weight decay `lambda`: `w <- w - lr lambda w`.
    pub weight_decay: f64,
    /// The Hessian estimate is refreshed every `k >= 1` steps (at steps 1, k + 1, 2k + 1, ...).
    pub k: u64,
    /// Which estimator.
    pub estimator: Estimator,
    /// Seed of the probes or sampled labels: step `t` draws from a generator seeded with `(seed, t)`.
    pub seed: u64,
}

impl Default for SophiaConfig {
    fn default() -> Self {
        SophiaConfig {
            lr: 1e-4,
            betas: (0.965, 0.99),
            gamma: 0.01,
            eps: 1e-12,
            weight_decay: 0.1,
            k: 10,
            estimator: Estimator::Hutchinson(Probe::Gaussian),
            seed: 0,
        }
    }
}

impl SophiaConfig {
    /// `Err(InvalidConfig)` naming the first field out of range.
    pub fn validate(&self) -> Result<(), OptimError> {
        let nonneg = |name: &str, v: f64| {
            check(v.is_finite() && v >= 0.0, || format!("SophiaConfig: {name} = {v} must be finite and >= 0"))
        };
        let pos = |name: &str, v: f64| {
            check(v.is_finite() && v > 0.0, || format!("SophiaConfig: {name} = {v} must be finite and > 0"))
        };
        let unit = |name: &str, v: f64| {
            check((0.0..1.0).contains(&v), || format!("SophiaConfig: {name} = {v} must be in [0, 1)"))
        };
        nonneg("lr", self.lr)?;
        unit("beta1", self.betas.0)?;
        unit("beta2", self.betas.1)?;
        pos("gamma", self.gamma)?;
        pos("eps", self.eps)?;
        nonneg("weight_decay", self.weight_decay)?;
        check(self.k >= 1, || format!("SophiaConfig: k = {} must be >= 1", self.k))
    }
}

/// What the last [`Sophia`] step did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SophiaInfo {
    /// Whether the Hessian estimate was refreshed at this step.
    pub hessian_refreshed: bool,
    /// Fraction of coordinates whose step was clipped (`|m / max(gamma h, eps)| > 1`): the paper's
    /// diagnostic; near 1 Sophia is sign descent, near 0 it is a diagonal Newton step.
    pub clipped_fraction: f64,
}

struct State<T> {
    layout: Layout,
    step: u64,
    m: Vec<T>,
    h: Vec<T>,
}

/// Sophia (see the [module docs](self)).
pub struct Sophia<T: Float> {
    config: SophiaConfig,
    state: Option<State<T>>,
    info: SophiaInfo,
}

impl<T: Float> Sophia<T> {
    /// An optimiser with no state yet (it is sized at the first step).
    ///
    /// Returns `Err(InvalidConfig)` if the config does not [validate](SophiaConfig::validate).
    pub fn new(config: SophiaConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Sophia { config, state: None, info: SophiaInfo::default() })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SophiaConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.step)
    }

    /// What the last successful step did.
    pub fn info(&self) -> SophiaInfo {
        self.info
    }

    /// Everything needed to resume bit-exactly: `steps` and the learning rate (exact, in the metadata), the
    /// parameters' names (`params`), and per parameter `exp_avg.{name}` (`m`) and `hessian.{name}` (`h`). The
    /// probes or sampled labels of later steps follow from `(seed, step)`.
    pub fn state_dict(&self) -> StateDict<T> {
        let Some(s) = &self.state else {
            return evaluate::state_header("sophia", 0, self.config.lr, &Layout::empty());
        };
        let mut sd = evaluate::state_header("sophia", s.step, self.config.lr, &s.layout);
        evaluate::save_flat(&mut sd, "exp_avg", &s.layout, &s.m);
        evaluate::save_flat(&mut sd, "hessian", &s.layout, &s.h);
        sd
    }

    /// Restores what [`Sophia::state_dict`] saved (the configuration other than the learning rate stays this
    /// optimiser's own). On `Err(BadStateDict)` (another algorithm, a missing or malformed entry) nothing
    /// changed.
    pub fn load_state_dict(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let (step, lr, layout) = evaluate::load_header(sd, "sophia", "exp_avg")?;
        let config = SophiaConfig { lr, ..self.config.clone() };
        config.validate().map_err(|e| OptimError::BadStateDict(e.to_string()))?;
        let state = if step == 0 {
            None
        } else {
            let m = evaluate::load_flat(sd, "sophia", "exp_avg", &layout)?;
            let h = evaluate::load_flat(sd, "sophia", "hessian", &layout)?;
            Some(State { layout, step, m, h })
        };
        self.config = config;
        self.state = state;
        Ok(())
    }

    /// The current diagonal Hessian estimate `h` (flat, trainable parameters in visiting order), if a step
    /// was taken.
    pub fn hessian_diagonal(&self) -> Option<&[T]> {
        self.state.as_ref().map(|s| s.h.as_slice())
    }
}

/// Loss, gradient and the Gauss-Newton-Bartlett estimate `c^-1 ĝ ⊙ ĝ` (`c^-1 = B` for cross-entropy), from one evaluation of the closure.
fn gauss_newton_bartlett<T: Float>(
    model: &dyn Module<T>,
    closure: &mut Closure<'_, T>,
    rng: &mut StdRng,
) -> (T, Vec<T>, Vec<T>) {
    let tape = Tape::new();
    let bound = Bound::new(&tape, model);
    let ev = closure(model, &bound);
    let loss = ev.loss.value(ev.outputs);
    let sampled = ev.loss.sample(&ev.outputs.value(), rng);
    let inv_c = T::ONE / sampled.nll_scale();
    let loss_sampled = sampled.value(ev.outputs);
    let g = evaluate::flatten_grads(model, &bound.grad(loss));
    let g_hat = evaluate::flatten_grads(model, &bound.grad(loss_sampled));
    (loss.item(), g, g_hat.iter().map(|&x| inv_c * x * x).collect())
}

impl<T: Float> StochasticOptimizer<T> for Sophia<T> {
    fn step(&mut self, model: &mut dyn Module<T>, closure: &mut Closure<'_, T>) -> Result<StepReport<T>, OptimError> {
        if let Some(s) = &self.state {
            s.layout.check(&*model)?;
        }
        let layout = self.state.as_ref().map_or_else(|| Layout::of(&*model), |s| s.layout.clone());
        let step = self.state.as_ref().map_or(0, |s| s.step) + 1;
        let refresh = (step - 1).is_multiple_of(self.config.k);
        let mut rng = evaluate::step_rng(self.config.seed, step);
        let (loss, g, h_hat, products) = match (refresh, self.config.estimator) {
            (false, _) => {
                let (loss, g) = evaluate::loss_and_gradient(&*model, closure);
                (loss, g, None, 0)
            }
            (true, Estimator::Hutchinson(probe)) => {
                let hessian = LossHessian::new(&*model, closure);
                check_loss(hessian.loss_value())?;
                layout.check_gradient(hessian.gradient())?;
                let d = evaluate::hutchinson_diagonal(&hessian, probe, &mut rng);
                (hessian.loss_value(), hessian.gradient().to_vec(), Some(d), 1)
            }
            (true, Estimator::GaussNewtonBartlett) => {
                let (loss, g, d) = gauss_newton_bartlett(&*model, closure, &mut rng);
                (loss, g, Some(d), 0)
            }
        };
        check_loss(loss)?;
        layout.check_gradient(&g)?;
        if let Some(d) = &h_hat {
            layout.check_gradient(d)?;
        }

        let n = layout.len();
        let (mut m, mut h) = match &self.state {
            Some(s) => (s.m.clone(), s.h.clone()),
            None => (vec![T::ZERO; n], vec![T::ZERO; n]),
        };
        let c = &self.config;
        let (b1, b2) = (T::from_f64(c.betas.0), T::from_f64(c.betas.1));
        let (gamma, eps) = (T::from_f64(c.gamma), T::from_f64(c.eps));
        let (lr, shrink) = (T::from_f64(c.lr), T::from_f64(1.0 - c.lr * c.weight_decay));
        let mut w = flatten_params(&*model);
        let mut clipped = 0usize;
        for i in 0..n {
            m[i] = b1 * m[i] + (T::ONE - b1) * g[i];
            if let Some(d) = &h_hat {
                h[i] = b2 * h[i] + (T::ONE - b2) * d[i];
            }
            let ratio = m[i] / (gamma * h[i]).max(eps);
            if ratio.abs() > T::ONE {
                clipped += 1;
            }
            w[i] = w[i] * shrink - lr * ratio.max(-T::ONE).min(T::ONE);
        }
        layout.check_update(&m)?;
        layout.check_update(&h)?;
        layout.check_update(&w)?;

        unflatten_params(model, &w);
        self.state = Some(State { layout, step, m, h });
        self.info = SophiaInfo {
            hessian_refreshed: h_hat.is_some(),
            clipped_fraction: if n == 0 { 0.0 } else { clipped as f64 / n as f64 },
        };
        Ok(StepReport { loss, evaluations: 1, curvature_products: products })
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError> {
        SophiaConfig { lr, ..self.config.clone() }.validate()?;
        self.config.lr = lr;
        Ok(())
    }
}
