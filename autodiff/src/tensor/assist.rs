//! One spinning assistant thread for halves of products too short for rayon.
//!
//! A thin product of the digits data (2.3 MFLOP) takes 20-26 µs. Split with `rayon::join`, it got slower
//! (trust-region Newton-CG 14.5 -> 22 ms): between two products the HVP does ~40 µs of elementwise work,
//! long enough for rayon's idle worker to go to sleep, and waking it costs more than the half product
//! saves. BLAS libraries keep their threads spinning for a while after a job for this reason; so does this
//! assistant, for [`SPIN`] after its last job, before it parks.
//!
//! [`join`] posts the second half, runs the first, and then either finds the second done, takes it back
//! if the assistant has not started it (a loaded machine never waits for a descheduled thread to pick
//! it up), or waits for the assistant to finish it. One job at a time: a caller that finds the assistant
//! busy (another thread's product) runs both halves itself.
//!
//! [`set_assist_thread`]`(false)`, or `WENGERT_ASSIST=0` in the environment, turns it off: every product
//! then runs on its caller's thread (for machines shared with other heavy work, where a spinning thread
//! takes CPU from others).

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A raw pointer (or a tuple of them) that may cross to the assistant: the two halves of a product read
/// the same operands, which nothing writes while it runs, and write disjoint parts of its output.
#[derive(Clone, Copy)]
pub(super) struct Shared<P>(pub(super) P);
// SAFETY: only used to hand the operands of one product to the two halves of a `join` (see above).
unsafe impl<P> Send for Shared<P> {}
// SAFETY: as for `Send`.
unsafe impl<P> Sync for Shared<P> {}

impl<P: Copy> Shared<P> {
    /// The pointer (a method, so closures capture the whole `Shared`, not its non-`Send` field).
    pub(super) fn get(self) -> P {
        self.0
    }
}

/// How long the assistant spins for a new job after its last one before it parks.
const SPIN: Duration = Duration::from_micros(200);

const EMPTY: u8 = 0;
const POSTED: u8 = 1;
const RUNNING: u8 = 2;
const DONE: u8 = 3;

/// A type-erased `FnOnce()` living on the poster's stack: its address and the function that runs it.
#[derive(Clone, Copy)]
struct Job {
    data: *mut u8,
    run: unsafe fn(*mut u8),
}

struct Assistant {
    /// Held by the one caller whose job is in flight.
    claimed: AtomicBool,
    state: AtomicU8,
    job: UnsafeCell<Option<Job>>,
    panicked: AtomicBool,
    thread: Thread,
}

// SAFETY: `job` is written only by the caller holding `claimed` while `state` is `EMPTY`, and read by the
// assistant only after it moved `state` from `POSTED` to `RUNNING` (acquire, pairing with the poster's
// release store of `POSTED`); the pointer in it is used while the poster waits in `join`.
unsafe impl Sync for Assistant {}
// SAFETY: as above.
unsafe impl Send for Assistant {}

/// Whether [`join`] may use the assistant; see [`set_assist_thread`].
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Lets thin products hand half their rows to the `wengert-assist` thread (`true`, the default unless the
/// environment has `WENGERT_ASSIST=0`), or keeps every product on its caller's thread (`false`). Results
/// are the same either way, bit for bit; only the speed differs.
pub fn set_assist_thread(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

fn assistant() -> Option<&'static Assistant> {
    static A: OnceLock<Option<&'static Assistant>> = OnceLock::new();
    *A.get_or_init(|| {
        if std::env::var("WENGERT_ASSIST").is_ok_and(|v| v == "0" || v.eq_ignore_ascii_case("off")) {
            ENABLED.store(false, Ordering::Relaxed);
        }
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel::<&'static Assistant>();
        let handle = std::thread::Builder::new()
            .name("wengert-assist".into())
            .spawn(move || {
                let Ok(me) = rx.recv() else { return };
                serve(me);
            })
            .ok()?;
        let a: &'static Assistant = Box::leak(Box::new(Assistant {
            claimed: AtomicBool::new(false),
            state: AtomicU8::new(EMPTY),
            job: UnsafeCell::new(None),
            panicked: AtomicBool::new(false),
            thread: handle.thread().clone(),
        }));
        tx.send(a).ok()?;
        Some(a)
    })
}

