//! Data-parallel minibatch training: every rank holds a replica of the model and the optimiser, computes
//! gradients on its shard of each global batch on its own tape, and steps with the same all-reduced gradient.
//!
//! The pieces, called by every rank in this order:
//! 1. [`check_same_model`]: the ranks' models have the same parameter names and shapes (else an error
//!    naming the first difference, on every rank, instead of a hang or a silent mismatch);
//! 2. [`broadcast_parameters`]: rank 0's parameters overwrite the others';
//! 3. per global batch: [`shard`] gives this rank's rows; the gradient of the shard's *mean* loss goes
//!    through [`GradientReducer::all_reduce_mean`], after which every rank holds the gradient of the global
//!    batch's mean loss and steps its optimiser exactly as a single process would on the global batch.
//!
//! Since the state is replicated, a checkpoint written by rank 0 ([`is_root`]) resumes on any number of
//! ranks: the global batches do not depend on the number of ranks, only their split does.
//!
//! ```
//! use wengert_dist::data_parallel::{broadcast_parameters, check_same_model, shard, GradientReducer};
//! use wengert_dist::{Communicator, ThreadComm};
//! use wengert_autodiff::{Tape, Tensor};
//! use wengert_nn::{Bound, Param, Parameters};
//!
//! // Fit y = w x on 4 points with 2 ranks; each rank gets 2 of them.
//! let (xs, ys) = ([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]);
//! let ws = ThreadComm::run(2, |comm| {
//!     let mut w = vec![Param::new(Tensor::from_vec(vec![comm.rank() as f64], &[1]))];
//!     check_same_model(&comm, &w[..]).unwrap();
//!     broadcast_parameters(&comm, &mut w[..]).unwrap(); // both start from rank 0's w = 0
//!     let rows = shard(xs.len(), &comm);
//!     let reducer = GradientReducer::default();
//!     for _ in 0..50 {
//!         let tape = Tape::new();
//!         let p = Bound::new(&tape, &w[..]);
//!         let x = tape.constant(Tensor::from_vec(xs[rows.clone()].to_vec(), &[rows.len()]));
//!         let y = tape.constant(Tensor::from_vec(ys[rows.clone()].to_vec(), &[rows.len()]));
//!         let loss = (p.var(&w[0]) * x - y).square().mean();
//!         let mut g = p.grad(loss);
//!         reducer.all_reduce_mean(&comm, &w[..], &mut g, rows.len()).unwrap();
//!         let step = g.get(&w[0]).unwrap().to_vec()[0] * 0.02;
//!         w[0].value_mut().data_mut()[0] -= step;
//!     }
//!     w[0].value().to_vec()[0]
//! });
//! assert!((ws[0] - 2.0).abs() < 1e-6);
//! assert_eq!(ws[0], ws[1]); // bit-identical replicas
//! ```

use std::ops::Range;

use wengert_autodiff::{Float, Tensor};
use wengert_nn::{Grads, Parameters};

use crate::{all_reduce_sum, broadcast, Communicator, DistError, Result};

/// `true` on rank 0, the rank that writes checkpoints, logs and plots.
pub fn is_root<C: Communicator + ?Sized>(comm: &C) -> bool {
    comm.rank() == 0
}

/// The rows of a global batch of `len` rows that belong to this rank: contiguous, in rank order, sizes
/// differing by at most one (the first `len % size` ranks get one more).
pub fn shard<C: Communicator + ?Sized>(len: usize, comm: &C) -> Range<usize> {
    shard_of(len, comm.rank(), comm.size())
}

/// The rows of `len` that rank `rank` of `size` holds (see [`shard`]).
///
/// # Panics
/// If `size == 0` or `rank >= size`.
pub fn shard_of(len: usize, rank: usize, size: usize) -> Range<usize> {
    assert!(rank < size, "shard_of: rank {rank} is not below size {size}");
    let (q, r) = (len / size, len % size);
    let start = rank * q + rank.min(r);
    start..start + q + usize::from(rank < r)
}

/// `name shape` of every parameter, one per line: what the ranks compare.
fn describe<T: Float, M: Parameters<T> + ?Sized>(model: &M) -> Vec<String> {
    let mut out = Vec::new();
    model.visit("", &mut |n, p| out.push(format!("{n} {:?}{}", p.shape(), if p.is_frozen() { " frozen" } else { "" })));
    out
}

