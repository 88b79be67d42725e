//! The [`Optimizer`] trait and [`FirstOrder`], the engine every first-order algorithm runs on:
//! parameter groups, per-parameter state keyed by hierarchical name, the all-or-nothing gradient
//! check, the fused chunk-parallel update and state (de)serialisation.

use std::collections::BTreeMap;
use std::fmt::Debug;

use wengert_autodiff::tensor::parallel::{self, split};
use wengert_autodiff::{Float, Tensor};
use wengert_nn::{f64_from_meta, f64_to_meta, Grads, Param, Parameters, StateDict};

use super::error::{check_nonneg, OptimError};

/// Something that steps parameters given their gradients. Object safe: `Box<dyn Optimizer<f32>>` works.
///
/// Frozen parameters and parameters without a gradient are skipped (as PyTorch skips `grad is None`).
pub trait Optimizer<T: Float> {
    /// Applies one update to every trainable parameter of `params` that has a gradient in `grads`.
    ///
    /// All gradients are checked (shape, finiteness) and all state buffers validated *before* anything
    /// is written: on `Err` neither parameters nor optimiser state have changed.
    fn step(&mut self, params: &mut dyn Parameters<T>, grads: &Grads<T>) -> Result<(), OptimError>;

    /// The learning rate of group 0 (the default group).
    fn learning_rate(&self) -> T;

    /// Sets the learning rate of every group (what a schedule does between steps).
    ///
    /// # Panics
    /// If `lr` is NaN, infinite or negative (see [`Optimizer::try_set_learning_rate`]).
    #[track_caller]
    fn set_learning_rate(&mut self, lr: T) {
        self.try_set_learning_rate(lr).unwrap_or_else(|e| panic!("{}: {e}", self.name()))
    }

    /// Sets the learning rate of every group; `Err(InvalidConfig)` (and nothing changed) if `lr` is NaN,
    /// infinite or negative.
    fn try_set_learning_rate(&mut self, lr: T) -> Result<(), OptimError>;

    /// Number of parameter groups (at least 1).
    fn num_groups(&self) -> usize;

    /// The learning rate of group `group`.
    ///
    /// # Panics
    /// If `group >= num_groups()`.
    fn group_learning_rate(&self, group: usize) -> T;

    /// Sets the learning rate of group `group` only.
    ///
    /// # Panics
    /// If `group >= num_groups()` or `lr` is NaN, infinite or negative.
    #[track_caller]
    fn set_group_learning_rate(&mut self, group: usize, lr: T) {
        self.try_set_group_learning_rate(group, lr).unwrap_or_else(|e| panic!("{}: {e}", self.name()))
    }

    /// Sets the learning rate of group `group` only; `Err(InvalidConfig)` (and nothing changed) if `group` is
    /// out of range or `lr` is NaN, infinite or negative.
    fn try_set_group_learning_rate(&mut self, group: usize, lr: T) -> Result<(), OptimError>;

    /// The algorithm's name (`"adam"`), also stored in the state dict.
    fn name(&self) -> &'static str;

    /// Everything needed to resume: per-parameter buffers as tensors `state.<param>.<buffer>`, step counts and
    /// per-parameter scalars as metadata `state.<param>.step` / `state.<param>.<scalar>`, group learning rates
    /// as `group.<i>.lr` (exact, via [`f64_to_meta`]).
    fn state_dict(&self) -> StateDict<T>;

    /// Restores what [`Optimizer::state_dict`] saved. On `Err` the optimiser is unchanged.
    fn load_state_dict(&mut self, sd: &StateDict<T>) -> Result<(), OptimError>;
}