/// The assistant's loop: spin for a posted job, run it, spin again; park after [`SPIN`] without one.
fn serve(me: &'static Assistant) {
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            if me.state.compare_exchange(POSTED, RUNNING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                // SAFETY: `RUNNING` is ours; the poster wrote the job before releasing `POSTED` and keeps
                // its closure alive until it sees `DONE`.
                let job = unsafe { (*me.job.get()).take() };
                if let Some(job) = job {
                    // SAFETY: `job.run` is the trampoline for `job.data`'s closure type, called once.
                    let ok = catch_unwind(AssertUnwindSafe(|| unsafe { (job.run)(job.data) })).is_ok();
                    me.panicked.store(!ok, Ordering::Relaxed);
                }
                me.state.store(DONE, Ordering::Release);
                break;
            }
            spins += 1;
            if spins.is_multiple_of(64) && idle_since.elapsed() > SPIN {
                // Park; a post unparks (a token set before `park` makes it return at once).
                if me.state.load(Ordering::Acquire) != POSTED {
                    std::thread::park();
                }
                break;
            }
            std::hint::spin_loop();
        }
    }
}

/// Whether [`join`] may hand work to the assistant: it exists (the machine has two cores or more) and is
/// switched on.
pub(super) fn usable() -> bool {
    assistant().is_some() && ENABLED.load(Ordering::Relaxed)
}

/// Runs `a` and `b`, `b` on the assistant thread when it is free (see the [module docs](self)).
///
/// # Panics
/// If `a` or `b` panics (after both have finished).
pub(super) fn join(a: impl FnOnce(), b: impl FnOnce() + Send) {
    let Some(me) = assistant().filter(|_| ENABLED.load(Ordering::Relaxed) && super::parallel::intra_op_parallel())
    else {
        a();
        b();
        return;
    };
    if me.claimed.swap(true, Ordering::Acquire) {
        a();
        b();
        return;
    }
    let mut slot = Some(b);
    let slot_ptr: *mut Option<_> = &mut slot;
    // SAFETY: we hold `claimed` and the state is `EMPTY`: nobody else reads or writes the job.
    unsafe { *me.job.get() = Some(job_for(slot_ptr)) };
    me.state.store(POSTED, Ordering::Release);
    me.thread.unpark();
    let settle = Settle { me, slot: slot_ptr };
    a();
    drop(settle);
}

/// Runs the `F` at `data` once (moved out of its slot).
///
/// # Safety
/// `data` points to a live `Option<F>`.
unsafe fn trampoline<F: FnOnce()>(data: *mut u8) {
    // SAFETY: the caller's.
    let f = unsafe { (*data.cast::<Option<F>>()).take() };
    if let Some(f) = f {
        f();
    }
}

fn job_for<F: FnOnce()>(slot: *mut Option<F>) -> Job {
    Job { data: slot.cast(), run: trampoline::<F> }
}

/// Waits for (or takes back) the posted job when dropped, also when the caller's half panics, so the
/// slot outlives every use of it.
struct Settle<F: FnOnce()> {
    me: &'static Assistant,
    slot: *mut Option<F>,
}

impl<F: FnOnce()> Drop for Settle<F> {
    fn drop(&mut self) {
        let me = self.me;
        if me.state.compare_exchange(POSTED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            // Not started: run it here. The assistant never saw the job; it is cleared before `claimed`
            // is released.
            // SAFETY: as stated; `slot` is the caller's live `Option<F>`, no longer shared.
            let b = unsafe {
                *me.job.get() = None;
                (*self.slot).take()
            };
            if let Some(b) = b {
                b();
            }
        } else {
            while me.state.load(Ordering::Acquire) != DONE {
                std::hint::spin_loop();
            }
            me.state.store(EMPTY, Ordering::Relaxed);
        }
        let panicked = me.panicked.swap(false, Ordering::Relaxed);
        me.claimed.store(false, Ordering::Release);
        if panicked && !std::thread::panicking() {
            panic!("a product half panicked on the assistant thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn both_halves_run_exactly_once_from_many_threads() {
        let count = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        let (mut x, mut y) = (0, 0);
                        join(|| x += 1, || y += 2);
                        assert_eq!((x, y), (1, 2));
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 8000);
    }

    #[test]
    fn a_panicking_half_panics_the_caller_and_leaves_the_assistant_usable() {
        let r = catch_unwind(|| join(|| (), || panic!("second half")));
        assert!(r.is_err());
        let r = catch_unwind(|| join(|| panic!("first half"), || ()));
        assert!(r.is_err());
        let mut y = 0;
        join(|| (), || y = 7);
        assert_eq!(y, 7);
    }

    #[test]
    fn switched_off_both_halves_run_on_the_caller() {
        let me = std::thread::current().id();
        set_assist_thread(false);
        let mut on = None;
        join(|| (), || on = Some(std::thread::current().id()));
        set_assist_thread(true);
        assert_eq!(on, Some(me));
    }

    #[test]
    fn the_assistant_wakes_after_parking() {
        let mut y = 0;
        join(|| (), || y = 1);
        std::thread::sleep(SPIN * 5);
        join(|| (), || y += 1);
        assert_eq!(y, 2);
    }
}
