//! [`Mlp`]: a multilayer perceptron built from [`Linear`] layers and an activation.

use rand::Rng;
use wengert_autodiff::{Float, Var};

use super::{Activation, Dropout, Linear, Sequential};
use crate::{join_name, Bound, Buffer, Module, Param, Parameters};

/// How to build an [`Mlp`]. Defaults (see [`MlpConfig::new`]): bias on, no dropout,
/// PyTorch's default `nn.Linear` initialisation.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// Layer widths `[in, hidden.., out]`; at least two entries.
    pub sizes: Vec<usize>,
    /// The nonlinearity after every hidden linear layer (none after the last).
    pub activation: Activation,
    /// Whether the linear layers have biases. Default `true`.
    pub bias: bool,
    /// Dropout probability after every hidden activation; `0` (the default) adds no dropout layers.
    pub dropout: f64,
    /// Seed of the dropout masks (hidden layer `k` uses `dropout_seed + k`). Default `0`.
    pub dropout_seed: u64,
}

impl MlpConfig {
    /// Widths and activation, with the defaults above.
    pub fn new(sizes: &[usize], activation: Activation) -> Self {
        MlpConfig { sizes: sizes.to_vec(), activation, bias: true, dropout: 0.0, dropout_seed: 0 }
    }
}

/// A multilayer perceptron: `Linear -> act [-> Dropout] -> Linear -> act .. -> Linear`,
/// held in a [`Sequential`] field named `layers`, so parameters are named
/// `layers.0.weight`, `layers.0.bias`, `layers.2.weight`, ... (as a PyTorch module with
/// `self.layers = nn.Sequential(..)`; activations and dropout take positions too).
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_nn::layers::{Activation, Mlp};
/// use wengert_nn::Parameters;
///
/// let mlp = Mlp::<f32>::new(&[64, 128, 10], Activation::Relu, &mut StdRng::seed_from_u64(0));
/// assert_eq!(mlp.num_parameters(), 64 * 128 + 128 + 128 * 10 + 10);
/// assert_eq!(mlp.named_parameters()[2].0, "layers.2.weight");
/// ```
pub struct Mlp<T: Float> {
    /// The chain of layers.
    pub layers: Sequential<T>,
}

impl<T: Float> Mlp<T> {
    /// An MLP with widths `sizes = [in, hidden.., out]` and `activation` between layers.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(sizes: &[usize], activation: Activation, rng: &mut R) -> Self {
        Self::from_config(&MlpConfig::new(sizes, activation), rng)
    }

    /// An MLP built as `config` says; weights are drawn from `rng` layer by layer.
    ///
    /// # Panics
    /// If `config.sizes` has fewer than two entries or `config.dropout` is not in `[0, 1]`.
    #[track_caller]
    pub fn from_config<R: Rng + ?Sized>(config: &MlpConfig, rng: &mut R) -> Self {
        let sizes = &config.sizes;
        assert!(sizes.len() >= 2, "Mlp: needs at least [in, out] sizes, got {sizes:?}");
        let mut layers = Sequential::new();
        let n = sizes.len() - 1;
        for (k, w) in sizes.windows(2).enumerate() {
            let lin = if config.bias { Linear::new(w[0], w[1], rng) } else { Linear::new_no_bias(w[0], w[1], rng) };
            layers.push_boxed(Box::new(lin));
            if k + 1 < n {
                layers.push_boxed(config.activation.layer());
                if config.dropout > 0.0 {
                    layers.push_boxed(Box::new(Dropout::new(config.dropout, config.dropout_seed + k as u64)));
                }
            }
        }
        Mlp { layers }
    }
}

impl<T: Float> Parameters<T> for Mlp<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        self.layers.visit(&join_name(prefix, "layers"), f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        self.layers.visit_mut(&join_name(prefix, "layers"), f)
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        self.layers.visit_buffers(&join_name(prefix, "layers"), f)
    }
}

impl<T: Float> Module<T> for Mlp<T> {
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        self.layers.forward(p, x)
    }

    fn set_training(&mut self, training: bool) {
        self.layers.set_training(training)
    }
}