/// One first-order algorithm: a typed config (its hyperparameters) plus its elementwise update.
///
/// The engine [`FirstOrder`] calls [`Algorithm::coeffs`] once per parameter per step (bias corrections,
/// learning rate in `T`, ...), then [`Algorithm::update`] on chunks of the parameter, possibly in parallel.
/// Because every algorithm here is elementwise, chunking does not change a single bit of the result.
pub trait Algorithm<T: Float>: Clone + Debug + Send + Sync + 'static {
    /// Per-step, per-parameter coefficients.
    type Coeffs: Sync;
    /// Name stored in state dicts.
    const NAME: &'static str;
    /// The per-element state buffers this config needs, in the order [`Algorithm::update`] receives them
    /// (may depend on the config: SGD without momentum keeps none).
    fn buffers(&self) -> &'static [Buffer];
    /// Names of per-parameter scalar state (NAdam's running product of momentum coefficients).
    const SCALARS: &'static [&'static str] = &[];

    /// The learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate.
    fn set_lr(&mut self, lr: f64);
    /// Checks the hyperparameters.
    fn validate(&self) -> Result<(), OptimError>;
    /// Initial value of buffer `index` (zero unless overridden, e.g. AdaGrad's `initial_accumulator_value`).
    fn init_buffer(&self, _index: usize) -> T {
        T::ZERO
    }
    /// Initial values of the [`Algorithm::SCALARS`].
    fn init_scalars(&self) -> Vec<f64> {
        Vec::new()
    }
    /// Coefficients for step number `step` (1 on the first update of a parameter); may update `scalars`.
    fn coeffs(&self, step: u64, scalars: &mut [f64]) -> Self::Coeffs;
    /// Updates a chunk of parameter `w` in place given its gradient `g` and its state buffers.
    fn update(&self, c: &Self::Coeffs, w: &mut [T], g: &[T], bufs: &mut [&mut [T]]);
}

/// A per-element state buffer of a first-order optimiser. [`Buffer::name`] is its key in state dicts
/// (`state.<param>.<name>`), PyTorch's name for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Buffer {
    /// SGD's and RMSProp's momentum buffer (`momentum_buffer`).
    MomentumBuffer,
    /// The velocity `v` of Goodfellow et al. Algorithms 8.2, 8.3 and 8.6 (`velocity`).
    Velocity,
    /// First moment estimate `m` of Adam, AdamW, AdaMax, NAdam (`exp_avg`).
    ExpAvg,
    /// Second moment estimate `v` of Adam, AdamW, NAdam (`exp_avg_sq`), never negative.
    ExpAvgSq,
    /// AMSGrad's running maximum of `v` (`max_exp_avg_sq`), never negative.
    MaxExpAvgSq,
    /// AdaMax's exponentially weighted infinity norm `u` (`exp_inf`), never negative.
    ExpInf,
    /// AdaGrad's sum of squared gradients (`sum`), never negative.
    Sum,
    /// RMSProp's and AdaDelta's running average of squared gradients (`square_avg`), never negative.
    SquareAvg,
    /// Centred RMSProp's running average of gradients (`grad_avg`).
    GradAvg,
    /// AdaDelta's running average of squared updates (`acc_delta`), never negative.
    AccDelta,
}

impl Buffer {
    /// The buffer's key in state dicts (PyTorch's name).
    pub fn name(self) -> &'static str {
        match self {
            Buffer::MomentumBuffer => "momentum_buffer",
            Buffer::Velocity => "velocity",
            Buffer::ExpAvg => "exp_avg",
            Buffer::ExpAvgSq => "exp_avg_sq",
            Buffer::MaxExpAvgSq => "max_exp_avg_sq",
            Buffer::ExpInf => "exp_inf",
            Buffer::Sum => "sum",
            Buffer::SquareAvg => "square_avg",
            Buffer::GradAvg => "grad_avg",
            Buffer::AccDelta => "acc_delta",
        }
    }

    /// `true` for buffers of squares and norms, which a valid state never holds negative.
    pub fn is_nonnegative(self) -> bool {
        matches!(
            self,
            Buffer::ExpAvgSq
                | Buffer::MaxExpAvgSq
                | Buffer::ExpInf
                | Buffer::Sum
                | Buffer::SquareAvg
                | Buffer::AccDelta
        )
    }
}

