//! Is this path ours, and how is it written: every file dev-prism writes
//! goes through here (generated files, copies into a worktree, records in
//! git's admin dir, lock files).
//!
//! Rules:
//! - never write through a symlink or onto a non-regular file: a temp file
//!   is made in the same directory with `O_CREAT|O_EXCL|O_NOFOLLOW` and
//!   renamed over the final name (which replaces a directory entry, never
//!   the target of a link);
//! - every directory between the root (a session directory, a worktree top)
//!   and the file is checked with `lstat`: a symlinked directory is refused,
//!   not followed;
//! - a generated file is only replaced when it carries dev-prism's header
//!   and is not tracked by git; it is only removed under the same rule;
//! - a copy never lands on its own source (same device and inode).

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `O_NOFOLLOW` for `OpenOptionsExt::custom_flags`.
fn nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// A relative path that stays below its root: no `..`, not absolute, not
/// empty.
pub fn require_relative(rel: &Path) -> Result<()> {
    let ok = !rel.as_os_str().is_empty()
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !ok {
        bail!(
            "`{}` must be a path inside the session directory, without `..`",
            rel.display()
        );
    }
    Ok(())
}

/// Check the directories between `root` and `root/rel`'s parent: each one
/// that exists must be a real directory, not a symlink. Missing ones are
/// fine (they will be made by [`create_dirs`]).
pub fn check_dirs(root: &Path, rel: &Path) -> Result<()> {
    require_relative(rel)?;
    let mut dir = root.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        let Component::Normal(name) = c else { continue };
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => bail!(
                "{} is a symlink{}: dev-prism does not write through symlinked directories",
                dir.display(),
                link_target(&dir)
            ),
            Ok(m) if !m.is_dir() => bail!("{} is not a directory", dir.display()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("could not check {}", dir.display())),
        }
    }
    Ok(())
}

fn link_target(path: &Path) -> String {
    std::fs::read_link(path)
        .map(|t| format!(" (to {})", t.display()))
        .unwrap_or_default()
}

/// Make the directories between `root` and `root/rel`'s parent, one at a
/// time, refusing a symlink anywhere on the way.
pub fn create_dirs(root: &Path, rel: &Path) -> Result<()> {
    check_dirs(root, rel)?;
    let mut dir = root.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        let Component::Normal(name) = c else { continue };
        dir.push(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("could not create {}", dir.display())),
        }
        let m = std::fs::symlink_metadata(&dir)
            .with_context(|| format!("could not check {}", dir.display()))?;
        if !m.is_dir() {
            bail!(
                "{} is not a directory (it changed while dev-prism was writing)",
                dir.display()
            );
        }
    }
    Ok(())
}

/// What is at a path dev-prism wants to write a generated file to.
#[derive(Debug, PartialEq, Eq)]
pub enum Existing {
    Absent,
    /// A regular file that starts with the header: dev-prism's own.
    Ours,
    /// Something dev-prism must not replace, and why.
    Foreign(String),
}

/// Look at `path` without following a symlink.
pub fn existing(path: &Path, header: &str) -> Existing {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Existing::Absent,
        Err(e) => return Existing::Foreign(format!("it cannot be read ({e})")),
    };
    if meta.file_type().is_symlink() {
        return Existing::Foreign(format!("it is a symlink{}", link_target(path)));
    }
    if !meta.is_file() {
        return Existing::Foreign("it is not a regular file".into());
    }
    match read_start(path, header.len()) {
        Ok(start) if start == header.as_bytes() => Existing::Ours,
        Ok(_) => Existing::Foreign("it was not written by dev-prism (no dev-prism header)".into()),
        Err(e) => Existing::Foreign(format!("it cannot be read ({e})")),
    }
}

fn read_start(path: &Path, n: usize) -> std::io::Result<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path)?;
    let mut buf = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Read a file without following a symlink at its last component.
pub fn read_nofollow(path: &Path) -> std::io::Result<String> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path)?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Replace `path` with `contents` (mode `mode`): temp file beside it, then
/// rename. The final name must be absent or a regular file (a symlink is
/// refused, never followed); callers decide beforehand whether it is theirs.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_symlink() || !m.is_file() {
            bail!(
                "{} is {}: dev-prism does not write through it",
                path.display(),
                if m.file_type().is_symlink() {
                    "a symlink"
                } else {
                    "not a regular file"
                }
            );
        }
    }
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.dev-prism-{}-{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(nofollow())
            .open(&tmp)?;
        // `mode` is filtered by the umask on create; set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("could not write {}", path.display()))
}

