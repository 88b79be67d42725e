//! Intra-op parallelism: whether one kernel may split its work across threads.
//!
//! Large elementwise kernels, reductions, convolutions and pooling hand chunks to rayon's pool, and large products hand
//! half their rows to the assistant thread (`wengert-assist`, see [`crate::set_assist_thread`]). That is what a single
//! training process on an otherwise idle machine wants. It is not what a thread wants that is already one of several
//! workers sharing the cores: a rank of `wengert_dist::ThreadComm`, one of several MPI ranks on a machine, a user's own
//! pool of workers. There the other workers keep every core busy, and each op handed to a shared pool waits behind the
//! other workers' ops (rayon's pool and the assistant serve every thread of the process) instead of running on the core
//! its caller already has. PyTorch's launcher sets `OMP_NUM_THREADS=1` in every process of a multi-process job for the
//! same reason.
//!
//! [`set_intra_op_parallel`]`(false)` keeps every kernel that the calling thread runs on that thread; it
//! is per thread, so a data-parallel rank turns it off for itself without touching the rest of the
//! process. `ThreadComm::run` and `MpiComm::init` turn it off in every rank when the ranks on the machine
//! are at least its cores. A pool of one thread (`RAYON_NUM_THREADS=1`) is never used: handing it a
//! job only adds the handover. Results are the same, bit for bit, whichever threads run a kernel.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Lets the kernels the calling thread runs use other threads (`true`, the default) or keeps them all on
/// the calling thread (`false`). Per thread; see the [module docs](self) for when to turn it off.
///
/// ```
/// use wengert_autodiff::{intra_op_parallel, kernels, set_intra_op_parallel, Tensor};
/// let x = Tensor::<f64>::from_vec((0..1 << 16).map(|i| (i as f64).sin()).collect(), &[1 << 16]);
/// set_intra_op_parallel(false);
/// assert!(!intra_op_parallel());
/// let serial = kernels::exp(&x);
/// set_intra_op_parallel(true);
/// assert_eq!(serial.as_slice(), kernels::exp(&x).as_slice()); // the same, bit for bit
/// ```
pub fn set_intra_op_parallel(enabled: bool) {
    ENABLED.set(enabled);
}

/// Whether the calling thread's kernels may use other threads (see [`set_intra_op_parallel`]).
pub fn intra_op_parallel() -> bool {
    ENABLED.get()
}

/// Whether a job of `size` (elements, multiply-adds: the caller's unit) at or above `threshold` goes to
/// rayon's pool: intra-op parallelism is on for this thread and the pool has more than one thread. The one
/// test every parallel kernel of the workspace makes (the optimisers' updates use it too).
pub fn split(size: usize, threshold: usize) -> bool {
    size >= threshold && intra_op_parallel() && rayon::current_num_threads() > 1
}
