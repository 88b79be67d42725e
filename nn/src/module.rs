//! The [`Module`] and [`Parameters`] traits, and [`Bound`]: a model's parameters recorded on a tape.

use std::cell::RefCell;
use std::collections::HashMap;

use wengert_autodiff::ops::Conv2dArgs;
use wengert_autodiff::{Float, Tape, Tensor, Var};

use crate::buffer::Buffer;
use crate::param::{Param, ParamId};

/// Anything that owns parameters with hierarchical names (`layers.0.weight`):
/// models, layers, and plain lists of parameters. Optimisers step a `Parameters`.
pub trait Parameters<T: Float> {
    /// Calls `f(name, param)` for every parameter, names prefixed with `prefix`
    /// (joined with `.`; the empty prefix gives top-level names).
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>));

    /// Like [`Parameters::visit`], with mutable access.
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>));

    /// Calls `f(name, buffer)` for every [`Buffer`] (state that is saved and loaded but not trained,
    /// such as batch norm's `running_mean`), names prefixed as in [`Parameters::visit`]. Optimisers
    /// never see buffers. Default: none.
    fn visit_buffers(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Buffer<T>)) {}

    /// `(name, value)` of every buffer, in visiting order.
    fn named_buffers(&self) -> Vec<(String, Tensor<T>)> {
        let mut out = Vec::new();
        self.visit_buffers("", &mut |n, b| out.push((n.to_string(), b.get())));
        out
    }

    /// `(name, value)` of every parameter, in visiting order.
    fn named_parameters(&self) -> Vec<(String, Tensor<T>)> {
        let mut out = Vec::new();
        self.visit("", &mut |n, p| out.push((n.to_string(), p.value().clone())));
        out
    }

    /// Total number of scalar parameters (frozen ones included).
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, p| n += p.numel());
        n
    }

    /// Number of trainable (not frozen) scalar parameters.
    fn num_trainable(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, p| n += if p.is_frozen() { 0 } else { p.numel() });
        n
    }

    /// Freezes (or unfreezes) every parameter whose name starts with `prefix`.
    fn set_frozen(&mut self, prefix: &str, frozen: bool) {
        self.visit_mut("", &mut |n, p| {
            if n.starts_with(prefix) {
                p.set_frozen(frozen)
            }
        });
    }
}

/// Joins a prefix and a name with `.` (`"layers.0"` + `"weight"`).
pub fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A differentiable model: parameters plus a forward pass recorded on a tape.
///
/// Every module is `Send + Sync`, so a model built on one thread can be moved to or shared with
/// another (and `Box<dyn Module<T>>` is `Send + Sync` too). Layers that change state during a
/// forward pass (dropout's generator, batch norm's running statistics) keep it behind a `Mutex`.
pub trait Module<T: Float>: Parameters<T> + Send + Sync {
    /// Records the forward pass of `x` using the parameters bound in `p`.
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T>;

    /// Switches train / eval mode, reaching every child: dropout drops only in training mode, batch
    /// norm normalises with batch statistics (and updates its running ones) only in training mode.
    /// Default: no-op, for layers that behave the same in both.
    fn set_training(&mut self, _training: bool) {}
}

impl<T: Float> Parameters<T> for Param<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        f(prefix, self)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        f(prefix, self)
    }
}

/// A list of parameters, named by position (`"0"`, `"1"`, ...): for optimising plain tensors.
impl<T: Float> Parameters<T> for [Param<T>] {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        for (i, p) in self.iter().enumerate() {
            f(&join_name(prefix, &i.to_string()), p)
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        for (i, p) in self.iter_mut().enumerate() {
            f(&join_name(prefix, &i.to_string()), p)
        }
    }
}

impl<T: Float> Parameters<T> for Vec<Param<T>> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        self.as_slice().visit(prefix, f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        self.as_mut_slice().visit_mut(prefix, f)
    }
}

/// Which affine layer recorded a [`LayerCapture`], with what its consumer needs to rebuild the layer's
/// inputs as rows of a matrix (Kronecker-factored curvature: `A = E[a a^T]` over those rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureKind {
    /// [`Linear`](crate::layers::Linear): `s = x W^T + b`; every row of the input `[.., in]` is one sample.
    Linear,
    /// [`Conv2d`](crate::layers::Conv2d): `s = conv2d(x, W) + b` with this kernel size `[kh, kw]` and these
    /// arguments; the samples are the input's im2col patches (one per output position).
    Conv2d {
        /// The kernel's spatial size `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride, padding, dilation and groups.
        args: Conv2dArgs,
    },
}

