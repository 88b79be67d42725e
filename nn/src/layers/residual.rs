//! [`Residual`]: a skip connection around a block.

use wengert_autodiff::{Float, Var};

use crate::{Bound, Buffer, Module, Param, Parameters};

/// A residual block (He et al. 2016), `y = x + f(x)`, for a block `f` whose output has the shape of
/// its input. The block's parameters and buffers keep their own names (`Residual` adds no name
/// level), so `Sequential[Residual(Sequential[conv, bn])]` names them `0.0.weight`, `0.1.running_mean`.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::{Tape, Tensor};
/// use wengert_nn::layers::{Linear, Residual};
/// use wengert_nn::{Bound, Module, Parameters};
///
/// let block = Residual::new(Linear::<f64>::from_tensors(Tensor::eye(2), None));
/// let tape = Tape::new();
/// let y = block.forward(&Bound::new(&tape, &block), tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[1, 2])));
/// assert_eq!(y.value().to_vec(), vec![2.0, 4.0]); // x + I x
/// assert_eq!(block.named_parameters()[0].0, "weight");
/// ```
#[derive(Clone, Debug)]
pub struct Residual<M> {
    /// The block `f`.
    pub block: M,
}

impl<M> Residual<M> {
    /// `y = x + block(x)`.
    pub fn new(block: M) -> Self {
        Residual { block }
    }
}

impl<T: Float, M: Parameters<T>> Parameters<T> for Residual<M> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        self.block.visit(prefix, f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        self.block.visit_mut(prefix, f)
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Buffer<T>)) {
        self.block.visit_buffers(prefix, f)
    }
}

impl<T: Float, M: Module<T>> Module<T> for Residual<M> {
    /// `x + block(x)`.
    ///
    /// # Panics
    /// If the block changes the shape of its input.
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let y = self.block.forward(p, x);
        assert!(
            y.shape() == x.shape(),
            "Residual: the block maps {:?} to {:?}; x + f(x) needs the same shape",
            x.shape().as_slice(),
            y.shape().as_slice()
        );
        x + y
    }

    fn set_training(&mut self, training: bool) {
        self.block.set_training(training)
    }
}
