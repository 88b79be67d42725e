//! The tape (Wengert list): a define-by-run record of every op, and reverse mode over it.

use std::cell::{Cell, RefCell};
use std::panic::Location;

use smallvec::SmallVec;

use crate::error::{arg_err, or_panic, AutodiffError, Phase, Result};
use crate::tensor::kernels;
use crate::{Float, Op, Tensor, Var};

/// A recorded op and the ids of its inputs.
pub(crate) type Recorded<T> = (Box<dyn Op<T>>, SmallVec<[u32; 2]>);

pub(crate) struct Node<T: Float> {
    pub(crate) value: Tensor<T>,
    /// The op that produced the node and its inputs; `None` for leaves and constants.
    /// A `Box` rather than an `Rc`: most ops are zero-sized, and boxing those allocates nothing.
    pub(crate) op: Option<Recorded<T>>,
    /// Whether gradients can flow into this node (trainable leaf, or an op on one).
    pub(crate) requires_grad: bool,
    /// Forward mode: the id of the node holding this node's tangent, if it has one.
    pub(crate) tangent: Option<u32>,
    pub(crate) location: &'static Location<'static>,
}

/// A define-by-run tape: every op on its [`Var`]s computes its value at once and
/// records a node; [`Tape::grad`] runs reverse mode over the recorded nodes.
///
/// Nodes are numbered in the order they are recorded, which is a topological
/// order, so reverse mode is a single backward sweep over the part of the tape
/// between the requested inputs and the output.
///
/// ```
/// use wengert_autodiff::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0_f64, 2.0, 3.0], &[3]));
/// let y = (x * x).sum();                 // y = sum x_i^2
/// let g = tape.grad(y, &[x]);            // dy/dx = 2x
/// assert_eq!(g.value(0).to_vec(), vec![2.0, 4.0, 6.0]);
/// ```
pub struct Tape<T: Float> {
    pub(crate) nodes: RefCell<Vec<Node<T>>>,
    /// While positive, ops record constants: used by first-order backward passes.
    no_grad: Cell<u32>,
    anomaly: Cell<bool>,
    first_anomaly: RefCell<Option<AutodiffError>>,
    /// Whether a tangent was ever seeded ([`Tape::set_tangent`]): only then does `apply`
    /// look for input tangents.
    forward: Cell<bool>,
    /// While positive, `apply` propagates no tangents: set while a JVP rule runs, whose
    /// ops compute a tangent and must not get tangents of their own.
    forward_off: Cell<u32>,
    /// Names of the ops whose tangent came from the double-vjp default of [`Op::jvp`].
    without_jvp: RefCell<Vec<&'static str>>,
    /// While a backward rule runs: where its op was recorded. Ops the rule records are given
    /// this location, and a non-finite value they compute is reported as the rule's.
    rule: Cell<Option<&'static Location<'static>>>,
    /// Set when an op recorded by the running rule computed a non-finite value (anomaly mode).
    rule_non_finite: Cell<bool>,
}

/// Sets a cell and puts its old value back when dropped, also when a panic unwinds through the
/// scope: the one guard for the tape's modes (no-grad depth, the running rule).
struct Restore<'a, V: Copy> {
    cell: &'a Cell<V>,
    old: V,
}

impl<'a, V: Copy> Restore<'a, V> {
    fn set(cell: &'a Cell<V>, value: V) -> Self {
        Restore { cell, old: cell.replace(value) }
    }
}

impl<V: Copy> Drop for Restore<'_, V> {
    fn drop(&mut self) {
        self.cell.set(self.old);
    }
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The gradients returned by [`Tape::grad`], one per requested input, in order.
///
/// An input the output does not depend on has "no gradient" (`None`), not a
/// tensor of zeros; [`Gradients::dense`] gives zeros on request.
pub struct Gradients<'t, T: Float> {
    inputs: Vec<Var<'t, T>>,
    grads: Vec<Option<Var<'t, T>>>,
}

