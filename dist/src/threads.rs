//! [`ThreadComm`]: `n` ranks as threads of one process.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::{check_root, Communicator, DistError, Result};

/// What one rank contributes to a collective.
#[derive(Debug)]
enum Payload {
    F64(Vec<f64>),
    F32(Vec<f32>),
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
}

/// A rank of a group of threads in one process (see [`ThreadComm::run`]).
///
/// Collectives exchange copies of the buffers through shared memory; every rank reduces the deposited
/// buffers itself, in rank order `0, 1, ..., n-1`, so all ranks get bit-identical results and a run is
/// deterministic whatever the threads' timing.
pub struct ThreadComm {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadComm {
    /// Runs `f` on `n` ranks, each a scoped thread with its own [`ThreadComm`], and returns their results in
    /// rank order. Each rank builds its own model and tape inside `f`, so nothing needs to be `Send` but the
    /// results.
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
        });
        let outcomes: Vec<std::thread::Result<R>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|rank| {
                    let comm = ThreadComm { rank, shared: Arc::clone(&shared) };
                    let f = &f;
                    let shared = &shared;
                    s.spawn(move || {
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
    fn exchange(&self, mine: Payload) -> Result<Vec<Arc<Payload>>> {
        let sh = &*self.shared;
        let mut r = sh.lock();
        // The previous round is complete but still being read: wait until its last reader resets it.
        while r.deposited == sh.size {
            r = sh.wait(r);
        }
        if let Some(rank) = r.gone {
            return Err(DistError::PeerFailed { rank });
        }
        r.slots[self.rank] = Some(Arc::new(mine));
        r.deposited += 1;
        sh.changed.notify_all();
        while r.deposited < sh.size {
            if let Some(rank) = r.gone {
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
            sh.changed.notify_all();
        }
        Ok(all)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Round> {
        // A rank that panicked never holds the lock while panicking (no user code runs under it).
        self.round.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn wait<'a>(&self, g: MutexGuard<'a, Round>) -> MutexGuard<'a, Round> {
        self.changed.wait(g).unwrap_or_else(|e| e.into_inner())
    }
    fn mark_gone(&self, rank: usize) {
        let mut r = self.lock();
        r.gone.get_or_insert(rank);
        self.changed.notify_all();
    }
}

fn len_of(p: &Payload) -> usize {
    match p {
        Payload::F64(v) => v.len(),
        Payload::F32(v) => v.len(),
        Payload::Bytes(v) => v.len(),
        Payload::Empty => 0,
    }
}

/// Checks every rank used `buf`'s length.
fn same_lengths(op: &'static str, local: usize, all: &[Arc<Payload>]) -> Result<()> {
    match all.iter().map(|p| len_of(p)).find(|&l| l != local) {
        Some(other) => Err(DistError::LengthMismatch { op, local, other }),
        None => Ok(()),
    }
}

macro_rules! reduce_and_broadcast {
    ($reduce:ident, $bcast:ident, $t:ty, $variant:ident) => {
        fn $reduce(&self, buf: &mut [$t]) -> Result<()> {
            let all = self.exchange(Payload::$variant(buf.to_vec()))?;
            same_lengths("all_reduce", buf.len(), &all)?;
            buf.fill(0.0);
            for p in &all {
                if let Payload::$variant(v) = &**p {
                    buf.iter_mut().zip(v).for_each(|(b, x)| *b += x);
                }
            }
            Ok(())
        }
        fn $bcast(&self, buf: &mut [$t], root: usize) -> Result<()> {
            check_root(root, self.size())?;
            let mine = if self.rank == root { Payload::$variant(buf.to_vec()) } else { Payload::Empty };
            let all = self.exchange(mine)?;
            match &*all[root] {
                Payload::$variant(v) if v.len() == buf.len() => buf.copy_from_slice(v),
                p => return Err(DistError::LengthMismatch { op: "broadcast", local: buf.len(), other: len_of(p) }),
            }
            Ok(())
        }
    };
}

impl Communicator for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    reduce_and_broadcast!(all_reduce_sum_f64, broadcast_f64, f64, F64);
    reduce_and_broadcast!(all_reduce_sum_f32, broadcast_f32, f32, F32);
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(root, self.size())?;
        let mine = if self.rank == root { Payload::Bytes(buf.clone()) } else { Payload::Empty };
        let all = self.exchange(mine)?;
        if let Payload::Bytes(v) = &*all[root] {
            buf.clone_from(v);
        }
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        self.exchange(Payload::Empty).map(|_| ())
    }
}
