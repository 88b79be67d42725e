//! Gradient checkpointing (rematerialisation): [`checkpoint`] runs a block without keeping its
//! intermediate values, and recomputes them when a derivative needs them.

use std::rc::Rc;

use crate::error::or_panic;
use crate::{Float, InputGrads, Op, Result, Tape, Tensor, Var};

/// A block of ops: a function of tape variables, generic over the tape's lifetime.
type Block<T> = Rc<dyn for<'s> Fn(&[Var<'s, T>]) -> Var<'s, T>>;

/// `block(inputs)` recorded as one op: its value is computed on a scratch tape that is dropped at
/// once, so none of the block's intermediate values stay in memory; each derivative rule runs the
/// block again.
struct Checkpoint<T: Float> {
    block: Block<T>,
}

/// For each input, a node that stands for it in a recomputation on the main tape: the input times
/// one when it requires a gradient (a new node, so a sweep from the recomputed output stops there
/// instead of running on into what produced the input, and the result stays a function of the
/// input for higher derivatives), or a trainable copy of a constant input.
fn stand_ins<'t, T: Float>(inputs: &[Var<'t, T>]) -> Vec<Var<'t, T>> {
    inputs.iter().map(|x| if x.requires_grad() { x.mul_scalar(T::ONE) } else { x.tape().var(x.value()) }).collect()
}

impl<T: Float> Op<T> for Checkpoint<T> {
    fn name(&self) -> &'static str {
        "checkpoint"
    }

    fn forward(&self, inputs: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let scratch = Tape::new();
        let xs: Vec<_> = inputs.iter().map(|x| scratch.constant((*x).clone())).collect();
        Ok((self.block)(&xs).value())
    }

    /// `dx = vjp(block, x, g)` on a recomputation. In a first-order pass (nothing recorded) the
    /// recomputation runs on a scratch tape that is dropped with the block's intermediate values, so
    /// only one block is ever rematerialised at a time; when the tape records (create-graph mode) it
    /// runs on the tape itself, so the gradient can be differentiated again.
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let tape = g.tape();
        if !tape.recording() {
            let scratch = Tape::new();
            let xs: Vec<_> = x.iter().map(|v| scratch.var(v.value())).collect();
            let y = (self.block)(&xs);
            let gs = scratch.vjp(y, &xs, scratch.constant(g.value()), false).expect("g has the block output's shape");
            return (0..x.len()).map(|i| needs[i].then(|| tape.constant(gs.value(i)))).collect();
        }
        let xs = stand_ins(x);
        let y = (self.block)(&xs);
        let gs = tape.vjp(y, &xs, g, true).expect("g has the block output's shape");
        (0..x.len()).map(|i| if needs[i] { gs.get(i) } else { None }).collect()
    }

    /// `dy = jvp(block, x, t)` on a recomputation on the tape (a tangent sweep, recorded when the
    /// tape records).
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let tape = out.tape();
        let recording = tape.recording();
        let (xs, y) = tape.recorded(|| {
            let xs = stand_ins(x);
            let y = (self.block)(&xs);
            (xs, y)
        });
        let (ins, ts): (Vec<_>, Vec<_>) = xs.iter().zip(t).filter_map(|(x, t)| Some((*x, (*t)?))).unzip();
        tape.jvp(&[y], &ins, &ts, recording).expect("tangents have the inputs' shapes").get(0)
    }
}

/// `block(inputs)`, recorded as one op that keeps none of the block's intermediate values: they are
/// recomputed from `inputs` when a derivative needs them (gradient checkpointing, as
/// `torch.utils.checkpoint` and `jax.checkpoint`). It trades one more forward of the block per
/// backward sweep for the memory of its intermediates: a chain of `k` checkpointed blocks keeps
/// `k` block outputs plus one block's intermediates at a time, instead of every intermediate.
///
/// Gradients are bit-identical to the plain run's when each input of the block is used only by the
/// block (a chain of blocks; otherwise sums may associate differently), and every order works:
/// in create-graph mode the recomputation is recorded on the tape, so the gradient can be
/// differentiated again; forward mode runs the block's JVP rules on a recomputation.
///
/// The block gets everything it depends on through `inputs` (weights too): it is a function of
/// tape variables for any tape, as a `fn` item or a closure capturing only owned data.
///
/// # Panics
/// If `inputs` is empty or the block fails on them.
///
/// ```
/// use wengert_autodiff::{checkpoint, Tape, Tensor, Var};
/// fn layer<'s>(x: &[Var<'s, f64>]) -> Var<'s, f64> {
///     x[1].matmul(x[0]).tanh()                      // tanh(W h)
/// }
/// let tape = Tape::new();
/// let w = tape.var(Tensor::from_vec(vec![0.5, -0.3, 0.8, 0.1], &[2, 2]));
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[2, 1]));
/// let plain = layer(&[layer(&[x, w]), w]).sum();
/// let ckpt = checkpoint(layer, &[checkpoint(layer, &[x, w]), w]).sum();
/// assert_eq!(plain.item(), ckpt.item());
/// assert_eq!(tape.grad(plain, &[w]).value(0), tape.grad(ckpt, &[w]).value(0));
/// ```
#[track_caller]
pub fn checkpoint<'t, T, F>(block: F, inputs: &[Var<'t, T>]) -> Var<'t, T>
where
    T: Float,
    F: for<'s> Fn(&[Var<'s, T>]) -> Var<'s, T> + 'static,
{
    let Some(x) = inputs.first() else { panic!("checkpoint: no inputs") };
    or_panic(x.tape().apply(Checkpoint { block: Rc::new(block) }, inputs))
}
