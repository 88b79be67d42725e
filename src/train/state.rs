//! The training state [`Trainer`](super::Trainer) saves to resume a run bit-exactly: one safetensors file
//! written atomically ([`wengert_nn::checkpoint::save`]) holding
//!
//! | keys | what |
//! |---|---|
//! | `model.*` | the parameters ([`wengert_nn::checkpoint::state_dict`]) |
//! | `optim.*` | the optimiser's [`state_dict`](wengert_optim::first_order::Optimizer::state_dict): buffers, step counts, learning rates |
//! | `best.*` | the best parameters so far, when there is a validation set |
//! | `train.*` metadata | epoch, batches done in it (the data loader's position: its order is a function of seed and epoch), iteration (the schedule's counter), EMA, early-stopping counter, history (steps, validations, sharpness), and the seed / batch size / data size it was made with |
//!
//! Floats are stored exactly (`f64_to_meta`).

use std::path::Path;

use wengert_autodiff::Float;
use wengert_nn::{checkpoint, f64_from_meta, f64_to_meta, Parameters, StateDict};
use wengert_optim::first_order::Optimizer;

use super::trainer::BestModel;
use super::{Ema, History, SharpnessRecord, StepRecord, TrainConfig, TrainError, ValRecord};

/// Format version of the `train.*` keys.
const VERSION: &str = "1";

/// Where the loop is: enough to continue exactly where it stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Progress {
    /// The epoch in progress (0-based; `epochs` once the run is complete).
    pub epoch: u64,
    /// Minibatches of `epoch` already stepped on.
    pub batch: u64,
    /// Optimiser steps taken.
    pub iteration: u64,
    /// Validations since the best one (early stopping).
    pub since_best: u64,
    /// Epochs started.
    pub epochs_run: u64,
    /// Early stopping has ended the run.
    pub stopped: bool,
}

/// What the loop keeps besides model and optimiser.
pub(crate) struct LoopState<T: Float> {
    pub progress: Progress,
    pub ema: Ema,
    pub history: History,
    pub best: Option<BestModel<T>>,
}

