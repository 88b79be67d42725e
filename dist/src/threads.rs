//! [`ThreadComm`]: `n` ranks as threads of one process.
//!
//! A collective is one or two *rounds*: every rank deposits its payload, waits until all have, reads what
//! it needs, and the round is reset by its last reader. A rank that arrives first spins for [`SPIN`]
//! before it sleeps on the condition variable: the others usually arrive within microseconds (a
//! sharded solve runs a collective per Hessian-vector product), and waking a sleeping thread costs tens of
//! microseconds.
//!
//! The all-reduce copies nothing: each rank deposits its buffer's address, then rank `r` sums the `r`-th
//! of `n` contiguous chunks over the ranks' buffers, in rank order `0, 1, ..., n-1`, and writes the sum
//! into that chunk of every buffer; a second round keeps every rank in the call until all chunks are
//! written. Each element is summed once, by one rank, in the same order, so every rank gets bit-identical
//! results and a run is deterministic whatever the threads' timing; each rank reads and writes its share
//! of all buffers once (the ring all-reduce's traffic, without the copies).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::data_parallel::shard_of;
use crate::{check_root, Communicator, DistError, Result};

/// How long a rank waiting for the others spins before it sleeps.
const SPIN: Duration = Duration::from_micros(100);

/// Elements summed per block of the all-reduce (a block of each rank's buffer stays in L1).
const BLOCK: usize = 2048;

/// What one rank contributes to a round.
#[derive(Debug)]
enum Payload {
    /// The address and length of the rank's buffer, which it does not touch until the collective ends.
    Buffer(usize, usize),
    Bytes(Vec<u8>),
    Empty,
}

/// One round of a collective: every rank deposits its payload, then every rank reads all of them.
struct Round {
    slots: Vec<Option<Arc<Payload>>>,
    deposited: usize,
    taken: usize,
    /// The first rank that failed or finished while others may still call collectives.
    gone: Option<usize>,
}

struct Shared {
    size: usize,
    round: Mutex<Round>,
    changed: Condvar,
    /// Bumped (under the lock) at every change of `round`, so a spinning rank sees changes without the lock.
    epoch: AtomicU64,
}

/// A rank of a group of threads in one process (see [`ThreadComm::run`]).
///
/// Collectives work on the ranks' own buffers through shared memory (see the module source); reductions
/// sum in rank order `0, 1, ..., n-1`, so all ranks get bit-identical results and a run is deterministic
/// whatever the threads' timing.
pub struct ThreadComm {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadComm {
    /// Runs `f` on `n` ranks, each a scoped thread with its own [`ThreadComm`], and returns their results in
    /// rank order. Each rank builds its own model and tape inside `f`, so nothing needs to be `Send` but the
    /// results.
    ///
    /// When the ranks are at least as many as the machine's cores, each rank starts with intra-op
    /// parallelism off ([`wengert_autodiff::set_intra_op_parallel`]`(false)`): the ranks are the
    /// parallelism, and kernels handed to the process's shared pools would only queue behind the other
    /// ranks'. `f` may turn it back on.
    ///
    /// If a rank panics, the others' pending and later collectives return [`DistError::PeerFailed`], and once
    /// every thread has ended the first panic is raised again here.
    ///
    /// # Panics
    /// If `n == 0`, or (re-raised) if a rank panicked.
    pub fn run<R: Send>(n: usize, f: impl Fn(ThreadComm) -> R + Sync) -> Vec<R> {
        assert!(n > 0, "ThreadComm::run: the number of ranks must be at least 1");
        let shared = Arc::new(Shared {
            size: n,
            round: Mutex::new(Round { slots: (0..n).map(|_| None).collect(), deposited: 0, taken: 0, gone: None }),
            changed: Condvar::new(),
            epoch: AtomicU64::new(0),
        });
        let serial = n >= std::thread::available_parallelism().map_or(1, |c| c.get());
        let outcomes: Vec<std::thread::Result<R>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|rank| {
                    let comm = ThreadComm { rank, shared: Arc::clone(&shared) };
                    let f = &f;
                    let shared = &shared;
                    s.spawn(move || {
                        if serial {
                            wengert_autodiff::set_intra_op_parallel(false);
                        }
                        let out = catch_unwind(AssertUnwindSafe(|| f(comm)));
                        // A rank that has ended can no longer take part: wake anyone waiting for it.
                        shared.mark_gone(rank);
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(Err)).collect()
        });
        outcomes.into_iter().map(|o| o.unwrap_or_else(|p| resume_unwind(p))).collect()
    }

    /// Deposits `mine` and returns every rank's payload, in rank order.
    ///
    /// With `must_complete`, a rank that has gone does not end the wait: used only for the second round of
    /// a collective whose first round every rank completed, so every rank is inside the call and will
    /// arrive (and no rank may leave while another still writes into its buffer).
    fn exchange(&self, mine: Payload, must_complete: bool) -> Result<Vec<Arc<Payload>>> {
        let sh = &*self.shared;
        let mut r = sh.lock();
        // The previous round is complete but still being read: wait until its last reader resets it.
        while r.deposited == sh.size {
            r = sh.wait(r);
        }
        if let (Some(rank), false) = (r.gone, must_complete) {
            return Err(DistError::PeerFailed { rank });
        }
        r.slots[self.rank] = Some(Arc::new(mine));
        r.deposited += 1;
        sh.changed_under_lock();
        while r.deposited < sh.size {
            if let (Some(rank), false) = (r.gone, must_complete) {
                return Err(DistError::PeerFailed { rank });
            }
            r = sh.wait(r);
        }
        let all: Vec<Arc<Payload>> =
            r.slots.iter().map(|s| Arc::clone(s.as_ref().expect("every rank deposited"))).collect();
        r.taken += 1;
        if r.taken == sh.size {
            r.slots.iter_mut().for_each(|s| *s = None);
            r.deposited = 0;
            r.taken = 0;
            sh.changed_under_lock();
        }
        Ok(all)
    }