/// What one affine layer wrote into a capturing [`Bound`] during its forward pass: its input `x`, its
/// pre-activation output `s` (bias included) and the identities of its weight and bias.
///
/// K-FAC (Martens & Grosse 2015) needs exactly these: the layer inputs give the factor `A = E[a a^T]`
/// (`a` the input with a homogeneous 1 for the bias), and a reverse sweep of the tape to `s` gives the
/// back-propagated output gradients `g = dL/ds` of the factor `G = E[g g^T]`.
#[derive(Clone, Copy, Debug)]
pub struct LayerCapture<'t, T: Float> {
    /// The layer type and its geometry.
    pub kind: CaptureKind,
    /// The input `x` as the layer received it (`[.., in]` for `Linear`, `[N, C_in, H, W]` for `Conv2d`).
    pub input: Var<'t, T>,
    /// The pre-activation output `s = x W^T + b` (`Linear`) or `conv2d(x, W) + b` (`Conv2d`).
    pub output: Var<'t, T>,
    /// The weight, `[out, in]` or `[C_out, C_in / G, kh, kw]`.
    pub weight: ParamId,
    /// The bias `[out]`, if the layer has one.
    pub bias: Option<ParamId>,
}

/// A model's parameters recorded on one tape: trainable ones as variables, frozen
/// ones as constants. Layers look their variables up with [`Bound::var`].
///
/// ## Layer capture
///
/// A `Bound` made with [`Bound::capturing`] also collects a [`LayerCapture`] from every `Linear` and `Conv2d`
/// forward pass recorded with it (in recording order; a layer used twice appears twice), read back with
/// [`Bound::captures`]. Curvature methods that need per-layer statistics (K-FAC) use it; a plain `Bound` does
/// not capture, and a layer only checks [`Bound::is_capturing`] (one branch) before skipping the record.
pub struct Bound<'t, T: Float> {
    tape: &'t Tape<T>,
    vars: HashMap<ParamId, Var<'t, T>>,
    order: Vec<(String, ParamId, Var<'t, T>)>,
    captures: Option<RefCell<Vec<LayerCapture<'t, T>>>>,
}

impl<'t, T: Float> Bound<'t, T> {
    /// Records every parameter of `model` on `tape`.
    pub fn new<P: Parameters<T> + ?Sized>(tape: &'t Tape<T>, model: &P) -> Self {
        let mut vars = HashMap::new();
        let mut order = Vec::new();
        model.visit("", &mut |name, p| {
            let v = if p.is_frozen() { tape.constant(p.value().clone()) } else { tape.var(p.value().clone()) };
            vars.insert(p.id(), v);
            order.push((name.to_string(), p.id(), v));
        });
        Bound { tape, vars, order, captures: None }
    }