/// Write `contents` unless the file already holds exactly that (a regular
/// file, read without following a link). Returns whether it was written.
pub fn write_if_changed(path: &Path, contents: &str, mode: u32) -> Result<bool> {
    if read_nofollow(path).ok().as_deref() == Some(contents) {
        return Ok(false);
    }
    write_file(path, contents.as_bytes(), mode)?;
    Ok(true)
}

/// A generated file to write below `root` (the session directory).
pub struct Generated<'a> {
    pub root: &'a Path,
    pub rel: &'a Path,
    pub header: &'a str,
    pub mode: u32,
    /// How to move the file elsewhere, for the refusal (a config key).
    pub moved_by: &'a str,
}

impl Generated<'_> {
    pub fn path(&self) -> PathBuf {
        self.root.join(self.rel)
    }

    /// Whether dev-prism may write here: the directories on the way are
    /// real, and what is there (if anything) is its own, untracked file.
    /// `tracked` is asked only when the file exists.
    pub fn check(&self, tracked: impl FnOnce(&Path) -> bool) -> Result<()> {
        check_dirs(self.root, self.rel)?;
        let path = self.path();
        match existing(&path, self.header) {
            Existing::Absent => Ok(()),
            Existing::Ours if !tracked(self.rel) => Ok(()),
            Existing::Ours => bail!(
                "{} is tracked by git: dev-prism will not overwrite it; {}",
                path.display(),
                self.moved_by
            ),
            Existing::Foreign(why) => bail!(
                "{} exists and {why}: dev-prism will not overwrite it; {}",
                path.display(),
                self.moved_by
            ),
        }
    }

    /// Check, make the directories, write if the content changed. Returns
    /// whether the file was (re)written.
    pub fn write(&self, contents: &str, tracked: impl FnOnce(&Path) -> bool) -> Result<bool> {
        // Already what it should say (how `list` and `info` usually find
        // it): nothing is written, so there is no need to ask git whether
        // it is tracked (three git processes per session).
        if check_dirs(self.root, self.rel).is_ok()
            && read_nofollow(&self.path()).ok().as_deref() == Some(contents)
        {
            return Ok(false);
        }
        self.check(tracked)?;
        create_dirs(self.root, self.rel)?;
        write_if_changed(&self.path(), contents, self.mode)
    }
}

/// Remove a generated file: only a regular file with `header`, reached
/// through real directories, and not tracked. Returns whether it was removed.
pub fn remove_generated(
    root: &Path,
    rel: &Path,
    header: &str,
    tracked: impl FnOnce(&Path) -> bool,
) -> Result<bool> {
    if check_dirs(root, rel).is_err() {
        return Ok(false);
    }
    let path = root.join(rel);
    if existing(&path, header) != Existing::Ours || tracked(rel) {
        return Ok(false);
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("could not remove {}", path.display())),
    }
}

/// Whether two paths are the same file (device and inode), following links.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// What happened to one copied file.
#[derive(Debug, PartialEq, Eq)]
pub enum Copied {
    /// Written; the hash of what was written.
    Written(String),
    /// Not copied, and why (a warning for the user).
    Skipped(String),
}

