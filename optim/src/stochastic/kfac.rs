//! [`Kfac`]: Kronecker-factored approximate curvature (Martens & Grosse 2015), with the convolution factors of
//! Grosse & Martens 2016 (KFC) and the KL-clipped step of Ba, Grosse & Martens 2017.
//!
//! ## The approximation
//!
//! For an affine layer `s = W̄ ā` (`W̄ = [W | b]`, `ā = [a; 1]` the layer input with a homogeneous 1 for the
//! bias), the gradient of one example's loss is `∇W̄ ℓ = g āᵀ` with `g = ∂ℓ/∂s`. The layer's block of the Fisher
//! `F = E[vec(∇W̄) vec(∇W̄)ᵀ]` is approximated by a Kronecker product of two small matrices:
//!
//! ```text
//! F ≈ A ⊗ G,    A = E[ā āᵀ]   ([in+1, in+1]),    G = E[g gᵀ]   ([out, out])
//! ```
//!
//! (M&G 2015 §3; in the row-major layout of `W̄` `[out, in+1]` the block is `G ⊗ A`.) The expectation is over the
//! examples of the minibatch. For a `Conv2d` layer (KFC, Grosse & Martens 2016 §3) the samples `ā` are the
//! input's im2col patches at every output position `t ∈ T` and `g` the output gradients at those positions,
//! with the paper's spatial scaling: `A = E_n[Σ_t ā_t ā_tᵀ]` (sum over positions) and
//! `G = E_n[1/|T| Σ_t g_t g_tᵀ]` (mean over positions), as kfac-jax's `Conv2DTwoKroneckerFactored`. A `Linear`
//! layer whose input has more than two axes (`[N, .., in]`) is treated the same way, every leading row after
//! the first axis a position; a layer applied several times in one forward pass adds its uses as positions too.
//!
//! The factors are scaled so that `A ⊗ G` approximates the curvature of the minibatch loss `L` itself (its
//! Gauss-Newton block), whatever its normalisation. With `L = c Σ_n nll_n` ([`OutputLoss::nll_scale`]: `c = 1/N`
//! for cross-entropy, `1/M` over all `M` elements for MSE and BCE) and `d_n = ∂L/∂s_n`, the Fisher of `L` is
//! `c⁻¹ Σ_n E[d_n d_nᵀ]` on the outputs (see [`OutputLoss`]), so `G = c⁻¹ Σ_n d_n d_nᵀ / |T|` while
//! `A = (1/N) Σ_n Σ_t ā āᵀ`; in per-example terms `g_n = sqrt(N/c) d_n` (`N d_n` for cross-entropy).
//! [`FisherEstimator`] says where `d` comes from: targets sampled from the model's predictive distribution
//! ([`OutputLoss::sample`]: the true Fisher, default), the data's targets (the empirical Fisher), or the exact
//! Gauss-Newton matrix `Σ_n J_nᵀ H_L J_n` through a square root of `H_L` (one reverse sweep per output).
//!
//! ## The step
//!
//! Every `factor_update_period` steps (default 10) the minibatch statistics enter exponential moving
//! averages `A ← ε A + (1-ε) Â` (normalised by the accumulated weight, so the first estimate is `Â` itself;
//! kfac-jax's `WeightedMovingAverage`). Every
//! `inverse_update_period` steps the damped inverses are recomputed with factored Tikhonov damping
//! (M&G 2015 §6.3):
//!
//! ```text
//! π = sqrt( (tr A / dim A) / (tr G / dim G) ),    (A + π √λ I)⁻¹,    (G + √λ / π I)⁻¹
//! ```
//!
//! and the layer's update direction is the preconditioned gradient (weight decay `ω` folded into the gradient)
//!
//! ```text
//! V = (G + √λ/π I)⁻¹ (∇W̄ + ω W̄) (A + π √λ I)⁻¹ .
//! ```
//!
//! The step is KL-clipped (Ba et al. 2017 §5; ACKTR): with learning rate `η` and bound `κ`,
//! `ν = min(1, sqrt(κ / (η² Σ_layers ⟨V, ∇W̄⟩)))`, and with momentum `μ` the update is
//! `m ← μ m + ν V`, `W̄ ← W̄ - η m` (PyTorch's SGD momentum, as KFAC-Pytorch).
//!
//! Parameters that are not the weight or bias of a captured `Linear`/`Conv2d` (norm layers, embeddings, a
//! `Conv2d` with groups, a `Conv1d`, a bias whose weight is frozen) take the **first-order fallback**: the
//! same update with `V = ∇θ + ω θ`, i.e. SGD with momentum (and weight decay) at the same learning rate,
//! KL-clipped together with the K-FAC layers (their Fisher taken as the identity in `Σ ⟨V, ∇⟩`).
//!
//! ## Capturing the layers
//!
//! [`Kfac::step`] records the closure with a [`Bound::capturing`] binding, so every `Linear` and `Conv2d`
//! forward pass leaves a [`wengert_nn::LayerCapture`] (input and pre-activation output); the output gradients
//! are one extra reverse sweep of the same tape to those outputs (no second forward pass).
//!
//! ## References
//! - J. Martens, R. Grosse, *Optimizing Neural Networks with Kronecker-factored Approximate Curvature*, ICML 2015.
//! - R. Grosse, J. Martens, *A Kronecker-factored approximate Fisher matrix for convolution layers*, ICML 2016.
//! - J. Ba, R. Grosse, J. Martens, *Distributed Second-Order Optimization using Kronecker-Factored
//!   Approximations*, ICLR 2017 (KL clipping).
//! - kfac-jax (DeepMind): `curvature_blocks.py` (factor conventions), `utils.pi_adjusted_inverse`.
//! - KFAC-Pytorch (Wang, 2019, the implementation of ACKTR's and Ba et al.'s settings): default hyperparameters.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::ops::Conv2dArgs;
use wengert_autodiff::{kernels, Float, Tape, Tensor, Var};
use wengert_nn::{f64_from_meta, f64_to_meta, Bound, CaptureKind, LayerCapture, Module, ParamId, StateDict};

use super::{Closure, StepReport, StochasticOptimizer};
use crate::curvature::OutputLoss;
use crate::linalg::LinalgError;
use crate::OptimError;

/// How the output gradients `g` of the factor `G = E[g gᵀ]` are obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FisherEstimator {
    /// The true Fisher: one target per example drawn from the model's predictive distribution
    /// ([`OutputLoss::sample`]), `g` the gradient of the loss on those targets (M&G 2015 §5; kfac-jax's default
    /// `fisher_gradients`). One extra reverse sweep per factor update.
    #[default]
    Sampled,
    /// The empirical Fisher: `g` the gradient of the training loss itself (the data's targets). No extra sweep;
    /// a biased estimate of the curvature (Kunstner et al. 2019).
    Empirical,
    /// The exact generalised Gauss-Newton factor: with the loss Hessian on example `n`'s outputs `N H_L = B Bᵀ`
    /// (from [`OutputLoss::hessian_vec`], `B` its pivot-free Cholesky factor), `G = E[Σ_k g_k g_kᵀ]` with `g_k`
    /// the reverse sweep of column `k` of `B` (kfac-jax's `ggn_exact`): the Gauss-Newton factor without sampling noise;
    /// costs `C` Hessian products and `C` reverse sweeps per factor update for `C` outputs per example.
    ExactGgn,
}

