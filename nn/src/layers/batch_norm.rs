//! [`BatchNorm1d`] and [`BatchNorm2d`]: batch normalisation with running statistics.

use wengert_autodiff::{Float, Tensor, Var};

use super::normalize::{per_channel, standardize};
use crate::{init, join_name, Bound, Buffer, Module, Param, Parameters};

/// Batch normalisation (Ioffe & Szegedy 2015) over channel axis 1, as PyTorch's `nn.BatchNorm1d`
/// (`D = 1`: input `[N, C]` or `[N, C, L]`) and `nn.BatchNorm2d` (`D = 2`: input `[N, C, H, W]`).
/// Use the aliases [`BatchNorm1d`] and [`BatchNorm2d`].
///
/// `y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias`, per channel `c`.
///
/// - **Training mode** (a new layer's mode, as PyTorch): `E[x]` and the biased `Var[x]` are the
///   batch statistics over every axis but 1; the gradient flows through them (the layer is
///   differentiable to any order in training mode too). Each forward pass then updates the buffers
///   `running_mean <- (1 - m) running_mean + m E[x]` and
///   `running_var <- (1 - m) running_var + m Var[x] n / (n - 1)` (the *unbiased* batch variance,
///   `n` values per channel), and `num_batches_tracked += 1`. `m` is the momentum (default `0.1`);
///   with `momentum = None` the running statistics are the cumulative average
///   (`m = 1 / num_batches_tracked`), as PyTorch. A batch whose statistics are not finite leaves
///   the buffers untouched (its loss is not finite either, and the training loop reports it).
/// - **Eval mode**: `E[x]`, `Var[x]` are the running statistics, recorded as constants.
///
/// Parameters (PyTorch's `state_dict` names): `weight` `[C]` (initialised to ones), `bias` `[C]`
/// (zeros). Buffers: `running_mean` `[C]` (zeros), `running_var` `[C]` (ones),
/// `num_batches_tracked` `[]` (0; PyTorch stores it as `int64`, loaded here as a float).
///
/// ```
/// use wengert_autodiff::{Tape, Tensor};
/// use wengert_nn::layers::BatchNorm1d;
/// use wengert_nn::{Bound, Module};
///
/// let mut bn = BatchNorm1d::<f64>::new(2);
/// let tape = Tape::new();
/// let p = Bound::new(&tape, &bn);
/// let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]);
/// let y = bn.forward(&p, tape.constant(x)).value();
/// // each column standardised with its batch mean and biased variance: (1 - 2) / sqrt(1 + 1e-5)
/// assert!((y.get(&[0, 0]) + 1.0 / (1.0f64 + 1e-5).sqrt()).abs() < 1e-12);
/// // running_mean = 0.9 * 0 + 0.1 * [2, 20]; running_var = 0.9 * 1 + 0.1 * [2, 200] (unbiased)
/// assert!((bn.running_mean().to_vec()[1] - 2.0).abs() < 1e-12);
/// assert!((bn.running_var().to_vec()[1] - 20.9).abs() < 1e-12);
/// Module::<f64>::set_training(&mut bn, false);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm<T: Float, const D: usize> {
    /// `weight` (gamma), `[C]`; `None` without affine parameters.
    pub weight: Option<Param<T>>,
    /// `bias` (beta), `[C]`; `None` without affine parameters.
    pub bias: Option<Param<T>>,
    running_mean: Buffer<T>,
    running_var: Buffer<T>,
    num_batches_tracked: Buffer<T>,
    eps: f64,
    momentum: Option<f64>,
    training: bool,
}

/// Batch normalisation of `[N, C]` or `[N, C, L]` inputs (PyTorch's `nn.BatchNorm1d`); see [`BatchNorm`].
pub type BatchNorm1d<T> = BatchNorm<T, 1>;
/// Batch normalisation of `[N, C, H, W]` inputs (PyTorch's `nn.BatchNorm2d`); see [`BatchNorm`].
pub type BatchNorm2d<T> = BatchNorm<T, 2>;

impl<T: Float, const D: usize> BatchNorm<T, D> {
    /// A layer over `num_features` channels with PyTorch's defaults: `eps = 1e-5`,
    /// `momentum = 0.1`, affine parameters, in training mode.
    pub fn new(num_features: usize) -> Self {
        BatchNorm {
            weight: Some(Param::new(init::constant(&[num_features], 1.0))),
            bias: Some(Param::new(init::zeros(&[num_features]))),
            running_mean: Buffer::new(Tensor::zeros(&[num_features])),
            running_var: Buffer::new(Tensor::ones(&[num_features])),
            num_batches_tracked: Buffer::new(Tensor::scalar(T::ZERO)),
            eps: 1e-5,
            momentum: Some(0.1),
            training: true,
        }
    }