    /// Binds the parameters of `model` to the given variables of `tape`, in visiting order, instead of
    /// recording fresh ones: the model as a function of its parameters, e.g. for `gradcheck` or
    /// `functional::hvp` with respect to the weights.
    ///
    /// # Panics
    /// If the number of variables or a shape differs from the model's parameters.
    #[track_caller]
    pub fn with_vars<P: Parameters<T> + ?Sized>(tape: &'t Tape<T>, model: &P, vars: &[Var<'t, T>]) -> Self {
        let mut map = HashMap::new();
        let mut order = Vec::new();
        model.visit("", &mut |name, p| {
            let k = order.len();
            let v = *vars.get(k).unwrap_or_else(|| {
                panic!("Bound::with_vars: {} variables for a model with more parameters", vars.len())
            });
            assert!(
                v.shape().as_slice() == p.shape(),
                "Bound::with_vars: variable {k} of shape {:?} for parameter {name} of shape {:?}",
                v.shape().as_slice(),
                p.shape()
            );
            map.insert(p.id(), v);
            order.push((name.to_string(), p.id(), v));
        });
        assert!(
            order.len() == vars.len(),
            "Bound::with_vars: {} variables for a model with {} parameters",
            vars.len(),
            order.len()
        );
        Bound { tape, vars: map, order, captures: None }
    }

    /// The tape.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// This binding, collecting a [`LayerCapture`] from every `Linear` / `Conv2d` forward pass recorded with
    /// it (see the type's docs); previously collected captures are kept.
    ///
    /// ```
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use wengert_autodiff::{Tape, Tensor};
    /// use wengert_nn::{layers::Linear, Bound, CaptureKind, Module};
    ///
    /// let layer = Linear::<f64>::new(3, 2, &mut StdRng::seed_from_u64(0));
    /// let tape = Tape::new();
    /// let p = Bound::new(&tape, &layer).capturing();
    /// let y = layer.forward(&p, tape.constant(Tensor::ones(&[5, 3])));
    /// let caps = p.captures();
    /// assert_eq!(caps.len(), 1);
    /// assert_eq!(caps[0].kind, CaptureKind::Linear);
    /// assert_eq!((caps[0].output.id(), caps[0].weight), (y.id(), layer.weight.id()));
    /// ```
    pub fn capturing(mut self) -> Self {
        if self.captures.is_none() {
            self.captures = Some(RefCell::new(Vec::new()));
        }
        self
    }

    /// Whether this binding collects [`LayerCapture`]s (made with [`Bound::capturing`]).
    #[inline]
    pub fn is_capturing(&self) -> bool {
        self.captures.is_some()
    }

    /// Records `capture` if this binding is capturing; does nothing otherwise. Called by the layers.
    pub fn capture(&self, capture: LayerCapture<'t, T>) {
        if let Some(c) = &self.captures {
            c.borrow_mut().push(capture);
        }
    }

    /// The captures collected so far, in recording order (empty if not capturing).
    pub fn captures(&self) -> Vec<LayerCapture<'t, T>> {
        self.captures.as_ref().map_or_else(Vec::new, |c| c.borrow().clone())
    }

    /// The variable recorded for `param`.
    ///
    /// # Panics
    /// If `param` does not belong to the model this was bound from.
    #[track_caller]
    pub fn var(&self, param: &Param<T>) -> Var<'t, T> {
        *self.vars.get(&param.id()).unwrap_or_else(|| {
            panic!("Bound::var: parameter of shape {:?} was not bound (not part of this model)", param.shape())
        })
    }

    /// The hierarchical name (`layers.0.weight`) under which `param` was bound, if it was (for error messages
    /// that name the layer).
    pub fn name_of(&self, param: &Param<T>) -> Option<&str> {
        let id = param.id();
        self.order.iter().find(|(_, i, _)| *i == id).map(|(n, _, _)| n.as_str())
    }

    /// `(name, variable)` of every bound parameter, in visiting order.
    pub fn named_vars(&self) -> impl Iterator<Item = (&str, Var<'t, T>)> {
        self.order.iter().map(|(n, _, v)| (n.as_str(), *v))
    }

    /// Gradients of the scalar `loss` with respect to every trainable parameter.
    ///
    /// # Panics
    /// If `loss` is not a scalar.
    #[track_caller]
    pub fn grad(&self, loss: Var<'t, T>) -> Grads<T> {
        let ids: Vec<_> = self.order.iter().filter(|(_, _, v)| v.requires_grad()).collect();
        let vars: Vec<_> = ids.iter().map(|(_, _, v)| *v).collect();
        let g = self.tape.grad(loss, &vars);
        let mut map = HashMap::with_capacity(ids.len());
        for (i, (_, id, _)) in ids.iter().enumerate() {
            if let Some(gv) = g.get(i) {
                map.insert(*id, gv.value());
            }
        }
        Grads { map }
    }
}

/// Gradients keyed to the parameters they belong to. A parameter the loss does
/// not depend on (or a frozen one) has no entry.
#[derive(Clone, Debug, Default)]
pub struct Grads<T: Float> {
    map: HashMap<ParamId, Tensor<T>>,
}

impl<T: Float> Grads<T> {
    /// An empty set of gradients.
    pub fn new() -> Self {
        Grads { map: HashMap::new() }
    }

    /// The gradient of `param`, if it has one.
    pub fn get(&self, param: &Param<T>) -> Option<&Tensor<T>> {
        self.map.get(&param.id())
    }

    /// Sets the gradient of `param` (for gradients computed some other way).
    pub fn insert(&mut self, param: &Param<T>, grad: Tensor<T>) {
        self.map.insert(param.id(), grad);
    }

    /// Mutable access to the gradient of `param` (gradient clipping edits in place).
    pub fn get_mut(&mut self, param: &Param<T>) -> Option<&mut Tensor<T>> {
        self.map.get_mut(&param.id())
    }

    /// Iterates over all gradients (in no particular order).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Tensor<T>> {
        self.map.values_mut()
    }

    /// Iterates over all gradients (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = &Tensor<T>> {
        self.map.values()
    }

    /// Number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` if no parameter has a gradient.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