/// Configuration of [`Kfac`].
///
/// Defaults are those of KFAC-Pytorch's `KFACOptimizer` (Wang 2019, the settings of ACKTR / Ba et al. 2017):
/// `learning_rate = 1e-3`, `momentum = 0.9`, `damping = 1e-3`, `kl_clip = Some(1e-3)`, `weight_decay = 0`,
/// `ema_decay = 0.95` (also kfac-jax's `curvature_ema` and M&G's cap `min(1 - 1/k, 0.95)`),
/// `factor_update_period = 10` (`TCov`; M&G and kfac-jax re-estimate every step), `inverse_update_period = 100`
/// (`TInv`; M&G 2015 §8 use `T₃ = 20`); `fisher = Sampled` (KFAC-Pytorch, M&G and kfac-jax); `seed = 0`.
///
/// Measured on the race's digits MLP (64-128-10 ReLU, minibatches of 32, f32, 20 epochs, same initialisation
/// and minibatch order; a shared 2-core machine, so times are rough): Adam with lr 1e-2 ends at a training loss
/// of 2.26e-3 (reached in epoch 19); K-FAC with `learning_rate = 1e-2, damping = 1e-2` (other fields default)
/// reaches it in epoch 5 and ends at 2.5e-4, the defaults within 8 epochs, ending at 7e-4. A K-FAC step costs
/// about 3 Adam steps there (the products `G⁻¹ ∇W̄ A⁻¹` alone take about 5 times the MLP's forward pass at this
/// batch size), so K-FAC reached Adam's final loss in about 0.75x Adam's time in steps (0.052 s against 0.069 s).
///
/// The adaptive step and damping of M&G 2015 §6-7 ([`KfacConfig::adaptive_step`],
/// [`KfacConfig::adaptive_damping`]) are off by default, as in KFAC-Pytorch: on the same MLP with minibatches of
/// 256 they reached Adam's final loss after 9 epochs (`damping = 1e-3` adapted; 10 with the adaptive step
/// alone) against 6-7 for the fixed KL-clipped step with momentum 0.8, and each step costs two more
/// forward-mode sweeps (`J Δ`, `J δ₀`) and, every `damping_adaptation_interval` steps, one more forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct KfacConfig {
    /// `η`, the step size (finite, `> 0`).
    pub learning_rate: f64,
    /// `λ`, the Tikhonov damping split between the factors as `π √λ` and `√λ / π` (finite, `> 0`). Factored
    /// damping adds `√λ (A/π ⊗ I + π I ⊗ G) + λ I` to `A ⊗ G`, more than KFAC-Pytorch's `λ` on the eigenvalues of `A ⊗ G`
    /// whose default it borrows; on the digits MLP `1e-2` trained better than `1e-3` (see the type's docs).
    pub damping: f64,
    /// `ε`, the decay of the factors' moving averages (in `[0, 1)`; `0` keeps only the current minibatch).
    pub ema_decay: f64,
    /// Steps between re-estimations of the factors (`>= 1`; a layer without factors gets them at once). Between
    /// them no output-gradient sweep is made and the moving averages stand still.
    pub factor_update_period: usize,
    /// `T`, steps between recomputations of the damped inverses (`>= 1`; a layer without them gets them at once).
    pub inverse_update_period: usize,
    /// `κ`, the bound on the step's KL divergence (quadratic model `η² ν² Σ ⟨V, ∇⟩ ≤ κ`); `None` disables clipping.
    pub kl_clip: Option<f64>,
    /// `μ`, the momentum of the update (in `[0, 1)`; `0` for none).
    pub momentum: f64,
    /// `ω`, L2 weight decay added to every gradient before preconditioning (finite, `>= 0`).
    pub weight_decay: f64,
    /// How the output gradients of `G` are obtained.
    pub fisher: FisherEstimator,
    /// Seed of the generator that samples the targets of [`FisherEstimator::Sampled`].
    pub seed: u64,
    /// Choose the step's learning rate and momentum by minimising the damped quadratic model of the minibatch
    /// loss (M&G 2015 §7; kfac-jax's `use_adaptive_learning_rate` and `use_adaptive_momentum`): with the
    /// K-FAC direction `Δ = -V` and the previous update `δ₀`, `δ = α Δ + μ δ₀` where `(α, μ)` minimise
    /// `M(δ) = ∇ᵀδ + ½ δᵀ (Gₑ + (λ + ω) I) δ`, `Gₑ` the exact Gauss-Newton matrix of the minibatch loss (two
    /// Jacobian-vector products, `J Δ` and `J δ₀`, and the loss Hessian on the outputs). The step is then
    /// `learning_rate · δ` (`1` for M&G's rule); `momentum` and `kl_clip` are not used. Default `false`.
    pub adaptive_step: bool,
    /// Adapt `λ` by the Levenberg-Marquardt rule (M&G 2015 §6.5; kfac-jax): every
    /// `damping_adaptation_interval` steps the loss is evaluated again on the same minibatch after the update,
    /// `ρ = (L(θ + δ) - L(θ)) / M(δ)`, and `λ ← ω λ` if `ρ > 3/4`, `λ ← λ / ω` if `ρ < 1/4`, with
    /// `ω = damping_adaptation_decay ^ damping_adaptation_interval`, never below `min_damping`. Needs
    /// `adaptive_step` (for `M(δ)`). Default `false`.
    pub adaptive_damping: bool,
    /// `T₁`, steps between damping adaptations (`>= 1`; kfac-jax's default 5).
    pub damping_adaptation_interval: usize,
    /// The per-step decay whose `T₁`-th power is `ω` (in `(0, 1)`; kfac-jax's and M&G's `0.95`).
    pub damping_adaptation_decay: f64,
    /// The floor of the adapted `λ` (finite, `> 0`; kfac-jax's `1e-8`).
    pub min_damping: f64,
}

impl Default for KfacConfig {
    fn default() -> Self {
        KfacConfig {
            learning_rate: 1e-3,
            damping: 1e-3,
            ema_decay: 0.95,
            factor_update_period: 10,
            inverse_update_period: 100,
            kl_clip: Some(1e-3),
            momentum: 0.9,
            weight_decay: 0.0,
            fisher: FisherEstimator::Sampled,
            seed: 0,
            adaptive_step: false,
            adaptive_damping: false,
            damping_adaptation_interval: 5,
            damping_adaptation_decay: 0.95,
            min_damping: 1e-8,
        }
    }
}

impl KfacConfig {
    /// Defaults with learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        KfacConfig { learning_rate, ..Self::default() }
    }

    /// Checks every field's range (see the field docs).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field and its value.
    pub fn validate(&self) -> Result<(), OptimError> {
        let bad = |field: &str, v: String| Err(OptimError::InvalidConfig(format!("KfacConfig: {field} = {v}")));
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", format!("{} (must be finite and > 0)", self.learning_rate));
        }
        if !(self.damping.is_finite() && self.damping > 0.0) {
            return bad("damping", format!("{} (must be finite and > 0)", self.damping));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay", format!("{} (must be in [0, 1))", self.ema_decay));
        }
        if self.factor_update_period == 0 {
            return bad("factor_update_period", "0 (must be >= 1)".into());
        }
        if self.inverse_update_period == 0 {
            return bad("inverse_update_period", "0 (must be >= 1)".into());
        }
        if let Some(k) = self.kl_clip {
            if !(k.is_finite() && k > 0.0) {
                return bad("kl_clip", format!("Some({k}) (must be finite and > 0)"));
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("{} (must be in [0, 1))", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("{} (must be finite and >= 0)", self.weight_decay));
        }
        if self.adaptive_damping && !self.adaptive_step {
            return bad("adaptive_damping", "true without adaptive_step (the rule needs the quadratic model)".into());
        }
        if self.damping_adaptation_interval == 0 {
            return bad("damping_adaptation_interval", "0 (must be >= 1)".into());
        }
        if !(self.damping_adaptation_decay > 0.0 && self.damping_adaptation_decay < 1.0) {
            return bad("damping_adaptation_decay", format!("{} (must be in (0, 1))", self.damping_adaptation_decay));
        }
        if !(self.min_damping.is_finite() && self.min_damping > 0.0) {
            return bad("min_damping", format!("{} (must be finite and > 0)", self.min_damping));
        }
        Ok(())
    }
}

/// What the last [`Kfac::step`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KfacInfo {
    /// `ν`, the KL-clipping scale applied to the step (`1` when not clipped).
    pub kl_scale: f64,
    /// Whether the damped inverses were recomputed this step.
    pub inverses_refreshed: bool,
    /// Number of layers preconditioned with Kronecker factors.
    pub kfac_layers: usize,
    /// Number of parameters updated by the first-order fallback.
    pub fallback_params: usize,
    /// With [`KfacConfig::adaptive_step`]: `(α, μ)`, the coefficients of `Δ` and `δ₀` in the update (before the
    /// learning rate's scaling); `None` otherwise.
    pub coefficients: Option<(f64, f64)>,
    /// With [`KfacConfig::adaptive_step`]: `M(δ)`, the damped quadratic model's change at the update taken.
    pub model_change: Option<f64>,
    /// With [`KfacConfig::adaptive_damping`], on the steps that adapt `λ`: the reduction ratio `ρ`.
    pub reduction_ratio: Option<f64>,
    /// `λ` in force after this step (the configured damping unless it is adapted).
    pub damping: f64,
}