impl std::fmt::Display for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `beta^step` for a bias correction `1 - beta^step`, exact for every `step` (`beta^(2^32 - 1)` must not become
/// `beta^0 = 1` through an `as i32` wrap, which would make the correction 0).
pub(crate) fn beta_pow(beta: f64, step: u64) -> f64 {
    beta.powi(i32::try_from(step).unwrap_or(i32::MAX))
}

/// Algorithms written in the look-ahead form of Goodfellow et al. Algorithms 8.3 and 8.6: the gradient is
/// evaluated at the interim point `theta~ = theta + alpha v`, see [`FirstOrder::step_look_ahead`].
pub trait LookAhead<T: Float>: Algorithm<T> {
    /// Moves a chunk of parameters `w` from `theta` to the look-ahead point `theta~` given its state buffers.
    fn look_ahead(&self, w: &mut [T], bufs: &[&[T]]);
}

#[derive(Clone, Debug)]
struct Group<A> {
    prefix: String,
    config: A,
}

#[derive(Clone, Debug, PartialEq)]
struct ParamState<T: Float> {
    step: u64,
    shape: Vec<usize>,
    bufs: Vec<Vec<T>>,
    scalars: Vec<f64>,
}

/// Tensors at least this large are updated in parallel chunks.
const PAR_MIN: usize = 1 << 16;
/// Chunk length of the parallel update (fits L2 with all buffers of Adam).
const CHUNK: usize = 1 << 14;

/// A first-order optimiser running algorithm `A` over parameter groups.
///
/// Group 0 holds every parameter not claimed by a later group; a later group, added with
/// [`FirstOrder::with_group`], claims the parameters whose hierarchical name starts with its prefix (the first
/// matching group wins). Each group has its own config, hence its own learning rate and hyperparameters.
/// Per-parameter state is created on a parameter's first update and keyed by its name, so it survives
/// rebuilding the model (new [`wengert_nn::ParamId`]s) and reloading from a checkpoint.
///
/// The update is fused: one pass over parameter, gradient and state per step, in parallel chunks for tensors
/// of 65,536 elements or more. It writes the new values and state into spare storage, checking them as it
/// goes, and a step whose every parameter passed commits by swapping the spares in (the parameter's tensor
/// is replaced, not written). So a step that fails leaves everything unchanged without a second pass over
/// the data; the price is memory: the spares hold one more copy of each parameter and state buffer (the
/// storage they had before the step, reused by the next one).
#[derive(Clone, Debug)]
pub struct FirstOrder<T: Float, A: Algorithm<T>> {
    groups: Vec<Group<A>>,
    state: BTreeMap<String, ParamState<T>>,
    /// Where the next step writes, per parameter name (not part of the state dict).
    spares: BTreeMap<String, Spare<T>>,
}

impl<T: Float, A: Algorithm<T>> FirstOrder<T, A> {
    /// An optimiser with one group using `config`.
    ///
    /// # Panics
    /// If the config is invalid (see [`FirstOrder::try_new`]).
    #[track_caller]
    pub fn new(config: A) -> Self {
        Self::try_new(config).unwrap_or_else(|e| panic!("{}: {e}", A::NAME))
    }

    /// An optimiser with one group using `config`; `Err(InvalidConfig)` for out-of-range hyperparameters.
    pub fn try_new(config: A) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(FirstOrder {
            groups: vec![Group { prefix: String::new(), config }],
            state: BTreeMap::new(),
            spares: BTreeMap::new(),
        })
    }

    /// Adds a group for the parameters whose name starts with `prefix`, with its own config.
    ///
    /// # Panics
    /// If the config is invalid.
    #[track_caller]
    pub fn with_group(mut self, prefix: &str, config: A) -> Self {
        config.validate().unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
        self.groups.push(Group { prefix: prefix.to_string(), config });
        self
    }

    /// The config of group `group`.
    ///
    /// # Panics
    /// If `group >= num_groups()`.
    pub fn config(&self, group: usize) -> &A {
        &self.groups[group].config
    }

    /// The index of the group a parameter named `name` belongs to.
    pub fn group_of(&self, name: &str) -> usize {
        group_index(&self.groups, name)
    }

    /// How many updates the parameter named `name` has received (0 if none).
    pub fn param_steps(&self, name: &str) -> u64 {
        self.state.get(name).map_or(0, |s| s.step)
    }

    /// State buffer `buffer` (one of [`Algorithm::buffers`]) of parameter `name`, if it exists yet.
    pub fn buffer(&self, name: &str, buffer: Buffer) -> Option<&[T]> {
        let i = self.groups[self.group_of(name)].config.buffers().iter().position(|b| *b == buffer)?;
        self.state.get(name).map(|s| s.bufs[i].as_slice())
    }

    /// Plans the update of every trainable parameter with a gradient (see [`plan`]): computes it into the
    /// spares, changes no parameter and no state.
    fn plan_all(&mut self, params: &dyn Parameters<T>, grads: &Grads<T>) -> Result<Plans<T>, OptimError> {
        let mut plans = BTreeMap::new();
        let mut err = None;
        let (groups, state, spares) = (&self.groups, &self.state, &mut self.spares);
        params.visit("", &mut |name, p| {
            if err.is_some() || p.is_frozen() {
                return;
            }
            let Some(g) = grads.get(p) else { return };
            let config = &groups[group_index(groups, name)].config;
            match plan(config, state.get(name), spares.remove(name), name, p.value(), g) {
                Ok(pl) => {
                    plans.insert(name.to_string(), pl);
                }
                Err(e) => err = Some(e),
            }
        });
        err.map_or(Ok(plans), Err)
    }

    /// One step on a plain slice `x` given its gradient `g` (`f(x)` minimised by the user's own code, no
    /// [`Param`] or [`Grads`] needed). The slice's state is kept under the parameter name `"x"` (so group 0's
    /// config applies unless a group claims that name) and saved by [`Optimizer::state_dict`] like any other.
    ///
    /// Same checks as [`Optimizer::step`]: on `Err` neither `x` nor the optimiser state has changed.
    ///
    /// ```
    /// use wengert_optim::first_order::{Adam, AdamConfig};
    ///
    /// // minimise f(x) = (x0 - 3)^2 + 10 (x1 + 1)^2 with a hand-written gradient
    /// let mut x = [0.0_f64, 0.0];
    /// let mut opt = Adam::new(AdamConfig::new(0.1));
    /// for _ in 0..2000 {
    ///     let g = [2.0 * (x[0] - 3.0), 20.0 * (x[1] + 1.0)];
    ///     opt.step_slice(&mut x, &g)?;
    /// }
    /// assert!((x[0] - 3.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6);
    /// # Ok::<(), wengert_optim::first_order::OptimError>(())
    /// ```
    pub fn step_slice(&mut self, x: &mut [T], g: &[T]) -> Result<(), OptimError> {
        self.step_raw(SLICE_NAME, x, &[x.len()], g, &[g.len()])
    }

    /// One step on a plain tensor `x` given its gradient `g` (for instance from
    /// [`functional::grad`](wengert_autodiff::functional::grad)), without [`Param`] or [`Grads`]; state as in
    /// [`FirstOrder::step_slice`], under the name `"x"`.
    ///
    /// ```
    /// use wengert_autodiff::{functional::grad, Tensor};
    /// use wengert_optim::first_order::{Sgd, SgdConfig};
    ///
    /// // minimise f(x) = sum (x - 3)^2 by gradient descent with momentum
    /// let mut x = Tensor::from_vec(vec![0.0_f64, 10.0], &[2]);
    /// let mut opt = Sgd::new(SgdConfig::new(0.05).momentum(0.9));
    /// for _ in 0..300 {
    ///     let g = grad(|x| ((x - 3.0) * (x - 3.0)).sum(), &x);
    ///     opt.step_tensor(&mut x, &g)?;
    /// }
    /// assert!(x.to_vec().iter().all(|v| (v - 3.0).abs() < 1e-6));
    /// # Ok::<(), wengert_optim::first_order::OptimError>(())
    /// ```
    pub fn step_tensor(&mut self, x: &mut Tensor<T>, g: &Tensor<T>) -> Result<(), OptimError> {
        let shape = x.shape().to_vec();
        self.step_raw(SLICE_NAME, x.data_mut(), &shape, g.as_slice(), g.shape())
    }

    fn step_raw(
        &mut self,
        name: &str,
        x: &mut [T],
        shape: &[usize],
        g: &[T],
        gshape: &[usize],
    ) -> Result<(), OptimError> {
        let config = &self.groups[self.group_of(name)].config;
        let spare = self.spares.remove(name);
        let pl = plan_slices(config, self.state.get(name), spare, name, x, shape, g, gshape)?;
        let next = commit(&mut self.state, name, pl);
        x.copy_from_slice(next.w.as_slice());
        self.spares.insert(name.to_string(), next);
        Ok(())
    }
}

