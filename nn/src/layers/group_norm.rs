//! [`GroupNorm`]: normalisation over groups of channels of each sample.

use wengert_autodiff::{Float, Var};

use super::normalize::{per_channel, standardize};
use crate::{init, join_name, Bound, Module, Param, Parameters};

/// Group normalisation (Wu & He 2018), as PyTorch's `nn.GroupNorm(num_groups, num_channels)`:
/// the `C` channels of input `[N, C, *]` are split into `G` groups of `C / G` consecutive channels,
/// and each group of each sample is standardised over its channels and spatial positions,
///
/// `y = (x - E_g[x]) / sqrt(Var_g[x] + eps) * weight_c + bias_c`
///
/// (biased variance; the same in training and eval mode). `G = 1` is layer norm over `[C, *]`,
/// `G = C` is instance norm.
///
/// Parameters (PyTorch's names): `weight` `[C]` (ones) and `bias` `[C]` (zeros); `eps = 1e-5`.
#[derive(Clone, Debug)]
pub struct GroupNorm<T: Float> {
    /// `weight`, `[C]`; `None` without affine parameters.
    pub weight: Option<Param<T>>,
    /// `bias`, `[C]`; `None` without affine parameters.
    pub bias: Option<Param<T>>,
    num_groups: usize,
    num_channels: usize,
    eps: f64,
}

impl<T: Float> GroupNorm<T> {
    /// `num_groups` groups over `num_channels` channels, PyTorch's defaults (`eps = 1e-5`, affine).
    ///
    /// # Panics
    /// If `num_groups` is zero or does not divide `num_channels`.
    #[track_caller]
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        assert!(
            num_groups > 0 && num_channels.is_multiple_of(num_groups),
            "GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
        );
        GroupNorm {
            weight: Some(Param::new(init::constant(&[num_channels], 1.0))),
            bias: Some(Param::new(init::zeros(&[num_channels]))),
            num_groups,
            num_channels,
            eps: 1e-5,
        }
    }

    /// Sets `eps` (builder style).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Drops the affine parameters (PyTorch's `affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self.bias = None;
        self
    }
}

impl<T: Float> Parameters<T> for GroupNorm<T> {
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
}

impl<T: Float> Module<T> for GroupNorm<T> {
    /// See [`GroupNorm`].
    ///
    /// # Panics
    /// If `x` is not `[N, C, *]` with `C = num_channels`.
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        assert!(
            s.len() >= 2 && s[1] == self.num_channels,
            "GroupNorm: input of shape {:?} for {} channels (expected [N, {}, *])",
            s.as_slice(),
            self.num_channels,
            self.num_channels
        );
        let grouped = x.reshape(&[s[0], self.num_groups, x.numel() / (s[0] * self.num_groups)]);
        let (x_hat, _, _) = standardize(grouped, &[2], self.eps);
        let x_hat = x_hat.reshape(&s);
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => x_hat * per_channel(p.var(w), s.len()) + per_channel(p.var(b), s.len()),
            _ => x_hat,
        }
    }
}