/// The two Kronecker factors of one layer: `A = E[ā āᵀ]` (inputs, homogeneous coordinate last when the layer
/// has a trainable bias) and `G = E[g gᵀ]` (output gradients), the layer's Fisher block being `A ⊗ G`.
#[derive(Clone, Debug)]
pub struct KroneckerFactors<T: Float> {
    /// `A`, `[d_in, d_in]` with `d_in = in (+1)` (`C_in kh kw (+1)` for a convolution, in the weight's order).
    pub a: Tensor<T>,
    /// `G`, `[out, out]`.
    pub g: Tensor<T>,
}

impl<T: Float> KroneckerFactors<T> {
    /// `π = sqrt((tr A / dim A) / (tr G / dim G))` (M&G 2015 §6.3), `1` if either trace is not positive and
    /// finite.
    pub fn pi(&self) -> f64 {
        let mean_diag = |m: &Tensor<T>| {
            let n = m.shape()[0];
            (0..n).map(|i| m.as_slice()[i * n + i].to_f64()).sum::<f64>() / n as f64
        };
        let p = (mean_diag(&self.a) / mean_diag(&self.g)).sqrt();
        if p.is_finite() && p > 0.0 {
            p
        } else {
            1.0
        }
    }

    /// The damped inverses `((A + π √λ I)⁻¹, (G + √λ / π I)⁻¹)` by Cholesky factorisation (in f64).
    ///
    /// # Errors
    /// [`OptimError::Linalg`] if a damped factor is not numerically positive definite (a non-finite factor).
    pub fn damped_inverses(&self, damping: f64) -> Result<(Tensor<T>, Tensor<T>), OptimError> {
        let (pi, s) = (self.pi(), damping.sqrt());
        Ok((spd_inverse(&self.a, pi * s)?, spd_inverse(&self.g, s / pi)?))
    }

    /// The preconditioned gradient `V = (G + √λ/π I)⁻¹ grad (A + π √λ I)⁻¹` of a gradient `grad` `[out, d_in]`,
    /// i.e. `((A + π √λ I) ⊗ (G + √λ/π I))⁻¹` applied to `grad` (computed afresh, not from a cache).
    ///
    /// # Errors
    /// As [`KroneckerFactors::damped_inverses`].
    ///
    /// # Panics
    /// If `grad` is not `[out, d_in]`.
    pub fn damped_solve(&self, damping: f64, grad: &Tensor<T>) -> Result<Tensor<T>, OptimError> {
        let (a_inv, g_inv) = self.damped_inverses(damping)?;
        Ok(precondition(&g_inv, grad, &a_inv))
    }
}

/// The persistent state of one K-FAC layer, keyed by its weight.
#[derive(Clone, Debug)]
struct LayerState<T: Float> {
    factors: KroneckerFactors<T>,
    /// Accumulated weight of the moving average (`1 - ε^k`), so the average is normalised.
    ema_weight: f64,
    /// `((A + π √λ I)⁻¹, (G + √λ/π I)⁻¹)` from the last refresh.
    inverses: Option<(Tensor<T>, Tensor<T>)>,
}

/// K-FAC: the minibatch optimiser that preconditions each `Linear` / `Conv2d` layer's gradient with the
/// inverse of a Kronecker-factored Fisher block (Martens & Grosse 2015). Per layer, with `W̄ = [W | b]`:
///
/// ```text
/// A ← EMA of E[ā āᵀ],  G ← EMA of c⁻¹ Σ_n d_n d_nᵀ        (every factor_update_period steps)
/// V = (G + √λ/π I)⁻¹ (∇W̄ + ω W̄) (A + π √λ I)⁻¹        (inverses every inverse_update_period steps)
/// ν = min(1, sqrt(κ / (η² Σ_layers ⟨V, ∇W̄⟩))),  m ← μ m + ν V,  W̄ ← W̄ - η m
/// ```
///
/// and SGD with momentum (`V = ∇θ + ω θ`) for every other parameter; the [module docs](self) give the details
/// (KFC for convolutions, `π`, `c`, the estimators).
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::Tensor;
/// use wengert_nn::layers::{Activation, Mlp};
/// use wengert_nn::{Bound, Module};
/// use wengert_optim::curvature::OutputLoss;
/// use wengert_optim::stochastic::kfac::{Kfac, KfacConfig};
/// use wengert_optim::stochastic::{Evaluation, StochasticOptimizer};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut model = Mlp::<f64>::new(&[4, 16, 3], Activation::Tanh, &mut rng);
/// let x = Tensor::randn(&[24, 4], 0.0, 1.0, &mut rng);
/// let labels: Vec<usize> = (0..24).map(|i| i % 3).collect();
/// let mut opt = Kfac::new(KfacConfig::new(0.01));
/// let mut losses = Vec::new();
/// for _ in 0..30 {
///     let report = opt
///         .step(&mut model, &mut |m: &dyn Module<f64>, p: &Bound<'_, f64>| Evaluation {
///             outputs: m.forward(p, p.tape().constant(x.clone())),
///             loss: OutputLoss::CrossEntropy { labels: labels.clone() },
///         })
///         .unwrap();
///     losses.push(report.loss);
/// }
/// assert!(losses[29] < 0.5 * losses[0]);
/// assert_eq!(opt.info().kfac_layers, 2);
/// ```
#[derive(Clone, Debug)]
pub struct Kfac<T: Float> {
    config: KfacConfig,
    /// Per K-FAC layer, keyed by the weight's hierarchical name (`layers.0.weight`).
    layers: BTreeMap<String, LayerState<T>>,
    /// Momentum buffers keyed by parameter name.
    momentum: BTreeMap<String, Tensor<T>>,
    /// `λ` in force (adapted with [`KfacConfig::adaptive_damping`]).
    damping: f64,
    steps: u64,
    info: KfacInfo,
}

/// One trainable parameter as bound for this step.
struct Bind<'t, T: Float> {
    name: String,
    id: ParamId,
    var: Var<'t, T>,
    value: Tensor<T>,
}

/// A layer eligible for K-FAC this step: its weight (index into the bound parameters), its trainable bias, and
/// the captures of its uses.
struct Layer<'t, T: Float> {
    weight: usize,
    bias: Option<usize>,
    uses: Vec<LayerCapture<'t, T>>,
}

