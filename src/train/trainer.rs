//! [`Trainer`]: the optional training loop (users can always write their own, see the crate docs).

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::functional::HessianOperator;
use wengert_autodiff::{Float, Tape, Tensor, Var};
use wengert_dist::data_parallel::{broadcast_parameters, check_same_model, shard, GradientReducer};
use wengert_dist::{all_reduce_sum, Communicator, DistError, SingleProcess};
use wengert_nn::checkpoint::{self, CheckpointError};
use wengert_nn::data::Dataset;
use wengert_nn::data::{Batch, DataLoader, TensorDataset, Transform};
use wengert_nn::loss::{cross_entropy, Reduction};
use wengert_nn::metrics::accuracy;
use wengert_nn::{Bound, Grads, Module, StateDict};
use wengert_optim::curvature::{bind_flat, sharpness};
use wengert_optim::first_order::Optimizer;
use wengert_optim::objective::flatten_params;
use wengert_optim::schedule::Schedule;

use super::interrupt::Listening;
use super::progress::progress_bar;
use super::state::{self, LoopState, Progress};
use super::{Ema, History, SharpnessLog, SharpnessRecord, StepRecord, TrainConfig, TrainError, ValRecord};

/// A loss of the model output for one batch; must be the batch *mean* so batches combine by weighted average.
type LossFn<'a, T> = Box<dyn for<'t> Fn(Var<'t, T>, &Batch<T>) -> Var<'t, T> + 'a>;
/// A metric of the model output for one batch; must be a per-row mean (accuracy, mean absolute error).
type MetricFn<'a, T> = Box<dyn Fn(&Tensor<T>, &Batch<T>) -> f64 + 'a>;
/// Learning rate for a given iteration.
type ScheduleFn<'a> = Box<dyn FnMut(u64) -> f64 + 'a>;

/// The parameters at the lowest validation loss seen.
#[derive(Clone, Debug, PartialEq)]
pub struct BestModel<T: Float> {
    /// Optimiser steps taken when they were validated.
    pub iteration: u64,
    /// Epoch (0-based) of that validation.
    pub epoch: u64,
    /// Their validation loss.
    pub val_loss: f64,
    /// Their validation metric.
    pub val_metric: f64,
    /// The parameters, by hierarchical name ([`wengert_nn::checkpoint::state_dict`]).
    pub state: StateDict<T>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct TrainReport<T: Float> {
    /// Every step and every validation.
    pub history: History,
    /// The best parameters, when there was a validation set.
    pub best: Option<BestModel<T>>,
    /// Epochs started (fewer than configured after an early stop).
    pub epochs_run: u64,
    /// Optimiser steps taken.
    pub iterations: u64,
    /// `true` if early stopping ended the run.
    pub stopped_early: bool,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl<T: Float> TrainReport<T> {
    /// The bias-corrected EMA of the training loss after the last step (`NaN` if no step ran).
    pub fn final_smoothed_loss(&self) -> f64 {
        self.history.steps.last().map_or(f64::NAN, |s| s.smoothed_loss)
    }
}

/// A small training loop: epochs of shuffled minibatches, an EMA-smoothed loss, validation every `n`
/// iterations (or every epoch), early stopping on the validation loss, the best parameters kept in memory
/// (and optionally on disk), a learning-rate schedule, progress bars, and a [`History`] for CSV and plots.
///
/// Defaults: the loss is [`cross_entropy`] of the model's logits and the batch labels (mean), the metric
/// is [`accuracy`]; see [`TrainConfig`] for the rest.
///
/// With [`Trainer::communicator`] the same loop runs data-parallel over the ranks of a
/// [`Communicator`] (threads of one process or MPI processes), equal to one process's run on the same
/// global batches up to rounding.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert::nn::data::{TensorDataset, Targets};
/// use wengert::nn::layers::Linear;
/// use wengert::optim::first_order::{Sgd, SgdConfig};
/// use wengert::train::{TrainConfig, Trainer};
/// use wengert::prelude::*;
///
/// // two separable blobs in 2-d
/// let x = Tensor::<f64>::from_vec(vec![-2.0, -1.0, -1.5, -2.0, -1.0, -1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.5], &[6, 2]);
/// let data = TensorDataset::new(x, Targets::Labels(vec![0, 0, 0, 1, 1, 1]));
/// let mut model = Linear::new(2, 2, &mut StdRng::seed_from_u64(0));
/// let mut opt = Sgd::new(SgdConfig::new(0.5));
/// let cfg = TrainConfig::new(20).batch_size(2).log_epochs(false);
/// let report = Trainer::new(cfg).fit(&mut model, &mut opt, &data, Some(&data)).unwrap();
/// assert_eq!(report.history.validations.last().unwrap().metric, 1.0);
/// ```
pub struct Trainer<'a, T: Float> {
    config: TrainConfig,
    loss: LossFn<'a, T>,
    default_loss: bool,
    metric_name: String,
    metric: MetricFn<'a, T>,
    schedule: Option<ScheduleFn<'a>>,
    augment: Option<Box<dyn Transform<T> + 'a>>,
    comm: Option<&'a dyn Communicator>,
    reducer: GradientReducer,
}

impl<'a, T: Float> Trainer<'a, T> {
    /// A trainer with `config`, cross-entropy loss and accuracy.
    pub fn new(config: TrainConfig) -> Self {
        Trainer {
            config,
            loss: Box::new(|logits, batch| cross_entropy(logits, batch.labels(), Reduction::Mean)),
            default_loss: true,
            metric_name: "accuracy".into(),
            metric: Box::new(|logits, batch| accuracy(logits, batch.labels())),
            schedule: None,
            augment: None,
            comm: None,
            reducer: GradientReducer::default(),
        }
    }

    /// Trains data-parallel over the ranks of `comm`: every rank calls [`fit`](Trainer::fit) with the same
    /// config, the same model architecture, the same optimiser and the same (whole) datasets.
    ///
    /// At the start the ranks check that their models agree ([`check_same_model`]) and take rank 0's
    /// parameters ([`broadcast_parameters`]). Each global batch (the minibatch a single process would
    /// draw, augmented the same way) is split by [`shard`]; each rank computes the gradient of its rows'
    /// mean loss on its own tape, the gradients are averaged in buckets ([`GradientReducer`], weighted by
    /// rows) and every rank steps its replica of the optimiser with the global batch's mean gradient. The
    /// reported loss is the global batch's, validation is sharded the same way and summed, so every rank
    /// sees the same history and takes the same early-stopping decision.
    ///
    /// Rank 0 alone draws progress bars, prints the epoch lines and writes the best checkpoint and the
    /// training state; when resuming, rank 0 reads the state file and broadcasts it, so the other ranks
    /// need no access to it, and a run resumes on any number of ranks (the global batches do not depend on
    /// it). Ctrl-C on any rank stops all of them after the same step. Layers with batch statistics
    /// (batch norm in training mode) normalise over each rank's shard, as PyTorch's
    /// `DistributedDataParallel` without `SyncBatchNorm`: only then does the run differ from one process.
    ///
    /// ```
    /// use wengert::dist::{Communicator, ThreadComm};
    /// use wengert::nn::data::{TensorDataset, Targets};
    /// use wengert::nn::layers::Linear;
    /// use wengert::optim::first_order::{Sgd, SgdConfig};
    /// use wengert::train::{TrainConfig, Trainer};
    /// use wengert::prelude::*;
    /// use rand::{rngs::StdRng, SeedableRng};
    ///
    /// let x = Tensor::<f64>::from_vec(vec![-2.0, -1.0, -1.5, -2.0, 2.0, 1.0, 1.5, 2.0], &[4, 2]);
    /// let data = TensorDataset::new(x, Targets::Labels(vec![0, 0, 1, 1]));
    /// let weights = ThreadComm::run(2, |comm| {
    ///     // different seeds on purpose: rank 0's parameters are broadcast
    ///     let mut model = Linear::new(2, 2, &mut StdRng::seed_from_u64(comm.rank() as u64));
    ///     let cfg = TrainConfig::new(5).batch_size(4).log_epochs(false);
    ///     let mut opt = Sgd::new(SgdConfig::new(0.5));
    ///     Trainer::new(cfg).communicator(&comm).fit(&mut model, &mut opt, &data, None).unwrap();
    ///     model.weight.value().to_vec()
    /// });
    /// assert_eq!(weights[0], weights[1]); // bit-identical replicas
    /// ```
    pub fn communicator(mut self, comm: &'a dyn Communicator) -> Self {
        self.comm = Some(comm);
        self
    }

    /// The bucket size of the gradient all-reduce of data-parallel training (default
    /// [`GradientReducer::default`]).
    pub fn gradient_reducer(mut self, reducer: GradientReducer) -> Self {
        self.reducer = reducer;
        self
    }

    /// Applies `transform` (data augmentation, e.g. [`RandomShift`](wengert_nn::data::RandomShift)) to the
    /// features of every training batch, never to validation data. Its randomness comes from a generator
    /// seeded with the run's seed and the iteration, so a run is reproducible and independent of how
    /// often the model was validated.
    pub fn augment<A: Transform<T> + 'a>(mut self, transform: A) -> Self {
        self.augment = Some(Box::new(transform));
        self
    }

    /// Replaces the loss: `loss(model_output, batch)`, a scalar batch mean (add regularisation here).
    pub fn loss<F>(mut self, loss: F) -> Self
    where
        F: for<'t> Fn(Var<'t, T>, &Batch<T>) -> Var<'t, T> + 'a,
    {
        self.loss = Box::new(loss);
        self.default_loss = false;
        self
    }

    /// Replaces the validation metric: `metric(model_output, batch)`, a per-row mean, called `name`.
    pub fn metric<F>(mut self, name: &str, metric: F) -> Self
    where
        F: Fn(&Tensor<T>, &Batch<T>) -> f64 + 'a,
    {
        self.metric_name = name.to_string();
        self.metric = Box::new(metric);
        self
    }

    /// Sets the learning rate before every step to `schedule(iteration)` (iteration 0-based, over all
    /// epochs), e.g. `|k| lr0 * (-(k as f64) / tau).exp()`, the lecture's exponential decay.
    pub fn lr_schedule<F: FnMut(u64) -> f64 + 'a>(mut self, schedule: F) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Sets the learning rate before every step from a [`Schedule`] of `wengert_optim::schedule` (the step
    /// counter `k` is the iteration), e.g. `LinearDecay::new(lr0, lr_tau, tau)`.
    pub fn schedule<S: Schedule + 'a>(self, schedule: S) -> Self {
        self.lr_schedule(move |k| schedule.lr_at(k))
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Mean loss and mean metric of `model` over `data`, in evaluation mode, batches of
    /// `config.val_batch_size`. Leaves the model in evaluation mode.
    pub fn evaluate<M: Module<T>>(&self, model: &mut M, data: &TensorDataset<T>) -> (f64, f64) {
        model.set_training(false);
        let (mut loss, mut metric) = (0.0, 0.0);
        let loader = DataLoader::new(self.config.val_batch_size);
        for batch in loader.epoch(data, 0) {
            let tape = Tape::new();
            let p = Bound::new(&tape, &*model);
            let out = model.forward(&p, tape.constant(batch.x.clone()));
            let w = batch.len() as f64;
            loss += w * (self.loss)(out, &batch).value().item().to_f64();
            metric += w * (self.metric)(&out.value(), &batch);
        }
        let n = data.len().max(1) as f64;
        (loss / n, metric / n)
    }

    /// Trains `model` with `opt` on `train`, validating on `val` when given.
    ///
    /// With a validation set, the parameters of the lowest validation loss are kept in
    /// [`TrainReport::best`], written to [`TrainConfig::best_checkpoint`] when set, and loaded back into
    /// `model` at the end when [`TrainConfig::restore_best`] (the checkpoint's directory is created when
    /// missing). The model is left in evaluation mode.
    ///
    /// With [`TrainConfig::state_path`], the full training state is saved there atomically every
    /// [`TrainConfig::save_every`] iterations, at the end of every epoch and when Ctrl-C (or SIGTERM) arrives,
    /// which ends the run with [`TrainError::Interrupted`]. A later `fit` with the same config, model and
    /// optimiser types and data resumes from it: the run then ends bit-identical to one never interrupted
    /// (same parameters, optimiser state and history; only [`TrainReport::elapsed`] differs). State inside
    /// layers that is not a parameter, such as a dropout layer's random generator, is not part of it.
    ///
    /// # Errors
    /// [`TrainError::InvalidConfig`] / [`TrainError::InvalidData`] before any step (including training and
    /// validation rows of different widths); [`TrainError::Resume`] for a state file of another run;
    /// [`TrainError::Model`] if the model or loss panics on a batch (a layer whose width does not match the
    /// data); a non-finite batch loss, a refused optimiser step or a failed checkpoint write stop the run with
    /// the matching variant ([`TrainError::Io`] if the checkpoint directory cannot be created).
    pub fn fit<M: Module<T>>(
        &mut self,
        model: &mut M,
        opt: &mut dyn Optimizer<T>,
        train: &TensorDataset<T>,
        val: Option<&TensorDataset<T>>,
    ) -> Result<TrainReport<T>, TrainError> {
        let cfg = self.config.clone();
        cfg.validate().map_err(TrainError::InvalidConfig)?;
        if train.is_empty() {
            return Err(TrainError::InvalidData("the training set is empty".into()));
        }
        if self.default_loss && (train.labels().is_none() || val.is_some_and(|v| v.labels().is_none())) {
            return Err(TrainError::InvalidData("the default cross-entropy loss needs class labels".into()));
        }
        if let Some(v) = val {
            let (a, b) = (train.features().shape(), v.features().shape());
            if a[1..] != b[1..] {
                return Err(TrainError::InvalidData(format!(
                    "training rows have shape {:?} but validation rows {:?}",
                    &a[1..],
                    &b[1..]
                )));
            }
        }
        let single = SingleProcess;
        let comm: &dyn Communicator = self.comm.unwrap_or(&single);
        let (root, distributed) = (comm.rank() == 0, comm.size() > 1);
        let mut dirs = Ok(());
        for path in [&cfg.best_checkpoint, &cfg.state_path] {
            if let Some(dir) = path.as_ref().and_then(|p| p.parent()).filter(|d| !d.as_os_str().is_empty()) {
                if root && dirs.is_ok() {
                    dirs = std::fs::create_dir_all(dir).map_err(TrainError::Io);
                }
            }
        }
        agree(comm, dirs)?;
        if distributed {
            check_same_model(comm, &*model)?;
            broadcast_parameters(comm, &mut *model)?;
        }
        let start = Instant::now();
        let loader = DataLoader::new(cfg.batch_size).shuffle(cfg.seed).drop_last(cfg.drop_last);
        let batches = loader.num_batches(train.len()) as u64;
        let saved = match &cfg.state_path {
            Some(path) if cfg.resume => read_state(comm, path)?,
            _ => None,
        };
        let mut st = match (saved, &cfg.state_path) {
            (Some(sd), Some(path)) => state::load(sd, path, &cfg, train.len(), &mut *model, opt)?,
            _ => LoopState {
                progress: Progress::default(),
                ema: Ema::new(cfg.ema_beta),
                history: History::new(&self.metric_name),
                best: None,
            },
        };
        let listening = cfg.state_path.as_ref().map(|_| Listening::start());
        let save = |model: &M, opt: &dyn Optimizer<T>, st: &LoopState<T>| match &cfg.state_path {
            Some(path) => agree(comm, if root { state::save(path, &cfg, train.len(), model, opt, st) } else { Ok(()) }),
            None => Ok(()),
        };

        while st.progress.epoch < cfg.epochs && !st.progress.stopped {
            let epoch = st.progress.epoch;
            if st.progress.batch == 0 {
                st.progress.epochs_run += 1;
            }
            model.set_training(true);
            let bar = progress_bar(batches, format!("epoch {}/{}", epoch + 1, cfg.epochs), cfg.progress && root);
            bar.inc(st.progress.batch);
            for mut batch in loader.epoch(train, epoch).skip(st.progress.batch as usize) {
                // `batch` is the global batch: a single process's minibatch, augmented the same way.
                let iteration = st.progress.iteration;
                if let Some(transform) = &self.augment {
                    let seed = cfg.seed ^ iteration.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    batch.x = transform.apply(&batch.x, &mut StdRng::seed_from_u64(seed));
                }
                if let Some(schedule) = self.schedule.as_mut() {
                    opt.try_set_learning_rate(T::from_f64(schedule(iteration)))?;
                }
                let lr = opt.learning_rate().to_f64();
                let batch_rows = batch.len();
                let mine = shard(batch_rows, comm);
                let local = if distributed { batch.rows(mine.clone()) } else { batch };
                let (mut loss, mut grads) = if local.is_empty() {
                    (0.0, Grads::new())
                } else {
                    guarded(|| {
                        let tape = Tape::new();
                        let p = Bound::new(&tape, &*model);
                        let out = model.forward(&p, tape.constant(local.x.clone()));
                        let loss = (self.loss)(out, &local);
                        let value = loss.value().item().to_f64();
                        if distributed {
                            // this rank's share of the global batch's mean loss, so that the gradients
                            // only need summing over ranks (weighting the loss is free, the gradients a pass)
                            let share = T::from_f64(local.len() as f64 / batch_rows as f64);
                            (value, p.grad(loss * share))
                        } else {
                            (value, p.grad(loss))
                        }
                    })?
                };
                let mut interrupted = listening.as_ref().is_some_and(|l| l.requested());
                if distributed {
                    self.reducer.all_reduce_sum(comm, &*model, &mut grads)?;
                    // the global batch's mean loss, and whether any rank was asked to stop
                    let mut sums = [loss * mine.len() as f64, mine.len() as f64, f64::from(u8::from(interrupted))];
                    all_reduce_sum(comm, &mut sums)?;
                    loss = sums[0] / sums[1];
                    interrupted = sums[2] > 0.0;
                }
                if !loss.is_finite() {
                    bar.abandon();
                    return Err(TrainError::NonFiniteLoss { iteration, loss });
                }
                opt.step(&mut *model, &grads)?;
                st.ema.update(loss);
                let smoothed_loss = st.ema.value().unwrap_or(loss);
                st.history.steps.push(StepRecord { iteration, epoch, loss, smoothed_loss, lr });
                st.progress.iteration += 1;
                st.progress.batch += 1;
                bar.inc(1);
                let val_part = st
                    .history
                    .validations
                    .last()
                    .map_or(String::new(), |v| format!("  val {} {:.4}", self.metric_name, v.metric));
                bar.set_message(format!("loss {smoothed_loss:.4} (EMA){val_part}"));
                let iteration = st.progress.iteration;
                if cfg.val_every > 0 && iteration % cfg.val_every == 0 {
                    if let Some(val) = val {
                        st.progress.stopped = self.validate(comm, model, val, &cfg, (iteration, epoch), &mut st)?;
                        model.set_training(true);
                    }
                }
                if interrupted || (cfg.save_every > 0 && iteration % cfg.save_every == 0) {
                    save(&*model, &*opt, &st)?;
                }
                if interrupted {
                    bar.abandon();
                    let state = cfg.state_path.clone().expect("listening only with a state path");
                    return Err(TrainError::Interrupted { iteration, state });
                }
                if st.progress.stopped {
                    break;
                }
            }
            if cfg.val_every == 0 && !st.progress.stopped {
                if let Some(val) = val {
                    let at = (st.progress.iteration, epoch);
                    st.progress.stopped = self.validate(comm, model, val, &cfg, at, &mut st)?;
                }
            }
            bar.finish_and_clear();
            if let Some(log) = &cfg.sharpness {
                let lambda_max = self.sharpness(model, train, log)?;
                let lr = st.history.steps.last().map_or(opt.learning_rate().to_f64(), |s| s.lr);
                let iteration = st.progress.iteration;
                st.history.sharpness.push(SharpnessRecord { iteration, epoch, lambda_max, lr });
            }
            if cfg.log_epochs && root {
                let v = st.history.validations.last().filter(|v| v.epoch == epoch);
                let val_part = v.map_or(String::new(), |v| {
                    format!("  val loss {:.4}  val {} {:.4}", v.loss, self.metric_name, v.metric)
                });
                let sharp = st.history.sharpness.last().filter(|s| s.epoch == epoch);
                let sharp_part = sharp
                    .map_or(String::new(), |s| format!("  sharpness {:.4} (2/lr {:.4})", s.lambda_max, 2.0 / s.lr));
                println!(
                    "epoch {:>3}/{}  loss (EMA) {:.4}{val_part}{sharp_part}  [{:.1}s]",
                    epoch + 1,
                    cfg.epochs,
                    st.ema.value().unwrap_or(f64::NAN),
                    start.elapsed().as_secs_f64()
                );
            }
            if !st.progress.stopped {
                st.progress.epoch += 1;
                st.progress.batch = 0;
            }
            save(&*model, &*opt, &st)?;
        }
        drop(listening);
        if let (true, Some(b)) = (cfg.restore_best, st.best.as_ref()) {
            checkpoint::load_state_dict(model, &b.state)?;
        }
        model.set_training(false);
        Ok(TrainReport {
            history: st.history,
            best: st.best,
            epochs_run: st.progress.epochs_run,
            iterations: st.progress.iteration,
            stopped_early: st.progress.stopped,
            elapsed: start.elapsed(),
        })
    }

    /// One validation with its bookkeeping; `true` when early stopping says stop.
    fn validate<M: Module<T>>(
        &self,
        comm: &dyn Communicator,
        model: &mut M,
        val: &TensorDataset<T>,
        cfg: &TrainConfig,
        (iteration, epoch): (u64, u64),
        st: &mut LoopState<T>,
    ) -> Result<bool, TrainError> {
        let (loss, metric) = self.evaluate_sharded(comm, model, val)?;
        let (best, since_best) = (&mut st.best, &mut st.progress.since_best);
        st.history.validations.push(ValRecord { iteration, epoch, loss, metric });
        let improved = best.as_ref().map_or(loss.is_finite(), |b| loss < b.val_loss - cfg.min_delta);
        if improved {
            let state = checkpoint::state_dict(&*model);
            if let Some(path) = &cfg.best_checkpoint {
                let written =
                    if comm.rank() == 0 { checkpoint::save(path, &state).map_err(Into::into) } else { Ok(()) };
                agree(comm, written)?;
            }
            *best = Some(BestModel { iteration, epoch, val_loss: loss, val_metric: metric, state });
            *since_best = 0;
        } else {
            *since_best += 1;
        }
        Ok(cfg.patience.is_some_and(|p| *since_best >= p))
    }

    /// `lambda_max` of the Hessian of the training loss on the rows [`SharpnessLog`] names, in evaluation
    /// mode (every rank computes the same number from the same rows and parameters: no communication).
    fn sharpness<M: Module<T>>(
        &self,
        model: &mut M,
        train: &TensorDataset<T>,
        log: &SharpnessLog,
    ) -> Result<f64, TrainError> {
        let rows: Vec<usize> = (0..log.rows.min(train.len())).collect();
        let batch = train.batch(&rows);
        model.set_training(false);
        let model = &*model;
        let theta = flatten_params(model);
        let hessian = guarded(|| {
            HessianOperator::new(
                |th| {
                    let out = model.forward(&bind_flat(model, th), th.tape().constant(batch.x.clone()));
                    (self.loss)(out, &batch)
                },
                &Tensor::from_vec(theta.clone(), &[theta.len()]),
            )
        })?;
        Ok(sharpness(&hessian, &log.lanczos)?.lambda_max)
    }

    /// [`Trainer::evaluate`] over the ranks: each evaluates its [`shard`] of `data`, the row-weighted sums
    /// are added up.
    fn evaluate_sharded<M: Module<T>>(
        &self,
        comm: &dyn Communicator,
        model: &mut M,
        data: &TensorDataset<T>,
    ) -> Result<(f64, f64), TrainError> {
        if comm.size() == 1 {
            return guarded(|| self.evaluate(model, data));
        }
        let rows: Vec<usize> = shard(data.len(), comm).collect();
        let (loss, metric) = if rows.is_empty() {
            model.set_training(false);
            (0.0, 0.0)
        } else {
            guarded(|| self.evaluate(model, &data.subset(&rows)))?
        };
        let n = rows.len() as f64;
        let mut sums = [loss * n, metric * n];
        all_reduce_sum(comm, &mut sums)?;
        let total = data.len().max(1) as f64;
        Ok((sums[0] / total, sums[1] / total))
    }
}

