//! SIGINT, SIGTERM and SIGHUP: remembered, not fatal, so every command can
//! stop at a safe point (kill its child, roll back, keep a session findable)
//! and then exit with 128 + the signal number.
//!
//! Children are started in their own process group (see `process`), so a
//! Ctrl-C at the terminal reaches dev-prism only; dev-prism decides what
//! happens to the child. The exception is `with-env`, whose command stays in
//! the foreground: signals sent to dev-prism alone are passed on to it.

use anyhow::{anyhow, Result};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};

static FIRST: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Signals already acted on (a cleanup that started because of one is not
/// stopped by it; only a later one stops it).
static ACKED: AtomicUsize = AtomicUsize::new(0);
/// A foreground child (`with-env`) that signals are passed on to.
static FORWARD: AtomicU32 = AtomicU32::new(0);

/// The error a command returns when a signal stopped it; `main` turns it
/// into exit code 128 + the signal.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// Signals closer together than this count as one: `timeout` signals the
/// process and then its whole group, and one Ctrl-C reaches a process once
/// per group it is in; a person's second Ctrl-C comes later.
const SAME_SIGNAL: Duration = Duration::from_millis(300);

/// Install the handler once, at start-up. A third signal exits at once
/// (a stuck cleanup can always be abandoned).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            let mut last: Option<Instant> = None;
            for sig in signals.forever() {
                let _ = FIRST.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
                forward(sig);
                if last.is_some_and(|t| t.elapsed() < SAME_SIGNAL) {
                    continue;
                }
                last = Some(Instant::now());
                let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
                if n >= 3 {
                    std::process::exit(128 + FIRST.load(Ordering::SeqCst));
                }
            }
        });
    });
}

/// Pass a signal on to the foreground child, when there is one. SIGINT
/// from a terminal already reached it (same process group): only pass it
/// on when stdin is not a terminal (then it was sent to dev-prism alone).
fn forward(sig: i32) {
    use std::io::IsTerminal;
    let pid = FORWARD.load(Ordering::SeqCst);
    if pid == 0 || (sig == SIGINT && std::io::stdin().is_terminal()) {
        return;
    }
    if let (Some(pid), Some(signal)) = (
        rustix::process::Pid::from_raw(pid as i32),
        rustix::process::Signal::from_named_raw(sig),
    ) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Signals arriving from now on are passed on to `pid` (0: to nobody).
pub fn forward_to(pid: u32) {
    FORWARD.store(pid, Ordering::SeqCst);
}

/// The first signal received, if any.
pub fn signal() -> Option<i32> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Take note of the signals so far: a cleanup that starts now is stopped
/// only by a signal that arrives after this.
pub fn acknowledge() {
    ACKED.store(COUNT.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// A signal arrived that nobody has acted on yet: stop the current work.
pub fn pending() -> bool {
    COUNT.load(Ordering::SeqCst) > ACKED.load(Ordering::SeqCst)
}

/// `Ctrl-C`, `SIGTERM`, `SIGHUP`.
pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "Ctrl-C",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The error for "stopped by the signal that arrived", with `message`.
pub fn error(message: impl Into<String>) -> anyhow::Error {
    let signal = signal().unwrap_or(SIGINT);
    anyhow!(Interrupted {
        signal,
        message: message.into(),
    })
}

/// An error when a signal has arrived that nobody acted on yet.
pub fn check() -> Result<()> {
    match signal().filter(|_| pending()) {
        Some(sig) => Err(error(format!("interrupted ({})", name(sig)))),
        None => Ok(()),
    }
}

/// The exit code for an error: 128 + signal when a signal stopped the
/// command, else 1.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        return 128 + i.signal;
    }
    match signal() {
        Some(sig) => 128 + sig,
        None => 1,
    }
}