impl<T: Float> Kfac<T> {
    /// An optimiser with `config`.
    ///
    /// # Panics
    /// If the config is invalid; see [`Kfac::try_new`].
    #[track_caller]
    pub fn new(config: KfacConfig) -> Self {
        Self::try_new(config).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An optimiser with `config`, or the config's validation error.
    pub fn try_new(config: KfacConfig) -> Result<Self, OptimError> {
        config.validate()?;
        let damping = config.damping;
        Ok(Kfac {
            config,
            layers: BTreeMap::new(),
            momentum: BTreeMap::new(),
            damping,
            steps: 0,
            info: KfacInfo::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KfacConfig {
        &self.config
    }

    /// What the last successful step did.
    pub fn info(&self) -> &KfacInfo {
        &self.info
    }

    /// `λ` in force: [`KfacConfig::damping`], or its adapted value with [`KfacConfig::adaptive_damping`].
    pub fn damping(&self) -> f64 {
        self.damping
    }

    /// Number of successful steps so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The current (moving-average) Kronecker factors of the layer whose weight has the hierarchical name
    /// `weight` (`layers.0.weight`), if it is preconditioned by K-FAC.
    pub fn factors(&self, weight: &str) -> Option<&KroneckerFactors<T>> {
        self.layers.get(weight).map(|s| &s.factors)
    }

    /// The generator of this step's sampled targets: a function of the seed and the step count only, so a
    /// resumed run samples what an uninterrupted one would.
    fn step_rng(&self) -> StdRng {
        StdRng::seed_from_u64(self.config.seed ^ (self.steps + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Everything needed to resume bit-exactly: the step count and learning rate (metadata, exact), per K-FAC
    /// layer `layers.{weight}.{a, g, a_inv, g_inv}` and `layers.{weight}.ema_weight`, per parameter
    /// `momentum.{name}`; keys use the parameters' hierarchical names.
    pub fn state_dict(&self) -> StateDict<T> {
        let mut sd = StateDict::new();
        sd.metadata.insert("algorithm".into(), "kfac".into());
        sd.metadata.insert("steps".into(), self.steps.to_string());
        sd.metadata.insert("learning_rate".into(), f64_to_meta(self.config.learning_rate));
        sd.metadata.insert("damping".into(), f64_to_meta(self.damping));
        for (name, l) in &self.layers {
            sd.metadata.insert(format!("layers.{name}.ema_weight"), f64_to_meta(l.ema_weight));
            sd.tensors.insert(format!("layers.{name}.a"), l.factors.a.clone());
            sd.tensors.insert(format!("layers.{name}.g"), l.factors.g.clone());
            if let Some((a_inv, g_inv)) = &l.inverses {
                sd.tensors.insert(format!("layers.{name}.a_inv"), a_inv.clone());
                sd.tensors.insert(format!("layers.{name}.g_inv"), g_inv.clone());
            }
        }
        for (name, m) in &self.momentum {
            sd.tensors.insert(format!("momentum.{name}"), m.clone());
        }
        sd
    }

    /// Restores what [`Kfac::state_dict`] saved (the configuration other than the learning rate stays this
    /// optimiser's own).
    ///
    /// # Errors
    /// [`OptimError::BadStateDict`] if the dict is for another algorithm, an entry is missing or malformed, or
    /// a factor is not a square matrix of its inverse's shape; on `Err` the optimiser is unchanged.
    pub fn load_state_dict(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let bad = |m: String| OptimError::BadStateDict(format!("K-FAC: {m}"));
        if sd.metadata.get("algorithm").map(String::as_str) != Some("kfac") {
            return Err(bad(format!("state dict is for {:?}", sd.metadata.get("algorithm"))));
        }
        let steps: u64 = sd
            .metadata
            .get("steps")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("missing or malformed `steps`".into()))?;
        let lr = sd
            .metadata
            .get("learning_rate")
            .and_then(|s| f64_from_meta(s))
            .ok_or_else(|| bad("missing or malformed `learning_rate`".into()))?;
        let config = KfacConfig { learning_rate: lr, ..self.config.clone() };
        config.validate().map_err(|e| bad(e.to_string()))?;
        let damping = match sd.metadata.get("damping") {
            Some(v) => f64_from_meta(v)
                .filter(|d| d.is_finite() && *d > 0.0)
                .ok_or_else(|| bad("malformed `damping`".into()))?,
            None => config.damping,
        };
        let tensor = |key: String| sd.tensors.get(&key).cloned().ok_or_else(|| bad(format!("missing `{key}`")));
        let square = |t: &Tensor<T>| t.ndim() == 2 && t.shape()[0] == t.shape()[1];
        let mut layers = BTreeMap::new();
        for (key, v) in &sd.metadata {
            let Some(name) = key.strip_prefix("layers.").and_then(|k| k.strip_suffix(".ema_weight")) else {
                continue;
            };
            let ema_weight = f64_from_meta(v).ok_or_else(|| bad(format!("`{key}` is not an exact float")))?;
            let factors =
                KroneckerFactors { a: tensor(format!("layers.{name}.a"))?, g: tensor(format!("layers.{name}.g"))? };
            let inverses = if sd.tensors.contains_key(&format!("layers.{name}.a_inv")) {
                Some((tensor(format!("layers.{name}.a_inv"))?, tensor(format!("layers.{name}.g_inv"))?))
            } else {
                None
            };
            let shapes_ok = square(&factors.a)
                && square(&factors.g)
                && inverses
                    .as_ref()
                    .is_none_or(|(ai, gi)| ai.shape() == factors.a.shape() && gi.shape() == factors.g.shape());
            if !shapes_ok {
                return Err(bad(format!("factors of `{name}` are not square matrices of matching shapes")));
            }
            layers.insert(name.to_string(), LayerState { factors, ema_weight, inverses });
        }
        let momentum = sd
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix("momentum.").map(|name| (name.to_string(), t.clone())))
            .collect();
        self.config = config;
        self.damping = damping;
        self.steps = steps;
        self.layers = layers;
        self.momentum = momentum;
        Ok(())
    }
}

/// What [`Kfac::adaptive_update`] takes from the step that recorded the closure.
struct AdaptiveInputs<'a, 't, T: Float> {
    tape: &'t Tape<T>,
    outputs: Var<'t, T>,
    loss: &'a OutputLoss<T>,
    loss_value: f64,
    params: &'a [Bind<'t, T>],
    /// `∇θ + ω θ` per parameter (`None` off the loss's path).
    grads: &'a [Option<Tensor<T>>],
    /// `V` per parameter: preconditioned for the K-FAC layers, the decayed gradient for the rest.
    directions: Vec<Option<Tensor<T>>>,
}

impl<T: Float> Kfac<T> {
    /// The update of [`KfacConfig::adaptive_step`] (and the damping rule of [`KfacConfig::adaptive_damping`]):
    /// `δ = η (α Δ + μ δ₀)` with `(α, μ)` minimising the damped quadratic model with the exact Gauss-Newton
    /// matrix of the minibatch (M&G 2015 §7), committed with the new factors.
    /// Ends a step whose updates were all checked finite (nothing is written before): the new parameter
    /// values into `model`, the momentum buffers and refreshed layer states into `self`.
    fn commit(
        &mut self,
        model: &mut dyn Module<T>,
        mut values: HashMap<ParamId, Tensor<T>>,
        momentum: impl IntoIterator<Item = (String, Tensor<T>)>,
        new_layers: Vec<(String, LayerState<T>)>,
    ) {
        model.visit_mut("", &mut |_, p| {
            if let Some(v) = values.remove(&p.id()) {
                p.set(v);
            }
        });
        self.momentum.extend(momentum);
        self.layers.extend(new_layers);
        self.steps += 1;
    }

    fn adaptive_update(
        &mut self,
        model: &mut dyn Module<T>,
        closure: &mut Closure<'_, T>,
        inp: AdaptiveInputs<'_, '_, T>,
        new_layers: Vec<(String, LayerState<T>)>,
        (refreshed, kfac_layers, fallback, mut curvature_products): (bool, usize, usize, usize),
    ) -> Result<StepReport<T>, OptimError> {
        let cfg = self.config.clone();
        let ps = inp.params;
        let delta: Vec<Option<Tensor<T>>> =
            inp.directions.iter().map(|d| d.as_ref().map(|v| scaled(v, -1.0))).collect();
        // δ₀, the previous update, where it has this step's shape.
        let prev: Vec<Option<Tensor<T>>> = ps
            .iter()
            .zip(&delta)
            .map(|(b, d)| {
                let d = d.as_ref()?;
                self.momentum.get(&b.name).filter(|m| m.shape() == d.shape()).cloned()
            })
            .collect();
        let vars: Vec<Var<'_, T>> = ps.iter().map(|b| b.var).collect();
        // `J v` on the outputs: one forward-mode sweep over the recorded forward pass.
        let jvp = |vs: &[Option<Tensor<T>>]| -> Result<Tensor<T>, OptimError> {
            let tangents: Vec<Var<'_, T>> = ps
                .iter()
                .zip(vs)
                .map(|(b, v)| inp.tape.constant(v.clone().unwrap_or_else(|| Tensor::zeros(b.value.shape()))))
                .collect();
            let j = inp
                .tape
                .jvp(&[inp.outputs], &vars, &tangents, false)
                .map_err(|_| OptimError::NonFiniteUpdate { param: "Jacobian-vector product".into() })?;
            Ok(j.get(0).map_or_else(|| Tensor::zeros(inp.outputs.shape().as_slice()), |t| t.value()))
        };
        let hessian = |u: &Tensor<T>| {
            inp.tape.no_grad(|| inp.loss.hessian_vec(inp.outputs, inp.tape.constant(u.clone())).value())
        };
        let inner = |a: &[Option<Tensor<T>>], b: &[Option<Tensor<T>>]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => dot(x, y),
                    _ => 0.0,
                })
                .sum()
        };
        let reg = self.damping + cfg.weight_decay;
        let j_delta = jvp(&delta)?;
        let h_delta = hessian(&j_delta);
        curvature_products += 1;
        let mut a = [[dot(&j_delta, &h_delta) + reg * inner(&delta, &delta), 0.0], [0.0, 0.0]];
        let mut b = [inner(inp.grads, &delta), 0.0];
        if prev.iter().any(Option::is_some) {
            let j_prev = jvp(&prev)?;
            curvature_products += 1;
            a[0][1] = dot(&j_prev, &h_delta) + reg * inner(&prev, &delta);
            a[1][0] = a[0][1];
            a[1][1] = dot(&j_prev, &hessian(&j_prev)) + reg * inner(&prev, &prev);
            b[1] = inner(inp.grads, &prev);
        }
        let (alpha, mu) = quadratic_model_minimiser(a, b)
            .ok_or_else(|| OptimError::NonFiniteUpdate { param: "quadratic model".into() })?;
        let (x0, x1) = (cfg.learning_rate * alpha, cfg.learning_rate * mu);
        let model_change =
            0.5 * (a[0][0] * x0 * x0 + 2.0 * a[0][1] * x0 * x1 + a[1][1] * x1 * x1) + b[0] * x0 + b[1] * x1;

        let mut values: HashMap<ParamId, Tensor<T>> = HashMap::with_capacity(ps.len());
        let mut steps: Vec<(usize, Tensor<T>)> = Vec::with_capacity(ps.len());
        for (i, d) in delta.iter().enumerate() {
            let Some(d) = d else { continue };
            let step = match &prev[i] {
                Some(m) => blend(d, x0, m, x1),
                None => scaled(d, x0),
            };
            let new_value = axpy(&ps[i].value, T::ONE, &step);
            if !(step.all_finite() && new_value.all_finite()) {
                return Err(OptimError::NonFiniteUpdate { param: ps[i].name.clone() });
            }
            values.insert(ps[i].id, new_value);
            steps.push((i, step));
        }
        let momentum = steps.into_iter().map(|(i, step)| (ps[i].name.clone(), step));
        self.commit(model, values, momentum, new_layers);

        let mut evaluations = 1;
        let mut reduction_ratio = None;
        if cfg.adaptive_damping
            && self.steps.is_multiple_of(cfg.damping_adaptation_interval as u64)
            && model_change < 0.0
        {
            let tape = Tape::new();
            let bound = Bound::new(&tape, &*model);
            let eval = closure(&*model, &bound);
            let new_loss = eval.loss.value(eval.outputs).value().item().to_f64();
            evaluations += 1;
            let rho = (new_loss - inp.loss_value) / model_change;
            let omega = cfg.damping_adaptation_decay.powi(cfg.damping_adaptation_interval as i32);
            if rho > 0.75 {
                self.damping = (self.damping * omega).max(cfg.min_damping);
            } else if rho < 0.25 || rho.is_nan() {
                // Also a non-finite loss after the step: the model was trusted too far.
                self.damping /= omega;
            }
            reduction_ratio = Some(rho);
        }
        self.info = KfacInfo {
            kl_scale: 1.0,
            inverses_refreshed: refreshed,
            kfac_layers,
            fallback_params: fallback,
            coefficients: Some((alpha, mu)),
            model_change: Some(model_change),
            reduction_ratio,
            damping: self.damping,
        };
        Ok(StepReport { loss: T::from_f64(inp.loss_value), evaluations, curvature_products })
    }
}

impl<T: Float> StochasticOptimizer<T> for Kfac<T> {
    /// One K-FAC step (see the [module docs](self)): one closure evaluation, one reverse sweep for the gradient
    /// and, on the steps that re-estimate the factors, one for the sampled output gradients (none with
    /// [`FisherEstimator::Empirical`], `C` with [`FisherEstimator::ExactGgn`], plus `C` Hessian products; counted
    /// in [`StepReport::curvature_products`]).
    ///
    /// # Errors
    /// [`OptimError::NonFiniteStart`] for a non-finite loss, [`OptimError::NonFinite`] for a non-finite gradient,
    /// [`OptimError::NonFiniteUpdate`] for non-finite curvature statistics or a non-finite update,
    /// [`OptimError::Linalg`] if a damped factor cannot be inverted. On `Err` no parameter and no optimiser
    /// state (factors, inverses, momentum, step count) has changed.
    fn step(&mut self, model: &mut dyn Module<T>, closure: &mut Closure<'_, T>) -> Result<StepReport<T>, OptimError> {
        let cfg = self.config.clone();
        let tape = Tape::new();
        let bound = Bound::new(&tape, &*model).capturing();
        let eval = closure(&*model, &bound);
        let outputs = eval.outputs;
        let loss = eval.loss.value(outputs);
        let loss_value = loss.value().item();
        if !loss_value.is_finite() {
            return Err(OptimError::NonFiniteStart);
        }
        let n = eval.loss.batch_size().max(1);

        let mut params: Vec<Bind<'_, T>> = Vec::new();
        model.visit("", &mut |name, p| {
            if !p.is_frozen() {
                params.push(Bind { name: name.to_string(), id: p.id(), var: bound.var(p), value: p.value().clone() });
            }
        });
        let layers = eligible_layers(&bound.captures(), &params);
        let outs: Vec<Var<'_, T>> = layers.iter().flat_map(|l| l.uses.iter().map(|c| c.output)).collect();
        // Factors are re-estimated every `factor_update_period` steps, and whenever a layer has none (of its shape).
        let current = |l: &Layer<'_, T>| {
            let (da, dg) = factor_dims(l, &params);
            self.layers
                .get(&params[l.weight].name)
                .filter(|s| s.factors.a.shape() == [da, da] && s.factors.g.shape() == [dg, dg])
        };
        let update_factors =
            self.steps.is_multiple_of(cfg.factor_update_period as u64) || layers.iter().any(|l| current(l).is_none());