/// The name under which [`FirstOrder::step_slice`] and [`FirstOrder::step_tensor`] keep their state.
const SLICE_NAME: &str = "x";

/// The index of the group a parameter named `name` belongs to: the first later group whose prefix it starts
/// with, else group 0.
fn group_index<A>(groups: &[Group<A>], name: &str) -> usize {
    groups.iter().skip(1).position(|g| name.starts_with(&g.prefix)).map_or(0, |i| i + 1)
}

/// Where a step writes one parameter's new values and state buffers before they are committed: the storage
/// they had before the previous step.
#[derive(Clone, Debug)]
struct Spare<T: Float> {
    /// The new values, in a tensor of the parameter's shape (swapped with the parameter's on commit).
    w: Tensor<T>,
    bufs: Vec<Vec<T>>,
}

impl<T: Float> Spare<T> {
    /// `spare` if it fits a parameter of shape `shape` with `bufs` state buffers, else new storage.
    fn fitting(spare: Option<Spare<T>>, shape: &[usize], bufs: usize) -> Spare<T> {
        let n: usize = shape.iter().product();
        spare
            .filter(|s| s.w.shape() == shape && s.bufs.len() == bufs && s.bufs.iter().all(|b| b.len() == n))
            .unwrap_or_else(|| Spare { w: Tensor::zeros(shape), bufs: vec![vec![T::ZERO; n]; bufs] })
    }
}