impl<'t, T: Float> Gradients<'t, T> {
    /// The gradient with respect to input `i` as a tape variable, or `None` if there is none.
    ///
    /// # Panics
    /// If `i` is not below the number of inputs (as do [`Gradients::dense`] and [`Gradients::value`]).
    #[track_caller]
    pub fn get(&self, i: usize) -> Option<Var<'t, T>> {
        self.check_index(i);
        self.grads[i]
    }

    #[track_caller]
    fn check_index(&self, i: usize) {
        let n = self.grads.len();
        assert!(i < n, "Gradients: input {i} is out of range, {n} inputs were requested");
    }

    /// The gradient with respect to input `i` as a variable, zeros if there is none.
    ///
    /// # Panics
    /// If `i` is out of range.
    #[track_caller]
    pub fn dense(&self, i: usize) -> Var<'t, T> {
        self.check_index(i);
        self.grads[i].unwrap_or_else(|| {
            let x = self.inputs[i];
            x.tape().constant(Tensor::zeros(x.shape().as_slice()))
        })
    }

    /// The value of the gradient with respect to input `i`, zeros if there is none.
    ///
    /// # Panics
    /// If `i` is out of range.
    #[track_caller]
    pub fn value(&self, i: usize) -> Tensor<T> {
        self.check_index(i);
        match self.grads[i] {
            Some(g) => g.value(),
            None => Tensor::zeros(self.inputs[i].shape().as_slice()),
        }
    }

    /// All gradient values, zeros where there is none.
    pub fn values(&self) -> Vec<Tensor<T>> {
        (0..self.grads.len()).map(|i| self.value(i)).collect()
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// `true` if no inputs were requested.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}

impl<T: Float> Tape<T> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            nodes: RefCell::new(Vec::with_capacity(64)),
            no_grad: Cell::new(0),
            anomaly: Cell::new(false),
            first_anomaly: RefCell::new(None),
            forward: Cell::new(false),
            forward_off: Cell::new(0),
            without_jvp: RefCell::new(Vec::new()),
            rule: Cell::new(None),
            rule_non_finite: Cell::new(false),
        }
    }

    /// An empty tape in anomaly mode: the first op whose forward value, or whose backward
    /// rule's result, is NaN or infinite is remembered (see [`Tape::check`]) and makes
    /// [`Tape::grad`] panic (and [`Tape::try_grad`] fail) with its name, the [`Phase`]
    /// (`forward` or `backward`), its input shapes and the user's line that recorded it, as
    /// PyTorch's `detect_anomaly`.
    pub fn with_anomaly_detection() -> Self {
        let t = Self::new();
        t.anomaly.set(true);
        t
    }

    /// Turns anomaly mode on or off.
    pub fn set_anomaly_detection(&self, on: bool) {
        self.anomaly.set(on);
    }

    /// `Err` with the first anomaly found so far (anomaly mode only), else `Ok`.
    pub fn check(&self) -> Result<()> {
        match &*self.first_anomaly.borrow() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// `true` if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every node recorded after the first `len` (a mark taken with [`Tape::len`]).
    ///
    /// Variables created after the mark must not be used afterwards; doing so panics
    /// or reads a node recorded later.
    pub fn truncate(&self, len: usize) {
        let mut nodes = self.nodes.borrow_mut();
        nodes.truncate(len);
        if self.forward.get() {
            // A tangent seeded after the mark on a node before it goes with the mark.
            for n in nodes.iter_mut() {
                if n.tangent.is_some_and(|t| t as usize >= len) {
                    n.tangent = None;
                }
            }
        }
    }

    /// A trainable leaf: gradients flow into it.
    #[track_caller]
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(value, None, true, Location::caller())
    }

    /// A constant leaf: it never has a gradient.
    #[track_caller]
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(value, None, false, Location::caller())
    }

    /// A constant scalar.
    #[track_caller]
    pub fn scalar(&self, x: T) -> Var<'_, T> {
        self.constant(Tensor::scalar(x))
    }

    /// A constant leaf carrying a forward-mode tangent: every op applied to it (or to a result of
    /// it) computes its tangent at once by its JVP rule ([`Op::jvp`]), read with [`Var::tangent`].
    /// Nothing is kept for reverse mode, so this is forward mode with the memory of a forward pass.
    ///
    /// ```
    /// use wengert_autodiff::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.dual(Tensor::scalar(2.0_f64), Tensor::scalar(1.0));
    /// let y = x * x * x;                                 // dy = 3 x^2 dx
    /// assert_eq!(y.tangent().unwrap().item(), 12.0);
    /// assert_eq!(tape.recorded_ops(), 0);                // no reverse tape
    /// ```
    ///
    /// # Panics
    /// If the tangent's shape differs from the value's.
    #[track_caller]
    pub fn dual(&self, value: Tensor<T>, tangent: Tensor<T>) -> Var<'_, T> {
        let x = self.constant(value);
        let t = self.constant(tangent);
        or_panic(self.set_tangent(x, t));
        x
    }

    /// Seeds forward mode: `t` becomes the tangent of `x`, and every op recorded afterwards on a
    /// variable with a tangent computes its own by its JVP rule ([`Op::jvp`]), in the same pass as
    /// its value ("online" forward mode). The tangents are ordinary tape variables: when the tape
    /// records (`x` trainable), they can be differentiated in reverse mode (reverse over forward);
    /// a gradient taken afterwards with [`Tape::grad`] gets a tangent too, which is the
    /// Hessian-vector product `H t` (forward over reverse).
    ///
    /// An error if the shapes differ.
    pub fn set_tangent<'t>(&'t self, x: Var<'t, T>, t: Var<'t, T>) -> Result<()> {
        let mut nodes = self.nodes.borrow_mut();
        let (xs, ts) = (nodes[x.id()].value.shape(), nodes[t.id()].value.shape());
        if xs != ts {
            return Err(AutodiffError::ShapeMismatch { op: "set_tangent", lhs: xs.into(), rhs: ts.into() });
        }
        nodes[x.id()].tangent = Some(t.id() as u32);
        self.forward.set(true);
        Ok(())
    }

    pub(crate) fn tangent_of(&self, id: usize) -> Option<usize> {
        self.nodes.borrow()[id].tangent.map(|t| t as usize)
    }

    /// Number of nodes that keep an op for reverse mode (zero after a forward-only run with
    /// [`Tape::dual`]).
    pub fn recorded_ops(&self) -> usize {
        self.nodes.borrow().iter().filter(|n| n.op.is_some()).count()
    }

    /// The distinct names of the ops kept for reverse mode, in order of first appearance.
    pub fn op_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for n in self.nodes.borrow().iter() {
            if let Some((op, _)) = &n.op {
                if !names.contains(&op.name()) {
                    names.push(op.name());
                }
            }
        }
        names
    }

    /// The names of the ops whose tangent was computed by the double-vjp default of [`Op::jvp`]
    /// (ops without a JVP rule of their own), each once, in order of first use.
    pub fn ops_without_jvp(&self) -> Vec<&'static str> {
        self.without_jvp.borrow().clone()
    }

    /// Whether ops record their rules now (not inside [`Tape::no_grad`] or a first-order backward pass).
    pub(crate) fn recording(&self) -> bool {
        self.no_grad.get() == 0
    }

    /// Runs `f` with recording switched on, whatever the state: for rules that must sweep a record
    /// of their own (the double-vjp JVP, checkpointing's recomputation).
    pub(crate) fn recorded<R>(&self, f: impl FnOnce() -> R) -> R {
        let saved = self.no_grad.replace(0);
        let r = f();
        self.no_grad.set(saved);
        r
    }

    /// Runs `f` with recording switched off: every op inside records a constant.
    ///
    /// Recording is switched back on when `f` returns or panics.
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        let _off = Restore::set(&self.no_grad, self.no_grad.get() + 1);
        f()
    }

    pub(crate) fn push(
        &self,
        value: Tensor<T>,
        op: Option<Recorded<T>>,
        requires_grad: bool,
        location: &'static Location<'static>,
    ) -> Var<'_, T> {
        let mut nodes = self.nodes.borrow_mut();
        let id = nodes.len();
        nodes.push(Node { value, op, requires_grad, tangent: None, location });
        Var::from_id(self, id)
    }

    /// Records `op` applied to `inputs`: computes its value now and, if any input
    /// requires a gradient, remembers how to differentiate it.
    ///
    /// This is how built-in and user-defined ops alike are recorded.
    ///
    /// # Errors
    /// The op's own errors (shapes, indices, arguments), and [`AutodiffError::InvalidArgument`] for
    /// an input that is not on this tape (recorded on another tape, or forgotten by [`Tape::truncate`]).
    #[track_caller]
    pub fn apply<'t>(&'t self, op: impl Op<T>, inputs: &[Var<'t, T>]) -> Result<Var<'t, T>> {
        let rule = self.rule.get();
        let location = match rule {
            Some(l) => l,
            None => Location::caller(),
        };
        let recording = self.no_grad.get() == 0;
        // One borrow for the forward and the push; the common one- and two-input cases
        // avoid collecting the inputs (this is the per-op overhead of every recorded op).
        let mut nodes = self.nodes.borrow_mut();
        self.check_vars(op.name(), nodes.len(), inputs)?;
        let (value, requires_grad) = match inputs {
            [a] => {
                let na = &nodes[a.id()];
                (op.forward(&[&na.value])?, recording && na.requires_grad)
            }
            [a, b] => {
                let (na, nb) = (&nodes[a.id()], &nodes[b.id()]);
                (op.forward(&[&na.value, &nb.value])?, recording && (na.requires_grad || nb.requires_grad))
            }
            _ => {
                let vals: SmallVec<[&Tensor<T>; 4]> = inputs.iter().map(|v| &nodes[v.id()].value).collect();
                let rg = recording && inputs.iter().any(|v| nodes[v.id()].requires_grad);
                (op.forward(&vals)?, rg)
            }
        };
        if self.anomaly.get() && !value.all_finite() {
            if rule.is_some() {
                self.rule_non_finite.set(true);
            } else {
                drop(nodes);
                self.report_anomaly(op.name(), Phase::Forward, inputs, location);
                nodes = self.nodes.borrow_mut();
            }
        }
        let id = nodes.len();
        if !(self.forward.get() && self.forward_off.get() == 0) {
            let rec = if requires_grad {
                Some((Box::new(op) as Box<dyn Op<T>>, inputs.iter().map(|v| v.id() as u32).collect()))
            } else {
                None
            };
            nodes.push(Node { value, op: rec, requires_grad, tangent: None, location });
            return Ok(Var::from_id(self, id));
        }
        // Forward mode: the output's tangent by the op's JVP rule, computed at once, whether or
        // not the op is kept for reverse mode.
        nodes.push(Node { value, op: None, requires_grad, tangent: None, location });
        drop(nodes);
        let tangents: SmallVec<[Option<Var<'t, T>>; 4]> = inputs.iter().map(|v| v.tangent()).collect();
        let tangent = if tangents.iter().any(Option::is_some) {
            self.run_jvp(&op, id, inputs, &tangents, location)?
        } else {
            None
        };
        let mut nodes = self.nodes.borrow_mut();
        nodes[id].tangent = tangent.map(|t| t.id() as u32);
        if requires_grad {
            nodes[id].op = Some((Box::new(op), inputs.iter().map(|v| v.id() as u32).collect()));
        }
        Ok(Var::from_id(self, id))
    }

    /// Runs `op`'s JVP rule for node `id` with forward propagation switched off (the rule's own
    /// ops compute a tangent; they get none themselves), and checks the tangent's shape.
    fn run_jvp<'t>(
        &'t self,
        op: &dyn Op<T>,
        id: usize,
        inputs: &[Var<'t, T>],
        tangents: &[Option<Var<'t, T>>],
        location: &'static Location<'static>,
    ) -> Result<Option<Var<'t, T>>> {
        let off = Restore::set(&self.forward_off, self.forward_off.get() + 1);
        let t = op.jvp(inputs, Var::from_id(self, id), tangents);
        drop(off);
        let Some(t) = t else { return Ok(None) };
        {
            let nodes = self.nodes.borrow();
            let (ts, ys) = (nodes[t.id()].value.shape(), nodes[id].value.shape());
            if ts != ys {
                return Err(AutodiffError::ShapeMismatch {
                    op: "jvp rule (tangent vs output shape)",
                    lhs: ts.into(),
                    rhs: ys.into(),
                });
            }
        }
        if self.anomaly.get() && !t.value().all_finite() {
            self.report_anomaly(op.name(), Phase::Jvp, inputs, location);
        }
        Ok(Some(t))
    }

    /// `Err` unless every variable is on this tape and among its first `len` nodes.
    fn check_vars(&self, op: &'static str, len: usize, vars: &[Var<'_, T>]) -> Result<()> {
        match vars.iter().find(|v| !std::ptr::eq(v.tape(), self) || v.id() >= len) {
            Some(v) => arg_err(
                op,
                format!(
                    "variable #{} is not on this tape (it belongs to another tape, or was forgotten by `truncate`)",
                    v.id()
                ),
            ),
            None => Ok(()),
        }
    }

    fn report_anomaly(&self, op: &'static str, phase: Phase, inputs: &[Var<'_, T>], loc: &Location<'_>) {
        let mut first = self.first_anomaly.borrow_mut();
        if first.is_none() {
            *first = Some(AutodiffError::NonFinite {
                op,
                phase,
                input_shapes: inputs.iter().map(|v| v.shape()).collect(),
                location: loc.to_string(),
            });
        }
    }

    pub(crate) fn value_of(&self, id: usize) -> Tensor<T> {
        self.nodes.borrow()[id].value.clone()
    }

    pub(crate) fn requires_grad(&self, id: usize) -> bool {
        self.nodes.borrow()[id].requires_grad
    }

    /// Gradients of the scalar `output` with respect to `inputs` (leaves or intermediate
    /// variables), for first-order use: the backward pass records constants only.
    ///
    /// # Panics
    /// If `output` is not a scalar, or (in anomaly mode) if a NaN or infinity was found;
    /// see [`Tape::try_grad`].
    #[track_caller]
    pub fn grad<'t>(&'t self, output: Var<'t, T>, inputs: &[Var<'t, T>]) -> Gradients<'t, T> {
        or_panic(self.try_grad(output, inputs))
    }

    /// [`Tape::grad`] returning an error instead of panicking.
    pub fn try_grad<'t>(&'t self, output: Var<'t, T>, inputs: &[Var<'t, T>]) -> Result<Gradients<'t, T>> {
        self.backward(output, inputs, None, false)
    }

    /// Gradients recorded on the tape (create-graph mode), so they can be differentiated
    /// again: the route to Hessian-vector products and higher derivatives.
    ///
    /// # Panics
    /// As [`Tape::grad`]; see [`Tape::try_grad_graph`].
    #[track_caller]
    pub fn grad_graph<'t>(&'t self, output: Var<'t, T>, inputs: &[Var<'t, T>]) -> Gradients<'t, T> {
        or_panic(self.try_grad_graph(output, inputs))
    }

    /// [`Tape::grad_graph`] returning an error instead of panicking.
    pub fn try_grad_graph<'t>(&'t self, output: Var<'t, T>, inputs: &[Var<'t, T>]) -> Result<Gradients<'t, T>> {
        self.backward(output, inputs, None, true)
    }

    /// The vector-Jacobian product `u^T (d output / d input)` for each input, for an
    /// output of any shape; `create_graph` records it for further differentiation.
    pub fn vjp<'t>(
        &'t self,
        output: Var<'t, T>,
        inputs: &[Var<'t, T>],
        u: Var<'t, T>,
        create_graph: bool,
    ) -> Result<Gradients<'t, T>> {
        self.backward(output, inputs, Some(u), create_graph)
    }

    /// The vector-Jacobian product of several outputs at once: `sum_k u_k^T (d output_k / d input)`
    /// for each input, in one backward sweep (`seeds[k]` has the shape of `outputs[k]`).
    ///
    /// This is how a Hessian-vector product is taken from a list of gradient variables
    /// `g_k`: `vjp_many(g, v, x)` gives `sum_k v_k^T dg_k/dx = H v` without recording the
    /// inner product `sum_k <g_k, v_k>` and the broadcasts its backward would need.
    pub fn vjp_many<'t>(
        &'t self,
        outputs: &[Var<'t, T>],
        seeds: &[Var<'t, T>],
        inputs: &[Var<'t, T>],
        create_graph: bool,
    ) -> Result<Gradients<'t, T>> {
        if outputs.len() != seeds.len() || outputs.is_empty() {
            return arg_err("vjp_many", format!("{} outputs but {} seeds", outputs.len(), seeds.len()));
        }
        for (o, u) in outputs.iter().zip(seeds) {
            if u.shape() != o.shape() {
                return Err(AutodiffError::ShapeMismatch { op: "vjp_many", lhs: o.shape(), rhs: u.shape() });
            }
        }
        let pairs: Vec<_> = outputs.iter().copied().zip(seeds.iter().copied()).collect();
        self.backward_seeded(&pairs, inputs, create_graph)
    }

    /// The Jacobian-vector products `(d output_k / d inputs) t` for each output: forward mode
    /// over the recorded part of the tape, one sweep from the inputs (tangents `tangents`, one per
    /// input, of its shape) to the outputs, each node's tangent by its op's JVP rule ([`Op::jvp`]).
    ///
    /// The tape's linearisation primitive: `f` is recorded once and each tangent costs one sweep
    /// (`functional::Linearization`); over a recorded gradient graph ([`Tape::grad_graph`]) it
    /// gives Hessian-vector products by forward over reverse. As for [`Tape::grad`], the inputs must
    /// require gradients (ops on constants are not recorded); an output the inputs do not reach has
    /// no tangent (`None`). With `create_graph`, the tangents are recorded for further
    /// differentiation.
    ///
    /// ```
    /// use wengert_autodiff::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0_f64, 2.0], &[2]));
    /// let y = x.sin() * x;                                  // J = diag(x cos x + sin x)
    /// let t = tape.constant(Tensor::from_vec(vec![1.0, 0.0], &[2]));
    /// let jt = tape.jvp(&[y], &[x], &[t], false).unwrap().value(0);
    /// assert_eq!(jt.to_vec(), vec![1f64.cos() + 1f64.sin(), 0.0]);
    /// ```
    pub fn jvp<'t>(
        &'t self,
        outputs: &[Var<'t, T>],
        inputs: &[Var<'t, T>],
        tangents: &[Var<'t, T>],
        create_graph: bool,
    ) -> Result<Gradients<'t, T>> {
        if inputs.len() != tangents.len() {
            return arg_err("jvp", format!("{} inputs but {} tangents", inputs.len(), tangents.len()));
        }
        for (x, t) in inputs.iter().zip(tangents) {
            if x.shape() != t.shape() {
                return Err(AutodiffError::ShapeMismatch { op: "jvp", lhs: x.shape(), rhs: t.shape() });
            }
        }
        let none = || Gradients { inputs: outputs.to_vec(), grads: vec![None; outputs.len()] };
        let (Some(hi), Some(lo)) = (outputs.iter().map(|v| v.id()).max(), inputs.iter().map(|v| v.id()).min()) else {
            return Ok(none());
        };
        if lo > hi {
            return Ok(none());
        }
        let mut tan: Vec<Option<Var<'t, T>>> = vec![None; hi + 1 - lo];
        for (x, &t) in inputs.iter().zip(tangents) {
            if x.id() <= hi && self.requires_grad(x.id()) {
                let slot = &mut tan[x.id() - lo];
                *slot = Some(match *slot {
                    Some(acc) => acc + t,
                    None => t,
                });
            }
        }
        if !create_graph {
            self.no_grad.set(self.no_grad.get() + 1);
        }
        let result = self.forward_sweep(lo, hi, &mut tan);
        if !create_graph {
            self.no_grad.set(self.no_grad.get() - 1);
        }
        result?;
        let grads = outputs.iter().map(|o| o.id().checked_sub(lo).and_then(|k| tan[k])).collect();
        Ok(Gradients { inputs: outputs.to_vec(), grads })
    }

    /// The forward sweep over nodes `lo..=hi`: `tan[i - lo]` is node `i`'s tangent (the seeds are set).
    fn forward_sweep<'t>(&'t self, lo: usize, hi: usize, tan: &mut [Option<Var<'t, T>>]) -> Result<()> {
        let mut in_vars: SmallVec<[Var<'t, T>; 4]> = SmallVec::new();
        let mut ts: SmallVec<[Option<Var<'t, T>>; 4]> = SmallVec::new();
        for i in lo..=hi {
            if tan[i - lo].is_some() {
                continue; // a seed
            }
            let (op, ins, location) = {
                let mut nodes = self.nodes.borrow_mut();
                let node = &mut nodes[i];
                let Some((op, ins)) = node.op.take() else { continue };
                (op, ins, node.location)
            };
            in_vars.clear();
            ts.clear();
            for &j in &ins {
                let j = j as usize;
                in_vars.push(Var::from_id(self, j));
                ts.push(j.checked_sub(lo).and_then(|k| tan[k]));
            }
            let result =
                if ts.iter().any(Option::is_some) { self.run_jvp(&*op, i, &in_vars, &ts, location) } else { Ok(None) };
            self.nodes.borrow_mut()[i].op = Some((op, ins));
            tan[i - lo] = result?;
        }
        if self.anomaly.get() {
            self.check()?;
        }
        Ok(())
    }

    fn backward<'t>(
        &'t self,
        output: Var<'t, T>,
        inputs: &[Var<'t, T>],
        seed: Option<Var<'t, T>>,
        create_graph: bool,
    ) -> Result<Gradients<'t, T>> {
        let seed = match seed {
            Some(u) => {
                if u.shape() != output.shape() {
                    return Err(AutodiffError::ShapeMismatch { op: "vjp", lhs: output.shape(), rhs: u.shape() });
                }
                u
            }
            None => {
                if output.numel() != 1 {
                    return arg_err(
                        "grad",
                        format!("output must be a scalar, got shape {:?}; use vjp", output.shape().as_slice()),
                    );
                }
                self.constant(Tensor::ones(output.shape().as_slice()))
            }
        };
        self.backward_seeded(&[(output, seed)], inputs, create_graph)
    }

    /// Reverse mode from `(output, seed)` pairs whose shapes agree.
    fn backward_seeded<'t>(
        &'t self,
        seeds: &[(Var<'t, T>, Var<'t, T>)],
        inputs: &[Var<'t, T>],
        create_graph: bool,
    ) -> Result<Gradients<'t, T>> {
        let len = self.len();
        for (o, u) in seeds {
            self.check_vars("grad", len, &[*o, *u])?;
        }
        self.check_vars("grad", len, inputs)?;
        let out = seeds.iter().map(|(o, _)| o.id()).max().expect("at least one output");
        if let Some(late) = inputs.iter().find(|v| v.id() > out) {
            return arg_err(
                "grad",
                format!(
                    "input variable #{} was recorded after the output #{out}, so the output cannot depend on it",
                    late.id()
                ),
            );
        }
        let lo = inputs.iter().map(|v| v.id()).min().unwrap_or(out).min(out);
        // on_path[i - lo]: node i depends on a requested input (forward reachability).
        let mut on_path = vec![false; out + 1 - lo];
        {
            let nodes = self.nodes.borrow();
            for v in inputs {
                on_path[v.id() - lo] = nodes[v.id()].requires_grad;
            }
            for i in lo..=out {
                if on_path[i - lo] || !nodes[i].requires_grad {
                    continue;
                }
                if let Some((_, ins)) = &nodes[i].op {
                    on_path[i - lo] = ins.iter().any(|&j| (j as usize) >= lo && on_path[j as usize - lo]);
                }
            }
        }
        let mut grads: Vec<Option<Var<'t, T>>> = vec![None; out + 1 - lo];
        for &(o, u) in seeds {
            if o.id() >= lo && on_path[o.id() - lo] {
                let slot = &mut grads[o.id() - lo];
                *slot = Some(match *slot {
                    Some(acc) => acc + u,
                    None => u,
                });
            }
        }
        {
            let _first_order = Restore::set(&self.no_grad, self.no_grad.get() + u32::from(!create_graph));
            self.sweep(lo, out, &on_path, &mut grads, !create_graph)?;
        }
        Ok(Gradients { inputs: inputs.to_vec(), grads: inputs.iter().map(|v| grads[v.id() - lo]).collect() })
    }

    /// The backward sweep over nodes `out..=lo`. `grads[i - lo]` holds the gradient flowing into
    /// node `i`; each node's rule turns it into gradients for the node's inputs.
    ///
    /// In a first-order pass (`accumulate_in_place`), a further contribution to a gradient is added
    /// into the gradient's buffer instead of recording an `add`, when that buffer is a node this sweep
    /// recorded and no other gradient slot has held it: nothing else can refer to the node then (its
    /// storage may be shared, but writing copies shared storage first). Otherwise one `add` is
    /// recorded, whose result is such a node. In create-graph mode every sum is recorded, so it can
    /// be differentiated.
    fn sweep<'t>(
        &'t self,
        lo: usize,
        out: usize,
        on_path: &[bool],
        grads: &mut [Option<Var<'t, T>>],
        accumulate_in_place: bool,
    ) -> Result<()> {
        let mut in_vars: SmallVec<[Var<'t, T>; 4]> = SmallVec::new();
        let mut needs: SmallVec<[bool; 4]> = SmallVec::new();
        // In forward mode a gradient may carry a tangent, which an in-place sum would not update.
        let in_place = accumulate_in_place && !self.forward.get();
        let mut held = in_place.then(|| Held { first: self.len(), count: Vec::new() });
        for i in (lo..=out).rev() {
            let Some(g) = grads[i - lo] else { continue };
            // The op is taken out of its node while its rule runs (the rule records new nodes,
            // which needs the tape mutably) and put back afterwards, so it is never cloned.
            let (op, ins, location) = {
                let mut nodes = self.nodes.borrow_mut();
                let node = &mut nodes[i];
                let Some((op, ins)) = node.op.take() else { continue };
                (op, ins, node.location)
            };
            in_vars.clear();
            needs.clear();
            for &j in &ins {
                let j = j as usize;
                in_vars.push(Var::from_id(self, j));
                needs.push(j >= lo && on_path[j - lo]);
            }
            let result = if needs.iter().any(|&n| n) {
                let output = Var::from_id(self, i);
                let gs = {
                    let _rule = Restore::set(&self.rule, Some(location));
                    let _fresh = Restore::set(&self.rule_non_finite, false);
                    let gs = op.backward(&in_vars, output, g, &needs);
                    if self.rule_non_finite.get() {
                        self.report_anomaly(op.name(), Phase::Backward, &in_vars, location);
                    }
                    gs
                };
                self.accumulate(&*op, gs, &in_vars, &needs, location, lo, grads, held.as_mut())
            } else {
                Ok(())
            };
            self.nodes.borrow_mut()[i].op = Some((op, ins));
            result?;
        }
        if self.anomaly.get() {
            self.check()?;
        }
        Ok(())
    }

    /// Adds the gradients one rule returned to the gradients of its inputs.
    #[allow(clippy::too_many_arguments)]
    fn accumulate<'t>(
        &'t self,
        op: &dyn Op<T>,
        gs: crate::InputGrads<'t, T>,
        in_vars: &[Var<'t, T>],
        needs: &[bool],
        location: &'static Location<'static>,
        lo: usize,
        grads: &mut [Option<Var<'t, T>>],
        mut held: Option<&mut Held>,
    ) -> Result<()> {
        for ((gi, &x), &need) in gs.into_iter().zip(in_vars.iter()).zip(needs.iter()) {
            let (Some(gi), true) = (gi, need) else { continue };
            {
                let nodes = self.nodes.borrow();
                let (gs, xs) = (nodes[gi.id()].value.shape(), nodes[x.id()].value.shape());
                if gs != xs {
                    return Err(AutodiffError::ShapeMismatch {
                        op: "backward rule (gradient vs input shape)",
                        lhs: gs.into(),
                        rhs: xs.into(),
                    });
                }
            }
            if self.anomaly.get() && !gi.value().all_finite() {
                self.report_anomaly(op.name(), Phase::Backward, in_vars, location);
            }
            let k = x.id() - lo;
            let sum = match (grads[k], held.as_deref_mut()) {
                (None, _) => gi,
                (Some(acc), Some(h)) if h.sole(acc.id()) => {
                    let add = gi.value();
                    kernels::add_assign(&mut self.nodes.borrow_mut()[acc.id()].value, &add);
                    continue;
                }
                (Some(acc), _) => acc + gi,
            };
            if let Some(h) = held.as_deref_mut() {
                h.hold(sum.id());
            }
            grads[k] = Some(sum);
        }
        Ok(())
    }
}

/// For a first-order sweep: how many gradient slots have held each node the sweep recorded.
struct Held {
    /// The first node the sweep recorded.
    first: usize,
    /// `count[id - first]`.
    count: Vec<u32>,
}

impl Held {
    fn hold(&mut self, id: usize) {
        if let Some(i) = id.checked_sub(self.first) {
            if i >= self.count.len() {
                self.count.resize(i + 1, 0);
            }
            self.count[i] += 1;
        }
    }

    /// Whether node `id` was recorded by the sweep and has been held by one slot only.
    fn sole(&self, id: usize) -> bool {
        id.checked_sub(self.first).is_some_and(|i| self.count.get(i) == Some(&1))
    }
}

/// The double-vjp default of [`Op::jvp`]: `g(u) = Jᵀ u` recorded by the op's backward rule with a
/// trainable `u`, then `J t = d/du sum_i <g_i(u), t_i>` by a reverse sweep over that record
/// (recorded itself when the tape records, so it can be differentiated again).
pub(crate) fn jvp_by_double_vjp<'t, T: Float, O: Op<T> + ?Sized>(
    op: &O,
    inputs: &[Var<'t, T>],
    output: Var<'t, T>,
    tangents: &[Option<Var<'t, T>>],
) -> Option<Var<'t, T>> {
    let tape = output.tape();
    {
        let mut names = tape.without_jvp.borrow_mut();
        if !names.contains(&op.name()) {
            names.push(op.name());
        }
    }
    // The backward rule must be recorded whatever the tape's state, so that it can be swept.
    let recording = tape.recording();
    let (u, gs) = tape.recorded(|| {
        let u = tape.var(Tensor::zeros(output.shape().as_slice()));
        let needs: SmallVec<[bool; 4]> = tangents.iter().map(Option::is_some).collect();
        (u, op.backward(inputs, output, u, &needs))
    });
    let (outs, seeds): (Vec<_>, Vec<_>) =
        gs.into_iter().zip(tangents).filter_map(|(g, t)| Some((g?, (*t)?))).filter(|(g, _)| g.requires_grad()).unzip();
    if outs.is_empty() {
        return None;
    }
    let jt = tape.vjp_many(&outs, &seeds, &[u], recording).unwrap_or_else(|e| panic!("{} (jvp): {e}", op.name()));
    jt.get(0)
}