        // Gradient of the loss (and, for the empirical Fisher, of the layers' outputs) in one sweep.
        let mut wrt: Vec<Var<'_, T>> = params.iter().map(|p| p.var).collect();
        if update_factors && cfg.fisher == FisherEstimator::Empirical {
            wrt.extend_from_slice(&outs);
        }
        let sweep = tape.grad(loss, &wrt);
        let mut grads: Vec<Option<Tensor<T>>> = Vec::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            let g = sweep.get(i).map(|g| g.value());
            if let Some(g) = &g {
                if !g.all_finite() {
                    return Err(OptimError::NonFinite { param: p.name.clone() });
                }
            }
            grads.push(g);
        }

        // Output gradients `g = sqrt(N/c) dL/ds` (see the module docs), as a list of sweeps (one, or C for the GGN).
        let to_per_example = (n as f64 / eval.loss.nll_scale().to_f64()).sqrt();
        let mut rng = self.step_rng();
        let mut curvature_products = 0;
        let out_grads: Vec<Vec<Tensor<T>>> = if outs.is_empty() || !update_factors {
            Vec::new()
        } else {
            match cfg.fisher {
                FisherEstimator::Empirical => {
                    vec![(0..outs.len()).map(|i| scaled(&sweep.value(params.len() + i), to_per_example)).collect()]
                }
                FisherEstimator::Sampled => {
                    let sampled = eval.loss.sample(&outputs.value(), &mut rng);
                    let ls = sampled.value(outputs);
                    curvature_products += 1;
                    let g = tape.grad(ls, &outs);
                    vec![(0..outs.len()).map(|i| scaled(&g.value(i), to_per_example)).collect()]
                }
                FisherEstimator::ExactGgn => {
                    let seeds = hessian_sqrt_columns(&eval.loss, outputs, n)?;
                    curvature_products += 2 * seeds.len();
                    let mut all = Vec::with_capacity(seeds.len());
                    for s in seeds {
                        let g = tape
                            .vjp(outputs, &outs, tape.constant(s), false)
                            .map_err(|_| OptimError::NonFiniteUpdate { param: "loss Hessian factor".into() })?;
                        all.push((0..outs.len()).map(|i| g.value(i)).collect());
                    }
                    all
                }
            }
        };