    /// Sets `eps`, added to the variance (builder style).
    ///
    /// # Panics
    /// If `eps` is negative or not finite.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        assert!(eps.is_finite() && eps >= 0.0, "BatchNorm: eps must be finite and >= 0, got {eps}");
        self.eps = eps;
        self
    }

    /// Sets the momentum of the running statistics; `None` for a cumulative average (builder style).
    ///
    /// # Panics
    /// If the momentum is not in `[0, 1]`.
    #[track_caller]
    pub fn momentum(mut self, momentum: Option<f64>) -> Self {
        if let Some(m) = momentum {
            assert!((0.0..=1.0).contains(&m), "BatchNorm: momentum must be in [0, 1], got {m}");
        }
        self.momentum = momentum;
        self
    }

    /// Drops the affine parameters: `y = (x - E[x]) / sqrt(Var[x] + eps)` (PyTorch's `affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self.bias = None;
        self
    }

    /// Number of channels `C`.
    pub fn num_features(&self) -> usize {
        self.running_mean.shape()[0]
    }

    /// The running mean, `[C]`.
    pub fn running_mean(&self) -> Tensor<T> {
        self.running_mean.get()
    }

    /// The running (unbiased) variance, `[C]`.
    pub fn running_var(&self) -> Tensor<T> {
        self.running_var.get()
    }

    /// Number of training-mode forward passes so far.
    pub fn num_batches_tracked(&self) -> u64 {
        self.num_batches_tracked.get().item().to_f64() as u64
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Folds the batch statistics `mean`, `var` (biased, `n` values per channel) into the buffers.
    fn update_running(&self, mean: &Tensor<T>, var: &Tensor<T>, n: usize) {
        if !(mean.all_finite() && var.all_finite()) {
            return;
        }
        let tracked = self.num_batches_tracked.get().item().to_f64() + 1.0;
        self.num_batches_tracked.set(Tensor::scalar(T::from_f64(tracked)));
        let m = self.momentum.unwrap_or(1.0 / tracked);
        let unbias = n as f64 / (n - 1) as f64;
        let blend = |old: Tensor<T>, new: &[T], scale: f64| {
            let v = old
                .as_slice()
                .iter()
                .zip(new)
                .map(|(o, x)| T::from_f64((1.0 - m) * o.to_f64() + m * scale * x.to_f64()));
            Tensor::from_vec(v.collect(), old.shape())
        };
        self.running_mean.set(blend(self.running_mean.get(), mean.as_slice(), 1.0));
        self.running_var.set(blend(self.running_var.get(), var.as_slice(), unbias));
    }
}

impl<T: Float, const D: usize> Parameters<T> for BatchNorm<T, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f(&join_name(prefix, "weight"), w);
            f(&join_name(prefix, "bias"), b);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        if let (Some(w), Some(b)) = (&mut self.weight, &mut self.bias) {
            f(&join_name(prefix, "weight"), w);
            f(&join_name(prefix, "bias"), b);
        }
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        f(&join_name(prefix, "running_mean"), &self.running_mean);
        f(&join_name(prefix, "running_var"), &self.running_var);
        f(&join_name(prefix, "num_batches_tracked"), &self.num_batches_tracked);
    }
}

impl<T: Float, const D: usize> Module<T> for BatchNorm<T, D> {
    /// See [`BatchNorm`].
    ///
    /// # Panics
    /// If `x` is not `[N, C]`/`[N, C, L]` (`D = 1`) or `[N, C, H, W]` (`D = 2`) with `C` channels, or,
    /// in training mode, if there is only one value per channel (no variance to estimate).
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        let c = self.num_features();
        let rank_ok = if D == 1 { s.len() == 2 || s.len() == 3 } else { s.len() == D + 2 };
        let expected = if D == 1 { format!("[N, {c}] or [N, {c}, L]") } else { format!("[N, {c}, H, W]") };
        assert!(
            rank_ok && s[1] == c,
            "BatchNorm{D}d: input of shape {:?} for a layer with {c} channels (expected {expected})",
            s.as_slice()
        );
        let axes: Vec<isize> = (0..s.len() as isize).filter(|&a| a != 1).collect();
        let n = x.numel() / c;
        let x_hat = if self.training {
            assert!(n > 1, "BatchNorm{D}d: training needs more than 1 value per channel, got input {:?}", s.as_slice());
            let (x_hat, mean, var) = standardize(x, &axes, self.eps);
            self.update_running(&mean.value(), &var.value(), n);
            x_hat
        } else {
            let mean = per_channel(x.constant_like(self.running_mean.get()), s.len());
            let var = per_channel(x.constant_like(self.running_var.get()), s.len());
            (x - mean) / (var + T::from_f64(self.eps)).sqrt()
        };
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => x_hat * per_channel(p.var(w), s.len()) + per_channel(p.var(b), s.len()),
            _ => x_hat,
        }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
