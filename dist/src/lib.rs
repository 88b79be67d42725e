//! # wengert-dist
//!
//! Training and full-batch second-order optimisation across ranks: threads of one process, or processes on
//! one or many machines through MPI. No network code of our own: between processes, MPI (OpenMPI through the
//! `mpi` crate, behind the cargo feature `mpi`) does the communication.
//!
//! | where | what |
//! |---|---|
//! | [`Communicator`] | rank, size, in-place all-reduce (sum) of `f32`/`f64` buffers, broadcast, barrier |
//! | [`SingleProcess`] | one rank: every collective is a no-op |
//! | [`ThreadComm`] | `n` ranks as threads of one process, reductions in rank order (deterministic) |
//! | `MpiComm` (feature `mpi`) | the ranks `mpirun` started, over `MPI_COMM_WORLD` |
//! | [`data_parallel`] | broadcast parameters from rank 0, check the ranks' models agree, all-reduce gradients in buckets, shard a global batch |
//! | [`sharded`] | [`ShardedObjective`](sharded::ShardedObjective), [`ShardedLeastSquares`](sharded::ShardedLeastSquares): each rank holds its shard of the data, values and products are sums over ranks, so the second-order methods run unchanged |
//!
//! Every collective is called by all ranks in the same order; the second-order methods do that by
//! construction, since every rank sees the same values and so takes the same branches.
//!
//! ```
//! use wengert_dist::{all_reduce_sum, Communicator, ThreadComm};
//!
//! // Two ranks as threads: each contributes its rank + 1; both see the sum.
//! let sums = ThreadComm::run(2, |comm| {
//!     let mut x = [comm.rank() as f64 + 1.0, 10.0];
//!     all_reduce_sum(&comm, &mut x).unwrap();
//!     x
//! });
//! assert_eq!(sums, vec![[3.0, 20.0], [3.0, 20.0]]);
//! ```
//!
//! ## When a rank fails
//! A rank that panics or returns while the others wait in a collective would leave them waiting forever.
//! [`ThreadComm`] marks the rank as failed and wakes the others, whose collectives return
//! [`DistError::PeerFailed`]; [`ThreadComm::run`] then re-raises the first panic. Under MPI, the default
//! error handler (`MPI_ERRORS_ARE_FATAL`) aborts the job on an MPI error; a Rust panic is not an MPI error,
//! so `MpiComm` installs a panic hook that calls `MPI_Abort`, which makes `mpirun` end every rank and exit
//! with a non-zero status instead of hanging.

use std::any::TypeId;

use wengert_autodiff::Float;

pub mod data_parallel;
mod error;
#[cfg(feature = "mpi")]
mod mpi_comm;
pub mod sharded;
mod single;
mod threads;

pub use error::{DistError, Result};
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiComm;
pub use single::SingleProcess;
pub use threads::ThreadComm;

/// A group of ranks that take part in collective operations together.
///
/// Every rank calls the same collectives in the same order with buffers of the same length. Buffers are
/// reduced and broadcast in place. An error means the collective did not complete on this rank (a peer
/// failed, or the ranks' lengths differ); the buffer's contents are then unspecified.
pub trait Communicator {
    /// This rank, `0..size`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// `buf <- sum over ranks of buf`, elementwise.
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()>;
    /// `buf <- sum over ranks of buf`, elementwise.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;
    /// `buf <- root's buf`.
    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<()>;
    /// `buf <- root's buf`.
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()>;
    /// `buf <- root's buf`, whose length the other ranks need not know.
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
}

/// `buf` as `&mut [U]` when `T` and `U` are the same type.
fn same_type_mut<T: 'static, U: 'static>(buf: &mut [T]) -> Option<&mut [U]> {
    // SAFETY: `T` and `U` are the same type (equal `TypeId`s), so the pointer, length and lifetime describe a
    // valid `[U]` borrowed exactly as `buf` was.
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<U>(), buf.len()) })
}

/// [`Communicator::all_reduce_sum_f64`] or `_f32`, whichever `T` is.
pub fn all_reduce_sum<T: Float, C: Communicator + ?Sized>(comm: &C, buf: &mut [T]) -> Result<()> {
    if let Some(b) = same_type_mut::<T, f64>(buf) {
        return comm.all_reduce_sum_f64(b);
    }
    match same_type_mut::<T, f32>(buf) {
        Some(b) => comm.all_reduce_sum_f32(b),
        None => unreachable!("Float is implemented for f32 and f64 only"),
    }
}

/// [`Communicator::broadcast_f64`] or `_f32`, whichever `T` is.
pub fn broadcast<T: Float, C: Communicator + ?Sized>(comm: &C, buf: &mut [T], root: usize) -> Result<()> {
    if let Some(b) = same_type_mut::<T, f64>(buf) {
        return comm.broadcast_f64(b, root);
    }
    match same_type_mut::<T, f32>(buf) {
        Some(b) => comm.broadcast_f32(b, root),
        None => unreachable!("Float is implemented for f32 and f64 only"),
    }
}

/// Checks a broadcast root against the communicator's size.
pub(crate) fn check_root(root: usize, size: usize) -> Result<()> {
    if root < size {
        Ok(())
    } else {
        Err(DistError::BadRoot { root, size })
    }
}