        // New factors (moving averages) and, when due, their damped inverses.
        let refresh_due = self.steps.is_multiple_of(cfg.inverse_update_period as u64);
        let lambda = self.damping;
        let mut new_layers: Vec<(String, LayerState<T>)> = Vec::with_capacity(layers.len());
        let mut refreshed = false;
        let mut offset = 0;
        for l in &layers {
            let w = &params[l.weight];
            let old = current(l);
            if !update_factors {
                let mut state = old.expect("every layer has current factors").clone();
                if refresh_due {
                    state.inverses = Some(state.factors.damped_inverses(lambda)?);
                    refreshed = true;
                }
                new_layers.push((w.name.clone(), state));
                continue;
            }
            let (a_stat, g_stat) = layer_statistics(l, &out_grads, offset, n);
            offset += l.uses.len();
            if !(a_stat.all_finite() && g_stat.all_finite()) {
                return Err(OptimError::NonFiniteUpdate { param: w.name.clone() });
            }
            let mut state = match old {
                Some(s) => {
                    let weight = cfg.ema_decay * s.ema_weight + (1.0 - cfg.ema_decay);
                    let (c_old, c_new) = (cfg.ema_decay * s.ema_weight / weight, (1.0 - cfg.ema_decay) / weight);
                    LayerState {
                        factors: KroneckerFactors {
                            a: blend(&s.factors.a, c_old, &a_stat, c_new),
                            g: blend(&s.factors.g, c_old, &g_stat, c_new),
                        },
                        ema_weight: weight,
                        inverses: s.inverses.clone(),
                    }
                }
                None => LayerState {
                    factors: KroneckerFactors { a: a_stat, g: g_stat },
                    ema_weight: 1.0 - cfg.ema_decay,
                    inverses: None,
                },
            };
            if refresh_due || state.inverses.is_none() {
                state.inverses = Some(state.factors.damped_inverses(lambda)?);
                refreshed = true;
            }
            new_layers.push((w.name.clone(), state));
        }

        // Update directions: preconditioned for the K-FAC layers, the gradient for the rest.
        let wd = T::from_f64(cfg.weight_decay);
        let decayed = |i: usize| -> Option<Tensor<T>> {
            let g = grads[i].as_ref()?;
            Some(if cfg.weight_decay == 0.0 { g.clone() } else { axpy(g, wd, &params[i].value) })
        };
        let mut directions: Vec<Option<Tensor<T>>> = vec![None; params.len()];
        let mut inner = 0.0f64;
        let mut in_layer = vec![false; params.len()];
        for (l, (_, state)) in layers.iter().zip(&new_layers) {
            in_layer[l.weight] = true;
            if let Some(b) = l.bias {
                in_layer[b] = true;
            }
            let Some(gw) = decayed(l.weight) else { continue };
            let out = gw.shape()[0];
            let mut gbar = gw.reshape(&[out, gw.numel() / out]);
            if let Some(b) = l.bias {
                let gb = decayed(b).unwrap_or_else(|| Tensor::zeros(&[out]));
                gbar = append_column(&gbar, &gb);
            }
            let (a_inv, g_inv) = state.inverses.as_ref().expect("inverses computed above");
            let v = precondition(g_inv, &gbar, a_inv);
            inner += dot(&v, &gbar);
            let cols = gw.numel() / out;
            let (vw, vb) = split_column(&v, cols, l.bias.is_some());
            directions[l.weight] = Some(vw.reshape(gw.shape()));
            if let (Some(b), Some(vb)) = (l.bias, vb) {
                directions[b] = Some(vb);
            }
        }
        let mut fallback = 0;
        for i in 0..params.len() {
            if !in_layer[i] {
                if let Some(g) = decayed(i) {
                    inner += dot(&g, &g);
                    directions[i] = Some(g);
                    fallback += 1;
                }
            }
        }

        let lr = cfg.learning_rate;
        if cfg.adaptive_step {
            return self.adaptive_update(
                model,
                closure,
                AdaptiveInputs {
                    tape: &tape,
                    outputs,
                    loss: &eval.loss,
                    loss_value: loss_value.to_f64(),
                    params: &params,
                    grads: &(0..params.len()).map(decayed).collect::<Vec<_>>(),
                    directions,
                },
                new_layers,
                (refreshed, layers.len(), fallback, curvature_products),
            );
        }
        let nu = match cfg.kl_clip {
            Some(kappa) if inner > 0.0 => (kappa / (lr * lr * inner)).sqrt().min(1.0),
            _ => 1.0,
        };
        if !nu.is_finite() {
            return Err(OptimError::NonFiniteUpdate { param: "KL-clipping scale".into() });
        }

        // Momentum and the new values, all checked before anything is written.
        let (mu, nu_t, lr_t) = (T::from_f64(cfg.momentum), T::from_f64(nu), T::from_f64(lr));
        let mut updates: Vec<(usize, Tensor<T>, Tensor<T>)> = Vec::new();
        for (i, d) in directions.into_iter().enumerate() {
            let Some(d) = d else { continue };
            let p = &params[i];
            let buf = match self.momentum.get(&p.name) {
                Some(m) if cfg.momentum > 0.0 && m.shape() == d.shape() => axpby(m, mu, &d, nu_t),
                _ => kernels::map(&d, |x| x * nu_t),
            };
            let new_value = axpy(&p.value, T::ZERO - lr_t, &buf);
            if !(buf.all_finite() && new_value.all_finite()) {
                return Err(OptimError::NonFiniteUpdate { param: p.name.clone() });
            }
            updates.push((i, new_value, buf));
        }

        // Commit.
        let mut values: HashMap<ParamId, Tensor<T>> = HashMap::with_capacity(updates.len());
        let mut momentum = Vec::with_capacity(updates.len());
        for (i, value, buf) in updates {
            values.insert(params[i].id, value);
            if cfg.momentum > 0.0 {
                momentum.push((params[i].name.clone(), buf));
            }
        }
        self.commit(model, values, momentum, new_layers);
        self.info = KfacInfo {
            kl_scale: nu,
            inverses_refreshed: refreshed,
            kfac_layers: layers.len(),
            fallback_params: fallback,
            coefficients: None,
            model_change: None,
            reduction_ratio: None,
            damping: self.damping,
        };
        Ok(StepReport { loss: loss_value, evaluations: 1, curvature_products })
    }

    fn learning_rate(&self) -> f64 {
        self.config.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), OptimError> {
        let config = KfacConfig { learning_rate: lr, ..self.config.clone() };
        config.validate()?;
        self.config = config;
        Ok(())
    }
}

/// The captured layers K-FAC preconditions: a trainable weight, a `Linear` or a `Conv2d` with one group, the same
/// geometry and bias at every use. The bias joins as the homogeneous coordinate when it is trainable.
fn eligible_layers<'t, T: Float>(captures: &[LayerCapture<'t, T>], params: &[Bind<'t, T>]) -> Vec<Layer<'t, T>> {
    let index = |id: ParamId| params.iter().position(|p| p.id == id);
    let mut layers: Vec<Layer<'t, T>> = Vec::new();
    let mut rejected: Vec<ParamId> = Vec::new();
    for c in captures {
        if rejected.contains(&c.weight) {
            continue;
        }
        let supported = match c.kind {
            CaptureKind::Linear => true,
            CaptureKind::Conv2d { args, .. } => args.groups == 1,
        };
        let Some(w) = index(c.weight).filter(|_| supported) else {
            rejected.push(c.weight);
            continue;
        };
        let bias = c.bias.and_then(index);
        match layers.iter().position(|l| l.weight == w) {
            Some(k) => {
                let first = &layers[k].uses[0];
                if first.kind == c.kind && layers[k].bias == bias {
                    layers[k].uses.push(*c);
                } else {
                    layers.remove(k);
                    rejected.push(c.weight);
                }
            }
            None => layers.push(Layer { weight: w, bias, uses: vec![*c] }),
        }
    }
    layers
}

/// `(dim A, dim G)` of a layer: `(in (+1), out)`, `in` the weight's elements per output (`C_in kh kw` for a
/// convolution), `+1` with a trainable bias.
fn factor_dims<T: Float>(layer: &Layer<'_, T>, params: &[Bind<'_, T>]) -> (usize, usize) {
    let w = &params[layer.weight].value;
    let out = w.shape()[0];
    (w.numel() / out.max(1) + usize::from(layer.bias.is_some()), out)
}