/// What must not change between a run and its resumption (the minibatch order depends on all of it).
fn fingerprint(cfg: &TrainConfig, n: usize) -> [(&'static str, String); 4] {
    [
        ("seed", cfg.seed.to_string()),
        ("batch_size", cfg.batch_size.to_string()),
        ("drop_last", cfg.drop_last.to_string()),
        ("rows", n.to_string()),
    ]
}

fn put<T: Float>(sd: &mut StateDict<T>, prefix: &str, part: StateDict<T>) {
    sd.tensors.extend(part.tensors.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
    sd.metadata.extend(part.metadata.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
}

fn take<T: Float>(sd: &StateDict<T>, prefix: &str) -> StateDict<T> {
    let mut part = StateDict::new();
    for (k, v) in &sd.tensors {
        if let Some(k) = k.strip_prefix(prefix) {
            part.tensors.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in &sd.metadata {
        if let Some(k) = k.strip_prefix(prefix) {
            part.metadata.insert(k.to_string(), v.clone());
        }
    }
    part
}

fn floats(xs: &[f64]) -> String {
    xs.iter().map(|&x| f64_to_meta(x)).collect::<Vec<_>>().join(" ")
}

/// Writes the full training state to `path` atomically.
pub(crate) fn save<T: Float, M: Parameters<T> + ?Sized>(
    path: &Path,
    cfg: &TrainConfig,
    n: usize,
    model: &M,
    opt: &dyn Optimizer<T>,
    st: &LoopState<T>,
) -> Result<(), TrainError> {
    let mut sd = StateDict::new();
    put(&mut sd, "model.", checkpoint::state_dict(model));
    put(&mut sd, "optim.", opt.state_dict());
    let m = &mut sd.metadata;
    m.insert("train.version".into(), VERSION.into());
    for (k, v) in fingerprint(cfg, n) {
        m.insert(format!("train.{k}"), v);
    }
    let p = &st.progress;
    let counters = [p.epoch, p.batch, p.iteration, p.since_best, p.epochs_run, p.stopped as u64];
    m.insert("train.progress".into(), counters.map(|c| c.to_string()).join(" "));
    let (raw, beta_pow, count) = st.ema.parts();
    m.insert("train.ema".into(), format!("{} {count}", floats(&[raw, beta_pow])));
    m.insert("train.metric_name".into(), st.history.metric_name.clone());
    let steps: Vec<String> = st
        .history
        .steps
        .iter()
        .map(|s| format!("{} {} {}", s.iteration, s.epoch, floats(&[s.loss, s.smoothed_loss, s.lr])))
        .collect();
    m.insert("train.steps".into(), steps.join(";"));
    let vals: Vec<String> = st
        .history
        .validations
        .iter()
        .map(|v| format!("{} {} {}", v.iteration, v.epoch, floats(&[v.loss, v.metric])))
        .collect();
    m.insert("train.validations".into(), vals.join(";"));
    let sharp: Vec<String> = st
        .history
        .sharpness
        .iter()
        .map(|s| format!("{} {} {}", s.iteration, s.epoch, floats(&[s.lambda_max, s.lr])))
        .collect();
    m.insert("train.sharpness".into(), sharp.join(";"));
    if let Some(b) = &st.best {
        m.insert("train.best".into(), format!("{} {} {}", b.iteration, b.epoch, floats(&[b.val_loss, b.val_metric])));
        put(&mut sd, "best.", b.state.clone());
    }
    checkpoint::save(path, &sd)?;
    Ok(())
}

/// Restores the training state `sd`, read from `path`, into `model` and `opt` (both unchanged on `Err`,
/// except that a model whose parameters fail to load after the optimiser's did keeps the optimiser's new
/// state).
pub(crate) fn load<T: Float, M: Parameters<T> + ?Sized>(
    sd: StateDict<T>,
    path: &Path,
    cfg: &TrainConfig,
    n: usize,
    model: &mut M,
    opt: &mut dyn Optimizer<T>,
) -> Result<LoopState<T>, TrainError> {
    let bad = |what: String| TrainError::Resume(format!("{}: {what}", path.display()));
    let meta = |k: &str| sd.metadata.get(&format!("train.{k}")).ok_or_else(|| bad(format!("missing `train.{k}`")));
    if meta("version")? != VERSION {
        return Err(bad(format!("training state version {} (this build reads {VERSION})", meta("version")?)));
    }
    for (k, v) in fingerprint(cfg, n) {
        let saved = meta(k)?;
        if *saved != v {
            return Err(bad(format!(
                "saved with {k} = {saved}, this run has {k} = {v} (the minibatch order would differ)"
            )));
        }
    }
    let ints = |k: &str| -> Result<Vec<u64>, TrainError> {
        meta(k)?.split_whitespace().map(|t| t.parse().map_err(|_| bad(format!("`train.{k}`: {t:?}")))).collect()
    };
    let float = |t: &str| f64_from_meta(t).ok_or_else(|| bad(format!("{t:?} is not an exact float")));
    let c = ints("progress")?;
    let [epoch, batch, iteration, since_best, epochs_run, stopped] = c[..] else {
        return Err(bad("`train.progress` needs 6 counters".into()));
    };
    let progress = Progress { epoch, batch, iteration, since_best, epochs_run, stopped: stopped != 0 };
    let e: Vec<&str> = meta("ema")?.split_whitespace().collect();
    let [raw, beta_pow, count] = e[..] else { return Err(bad("`train.ema` needs 3 fields".into())) };
    let count = count.parse().map_err(|_| bad(format!("EMA count {count:?}")))?;
    let ema = Ema::from_parts(cfg.ema_beta, (float(raw)?, float(beta_pow)?, count));
    let records = |k: &str, width: usize| -> Result<Vec<(u64, u64, Vec<f64>)>, TrainError> {
        let text = meta(k)?;
        text.split(';')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let f: Vec<&str> = r.split_whitespace().collect();
                if f.len() != 2 + width {
                    return Err(bad(format!("`train.{k}` record {r:?}")));
                }
                let int = |t: &str| t.parse::<u64>().map_err(|_| bad(format!("`train.{k}`: {t:?}")));
                Ok((int(f[0])?, int(f[1])?, f[2..].iter().map(|t| float(t)).collect::<Result<_, _>>()?))
            })
            .collect()
    };
    let mut history = History::new(meta("metric_name")?);
    history.steps = records("steps", 3)?
        .into_iter()
        .map(|(iteration, epoch, f)| StepRecord { iteration, epoch, loss: f[0], smoothed_loss: f[1], lr: f[2] })
        .collect();
    history.validations = records("validations", 2)?
        .into_iter()
        .map(|(iteration, epoch, f)| ValRecord { iteration, epoch, loss: f[0], metric: f[1] })
        .collect();
    // (states written before sharpness was logged have no such key)
    if sd.metadata.contains_key("train.sharpness") {
        history.sharpness = records("sharpness", 2)?
            .into_iter()
            .map(|(iteration, epoch, f)| SharpnessRecord { iteration, epoch, lambda_max: f[0], lr: f[1] })
            .collect();
    }
    let best = match sd.metadata.get("train.best") {
        None => None,
        Some(_) => {
            let mut r = records("best", 2)?;
            let (iteration, epoch, f) = r.pop().ok_or_else(|| bad("empty `train.best`".into()))?;
            Some(BestModel { iteration, epoch, val_loss: f[0], val_metric: f[1], state: take(&sd, "best.") })
        }
    };
    opt.load_state_dict(&take(&sd, "optim.")).map_err(TrainError::Optim)?;
    checkpoint::load_state_dict(model, &take(&sd, "model."))?;
    Ok(LoopState { progress, ema, history, best })
}