/// What a step will do to one parameter, computed and checked before anything is written.
struct Plan<T: Float> {
    scalars: Vec<f64>,
    /// The state this step creates (the parameter's first update).
    fresh: Option<ParamState<T>>,
    /// The new values and state buffers.
    next: Spare<T>,
}

type Plans<T> = BTreeMap<String, Plan<T>>;

fn plan<T: Float, A: Algorithm<T>>(
    config: &A,
    st: Option<&ParamState<T>>,
    spare: Option<Spare<T>>,
    name: &str,
    w: &Tensor<T>,
    g: &Tensor<T>,
) -> Result<Plan<T>, OptimError> {
    plan_slices(config, st, spare, name, w.as_slice(), w.shape(), g.as_slice(), g.shape())
}

/// The one guard every step passes: the gradient has the parameter's shape and is finite, the state buffers
/// fit, and the update, written into `spare`, leaves the parameter and its state finite. Only then does
/// [`commit`] make it the parameter's, so a step that fails on any parameter leaves every parameter and all
/// state unchanged.
#[allow(clippy::too_many_arguments)]
fn plan_slices<T: Float, A: Algorithm<T>>(
    config: &A,
    st: Option<&ParamState<T>>,
    spare: Option<Spare<T>>,
    name: &str,
    w: &[T],
    shape: &[usize],
    g: &[T],
    gshape: &[usize],
) -> Result<Plan<T>, OptimError> {
    if gshape != shape {
        return Err(OptimError::ShapeMismatch {
            param: name.to_string(),
            expected: shape.to_vec(),
            got: gshape.to_vec(),
        });
    }
    let fresh = match st {
        Some(st) if st.bufs.iter().any(|b| b.len() != w.len()) => {
            return Err(OptimError::ShapeMismatch {
                param: name.to_string(),
                expected: shape.to_vec(),
                got: st.shape.clone(),
            })
        }
        Some(_) => None,
        None => Some(ParamState {
            step: 0,
            shape: shape.to_vec(),
            bufs: (0..config.buffers().len()).map(|i| vec![config.init_buffer(i); w.len()]).collect(),
            scalars: config.init_scalars(),
        }),
    };
    let state = st.or(fresh.as_ref()).expect("one of the two is set");
    let mut scalars = state.scalars.clone();
    let coeffs = config.coeffs(state.step.saturating_add(1), &mut scalars);
    let mut next = Spare::fitting(spare, shape, state.bufs.len());
    let verdict = update_into_spare(config, &coeffs, w, g, &state.bufs, &mut next);
    if !verdict.grad_finite {
        return Err(OptimError::NonFinite { param: name.to_string() });
    }
    if !scalars.iter().all(|s| s.is_finite()) || !verdict.update_finite {
        return Err(OptimError::NonFiniteUpdate { param: name.to_string() });
    }
    Ok(Plan { scalars, fresh, next })
}

/// Makes a planned update the parameter's state: the new step count, scalars and buffers (the old buffers
/// go to the returned spare). The new values are in the returned spare's `w`, for the caller to swap with
/// the parameter's (or copy), after which the spare goes back to [`FirstOrder::spares`].
fn commit<T: Float>(state: &mut BTreeMap<String, ParamState<T>>, name: &str, plan: Plan<T>) -> Spare<T> {
    if let Some(fresh) = plan.fresh {
        state.insert(name.to_string(), fresh);
    }
    let st = state.get_mut(name).expect("state exists or was planned");
    st.step = st.step.saturating_add(1);
    st.scalars = plan.scalars;
    let mut next = plan.next;
    std::mem::swap(&mut st.bufs, &mut next.bufs);
    next
}