/// `(Â, Ĝ)` of one layer this step: `Â = Σ_uses Σ_rows ā āᵀ / N`, `Ĝ = Σ_sweeps Σ_uses Σ_rows g gᵀ / rows`, the
/// rows being the examples (times the positions of a convolution or of extra leading axes).
fn layer_statistics<T: Float>(
    layer: &Layer<'_, T>,
    out_grads: &[Vec<Tensor<T>>],
    offset: usize,
    n: usize,
) -> (Tensor<T>, Tensor<T>) {
    let bias = layer.bias.is_some();
    let mut a: Option<Tensor<T>> = None;
    let mut g: Option<Tensor<T>> = None;
    let mut rows = 0usize;
    for (u, cap) in layer.uses.iter().enumerate() {
        let x = cap.input.value();
        let patches = match cap.kind {
            CaptureKind::Linear => linear_rows(&x, bias),
            CaptureKind::Conv2d { kernel, args } => im2col(&x, kernel, &args, bias),
        };
        accumulate(&mut a, &kernels::matmul(&patches, &patches, true, false).expect("gram of the input rows"));
        for sweep in out_grads {
            let ds = output_rows(&sweep[offset + u], cap.kind);
            accumulate(&mut g, &kernels::matmul(&ds, &ds, true, false).expect("gram of the output gradients"));
        }
        rows += output_rows(&cap.output.value(), cap.kind).shape()[0];
    }
    let a = a.expect("a layer has at least one use");
    let g = g.unwrap_or_else(|| {
        let out = layer.uses[0].output.value();
        let c = output_rows(&out, layer.uses[0].kind).shape()[1];
        Tensor::zeros(&[c, c])
    });
    let (an, gn) = (T::from_usize(n), T::from_usize(rows.max(1)));
    (kernels::map(&a, |v| v / an), kernels::map(&g, |v| v / gn))
}

fn accumulate<T: Float>(acc: &mut Option<Tensor<T>>, x: &Tensor<T>) {
    match acc {
        Some(a) => kernels::add_assign(a, x),
        None => *acc = Some(x.clone()),
    }
}

/// The rows `[r, in (+1)]` of a `Linear` input `[.., in]`, with a trailing 1 when `bias`.
fn linear_rows<T: Float>(x: &Tensor<T>, bias: bool) -> Tensor<T> {
    let d = *x.shape().last().expect("Linear input has axes");
    let r = x.numel() / d.max(1);
    if !bias {
        return x.reshape(&[r, d]);
    }
    let mut out = Vec::with_capacity(r * (d + 1));
    for row in x.as_slice().chunks(d) {
        out.extend_from_slice(row);
        out.push(T::ONE);
    }
    Tensor::from_vec(out, &[r, d + 1])
}

/// The im2col patches `[N OH OW, C kh kw (+1)]` of a `Conv2d` input `[N, C, H, W]`: row `(n, oh, ow)` holds
/// `x[n, c, oh s - p + i d, ow s - p + j d]` (zero outside the input) at column `(c kh + i) kw + j`, the order of
/// the weight `[C_out, C, kh, kw]` flattened; a trailing 1 when `bias`.
fn im2col<T: Float>(x: &Tensor<T>, kernel: [usize; 2], args: &Conv2dArgs, bias: bool) -> Tensor<T> {
    let &[n, c, h, w] = x.shape() else { panic!("im2col: input {:?} is not [N, C, H, W]", x.shape()) };
    let [kh, kw] = kernel;
    let out_size = |i: usize, k: usize, ax: usize| {
        (i + 2 * args.padding[ax]).saturating_sub(args.dilation[ax] * (k - 1) + 1) / args.stride[ax] + 1
    };
    let (oh, ow) = (out_size(h, kh, 0), out_size(w, kw, 1));
    let cols = c * kh * kw + usize::from(bias);
    let xs = x.as_slice();
    let mut out = vec![T::ZERO; n * oh * ow * cols];
    for b in 0..n {
        for y in 0..oh {
            for z in 0..ow {
                let row = &mut out[((b * oh + y) * ow + z) * cols..][..cols];
                for ch in 0..c {
                    for i in 0..kh {
                        let hi = (y * args.stride[0] + i * args.dilation[0]) as isize - args.padding[0] as isize;
                        if hi < 0 || hi >= h as isize {
                            continue;
                        }
                        for j in 0..kw {
                            let wi = (z * args.stride[1] + j * args.dilation[1]) as isize - args.padding[1] as isize;
                            if wi < 0 || wi >= w as isize {
                                continue;
                            }
                            row[(ch * kh + i) * kw + j] = xs[((b * c + ch) * h + hi as usize) * w + wi as usize];
                        }
                    }
                }
                if bias {
                    row[cols - 1] = T::ONE;
                }
            }
        }
    }
    Tensor::from_vec(out, &[n * oh * ow, cols])
}

/// The rows `[r, out]` of a layer output (or its gradient): `[.., out]` for `Linear`, `[N, C, OH, OW]` moved to
/// `[N OH OW, C]` for `Conv2d`.
fn output_rows<T: Float>(s: &Tensor<T>, kind: CaptureKind) -> Tensor<T> {
    match kind {
        CaptureKind::Linear => {
            let d = *s.shape().last().expect("Linear output has axes");
            s.reshape(&[s.numel() / d.max(1), d])
        }
        CaptureKind::Conv2d { .. } => {
            let c = s.shape()[1];
            let p = kernels::permute(s, &[0, 2, 3, 1]).expect("conv output is 4-d");
            p.reshape(&[s.numel() / c.max(1), c])
        }
    }
}

/// Columns of a square root of the per-example loss Hessian, stacked over the batch: `seeds[k][n] = B_n e_k` with
/// `B_n B_nᵀ = N H_L[n]`, `N` times the block of example `n` in the loss Hessian on the outputs (the mean loss's
/// Hessian, read from `C` products with [`OutputLoss::hessian_vec`]; the losses are separable over examples).
fn hessian_sqrt_columns<T: Float>(
    loss: &OutputLoss<T>,
    outputs: Var<'_, T>,
    n: usize,
) -> Result<Vec<Tensor<T>>, OptimError> {
    let shape = outputs.shape();
    let total = outputs.value().numel();
    let c = total / n.max(1);
    let tape = outputs.tape();
    // h[b][i][k] = N (H_L[b])_{ik}
    let mut h = vec![0.0f64; n * c * c];
    for k in 0..c {
        let mut e = vec![T::ZERO; total];
        for b in 0..n {
            e[b * c + k] = T::ONE;
        }
        let hv = loss.hessian_vec(outputs, tape.constant(Tensor::from_vec(e, shape.as_slice()))).value();
        for b in 0..n {
            for i in 0..c {
                h[(b * c + i) * c + k] = hv.as_slice()[b * c + i].to_f64() * n as f64;
            }
        }
    }
    if h.iter().any(|v| !v.is_finite()) {
        return Err(OptimError::NonFiniteUpdate { param: "loss Hessian".into() });
    }
    let mut seeds = vec![vec![T::ZERO; total]; c];
    for b in 0..n {
        let l = psd_cholesky(&h[b * c * c..(b + 1) * c * c], c);
        for (k, seed) in seeds.iter_mut().enumerate() {
            for i in 0..c {
                seed[b * c + i] = T::from_f64(l[i * c + k]);
            }
        }
    }
    Ok(seeds.into_iter().map(|s| Tensor::from_vec(s, shape.as_slice())).collect())
}

/// `L` with `L Lᵀ = H` for a symmetric positive semi-definite `H` (`c x c`, row-major): Cholesky that leaves a
/// column zero at a pivot below `1e-12 max diag` instead of failing (a softmax Hessian is singular).
fn psd_cholesky(hm: &[f64], c: usize) -> Vec<f64> {
    let tol = 1e-12 * (0..c).map(|i| hm[i * c + i].abs()).fold(0.0, f64::max);
    let mut l = vec![0.0; c * c];
    for j in 0..c {
        let d = hm[j * c + j] - (0..j).map(|k| l[j * c + k] * l[j * c + k]).sum::<f64>();
        if d <= tol {
            continue;
        }
        let d = d.sqrt();
        l[j * c + j] = d;
        for i in j + 1..c {
            let s = hm[i * c + j] - (0..j).map(|k| l[i * c + k] * l[j * c + k]).sum::<f64>();
            l[i * c + j] = s / d;
        }
    }
    l
}