    /// The buffers every rank deposited (all of `T`, as every rank calls the same collective).
    fn buffers<T>(all: &[Arc<Payload>]) -> Vec<(*mut T, usize)> {
        all.iter()
            .map(|p| match **p {
                Payload::Buffer(addr, len) => (addr as *mut T, len),
                _ => (std::ptr::null_mut(), 0),
            })
            .collect()
    }

    /// The in-place all-reduce (see the module docs).
    fn reduce<T: Copy + std::ops::AddAssign>(&self, buf: &mut [T]) -> Result<()> {
        let all = self.exchange(Payload::Buffer(buf.as_mut_ptr() as usize, buf.len()), false)?;
        same_lengths("all_reduce", buf.len(), &all)?;
        let bufs = Self::buffers::<T>(&all);
        let mine = shard_of(buf.len(), self.rank, bufs.len());
        let mut acc: Vec<T> = Vec::with_capacity(BLOCK.min(mine.len()));
        let mut start = mine.start;
        while start < mine.end {
            let len = BLOCK.min(mine.end - start);
            // SAFETY: every rank deposited a live buffer of `buf.len()` elements (checked above) and does not
            // touch it until the second round below; between the rounds, the elements `mine` of every buffer
            // are read and written by this rank only (the ranks' chunks are disjoint).
            unsafe {
                let block = |q: usize| std::slice::from_raw_parts_mut(bufs[q].0.add(start), len);
                acc.clear();
                acc.extend_from_slice(block(0));
                for q in 1..bufs.len() {
                    acc.iter_mut().zip(block(q).iter()).for_each(|(a, &x)| *a += x);
                }
                for q in 0..bufs.len() {
                    block(q).copy_from_slice(&acc);
                }
            }
            start += len;
        }
        self.exchange(Payload::Empty, true).map(|_| ())
    }

    /// The broadcast from `root`'s buffer into every other rank's.
    fn bcast<T: Copy>(&self, buf: &mut [T], root: usize) -> Result<()> {
        check_root(root, self.size())?;
        let all = self.exchange(Payload::Buffer(buf.as_mut_ptr() as usize, buf.len()), false)?;
        // Every rank sees every length, so either all ranks leave here or none does.
        let (src, len) = Self::buffers::<T>(&all)[root];
        if let Some(bad) = all.iter().map(|p| len_of(p)).find(|&l| l != len) {
            let other = if buf.len() == len { bad } else { len };
            return Err(DistError::LengthMismatch { op: "broadcast", local: buf.len(), other });
        }
        if self.rank != root {
            // SAFETY: the root deposited a live buffer of `len` elements, which nobody writes until the
            // second round below; this rank's `buf` is its own and as long.
            buf.copy_from_slice(unsafe { std::slice::from_raw_parts(src, len) });
        }
        self.exchange(Payload::Empty, true).map(|_| ())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Round> {
        // A rank that panicked never holds the lock while panicking (no user code runs under it).
        self.round.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Records a change of `round` (the caller holds the lock) and wakes the sleepers.
    fn changed_under_lock(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
        self.changed.notify_all();
    }
    /// Waits for the next change of `round`: spins without the lock for [`SPIN`], then sleeps.
    fn wait<'a>(&'a self, g: MutexGuard<'a, Round>) -> MutexGuard<'a, Round> {
        let seen = self.epoch.load(Ordering::Acquire);
        drop(g);
        let start = Instant::now();
        let mut spins = 0u32;
        while self.epoch.load(Ordering::Acquire) == seen {
            spins += 1;
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                let g = self.lock();
                // Changes happen under the lock, so one made since `seen` is visible here, and a later one
                // notifies only after this thread is waiting: no wake-up is lost.
                if self.epoch.load(Ordering::Acquire) != seen {
                    return g;
                }
                return self.changed.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            std::hint::spin_loop();
        }
        self.lock()
    }
    fn mark_gone(&self, rank: usize) {
        let mut r = self.lock();
        r.gone.get_or_insert(rank);
        self.changed_under_lock();
    }
}

fn len_of(p: &Payload) -> usize {
    match p {
        Payload::Buffer(_, len) => *len,
        Payload::Bytes(v) => v.len(),
        Payload::Empty => 0,
    }
}

/// Checks every rank used `buf`'s length. Every rank sees every length, so all fail or none does.
fn same_lengths(op: &'static str, local: usize, all: &[Arc<Payload>]) -> Result<()> {
    match all.iter().map(|p| len_of(p)).find(|&l| l != local) {
        Some(other) => Err(DistError::LengthMismatch { op, local, other }),
        None => Ok(()),
    }
}

impl Communicator for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.reduce(buf)
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.reduce(buf)
    }
    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<()> {
        self.bcast(buf, root)
    }
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()> {
        self.bcast(buf, root)
    }
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(root, self.size())?;
        let mine = if self.rank == root { Payload::Bytes(buf.clone()) } else { Payload::Empty };
        let all = self.exchange(mine, false)?;
        if let Payload::Bytes(v) = &*all[root] {
            buf.clone_from(v);
        }
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        self.exchange(Payload::Empty, false).map(|_| ())
    }
}