/// Copy `src_root/rel` (the main checkout) to `dst_root/rel` (a new
/// worktree). The source must resolve inside `src_root` (a symlink out of
/// the repository is not followed); the destination's directories must be
/// real; a tracked destination is left as git checked it out; a copy onto
/// its own source is refused.
pub fn copy_in(
    src_root: &Path,
    dst_root: &Path,
    rel: &Path,
    tracked: impl FnOnce(&Path) -> bool,
) -> Result<Copied> {
    require_relative(rel)?;
    let src = src_root.join(rel);
    let real_root = std::fs::canonicalize(src_root).unwrap_or_else(|_| src_root.to_path_buf());
    let real_src = match std::fs::canonicalize(&src) {
        Ok(p) => p,
        Err(_) => {
            return Ok(Copied::Skipped(format!(
                "{} does not exist, not copied",
                src.display()
            )))
        }
    };
    if !real_src.starts_with(&real_root) {
        bail!(
            "{} leads outside the repository (to {}): dev-prism does not follow it",
            src.display(),
            real_src.display()
        );
    }
    if !real_src.is_file() {
        return Ok(Copied::Skipped(format!(
            "{} is not a regular file, not copied",
            src.display()
        )));
    }
    check_dirs(dst_root, rel)?;
    let dst = dst_root.join(rel);
    if same_file(&real_src, &dst) {
        bail!(
            "{} is the same file as {} (through a symlink): copying it onto itself would destroy it",
            dst.display(),
            src.display()
        );
    }
    if std::fs::symlink_metadata(&dst).is_ok() {
        if tracked(rel) {
            return Ok(Copied::Skipped(format!(
                "{} is tracked by git: the worktree keeps the committed version",
                rel.display()
            )));
        }
        return Ok(Copied::Skipped(format!(
            "{} already exists in the worktree: left as it is",
            dst.display()
        )));
    }
    let bytes =
        std::fs::read(&real_src).with_context(|| format!("could not read {}", src.display()))?;
    let mode = std::fs::metadata(&real_src)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    create_dirs(dst_root, rel)?;
    write_file(&dst, &bytes, mode)?;
    Ok(Copied::Written(hash(&bytes)))
}

