//! Locks between dev-prism processes: one per session directory (create,
//! destroy, prune and start of one session never overlap) and one per
//! repository (its `info/exclude`). Lock files live in a per-user
//! directory, are opened without following symlinks or truncating, say who
//! holds them, and are removed when released. The OS drops a lock when its
//! holder dies, however it dies.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::safefs;

/// The per-user lock directory: `DEV_PRISM_LOCK_DIR`, else
/// `$XDG_RUNTIME_DIR/dev-prism`, else `<tmp>/dev-prism-<uid>`. Made 0700;
/// it must belong to the user and not be a symlink.
pub fn dir() -> Result<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let dir = match std::env::var_os("DEV_PRISM_LOCK_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.uid() == uid))
        {
            Some(runtime) => runtime.join("dev-prism"),
            None => std::env::temp_dir().join(format!("dev-prism-{uid}")),
        },
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("could not create {}", dir.display())),
    }
    let m = std::fs::symlink_metadata(&dir)
        .with_context(|| format!("could not check {}", dir.display()))?;
    if m.file_type().is_symlink() || !m.is_dir() {
        bail!(
            "the lock directory {} is not a directory (a symlink?): remove it",
            dir.display()
        );
    }
    if m.uid() != uid {
        bail!(
            "the lock directory {} belongs to another user: set DEV_PRISM_LOCK_DIR to a directory of yours",
            dir.display()
        );
    }
    if m.permissions().mode() & 0o022 != 0 {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}

/// FNV-1a, 32 bits, of a path (the 8 hex digits that end a session's
/// compose project name).
pub fn path_hash(path: &Path) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for &b in path.as_os_str().as_encoded_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// A held lock; released (and its file removed) on drop.
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock; a waiter that opened
        // it meanwhile notices (the path no longer names its file) and retries.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// The lock file of a session directory.
pub fn session_path(session_dir: &Path) -> Result<PathBuf> {
    Ok(dir()?.join(format!("{}.lock", path_hash(session_dir))))
}

/// The lock file of a repository (its common git dir).
pub fn repo_path(common_dir: &Path) -> Result<PathBuf> {
    Ok(dir()?.join(format!("repo-{}.lock", path_hash(common_dir))))
}

/// How to wait for a held lock.
#[derive(Clone, Copy)]
pub enum Wait {
    /// Fail at once.
    No,
    /// Wait up to this long.
    Up(Duration),
}

/// Take the lock at `path`, writing `what` (e.g. `destroy pid=12`) into it.
/// `Ok(None)` when another process holds it (after waiting, if asked).
pub fn acquire(path: &Path, what: &str, wait: Wait) -> Result<Option<Lock>> {
    let start = Instant::now();
    loop {
        let mut file = safefs::open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => {
                // The path must still name the file we locked (a holder
                // removes it on release).
                let same = match (file.metadata(), std::fs::symlink_metadata(path)) {
                    (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                    _ => false,
                };
                if !same {
                    continue;
                }
                file.set_len(0).ok();
                file.rewind().ok();
                let _ = writeln!(file, "{what} pid={}", std::process::id());
                return Ok(Some(Lock {
                    file,
                    path: path.to_path_buf(),
                }));
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("could not lock {}", path.display()))
            }
        }
        match wait {
            Wait::Up(limit) if start.elapsed() < limit => {
                crate::interrupt::check()?;
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => return Ok(None),
        }
    }
}

/// Remove the lock files nobody holds (left by a dev-prism that was
/// killed): each is taken and released, which removes it; a held one is
/// left alone.
pub fn sweep() {
    let Ok(dir) = dir() else { return };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "lock") {
            let _ = acquire(&path, "sweep", Wait::No);
        }
    }
}

/// Read the first line of a lock file (for messages).
pub fn describe(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = safefs::open_lock_file(path) {
        let _ = f.read_to_string(&mut text);
    }
    text.lines()
        .next()
        .unwrap_or("another dev-prism")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_project_name_suffix() {
        let p = Path::new("/tmp/x");
        assert!(crate::session::project_name("app", p).ends_with(&path_hash(p)));
    }

    #[test]
    fn one_holder_at_a_time_and_the_file_goes_with_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.lock");
        let a = acquire(&path, "create", Wait::No).unwrap().unwrap();
        assert!(describe(&path).starts_with("create pid="));
        assert!(acquire(&path, "destroy", Wait::No).unwrap().is_none());
        drop(a);
        assert!(!path.exists());
        let b = acquire(&path, "destroy", Wait::Up(Duration::from_secs(1))).unwrap();
        assert!(b.is_some());
    }

    #[test]
    fn sweep_removes_only_unheld_lock_files() {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("DEV_PRISM_LOCK_DIR", d.path());
        let stale = d.path().join("stale.lock");
        std::fs::write(&stale, "create pid=1\n").unwrap();
        let held = acquire(&d.path().join("held.lock"), "create", Wait::No)
            .unwrap()
            .unwrap();
        sweep();
        assert!(!stale.exists());
        assert!(d.path().join("held.lock").exists());
        drop(held);
        std::env::remove_var("DEV_PRISM_LOCK_DIR");
    }
}