/// Checks that every rank's model has the parameters of rank 0's model: the same names, shapes and frozen
/// flags, in the same order. Call it on every rank before [`broadcast_parameters`].
///
/// # Errors
/// [`DistError::ModelMismatch`] on every rank, naming the lowest rank that differs and its first
/// difference; or a communication error.
pub fn check_same_model<T: Float, M: Parameters<T> + ?Sized, C: Communicator + ?Sized>(
    comm: &C,
    model: &M,
) -> Result<()> {
    let mine = describe(model);
    let mut root = mine.join("\n").into_bytes();
    comm.broadcast_bytes(&mut root, 0)?;
    let root = String::from_utf8_lossy(&root).into_owned();
    let theirs: Vec<&str> = if root.is_empty() { Vec::new() } else { root.split('\n').collect() };
    let first_diff = (0..mine.len().max(theirs.len())).find_map(|i| {
        let (a, b) = (theirs.get(i).copied(), mine.get(i).map(String::as_str));
        (a != b).then(|| {
            format!(
                "parameter #{i}: rank 0 has {}, rank {} has {}",
                a.unwrap_or("no parameter"),
                comm.rank(),
                b.unwrap_or("no parameter")
            )
        })
    });
    // flags[k] = 1 where rank k differs; the lowest such rank tells everyone what differs.
    let mut flags = vec![0.0_f64; comm.size()];
    flags[comm.rank()] = f64::from(u8::from(first_diff.is_some()));
    comm.all_reduce_sum_f64(&mut flags)?;
    let Some(rank) = flags.iter().position(|&f| f != 0.0) else {
        return Ok(());
    };
    let mut detail = first_diff.unwrap_or_default().into_bytes();
    comm.broadcast_bytes(&mut detail, rank)?;
    Err(DistError::ModelMismatch { rank, detail: String::from_utf8_lossy(&detail).into_owned() })
}

/// Overwrites every parameter (trainable and frozen) with rank 0's, in one broadcast.
///
/// # Errors
/// A communication error (e.g. a rank whose model has a different number of elements).
pub fn broadcast_parameters<T: Float, M: Parameters<T> + ?Sized, C: Communicator + ?Sized>(
    comm: &C,
    model: &mut M,
) -> Result<()> {
    let mut flat = Vec::with_capacity(model.num_parameters());
    model.visit("", &mut |_, p| flat.extend_from_slice(p.value().as_slice()));
    broadcast(comm, &mut flat, 0)?;
    let mut off = 0;
    model.visit_mut("", &mut |_, p| {
        let k = p.numel();
        p.value_mut().data_mut().copy_from_slice(&flat[off..off + k]);
        off += k;
    });
    Ok(())
}

/// Averages gradients over ranks in a few large messages rather than one per parameter: a gradient of at
/// least [`GradientReducer::IN_PLACE_MIN`] elements is its own message, reduced in place in its tensor (no
/// copy); smaller ones (biases, norms) are copied into buckets of up to `bucket_elems`, one message each, so
/// the per-message latency is paid per bucket. (PyTorch's DDP copies every gradient into 25 MiB buckets
/// unless `gradient_as_bucket_view`; here a large gradient is its own bucket view.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradientReducer {
    /// Most elements in one bucket of small gradients. Default `1 << 22` (32 MiB of `f64`, 16 MiB of `f32`;
    /// PyTorch DDP's default bucket is 25 MiB).
    pub bucket_elems: usize,
}

impl Default for GradientReducer {
    fn default() -> Self {
        GradientReducer { bucket_elems: 1 << 22 }
    }
}

impl GradientReducer {
    /// Gradients with at least this many elements (256 KiB of `f32`) are reduced in place, one message
    /// each: at 10 GB/s such a message takes ~25 µs to move against a few µs of latency, while copying it
    /// into a bucket and back would cost two more passes over its memory.
    pub const IN_PLACE_MIN: usize = 1 << 16;

