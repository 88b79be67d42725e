//! Intra-op parallelism: whether one kernel may split its work across threads.
//!
//! Large elementwise kernels and reductions are halved through [`join`] (on a two-thread pool the second half goes to
//! the assistant thread, `wengert-assist`, see [`crate::set_assist_thread`]; on more cores to rayon's pool),
//! convolutions and pooling hand chunks to rayon's pool, and large products hand half their rows to the assistant.
//! That is what a single training process on an otherwise idle machine wants. It is not what a thread wants that
//! is already one of several workers sharing the cores: a rank of `wengert_dist::ThreadComm`, one of several MPI
//! ranks on a machine, a user's own pool of workers. There the other workers keep every core busy, and each op handed to a shared pool waits behind the
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

use super::assist;

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

/// Whether a job of `size` (elements, multiply-adds: the caller's unit) at or above `threshold` is split across
/// threads: intra-op parallelism is on for this thread and the pool has more than one thread. The one
/// test every parallel kernel of the workspace makes (the optimisers' updates use it too).
pub fn split(size: usize, threshold: usize) -> bool {
    size >= threshold && intra_op_parallel() && rayon::current_num_threads() > 1
}

/// Runs `a` and `b` and returns their results, on two threads when the calling thread may use another one:
/// with a pool of two threads (a two-core machine) the second goes to the assistant thread that the large
/// products use, which is already awake after a product, instead of waking rayon's workers while the
/// assistant still spins and takes one of the two cores; with a larger pool, to `rayon::join`. Without
/// intra-op parallelism (see [`set_intra_op_parallel`]) both run on the calling thread, `a` first.
///
/// For kernels that halve their work recursively; the halves must not depend on which thread runs them.
///
/// ```
/// use wengert_autodiff::tensor::parallel::join;
/// let v: Vec<u64> = (1..=1000).collect();
/// let (lo, hi) = v.split_at(500);
/// let (a, b) = join(|| lo.iter().sum::<u64>(), || hi.iter().sum::<u64>());
/// assert_eq!(a + b, 500_500);
/// ```
pub fn join<RA: Send, RB: Send>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    let threads = rayon::current_num_threads();
    if !intra_op_parallel() || threads < 2 {
        return (a(), b());
    }
    if threads > 2 || !assist::usable() {
        return rayon::join(a, b);
    }
    let (mut ra, mut rb) = (None, None);
    assist::join(|| ra = Some(a()), || rb = Some(b()));
    (ra.expect("the first half ran"), rb.expect("the second half ran"))
}

/// Calls `f(start, part)` on every `chunk`-long part of `out` (the last may be shorter), `start` being the
/// index of `part`'s first element, halving `out` recursively through [`join`] (so on a two-core machine the
/// main thread and the assistant thread take half each). The caller decides with [`split`] whether the work
/// is worth splitting; `f` must not depend on which thread runs it.
///
/// ```
/// use wengert_autodiff::tensor::parallel::for_each_chunk_mut;
/// let mut v = vec![0usize; 1000];
/// for_each_chunk_mut(&mut v, 64, |start, part| {
///     part.iter_mut().enumerate().for_each(|(i, x)| *x = start + i)
/// });
/// assert!(v.iter().enumerate().all(|(i, &x)| x == i));
/// ```
///
/// # Panics
/// If `chunk` is 0 and `out` is not empty.
pub fn for_each_chunk_mut<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    fn halve<T: Send>(out: &mut [T], start: usize, chunk: usize, f: &(impl Fn(usize, &mut [T]) + Sync)) {
        if out.len() <= chunk {
            return f(start, out);
        }
        let mid = out.len().div_ceil(2 * chunk) * chunk;
        let (a, b) = out.split_at_mut(mid);
        join(|| halve(a, start, chunk, f), || halve(b, start + mid, chunk, f));
    }
    if out.is_empty() {
        return;
    }
    assert!(chunk > 0, "for_each_chunk_mut: chunk length 0");
    halve(out, 0, chunk, &f)
}
