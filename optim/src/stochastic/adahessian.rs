//! AdaHessian (Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney, "ADAHESSIAN: An Adaptive Second Order
//! Optimizer for Machine Learning", AAAI 2021, Algorithm 1): Adam with the squared gradient replaced by the
//! squared Hutchinson estimate of the Hessian diagonal.
//!
//! Every step evaluates the closure once, recording the loss and its gradient graph
//! ([`LossHessian`], the tape's `HessianOperator`), and takes one exact Hessian-vector
//! product with a Rademacher probe `u`:
//!
//! ```text
//! D    = u ⊙ (H u)                                       Hutchinson: E[D] = diag(H)
//! D(s) = D averaged over the spatial axes of a kernel    (rank >= 3, [out, in, k...]: one value per (out, in))
//! m    = beta1 m + (1 - beta1) g
//! v    = beta2 v + (1 - beta2) D(s) ⊙ D(s)
//! w    = w - lr (m / (1 - beta1^t) / ((sqrt(v / (1 - beta2^t)))^k + eps) + weight_decay w)
//! ```
//!
//! `k` is the Hessian power (`k = 1`: the Newton-like scaling; `k = 0`: SGD with momentum). The spatial
//! averaging is the paper's eq. (10): for a convolution kernel the diagonal is averaged over the kernel
//! window, which lowers the variance of the estimate and keeps the direction of a filter. The paper averages
//! the signed `D` as written here; the authors' code averages `|D|` (the same for a block of one). Weight
//! decay is decoupled, as in the authors' code (`p - lr (m̂ / denom + wd p)`). Defaults are those of the
//! authors' PyTorch implementation (`amirgholami/adahessian`).
//!
//! ```
//! use wengert_optim::stochastic::adahessian::{AdaHessian, AdaHessianConfig};
//! let opt = AdaHessian::<f64>::new(AdaHessianConfig { lr: 0.1, ..AdaHessianConfig::default() }).unwrap();
//! assert_eq!(opt.config().hessian_power, 1.0);
//! assert!(AdaHessian::<f64>::new(AdaHessianConfig { betas: (0.9, 1.0), ..AdaHessianConfig::default() }).is_err());
//! ```

use wengert_autodiff::Float;
use wengert_nn::{Module, StateDict};

pub use super::evaluate::Probe;
use super::evaluate::{self, check_loss, Layout};
use super::{Closure, StepReport, StochasticOptimizer};
use crate::curvature::LossHessian;
use crate::first_order::error_check as check;
use crate::objective::{flatten_params, unflatten_params};
use crate::OptimError;

/// Hyperparameters of [`AdaHessian`]. Defaults as the authors' implementation: `lr = 0.15`,
/// `betas = (0.9, 0.999)`, `eps = 1e-4`, `weight_decay = 0`, `hessian_power = 1`, Rademacher probes.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaHessianConfig {
    /// Step size.
    pub lr: f64,
    /// Decay rates `(beta1, beta2)` of the gradient and of the squared Hessian diagonal, each in `[0, 1)`.
    pub betas: (f64, f64),
    /// Added to the denominator `(sqrt(v̂))^k`.
    pub eps: f64,
    /// Decoupled weight decay: `w <- w - lr weight_decay w`.
    pub weight_decay: f64,
    /// The Hessian power `k` in `[0, 1]`.
    pub hessian_power: f64,
    /// Distribution of the Hutchinson probe.
    pub probe: Probe,
    /// Seed of the probes: step `t` draws from a generator seeded with `(seed, t)`.
    pub seed: u64,
}

impl Default for AdaHessianConfig {
    fn default() -> Self {
        AdaHessianConfig {
            lr: 0.15,
            betas: (0.9, 0.999),
            eps: 1e-4,
            weight_decay: 0.0,
            hessian_power: 1.0,
            probe: Probe::Rademacher,
            seed: 0,
        }
    }
}

impl AdaHessianConfig {
    /// `Err(InvalidConfig)` naming the first field out of range.
    pub fn validate(&self) -> Result<(), OptimError> {
        let nonneg = |name: &str, v: f64| {
            check(v.is_finite() && v >= 0.0, || format!("AdaHessianConfig: {name} = {v} must be finite and >= 0"))
        };
        let unit = |name: &str, v: f64| {
            check((0.0..1.0).contains(&v), || format!("AdaHessianConfig: {name} = {v} must be in [0, 1)"))
        };
        nonneg("lr", self.lr)?;
        unit("beta1", self.betas.0)?;
        unit("beta2", self.betas.1)?;
        nonneg("eps", self.eps)?;
        nonneg("weight_decay", self.weight_decay)?;
        let k = self.hessian_power;
        check((0.0..=1.0).contains(&k), || format!("AdaHessianConfig: hessian_power = {k} must be in [0, 1]"))
    }
}

struct State<T> {
    layout: Layout,
    step: u64,
    m: Vec<T>,
    v: Vec<T>,
}

/// AdaHessian (see the [module docs](self)).
pub struct AdaHessian<T: Float> {
    config: AdaHessianConfig,
    state: Option<State<T>>,
}

