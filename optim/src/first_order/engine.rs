//! The [`Optimizer`] trait and [`FirstOrder`], the engine every first-order algorithm runs on:
//! parameter groups, per-parameter state keyed by hierarchical name, the all-or-nothing gradient
//! check, the fused chunk-parallel update and state (de)serialisation.

use std::collections::BTreeMap;
use std::fmt::Debug;

use rayon::prelude::*;
use wengert_autodiff::{Float, Tensor};
use wengert_nn::{f64_from_meta, f64_to_meta, Grads, Param, Parameters, StateDict};

use super::error::OptimError;

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
    fn set_learning_rate(&mut self, lr: T);

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
    /// If `group >= num_groups()`.
    fn set_group_learning_rate(&mut self, group: usize, lr: T);

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
    /// Names of the per-element state buffers this config needs, in the order [`Algorithm::update`] receives
    /// them (may depend on the config: SGD without momentum keeps none).
    fn buffers(&self) -> &'static [&'static str];
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
/// The update is fused (one pass over parameter, gradient and state per step, no allocation of tensors) and
/// runs in parallel chunks for tensors of 65,536 elements or more. Drop the tape before stepping: a tape still
/// alive shares the parameter storage and `data_mut` must then copy it.
#[derive(Clone, Debug)]
pub struct FirstOrder<T: Float, A: Algorithm<T>> {
    groups: Vec<Group<A>>,
    state: BTreeMap<String, ParamState<T>>,
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
        Ok(FirstOrder { groups: vec![Group { prefix: String::new(), config }], state: BTreeMap::new() })
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
        self.groups.iter().skip(1).position(|g| name.starts_with(&g.prefix)).map_or(0, |i| i + 1)
    }

    /// How many updates the parameter named `name` has received (0 if none).
    pub fn param_steps(&self, name: &str) -> u64 {
        self.state.get(name).map_or(0, |s| s.step)
    }

    /// State buffer `buffer` (one of [`Algorithm::buffers`]) of parameter `name`, if it exists yet.
    pub fn buffer(&self, name: &str, buffer: &str) -> Option<&[T]> {
        let i = self.groups[self.group_of(name)].config.buffers().iter().position(|b| *b == buffer)?;
        self.state.get(name).map(|s| s.bufs[i].as_slice())
    }

    /// Checks every gradient and state buffer that a step would touch; writes nothing.
    fn check(&self, params: &dyn Parameters<T>, grads: &Grads<T>) -> Result<(), OptimError> {
        let mut err = None;
        params.visit("", &mut |name, p| {
            if err.is_some() || p.is_frozen() {
                return;
            }
            let Some(g) = grads.get(p) else { return };
            if g.shape() != p.shape() {
                err = Some(OptimError::ShapeMismatch {
                    param: name.to_string(),
                    expected: p.shape().to_vec(),
                    got: g.shape().to_vec(),
                });
            } else if !all_finite(g.as_slice()) {
                err = Some(OptimError::NonFinite { param: name.to_string() });
            } else if let Some(st) = self.state.get(name) {
                if st.bufs.iter().any(|b| b.len() != p.numel()) {
                    err = Some(OptimError::ShapeMismatch {
                        param: name.to_string(),
                        expected: p.shape().to_vec(),
                        got: st.shape.clone(),
                    });
                }
            }
        });
        err.map_or(Ok(()), Err)
    }

    fn new_state(config: &A, p: &Param<T>) -> ParamState<T> {
        ParamState {
            step: 0,
            shape: p.shape().to_vec(),
            bufs: (0..config.buffers().len()).map(|i| vec![config.init_buffer(i); p.numel()]).collect(),
            scalars: config.init_scalars(),
        }
    }
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
        let group_of =
            |name: &str| groups.iter().skip(1).position(|g| name.starts_with(&g.prefix)).map_or(0, |i| i + 1);
        params.visit_mut("", &mut |name, p| {
            saved.push(p.value().clone());
            if p.is_frozen() {
                return;
            }
            if let Some(st) = state.get(name) {
                if st.bufs.iter().all(|b| b.len() == p.numel()) {
                    let bufs: Vec<&[T]> = st.bufs.iter().map(|b| b.as_slice()).collect();
                    let mut t = p.value().clone();
                    groups[group_of(name)].config.look_ahead(t.data_mut(), &bufs);
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

/// `true` if no element is NaN or infinite (branch-free so it vectorises; parallel for large tensors).
fn all_finite<T: Float>(x: &[T]) -> bool {
    fn bad<T: Float>(x: &[T]) -> bool {
        x.iter().fold(false, |acc, v| acc | !v.is_finite())
    }
    if x.len() >= PAR_MIN {
        !x.par_chunks(CHUNK).any(bad)
    } else {
        !bad(x)
    }
}

/// One chunk of a parallel update: parameter, gradient and state-buffer slices.
type Task<'a, T> = (&'a mut [T], &'a [T], Vec<&'a mut [T]>);

/// Runs `alg.update` over `w`, in parallel chunks when `w` is large.
fn run_update<T: Float, A: Algorithm<T>>(alg: &A, c: &A::Coeffs, w: &mut [T], g: &[T], bufs: &mut [Vec<T>]) {
    if w.len() < PAR_MIN {
        let mut b: Vec<&mut [T]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        alg.update(c, w, g, &mut b);
        return;
    }
    let mut buf_chunks: Vec<_> = bufs.iter_mut().map(|b| b.chunks_mut(CHUNK)).collect();
    let tasks: Vec<Task<'_, T>> = w
        .chunks_mut(CHUNK)
        .zip(g.chunks(CHUNK))
        .map(|(wc, gc)| (wc, gc, buf_chunks.iter_mut().map(|it| it.next().expect("buffer length checked")).collect()))
        .collect();
    tasks.into_par_iter().for_each(|(wc, gc, mut bc)| alg.update(c, wc, gc, &mut bc));
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
        self.check(params, grads)?;
        let (groups, state) = (&self.groups, &mut self.state);
        params.visit_mut("", &mut |name, p| {
            if p.is_frozen() {
                return;
            }
            let Some(g) = grads.get(p) else { return };
            let gi = groups.iter().skip(1).position(|gr| name.starts_with(&gr.prefix)).map_or(0, |i| i + 1);
            let config = &groups[gi].config;
            if !state.contains_key(name) {
                state.insert(name.to_string(), Self::new_state(config, p));
            }
            let st = state.get_mut(name).expect("inserted above");
            st.step += 1;
            let c = config.coeffs(st.step, &mut st.scalars);
            run_update(config, &c, p.value_mut().data_mut(), g.as_slice(), &mut st.bufs);
        });
        Ok(())
    }

    fn learning_rate(&self) -> T {
        T::from_f64(self.groups[0].config.lr())
    }

    fn set_learning_rate(&mut self, lr: T) {
        for g in &mut self.groups {
            g.config.set_lr(lr.to_f64());
        }
    }

    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn group_learning_rate(&self, group: usize) -> T {
        T::from_f64(self.groups[group].config.lr())
    }

    fn set_group_learning_rate(&mut self, group: usize, lr: T) {
        self.groups[group].config.set_lr(lr.to_f64())
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
                sd.tensors.insert(format!("state.{name}.{b}"), Tensor::from_vec(buf.clone(), &st.shape));
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
        let mut lrs = Vec::with_capacity(n);
        for (i, g) in self.groups.iter().enumerate() {
            if sd.metadata.get(&format!("group.{i}.prefix")) != Some(&g.prefix) {
                return Err(bad(format!("group {i} prefix differs from `{}`", g.prefix)));
            }
            lrs.push(meta_f64(&sd.metadata, &format!("group.{i}.lr"))?);
        }
        let mut state = BTreeMap::new();
        for (key, v) in &sd.metadata {
            let Some(name) = key.strip_prefix("state.").and_then(|k| k.strip_suffix(".step")) else { continue };
            let step: u64 = v.parse().map_err(|_| bad(format!("`{key}` is not an integer")))?;
            let mut shape = None;
            let names = self.groups[self.group_of(name)].config.buffers();
            let mut bufs = Vec::with_capacity(names.len());
            for b in names {
                let t = sd
                    .tensors
                    .get(&format!("state.{name}.{b}"))
                    .ok_or_else(|| bad(format!("missing `state.{name}.{b}`")))?;
                if *shape.get_or_insert_with(|| t.shape().to_vec()) != t.shape() {
                    return Err(bad(format!("buffers of `{name}` have different shapes")));
                }
                bufs.push(t.to_vec());
            }
            let scalars = A::SCALARS
                .iter()
                .map(|s| meta_f64(&sd.metadata, &format!("state.{name}.{s}")))
                .collect::<Result<_, _>>()?;
            state.insert(name.to_string(), ParamState { step, shape: shape.unwrap_or_default(), bufs, scalars });
        }
        for (g, lr) in self.groups.iter_mut().zip(lrs) {
            g.config.set_lr(lr);
        }
        self.state = state;
        Ok(())
    }
}
