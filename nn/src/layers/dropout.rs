//! [`Dropout`]: inverted dropout, active only in training mode.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_autodiff::{Float, Tensor, Var};

use crate::{Bound, Module, Param, Parameters};

/// Inverted dropout (Srivastava et al. 2014, as PyTorch's `nn.Dropout`): in training mode
/// `y = x * m / (1 - p)` with `m_i ~ Bernoulli(1 - p)` drawn afresh on every forward pass,
/// so `E[y] = x`; in eval mode `y = x`. With `p = 1` every output is zero.
///
/// The mask is a constant on the tape (gradients flow through the kept entries, scaled
/// by `1 / (1 - p)`). The generator lives in the layer, seeded at construction, so a run
/// is reproducible from its seed. A new layer starts in training mode, as in PyTorch.
///
/// ```
/// use wengert_autodiff::{Tape, Tensor};
/// use wengert_nn::{layers::Dropout, Bound, Module};
///
/// let mut d = Dropout::new(0.5, 7);
/// let tape = Tape::<f64>::new();
/// let p = Bound::new(&tape, &d);
/// let y = d.forward(&p, tape.constant(Tensor::ones(&[1000])));
/// assert!(y.value().as_slice().iter().all(|&v| v == 0.0 || v == 2.0));
/// Module::<f64>::set_training(&mut d, false);
/// let y = d.forward(&p, tape.constant(Tensor::ones(&[3])));
/// assert_eq!(y.value().to_vec(), vec![1.0; 3]);
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    training: bool,
    rng: Mutex<StdRng>,
}

impl Dropout {
    /// Dropout with drop probability `p`, its mask generator seeded with `seed`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn new(p: f64, seed: u64) -> Self {
        assert!((0.0..=1.0).contains(&p), "Dropout: p must be in [0, 1], got {p}");
        Dropout { p, training: true, rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Whether the layer is in training mode (dropping) or eval mode (identity).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Restarts the mask generator from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Mutex::new(StdRng::seed_from_u64(seed));
    }

    fn mask<T: Float>(&self, shape: &[usize]) -> Tensor<T> {
        let n: usize = shape.iter().product();
        let keep = T::from_f64(1.0 / (1.0 - self.p));
        // A panic elsewhere while drawing cannot corrupt a generator: keep using it.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let d = (0..n).map(|_| if rng.random::<f64>() < self.p { T::ZERO } else { keep }).collect();
        Tensor::from_vec(d, shape)
    }
}

impl<T: Float> Parameters<T> for Dropout {
    fn visit(&self, _: &str, _: &mut dyn FnMut(&str, &Param<T>)) {}
    fn visit_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param<T>)) {}
}

impl<T: Float> Module<T> for Dropout {
    fn forward<'t>(&self, _: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        if !self.training || self.p == 0.0 {
            return x;
        }
        if self.p == 1.0 {
            return x * T::ZERO;
        }
        x * x.constant_like(self.mask(&x.shape()))
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
