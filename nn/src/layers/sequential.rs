//! [`Sequential`]: a chain of boxed modules.

use wengert_autodiff::{Float, Var};

use crate::{join_name, Bound, Buffer, Module, Param, Parameters};

/// Modules applied in order, `y = f_n(.. f_1(f_0(x)))`. Children are named by position,
/// `0`, `1`, ..., so parameters read `0.weight`, or `layers.0.weight` when the
/// `Sequential` is a field named `layers` (as in PyTorch's `nn.Sequential`).
///
/// [`Module::set_training`] reaches every child.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_nn::layers::{Linear, Relu, Sequential};
/// use wengert_nn::Parameters;
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let net = Sequential::<f32>::new()
///     .push(Linear::new(4, 8, &mut rng))
///     .push(Relu)
///     .push(Linear::new(8, 2, &mut rng));
/// let names: Vec<_> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// ```
pub struct Sequential<T: Float> {
    layers: Vec<Box<dyn Module<T>>>,
}

impl<T: Float> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Sequential<T> {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// A chain of the given boxed modules.
    pub fn from_layers(layers: Vec<Box<dyn Module<T>>>) -> Self {
        Sequential { layers }
    }

    /// Appends `layer` (builder style).
    pub fn push(mut self, layer: impl Module<T> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends an already boxed `layer`.
    pub fn push_boxed(&mut self, layer: Box<dyn Module<T>>) {
        self.layers.push(layer);
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// `true` if there are no children.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The children, in order.
    pub fn layers(&self) -> &[Box<dyn Module<T>>] {
        &self.layers
    }
}

impl<T: Float> Parameters<T> for Sequential<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit(&join_name(prefix, &i.to_string()), f);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit_mut(&join_name(prefix, &i.to_string()), f);
        }
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit_buffers(&join_name(prefix, &i.to_string()), f);
        }
    }
}

impl<T: Float> Module<T> for Sequential<T> {
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        self.layers.iter().fold(x, |h, l| l.forward(p, h))
    }

    fn set_training(&mut self, training: bool) {
        for l in &mut self.layers {
            l.set_training(training);
        }
    }
}
