//! Ctrl-C and SIGTERM: remembered, not fatal, so `create` can roll back and
//! `--no-detach` can stop following logs while the services keep running.

use anyhow::{bail, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Install the handler (once, at start-up). Tools like `timeout` signal
/// both the process and its group, so the second signal is not special; a
/// third one, while the rollback runs, exits at once with 130.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 2 {
            std::process::exit(130);
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// An error when a signal has arrived.
pub fn check() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}
