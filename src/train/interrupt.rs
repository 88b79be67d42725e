//! Ctrl-C (SIGINT) and SIGTERM during [`Trainer::fit`](super::Trainer::fit): the run saves its training state
//! and returns [`TrainError::Interrupted`](super::TrainError::Interrupted) instead of dying mid-step.
//!
//! One process-wide handler (the `ctrlc` crate) is installed on the first `fit` that has a state file. While
//! such a run is active a signal only raises a flag that the loop checks after each step; when none is active,
//! the handler exits the process with status 130 as the default action of SIGINT would, so a program is not
//! left deaf to Ctrl-C after training. If the program installed a handler of its own first, ours is not
//! installed and interruption is the program's business.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Marks a run as listening for interruptions while it lives.
pub(crate) struct Listening(());

impl Listening {
    /// Installs the handler if needed and counts this run as active.
    pub(crate) fn start() -> Self {
        INSTALLED.get_or_init(|| {
            ctrlc::set_handler(|| {
                if ACTIVE.load(Ordering::SeqCst) > 0 {
                    REQUESTED.store(true, Ordering::SeqCst);
                } else {
                    std::process::exit(130);
                }
            })
            .is_ok()
        });
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Listening(())
    }

    /// `true` once after a signal arrived (every active run sees it: all save and stop).
    pub(crate) fn requested(&self) -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if ACTIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
            REQUESTED.store(false, Ordering::SeqCst);
        }
    }
}