impl<T: Float, A: LookAhead<T>> FirstOrder<T, A> {
    /// One step of the look-ahead form (Goodfellow et al., Algorithms 8.3 and 8.6):
    /// moves every trainable parameter to `theta~ = theta + alpha v`, calls `grad_at(params)` there,
    /// restores `theta` bit-exactly, then applies the velocity update with those gradients.
    /// Returns the gradients that were used (evaluated at the look-ahead point).
    ///
    /// Calling [`Optimizer::step`] directly instead treats the given gradients as if they had been evaluated
    /// at the look-ahead point.
    pub fn step_look_ahead<P: Parameters<T> + ?Sized>(
        &mut self,
        params: &mut P,
        mut grad_at: impl FnMut(&P) -> Grads<T>,
    ) -> Result<Grads<T>, OptimError> {
        let mut saved: Vec<Tensor<T>> = Vec::new();
        let (groups, state) = (&self.groups, &self.state);
        params.visit_mut("", &mut |name, p| {
            saved.push(p.value().clone());
            if p.is_frozen() {
                return;
            }
            if let Some(st) = state.get(name) {
                if st.bufs.iter().all(|b| b.len() == p.numel()) {
                    let bufs: Vec<&[T]> = st.bufs.iter().map(|b| b.as_slice()).collect();
                    let mut t = p.value().clone();
                    groups[group_index(groups, name)].config.look_ahead(t.data_mut(), &bufs);
                    p.set(t);
                }
            }
        });
        let grads = grad_at(params);
        let mut saved = saved.into_iter();
        params.visit_mut("", &mut |_, p| p.set(saved.next().expect("parameter set changed during grad_at")));
        self.step(&mut DynParams(params), &grads)?;
        Ok(grads)
    }
}

/// Forwards to an unsized `Parameters` so it can be passed as `&mut dyn Parameters<T>`.
struct DynParams<'a, P: ?Sized>(&'a mut P);

impl<T: Float, P: Parameters<T> + ?Sized> Parameters<T> for DynParams<'_, P> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        self.0.visit(prefix, f)
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        self.0.visit_mut(prefix, f)
    }
}

/// `true` if some element is NaN or infinite (branch-free so it vectorises).
fn any_non_finite<T: Float>(x: &[T]) -> bool {
    x.iter().fold(false, |acc, v| acc | !v.is_finite())
}

/// What an update found: whether the gradient and the new values and state are all finite.
#[derive(Clone, Copy)]
struct Verdict {
    grad_finite: bool,
    update_finite: bool,
}

impl Verdict {
    const FINITE: Verdict = Verdict { grad_finite: true, update_finite: true };

    fn and(self, other: Verdict) -> Verdict {
        Verdict {
            grad_finite: self.grad_finite && other.grad_finite,
            update_finite: self.update_finite && other.update_finite,
        }
    }
}

/// Sub-chunk length of [`update_into`]: the copies, the update and the checks of one sub-chunk stay in L1.
const SUB: usize = 1 << 11;

/// One chunk of an update: the parameter's values `w`, its gradient `g` and state buffers `old`, and where
/// the new values and buffers go.
struct Task<'a, T> {
    w: &'a [T],
    g: &'a [T],
    old: Vec<&'a [T]>,
    new_w: &'a mut [T],
    new: Vec<&'a mut [T]>,
}

impl<'a, T> Task<'a, T> {
    /// The task's first `mid` elements and the rest.
    fn split_at(self, mid: usize) -> (Task<'a, T>, Task<'a, T>) {
        let (w, w2) = self.w.split_at(mid);
        let (g, g2) = self.g.split_at(mid);
        let (old, old2) = self.old.into_iter().map(|b| b.split_at(mid)).unzip();
        let (new_w, new_w2) = self.new_w.split_at_mut(mid);
        let (new, new2) = self.new.into_iter().map(|b| b.split_at_mut(mid)).unzip();
        (Task { w, g, old, new_w, new }, Task { w: w2, g: g2, old: old2, new_w: new_w2, new: new2 })
    }
}