impl<T: Float> AdaHessian<T> {
    /// An optimiser with no state yet (it is sized at the first step).
    ///
    /// Returns `Err(InvalidConfig)` if the config does not [validate](AdaHessianConfig::validate).
    pub fn new(config: AdaHessianConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(AdaHessian { config, state: None })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdaHessianConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.step)
    }

    /// Everything needed to resume bit-exactly: `steps` and the learning rate (exact, in the metadata), the
    /// parameters' names (`params`), and per parameter `exp_avg.{name}` (`m`) and `exp_hessian_diag_sq.{name}`
    /// (`v`). The probes of later steps follow from `(seed, step)`.
    pub fn state_dict(&self) -> StateDict<T> {
        let Some(s) = &self.state else {
            return evaluate::state_header("adahessian", 0, self.config.lr, &Layout::empty());
        };
        let mut sd = evaluate::state_header("adahessian", s.step, self.config.lr, &s.layout);
        evaluate::save_flat(&mut sd, "exp_avg", &s.layout, &s.m);
        evaluate::save_flat(&mut sd, "exp_hessian_diag_sq", &s.layout, &s.v);
        sd
    }

    /// Restores what [`AdaHessian::state_dict`] saved (the configuration other than the learning rate stays
    /// this optimiser's own). On `Err(BadStateDict)` (another algorithm, a missing or malformed entry) nothing
    /// changed.
    pub fn load_state_dict(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let (step, lr, layout) = evaluate::load_header(sd, "adahessian", "exp_avg")?;
        let config = AdaHessianConfig { lr, ..self.config.clone() };
        config.validate().map_err(|e| OptimError::BadStateDict(e.to_string()))?;
        let state = if step == 0 {
            None
        } else {
            let m = evaluate::load_flat(sd, "adahessian", "exp_avg", &layout)?;
            let v = evaluate::load_flat(sd, "adahessian", "exp_hessian_diag_sq", &layout)?;
            Some(State { layout, step, m, v })
        };
        self.config = config;
        self.state = state;
        Ok(())
    }
}

/// Replaces `d` by its average over the spatial axes (all axes after the first two) of a kernel of rank 3 or
/// more; leaves tensors of rank 2 or less alone (their blocks are single entries).
pub(crate) fn spatial_average<T: Float>(d: &mut [T], shape: &[usize]) {
    if shape.len() < 3 {
        return;
    }
    let block: usize = shape[2..].iter().product();
    if block == 0 {
        return;
    }
    let inv = T::ONE / T::from_usize(block);
    for chunk in d.chunks_mut(block) {
        let mean = chunk.iter().fold(T::ZERO, |a, &b| a + b) * inv;
        chunk.fill(mean);
    }
}

impl<T: Float> StochasticOptimizer<T> for AdaHessian<T> {
    fn step(&mut self, model: &mut dyn Module<T>, closure: &mut Closure<'_, T>) -> Result<StepReport<T>, OptimError> {
        if let Some(s) = &self.state {
            s.layout.check(&*model)?;
        }
        let layout = self.state.as_ref().map_or_else(|| Layout::of(&*model), |s| s.layout.clone());
        let hessian = LossHessian::new(&*model, closure);
        let loss = hessian.loss_value();
        check_loss(loss)?;
        let g = hessian.gradient();
        layout.check_gradient(g)?;
        let step = self.state.as_ref().map_or(0, |s| s.step) + 1;
        let mut rng = evaluate::step_rng(self.config.seed, step);
        let mut d = evaluate::hutchinson_diagonal(&hessian, self.config.probe, &mut rng);
        for i in 0..layout.names.len() {
            spatial_average(&mut d[layout.range(i)], &layout.shapes[i]);
        }
        layout.check_gradient(&d)?;

        let n = layout.len();
        let (mut m, mut v) = match &self.state {
            Some(s) => (s.m.clone(), s.v.clone()),
            None => (vec![T::ZERO; n], vec![T::ZERO; n]),
        };
        let c = &self.config;
        let (b1, b2) = c.betas;
        let bc1 = 1.0 - b1.powi(step.min(i32::MAX as u64) as i32);
        let bc2 = 1.0 - b2.powi(step.min(i32::MAX as u64) as i32);
        let (b1, b2, k) = (T::from_f64(b1), T::from_f64(b2), T::from_f64(c.hessian_power));
        let (inv_bc1, inv_bc2, eps) = (T::from_f64(1.0 / bc1), T::from_f64(1.0 / bc2), T::from_f64(c.eps));
        let (lr, wd) = (T::from_f64(c.lr), T::from_f64(c.weight_decay));
        let mut w = flatten_params(&*model);
        for i in 0..n {
            m[i] = b1 * m[i] + (T::ONE - b1) * g[i];
            v[i] = b2 * v[i] + (T::ONE - b2) * d[i] * d[i];
            let denom = (v[i] * inv_bc2).sqrt().powf(k) + eps;
            w[i] = w[i] - lr * (m[i] * inv_bc1 / denom + wd * w[i]);
        }
        layout.check_update(&m)?;
        layout.check_update(&v)?;
        layout.check_update(&w)?;

        unflatten_params(model, &w);
        self.state = Some(State { layout, step, m, v });
        Ok(StepReport { loss, evaluations: 1, curvature_products: 1 })
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError> {
        AdaHessianConfig { lr, ..self.config.clone() }.validate()?;
        self.config.lr = lr;
        Ok(())
    }
}
