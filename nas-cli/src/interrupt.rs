//! SIGINT as a request to stop. While a run that can stop cleanly is active (a [`Cooperation`]
//! guard is alive: `nas train` and the experiments that train through it), the first SIGINT asks
//! it to stop after its current step: it writes its checkpoint, and the command ends with a
//! one-line error saying where it stopped, and exit status 130; running the same command again
//! resumes there. Otherwise, and at a second SIGINT, the process ends at once (status 130). The
//! binary installs the handler; this module only keeps the flags (atomics: safe in a handler).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static COOPERATIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// What the handler does with a SIGINT: `true` leaves it to the active run (the first one while a
/// run cooperates), `false` means the process must end now.
pub fn on_signal() -> bool {
    COOPERATIVE.load(Ordering::SeqCst) > 0 && !REQUESTED.swap(true, Ordering::SeqCst)
}

/// Marks a run that checks [`requested`] after each step, for as long as it lives.
#[derive(Debug)]
pub struct Cooperation(());

impl Cooperation {
    /// Starts cooperating.
    pub fn begin() -> Self {
        COOPERATIVE.fetch_add(1, Ordering::SeqCst);
        Cooperation(())
    }
}

impl Drop for Cooperation {
    fn drop(&mut self) {
        COOPERATIVE.fetch_sub(1, Ordering::SeqCst);
    }
}