/// `(M + shift I)⁻¹` for a symmetric `M`, in f64: the Cholesky factor `M + shift I = L Lᵀ` (row by row,
/// Golub & Van Loan §4.2), `X = L⁻¹` by forward substitution, then `Xᵀ X` by the tensor kernels' product
/// (about `n³` flops in all, a third of solving `n` right-hand sides with the factor).
fn spd_inverse<T: Float>(m: &Tensor<T>, shift: f64) -> Result<Tensor<T>, OptimError> {
    let n = m.shape()[0];
    let mut l: Vec<f64> = m.as_slice().iter().map(|v| v.to_f64()).collect();
    for i in 0..n {
        l[i * n + i] += shift;
    }
    for i in 0..n {
        for j in 0..=i {
            let dot = dot_f64(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            let v = l[i * n + j] - dot;
            if i == j {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(LinalgError::NotPositiveDefinite { index: i }.into());
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    // X = L⁻¹, lower triangular, row by row: x_i = (e_i - Σ_{k < i} L[i][k] x_k) / L[i][i] (contiguous rows).
    let mut x = vec![0.0f64; n * n];
    let mut row = vec![0.0f64; n];
    for i in 0..n {
        row[..=i].fill(0.0);
        row[i] = 1.0;
        for k in 0..i {
            let c = l[i * n + k];
            if c != 0.0 {
                for (r, xk) in row[..=k].iter_mut().zip(&x[k * n..k * n + k + 1]) {
                    *r -= c * xk;
                }
            }
        }
        let lii = l[i * n + i];
        for (xi, r) in x[i * n..i * n + i + 1].iter_mut().zip(&row[..=i]) {
            *xi = r / lii;
        }
    }
    let x = Tensor::from_vec(x, &[n, n]);
    let inv = kernels::matmul(&x, &x, true, false).expect("square factors");
    let v = inv.as_slice();
    let mut out = vec![T::ZERO; n * n];
    for i in 0..n {
        for j in 0..n {
            // Symmetric up to the product's rounding; make it exactly so.
            out[i * n + j] = T::from_f64(0.5 * (v[i * n + j] + v[j * n + i]));
        }
    }
    if !out.iter().all(|v| v.is_finite()) {
        return Err(LinalgError::NotPositiveDefinite { index: n }.into());
    }
    Ok(Tensor::from_vec(out, &[n, n]))
}

/// `Σ a_i b_i` with four partial sums (which the compiler turns into SIMD lanes; a single running sum cannot be
/// reordered).
fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f64; 4];
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `(α, μ)` minimising `½ xᵀ A x + bᵀ x` over `x = (α, μ)` for a symmetric `A` (M&G 2015 §7): `x = -A⁻¹ b`, i.e.
/// `α = (A₀₁ b₁ - A₁₁ b₀) / det A`, `μ = (A₀₁ b₀ - A₀₀ b₁) / det A`; `μ = 0`, `α = -b₀ / A₀₀` when there is no
/// previous update (`A₁₁ = 0`) or `A` is numerically singular. `None` if `A₀₀` is negative or not a number.
fn quadratic_model_minimiser(a: [[f64; 2]; 2], b: [f64; 2]) -> Option<(f64, f64)> {
    if a[0][0] == 0.0 && b[0] == 0.0 {
        return Some((0.0, 0.0));
    }
    if a[0][0] <= 0.0 || a[0][0].is_nan() {
        return None;
    }
    let det = a[0][0] * a[1][1] - a[0][1] * a[0][1];
    if a[1][1] > 0.0 && det > 1e-12 * a[0][0] * a[1][1] {
        let alpha = (a[0][1] * b[1] - a[1][1] * b[0]) / det;
        let mu = (a[0][1] * b[0] - a[0][0] * b[1]) / det;
        if alpha.is_finite() && mu.is_finite() {
            return Some((alpha, mu));
        }
    }
    let alpha = -b[0] / a[0][0];
    alpha.is_finite().then_some((alpha, 0.0))
}

/// `G⁻¹ X A⁻¹`.
fn precondition<T: Float>(g_inv: &Tensor<T>, x: &Tensor<T>, a_inv: &Tensor<T>) -> Tensor<T> {
    let gx = kernels::matmul(g_inv, x, false, false).expect("G^-1 X: shapes");
    kernels::matmul(&gx, a_inv, false, false).expect("X A^-1: shapes")
}

fn scaled<T: Float>(x: &Tensor<T>, s: f64) -> Tensor<T> {
    let s = T::from_f64(s);
    kernels::map(x, move |v| v * s)
}

/// `c_a a + c_b b`.
fn blend<T: Float>(a: &Tensor<T>, c_a: f64, b: &Tensor<T>, c_b: f64) -> Tensor<T> {
    axpby(a, T::from_f64(c_a), b, T::from_f64(c_b))
}

/// `α x + β y`.
fn axpby<T: Float>(x: &Tensor<T>, alpha: T, y: &Tensor<T>, beta: T) -> Tensor<T> {
    let data = x.as_slice().iter().zip(y.as_slice()).map(|(&a, &b)| alpha * a + beta * b).collect();
    Tensor::from_vec(data, x.shape())
}

/// `x + α y`.
fn axpy<T: Float>(x: &Tensor<T>, alpha: T, y: &Tensor<T>) -> Tensor<T> {
    axpby(x, T::ONE, y, alpha)
}

fn dot<T: Float>(x: &Tensor<T>, y: &Tensor<T>) -> f64 {
    x.as_slice().iter().zip(y.as_slice()).map(|(&a, &b)| a.to_f64() * b.to_f64()).sum()
}

/// `[M | v]` for `M` `[r, c]` and `v` `[r]`.
fn append_column<T: Float>(m: &Tensor<T>, v: &Tensor<T>) -> Tensor<T> {
    let (r, c) = (m.shape()[0], m.shape()[1]);
    let mut out = Vec::with_capacity(r * (c + 1));
    for (row, &b) in m.as_slice().chunks(c).zip(v.as_slice()) {
        out.extend_from_slice(row);
        out.push(b);
    }
    Tensor::from_vec(out, &[r, c + 1])
}

/// Splits `[M | v]` back into `M` `[r, cols]` and, when `bias`, `v` `[r]`.
fn split_column<T: Float>(m: &Tensor<T>, cols: usize, bias: bool) -> (Tensor<T>, Option<Tensor<T>>) {
    if !bias {
        return (m.clone(), None);
    }
    let r = m.shape()[0];
    let mut w = Vec::with_capacity(r * cols);
    let mut b = Vec::with_capacity(r);
    for row in m.as_slice().chunks(cols + 1) {
        w.extend_from_slice(&row[..cols]);
        b.push(row[cols]);
    }
    (Tensor::from_vec(w, &[r, cols]), Some(Tensor::from_vec(b, &[r])))
}

#[cfg(test)]
mod tests {
    use super::quadratic_model_minimiser;

    #[test]
    fn the_two_by_two_model_is_minimised_as_by_hand() {
        // A = [[2, 1], [1, 3]], b = (1, 2): A⁻¹ = [[3, -1], [-1, 2]] / 5, x = -A⁻¹ b = -(1/5, 3/5).
        let (alpha, mu) = quadratic_model_minimiser([[2.0, 1.0], [1.0, 3.0]], [1.0, 2.0]).unwrap();
        assert!((alpha + 0.2).abs() < 1e-15 && (mu + 0.6).abs() < 1e-15, "{alpha} {mu}");
        // No previous update: the 1-d minimiser along Δ, α = -b₀ / A₀₀.
        assert_eq!(quadratic_model_minimiser([[2.0, 0.0], [0.0, 0.0]], [1.0, 0.0]), Some((-0.5, 0.0)));
        // Δ and δ₀ parallel (A singular): fall back to Δ alone.
        assert_eq!(quadratic_model_minimiser([[1.0, 2.0], [2.0, 4.0]], [-3.0, -6.0]), Some((3.0, 0.0)));
        // A zero direction with a zero gradient stays put; a negative or NaN curvature is refused.
        assert_eq!(quadratic_model_minimiser([[0.0, 0.0], [0.0, 0.0]], [0.0, 0.0]), Some((0.0, 0.0)));
        assert_eq!(quadratic_model_minimiser([[-1.0, 0.0], [0.0, 1.0]], [1.0, 0.0]), None);
        assert_eq!(quadratic_model_minimiser([[f64::NAN, 0.0], [0.0, 1.0]], [1.0, 0.0]), None);
    }
}