/// Set once a clone (`FICLONE`) failed because the filesystem cannot do
/// it: later copies go straight to the in-kernel copy.
static NO_REFLINK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What [`clone_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloned {
    pub bytes: u64,
    /// Copy-on-write: the data blocks are shared, not copied.
    pub reflinked: bool,
}

/// Copy the regular file `src` to the new path `dst`, keeping its mode and
/// times. Neither end follows a symlink: `src` is opened `O_NOFOLLOW` and
/// must be a regular file; `dst` is created `O_CREAT|O_EXCL|O_NOFOLLOW`, so
/// an existing file, link or anything else there is an `AlreadyExists`
/// error and is never written to. The data is cloned (copy-on-write, the
/// `FICLONE` ioctl) where the filesystem supports it, else copied inside
/// the kernel (`copy_file_range`). The directories on the way are the
/// caller's to check.
pub fn clone_file(src: &Path, dst: &Path) -> std::io::Result<Cloned> {
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(src)?;
    let meta = from.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(nofollow())
        .open(dst)?;
    if mode & umask() != 0 {
        to.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    let mut reflinked = false;
    if meta.len() > 0 && meta.len() < SMALL_FILE {
        small_copy(&mut from, &mut to, meta.len())?;
    } else if meta.len() > 0 {
        reflinked = reflink(&from, &to);
        if !reflinked && !kernel_copy(&from, &to, meta.len())? {
            std::io::copy(&mut from, &mut to)?;
        }
    }
    let times = std::fs::FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    to.set_times(times)?;
    Ok(Cloned {
        bytes: meta.len(),
        reflinked,
    })
}

/// Below this size a file's data is copied through a buffer: cloning a
/// small file costs the filesystem more (a transaction and shared-extent
/// bookkeeping per file on XFS) than writing its few pages, and
/// `copy_file_range` sets up a splice per call.
const SMALL_FILE: u64 = 64 * 1024;

/// Copy the `len` bytes of a small file through a buffer: one `read` and
/// one `write`.
fn small_copy(from: &mut File, to: &mut File, len: u64) -> std::io::Result<()> {
    let mut buf = [0u8; SMALL_FILE as usize];
    let len = (len as usize).min(buf.len());
    let mut filled = 0;
    while filled < len {
        match from.read(&mut buf[filled..len]) {
            Ok(0) => break, // it shrank meanwhile
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    to.write_all(&buf[..filled])
}

/// Clone `from`'s data into the empty `to`; false when the filesystem
/// cannot (then it is not asked again).
#[cfg(target_os = "linux")]
fn reflink(from: &File, to: &File) -> bool {
    use rustix::io::Errno;
    if NO_REFLINK.load(Ordering::Relaxed) {
        return false;
    }
    match rustix::fs::ioctl_ficlone(to, from) {
        Ok(()) => true,
        Err(e) => {
            if [
                Errno::OPNOTSUPP,
                Errno::XDEV,
                Errno::INVAL,
                Errno::NOTTY,
                Errno::NOSYS,
                Errno::PERM,
            ]
            .contains(&e)
            {
                NO_REFLINK.store(true, Ordering::Relaxed);
            }
            false
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn reflink(_from: &File, _to: &File) -> bool {
    let _ = &NO_REFLINK;
    false
}

/// Copy `len` bytes from the start of `from` into the empty `to` inside the
/// kernel (`copy_file_range`: no data through user space, and no `stat` of
/// either file, which `std::io::copy` does first). False when the kernel
/// cannot here (then nothing was written), for the caller's fallback.
#[cfg(target_os = "linux")]
fn kernel_copy(from: &File, to: &File, len: u64) -> std::io::Result<bool> {
    use rustix::io::Errno;
    let mut done: u64 = 0;
    while done < len {
        let chunk = usize::try_from(len - done)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        match rustix::fs::copy_file_range(from, None, to, None, chunk) {
            Ok(0) => break, // the file shrank meanwhile
            Ok(n) => done += n as u64,
            Err(Errno::INTR) => continue,
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM)
                if done == 0 =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

#[cfg(not(target_os = "linux"))]
fn kernel_copy(_from: &File, _to: &File, _len: u64) -> std::io::Result<bool> {
    Ok(false)
}

/// The process umask (read once; `/proc/self/status`, else the usual 022).
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o777)
    })
}

/// A short content hash (FNV-1a, 64 bits) for "is this still the file
/// dev-prism wrote": not a security measure.
pub fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The hash of a file's content now (without following a final symlink).
pub fn hash_of(path: &Path) -> Option<String> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path)
        .ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(hash(&buf))
}

/// Open (or create, mode 0600) a lock file without following a symlink
/// and without truncating it. It must be a regular file.
pub fn open_lock_file(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nofollow())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                anyhow::anyhow!(
                    "lock file {} is a symlink{}: remove it (dev-prism never follows it)",
                    path.display(),
                    link_target(path)
                )
            } else {
                anyhow::anyhow!("could not open the lock file {}: {e}", path.display())
            }
        })?;
    let m = f
        .metadata()
        .with_context(|| format!("could not check {}", path.display()))?;
    if !m.is_file() {
        bail!(
            "lock file {} is not a regular file: remove it",
            path.display()
        );
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const H: &str = "# Generated by test";

    fn gen<'a>(root: &'a Path, rel: &'a Path) -> Generated<'a> {
        Generated {
            root,
            rel,
            header: H,
            mode: 0o600,
            moved_by: "set `envFile` to move it",
        }
    }

    #[test]
    fn writes_generated_files_with_mode_and_replaces_its_own() {
        let d = tempfile::tempdir().unwrap();
        let rel = Path::new("apps/web/.env.session");
        assert!(gen(d.path(), rel)
            .write(&format!("{H}\nA=1\n"), |_| false)
            .unwrap());
        let path = d.path().join(rel);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!gen(d.path(), rel)
            .write(&format!("{H}\nA=1\n"), |_| false)
            .unwrap());
        assert!(gen(d.path(), rel)
            .write(&format!("{H}\nA=2\n"), |_| false)
            .unwrap());
        // no temp files left behind
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn refuses_foreign_tracked_and_symlinked() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::write(root.join("mine.env"), "KEY=1\n").unwrap();
        let err = gen(root, Path::new("mine.env"))
            .write(&format!("{H}\n"), |_| false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no dev-prism header") && err.contains("envFile"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("mine.env")).unwrap(),
            "KEY=1\n"
        );

        std::fs::write(root.join("ours"), format!("{H}\n")).unwrap();
        let err = gen(root, Path::new("ours"))
            .write(&format!("{H}\nX=1\n"), |_| true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tracked"), "{err}");

        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        std::fs::write(&target, "precious\n").unwrap();
        symlink(&target, root.join("link")).unwrap();
        let err = gen(root, Path::new("link"))
            .write(&format!("{H}\n"), |_| false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

        symlink(outside.path(), root.join("apps")).unwrap();
        let err = gen(root, Path::new("apps/.env.session"))
            .write(&format!("{H}\n"), |_| false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("apps is a symlink"), "{err}");
        assert!(!outside.path().join(".env.session").exists());
    }

    #[test]
    fn write_file_never_follows_a_link() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = d.path().join("link");
        symlink(&target, &link).unwrap();
        assert!(write_file(&link, b"new", 0o644).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    fn copy_onto_itself_through_a_symlinked_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("main");
        let wt = d.path().join("wt");
        std::fs::create_dir_all(main.join("secrets")).unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(main.join("secrets/.env"), "SECRET=1\n").unwrap();
        symlink(main.join("secrets"), main.join("link")).unwrap();
        symlink(main.join("secrets"), wt.join("link")).unwrap();
        let err = copy_in(&main, &wt, Path::new("link/.env"), |_| false).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(
            std::fs::read_to_string(main.join("secrets/.env")).unwrap(),
            "SECRET=1\n"
        );
    }

    #[test]
    fn copies_keep_mode_skip_tracked_and_refuse_escapes() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("main");
        let wt = d.path().join("wt");
        std::fs::create_dir_all(main.join("cfg")).unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(main.join("cfg/.env"), "A=1\n").unwrap();
        std::fs::set_permissions(
            main.join("cfg/.env"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let got = copy_in(&main, &wt, Path::new("cfg/.env"), |_| false).unwrap();
        assert_eq!(got, Copied::Written(hash(b"A=1\n")));
        assert_eq!(hash_of(&wt.join("cfg/.env")), Some(hash(b"A=1\n")));
        assert_eq!(
            std::fs::metadata(wt.join("cfg/.env"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        assert!(matches!(
            copy_in(&main, &wt, Path::new("cfg/.env"), |_| true).unwrap(),
            Copied::Skipped(why) if why.contains("tracked")
        ));
        assert!(matches!(
            copy_in(&main, &wt, Path::new("missing"), |_| false).unwrap(),
            Copied::Skipped(_)
        ));
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), "x").unwrap();
        symlink(outside.path().join("x"), main.join("escape")).unwrap();
        assert!(copy_in(&main, &wt, Path::new("escape"), |_| false)
            .unwrap_err()
            .to_string()
            .contains("outside the repository"));
        assert!(copy_in(&main, &wt, Path::new("../x"), |_| false).is_err());
    }

    #[test]
    fn removes_only_its_own_untracked_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::write(root.join("ours"), format!("{H}\n")).unwrap();
        std::fs::write(root.join("theirs"), "x\n").unwrap();
        assert!(!remove_generated(root, Path::new("theirs"), H, |_| false).unwrap());
        assert!(!remove_generated(root, Path::new("ours"), H, |_| true).unwrap());
        assert!(remove_generated(root, Path::new("ours"), H, |_| false).unwrap());
        assert!(root.join("theirs").exists() && !root.join("ours").exists());
    }

    #[test]
    fn clone_file_keeps_mode_and_times_and_never_writes_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.sh");
        std::fs::write(&src, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o751)).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(old))
            .unwrap();
        let dst = d.path().join("dst.sh");
        let got = clone_file(&src, &dst).unwrap();
        assert_eq!(got.bytes, 18);
        assert_eq!(std::fs::read(&dst).unwrap(), std::fs::read(&src).unwrap());
        let m = std::fs::metadata(&dst).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o751);
        assert_eq!(m.modified().unwrap(), old);
        // an existing destination, or a link there, is never written
        let err = clone_file(&src, &dst).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        symlink(&victim, d.path().join("link")).unwrap();
        assert!(clone_file(&src, &d.path().join("link")).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        // a link as the source is not followed
        assert!(clone_file(&d.path().join("link"), &d.path().join("x")).is_err());
        assert!(!d.path().join("x").exists());
        // a large file (the kernel copies it, or clones it)
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(d.path().join("big"), &big).unwrap();
        let got = clone_file(&d.path().join("big"), &d.path().join("big2")).unwrap();
        assert_eq!(got.bytes, 300_000);
        assert_eq!(std::fs::read(d.path().join("big2")).unwrap(), big);
        // an empty file
        std::fs::write(d.path().join("empty"), "").unwrap();
        clone_file(&d.path().join("empty"), &d.path().join("empty2")).unwrap();
        assert_eq!(std::fs::read(d.path().join("empty2")).unwrap(), b"");
    }

    #[test]
    fn lock_files_are_not_followed_or_truncated() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("victim");
        std::fs::write(&target, "precious").unwrap();
        let link = d.path().join("x.lock");
        symlink(&target, &link).unwrap();
        let err = open_lock_file(&link).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        let real = d.path().join("y.lock");
        std::fs::write(&real, "held by 1").unwrap();
        open_lock_file(&real).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "held by 1");
    }
}