    /// Replaces every trainable parameter's gradient in `grads` by the gradient of the global batch's mean
    /// loss, `sum_k n_k g_k / sum_k n_k`, where rank `k` computed `g_k`, the gradient of its shard's mean
    /// loss over `n_k = local_rows` rows (if no rank has a row, the mean is zero). A parameter without a
    /// gradient on a rank counts as zeros there; afterwards every trainable parameter has one. Each rank first
    /// scales its gradients by `n_k / sum_k n_k` (the row counts are summed in one small message), so the
    /// sums over ranks are the means; on a one-rank communicator the gradients are left exactly as they are.
    ///
    /// # Errors
    /// A communication error; `grads` are then unspecified.
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's.
    pub fn all_reduce_mean<T: Float, M: Parameters<T> + ?Sized, C: Communicator + ?Sized>(
        &self,
        comm: &C,
        model: &M,
        grads: &mut Grads<T>,
        local_rows: usize,
    ) -> Result<()> {
        if comm.size() == 1 {
            // one rank: the mean over ranks is this rank's gradient, exactly (no `n g / n` rounding)
            return self.reduce(comm, model, grads, None);
        }
        let mut rows = [local_rows as f64];
        comm.all_reduce_sum_f64(&mut rows)?;
        let weight = T::from_f64(if rows[0] > 0.0 { local_rows as f64 / rows[0] } else { 0.0 });
        self.reduce(comm, model, grads, Some(weight))
    }

    /// Replaces every trainable parameter's gradient in `grads` by its sum over ranks (a parameter without
    /// a gradient on a rank counts as zeros there; afterwards every trainable parameter has one).
    ///
    /// The cheaper form of [`all_reduce_mean`](Self::all_reduce_mean) when each rank's loss is already its
    /// share of the global batch's mean loss (the sum of its rows' losses over the global batch size, or
    /// its mean times `n_k / sum_k n_k`): scaling the loss on the tape costs nothing, where scaling the
    /// gradients is a pass over them. The training helper does this.
    ///
    /// # Errors
    /// A communication error; `grads` are then unspecified.
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's.
    pub fn all_reduce_sum<T: Float, M: Parameters<T> + ?Sized, C: Communicator + ?Sized>(
        &self,
        comm: &C,
        model: &M,
        grads: &mut Grads<T>,
    ) -> Result<()> {
        self.reduce(comm, model, grads, None)
    }

    /// Sums `weight * g` over ranks into `grads` (`None`: weight 1, no pass for it); on one rank only fills in
    /// the missing gradients.
    fn reduce<T: Float, M: Parameters<T> + ?Sized, C: Communicator + ?Sized>(
        &self,
        comm: &C,
        model: &M,
        grads: &mut Grads<T>,
        weight: Option<T>,
    ) -> Result<()> {
        let mut params = Vec::new();
        model.visit("", &mut |_, p| {
            if !p.is_frozen() {
                params.push(p.clone());
            }
        });
        for p in &params {
            match grads.get(p) {
                None => grads.insert(p, Tensor::zeros(p.shape())),
                Some(g) => assert_eq!(g.shape(), p.shape(), "gradient reduction: gradient shape vs parameter shape"),
            }
        }
        if comm.size() == 1 {
            return Ok(());
        }
        let w = weight.unwrap_or(T::ONE);
        let cap = self.bucket_elems.max(1);
        let mut bucket: Vec<T> = Vec::new();
        let mut members: Vec<usize> = Vec::new();
        for (i, p) in params.iter().enumerate() {
            let g = grads.get_mut(p).expect("filled in above");
            if p.numel() >= Self::IN_PLACE_MIN {
                let data = g.data_mut();
                if weight.is_some() {
                    data.iter_mut().for_each(|v| *v *= w);
                }
                all_reduce_sum(comm, data)?;
            } else {
                bucket.extend(g.as_slice().iter().map(|&v| v * w));
                members.push(i);
            }
            // Every rank sees the same sizes in the same order, so every rank flushes at the same points.
            let next_small = params[i + 1..].iter().find(|q| q.numel() < Self::IN_PLACE_MIN);
            if !bucket.is_empty() && next_small.is_none_or(|q| bucket.len() + q.numel() > cap) {
                all_reduce_sum(comm, &mut bucket)?;
                let mut off = 0;
                for &m in &members {
                    let p = &params[m];
                    grads
                        .get_mut(p)
                        .expect("filled in above")
                        .data_mut()
                        .copy_from_slice(&bucket[off..off + p.numel()]);
                    off += p.numel();
                }
                bucket.clear();
                members.clear();
            }
        }
        Ok(())
    }
}