/// Runs `alg.update` on a copy of `w` and `old` in `new_w` and `new`, a sub-chunk at a time, checking the
/// gradient and the results while they are in cache.
fn update_into<T: Float, A: Algorithm<T>>(alg: &A, c: &A::Coeffs, task: Task<'_, T>) -> Verdict {
    let Task { w, g, old, mut new_w, mut new } = task;
    let mut verdict = Verdict::FINITE;
    let mut heads: Vec<&mut [T]> = Vec::with_capacity(new.len());
    for start in (0..w.len()).step_by(SUB) {
        let range = start..(start + SUB).min(w.len());
        let (nw, rest) = std::mem::take(&mut new_w).split_at_mut(range.len());
        new_w = rest;
        nw.copy_from_slice(&w[range.clone()]);
        heads.clear();
        for (slot, o) in new.iter_mut().zip(&old) {
            let (head, rest) = std::mem::take(slot).split_at_mut(range.len());
            *slot = rest;
            head.copy_from_slice(&o[range.clone()]);
            heads.push(head);
        }
        let g = &g[range];
        alg.update(c, nw, g, &mut heads);
        verdict.grad_finite &= !any_non_finite(g);
        verdict.update_finite &= !any_non_finite(nw) && !heads.iter().any(|h| any_non_finite(h));
    }
    verdict
}

/// Writes the update of `w` (gradient `g`, state buffers `old`) into `next`, in parallel chunks when `w` is
/// large, and reports what it found.
fn update_into_spare<T: Float, A: Algorithm<T>>(
    alg: &A,
    c: &A::Coeffs,
    w: &[T],
    g: &[T],
    old: &[Vec<T>],
    next: &mut Spare<T>,
) -> Verdict {
    let new_w = next.w.data_mut();
    let new: Vec<&mut [T]> = next.bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    let old: Vec<&[T]> = old.iter().map(|b| b.as_slice()).collect();
    if !split(w.len(), PAR_MIN) {
        return update_into(alg, c, Task { w, g, old, new_w, new });
    }
    update_halving(alg, c, Task { w, g, old, new_w, new })
}

/// Halves `task` (at a multiple of [`CHUNK`]) until its parts are shorter than [`PAR_MIN`], running the halves
/// through [`parallel::join`].
fn update_halving<T: Float, A: Algorithm<T>>(alg: &A, c: &A::Coeffs, task: Task<'_, T>) -> Verdict {
    if task.w.len() < PAR_MIN {
        return update_into(alg, c, task);
    }
    let mid = task.w.len().div_ceil(2 * CHUNK) * CHUNK;
    let (a, b) = task.split_at(mid);
    let (va, vb) = parallel::join(|| update_halving(alg, c, a), || update_halving(alg, c, b));
    va.and(vb)
}

/// `config` with learning rate `lr`, validated (`lr` finite and `>= 0`, and whatever else the config needs).
fn with_lr<T: Float, A: Algorithm<T>>(config: &A, lr: f64) -> Result<A, OptimError> {
    check_nonneg("lr", lr)?;
    let mut c = config.clone();
    c.set_lr(lr);
    c.validate()?;
    Ok(c)
}

fn meta_u64(sd_meta: &BTreeMap<String, String>, key: &str) -> Result<u64, OptimError> {
    sd_meta
        .get(key)
        .ok_or_else(|| OptimError::BadStateDict(format!("missing `{key}`")))?
        .parse()
        .map_err(|_| OptimError::BadStateDict(format!("`{key}` is not an integer")))
}

fn meta_f64(sd_meta: &BTreeMap<String, String>, key: &str) -> Result<f64, OptimError> {
    let s = sd_meta.get(key).ok_or_else(|| OptimError::BadStateDict(format!("missing `{key}`")))?;
    f64_from_meta(s).ok_or_else(|| OptimError::BadStateDict(format!("`{key}` is not an exact float")))
}

impl<T: Float, A: Algorithm<T>> Optimizer<T> for FirstOrder<T, A> {
    fn step(&mut self, params: &mut dyn Parameters<T>, grads: &Grads<T>) -> Result<(), OptimError> {
        let mut plans = self.plan_all(params, grads)?;
        let (state, spares) = (&mut self.state, &mut self.spares);
        params.visit_mut("", &mut |name, p| {
            let Some((name, plan)) = plans.remove_entry(name) else { return };
            let mut next = commit(state, &name, plan);
            std::mem::swap(p.value_mut(), &mut next.w);
            spares.insert(name, next);
        });
        Ok(())
    }

    fn learning_rate(&self) -> T {
        T::from_f64(self.groups[0].config.lr())
    }

    fn try_set_learning_rate(&mut self, lr: T) -> Result<(), OptimError> {
        let configs = self.groups.iter().map(|g| with_lr(&g.config, lr.to_f64())).collect::<Result<Vec<_>, _>>()?;
        for (g, c) in self.groups.iter_mut().zip(configs) {
            g.config = c;
        }
        Ok(())
    }

    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn group_learning_rate(&self, group: usize) -> T {
        T::from_f64(self.groups[group].config.lr())
    }