/// Every rank learns whether any rank failed at this point: `Ok` on every rank, or each failed rank's own
/// error and [`DistError::PeerFailed`] (naming the lowest failed rank) on the others. Without it, a rank
/// that returned alone (rank 0 failing to write a checkpoint) would leave the others waiting in the next
/// collective.
fn agree<R>(comm: &dyn Communicator, local: Result<R, TrainError>) -> Result<R, TrainError> {
    if comm.size() == 1 {
        return local;
    }
    let mut failed = vec![0.0_f64; comm.size()];
    failed[comm.rank()] = f64::from(u8::from(local.is_err()));
    comm.all_reduce_sum_f64(&mut failed)?;
    match (local, failed.iter().position(|&f| f != 0.0)) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(rank)) => Err(DistError::PeerFailed { rank }.into()),
        (Ok(r), None) => Ok(r),
    }
}

/// The training state file, read by rank 0 and broadcast (`None`: there is none yet), so that only rank 0
/// needs access to it.
fn read_state<T: Float>(comm: &dyn Communicator, path: &Path) -> Result<Option<StateDict<T>>, TrainError> {
    let read = if comm.rank() == 0 {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CheckpointError::Io { path: path.to_path_buf(), action: "read", source }.into()),
        }
    } else {
        Ok(None)
    };
    // one message: a leading 1 and the file, or a lone 0 for no file
    let mut message = match agree(comm, read)? {
        Some(bytes) => [&[1u8][..], &bytes].concat(),
        None => vec![0],
    };
    comm.broadcast_bytes(&mut message, 0)?;
    match message.split_first() {
        Some((1, bytes)) => Ok(Some(checkpoint::load_bytes(bytes, path)?)),
        _ => Ok(None),
    }
}

/// Runs `f`, turning a panic of the model or the loss (a programmer error such as a width mismatch, whose
/// message names the layer) into [`TrainError::Model`], so that `fit` returns `Err` as its signature says.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, TrainError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        TrainError::Model(msg)
    })
}
