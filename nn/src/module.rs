//! The [`Module`] and [`Parameters`] traits, and [`Bound`]: a model's parameters recorded on a tape.

use std::collections::HashMap;

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

/// A model's parameters recorded on one tape: trainable ones as variables, frozen
/// ones as constants. Layers look their variables up with [`Bound::var`].
pub struct Bound<'t, T: Float> {
    tape: &'t Tape<T>,
    vars: HashMap<ParamId, Var<'t, T>>,
    order: Vec<(String, ParamId, Var<'t, T>)>,
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
        Bound { tape, vars, order }
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
        Bound { tape, vars: map, order }
    }

    /// The tape.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
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