    fn try_set_group_learning_rate(&mut self, group: usize, lr: T) -> Result<(), OptimError> {
        let n = self.groups.len();
        let g = self.groups.get_mut(group).ok_or_else(|| {
            OptimError::InvalidConfig(format!("group {group} does not exist (the optimiser has {n} groups)"))
        })?;
        g.config = with_lr(&g.config, lr.to_f64())?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        A::NAME
    }

    fn state_dict(&self) -> StateDict<T> {
        let mut sd = StateDict::new();
        sd.metadata.insert("algorithm".into(), A::NAME.into());
        sd.metadata.insert("groups".into(), self.groups.len().to_string());
        for (i, g) in self.groups.iter().enumerate() {
            sd.metadata.insert(format!("group.{i}.lr"), f64_to_meta(g.config.lr()));
            sd.metadata.insert(format!("group.{i}.prefix"), g.prefix.clone());
        }
        for (name, st) in &self.state {
            sd.metadata.insert(format!("state.{name}.step"), st.step.to_string());
            for (b, buf) in self.groups[self.group_of(name)].config.buffers().iter().zip(&st.bufs) {
                sd.tensors.insert(format!("state.{name}.{}", b.name()), Tensor::from_vec(buf.clone(), &st.shape));
            }
            for (s, v) in A::SCALARS.iter().zip(&st.scalars) {
                sd.metadata.insert(format!("state.{name}.{s}"), f64_to_meta(*v));
            }
        }
        sd
    }

    fn load_state_dict(&mut self, sd: &StateDict<T>) -> Result<(), OptimError> {
        let bad = |m: String| OptimError::BadStateDict(m);
        match sd.metadata.get("algorithm") {
            Some(a) if a == A::NAME => {}
            other => return Err(bad(format!("state dict is for {other:?}, this optimiser is `{}`", A::NAME))),
        }
        let n = meta_u64(&sd.metadata, "groups")? as usize;
        if n != self.groups.len() {
            return Err(bad(format!("state dict has {n} groups, optimiser has {}", self.groups.len())));
        }
        let mut configs = Vec::with_capacity(n);
        for (i, g) in self.groups.iter().enumerate() {
            if sd.metadata.get(&format!("group.{i}.prefix")) != Some(&g.prefix) {
                return Err(bad(format!("group {i} prefix differs from `{}`", g.prefix)));
            }
            let lr = meta_f64(&sd.metadata, &format!("group.{i}.lr"))?;
            configs.push(with_lr(&g.config, lr).map_err(|e| bad(format!("group {i}: {e}")))?);
        }
        let mut state = BTreeMap::new();
        for (key, v) in &sd.metadata {
            let Some(name) = key.strip_prefix("state.").and_then(|k| k.strip_suffix(".step")) else { continue };
            let step: u64 = v.parse().map_err(|_| bad(format!("`{key}` is not an integer")))?;
            let mut shape = None;
            let names = self.groups[self.group_of(name)].config.buffers();
            let mut bufs = Vec::with_capacity(names.len());
            for &b in names {
                let key = format!("state.{name}.{b}");
                let t = sd.tensors.get(&key).ok_or_else(|| bad(format!("missing `{key}`")))?;
                if *shape.get_or_insert_with(|| t.shape().to_vec()) != t.shape() {
                    return Err(bad(format!("buffers of `{name}` have different shapes")));
                }
                let v = t.to_vec();
                if let Some(x) = v.iter().find(|x| !x.is_finite() || (b.is_nonnegative() && **x < T::ZERO)) {
                    let need = if b.is_nonnegative() { "finite and >= 0" } else { "finite" };
                    return Err(bad(format!("`{key}` holds {x}; every entry must be {need}")));
                }
                bufs.push(v);
            }
            let scalars = A::SCALARS
                .iter()
                .map(|s| {
                    let key = format!("state.{name}.{s}");
                    let v = meta_f64(&sd.metadata, &key)?;
                    if v.is_finite() {
                        Ok(v)
                    } else {
                        Err(bad(format!("`{key}` = {v} is not finite")))
                    }
                })
                .collect::<Result<_, OptimError>>()?;
            state.insert(name.to_string(), ParamState { step, shape: shape.unwrap_or_default(), bufs, scalars });
        }
        for (g, c) in self.groups.iter_mut().zip(configs) {
            g.config = c;
        }
        self.state = state;
        self.spares.clear();
        Ok(())
    }
}
