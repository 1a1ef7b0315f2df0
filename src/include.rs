//! `.worktreeinclude`: the gitignored files a new worktree needs (env
//! files, installed dependencies, build caches), copied from the main
//! checkout — the convention of Claude Code and Codex.
//!
//! What is copied is decided by git, never by a matcher of our own: the
//! untracked paths the file's patterns (gitignore syntax) match
//! (`git ls-files --others --ignored --exclude-from=.worktreeinclude
//! --directory`) that git also ignores in the main checkout (`git status
//! --ignored=matching`). Directories are copied recursively, copy-on-write
//! (`FICLONE`) where the filesystem can, else by an in-kernel copy spread
//! over a few threads.
//!
//! Safety: nothing is read through a symlink (a link inside the repository
//! is copied as a link; one that leads outside is left out and named), and
//! nothing is written through one: every directory on the way in the new
//! worktree is checked or made by us, and files are created `O_EXCL |
//! O_NOFOLLOW` (a file the worktree already has is kept). Nested
//! repositories and other worktrees (a directory holding `.git`) are left
//! out.
//!
//! Only copied files that git does *not* ignore in the new worktree go into
//! the ownership record (with their hash): ignored files never stop `git
//! worktree remove`, so recording the thousands of files of a
//! `node_modules` would cost time for nothing.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use crate::git::{self, Repo};
use crate::interrupt;
use crate::layout;
use crate::output;
use crate::safefs;
use crate::safety;
use crate::teardown::MadeWorktree;
use crate::workspace;

/// The file's name, at the repository root.
pub const FILE: &str = ".worktreeinclude";

/// Copy what `.worktreeinclude` selects from the main checkout into the
/// new worktree `wt`, and record the copies git would count as work.
pub fn copy_into(repo: &Repo, wt: &mut MadeWorktree) -> Result<()> {
    let list = repo.main_root.join(FILE);
    match std::fs::symlink_metadata(&list) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            output::warn(&format!(
                "{} is not a regular file (a symlink?): nothing copied",
                list.display()
            ));
            return Ok(());
        }
        Err(_) => return Ok(()),
    }
    let entries = selected(&repo.main_root, &list)?;
    if entries.is_empty() {
        return Ok(());
    }
    interrupt::check()?;
    let started = Instant::now();
    let stats = copy_tree(&repo.main_root, &wt.top, &entries)?;
    output::progress(&format!(
        "Copied {FILE}: {}{} in {:.2}s{}",
        safety::count(stats.files, "file"),
        if stats.links > 0 {
            format!(", {}", safety::count(stats.links, "symlink"))
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
        match (stats.bytes, stats.reflinked) {
            (0, _) => String::new(),
            (b, true) => format!(" ({}, copy-on-write)", size(b)),
            (b, false) => format!(" ({})", size(b)),
        }
    ));
    for w in stats.warnings() {
        output::warn(&w);
    }
    record(wt, &entries)
}

/// Pure: the entries to copy — each path the `.worktreeinclude` patterns
/// select (`included`) that git ignores (`ignored`), where either list may
/// name a whole directory (`dir/`). Of a directory on one side and paths
/// inside it on the other, the deeper ones are kept; nothing is listed
/// inside another entry.
pub fn intersect(included: &[String], ignored: &[String]) -> Vec<String> {
    let inc: BTreeSet<&str> = included.iter().map(String::as_str).collect();
    let ign: BTreeSet<&str> = ignored.iter().map(String::as_str).collect();
    // `a/b/c` -> `a/`, `a/b/` (and `a/b/` -> `a/`).
    let ancestors = |p: &str| -> Vec<String> {
        let trimmed = p.trim_end_matches('/');
        trimmed
            .match_indices('/')
            .map(|(i, _)| trimmed[..=i].to_string())
            .collect()
    };
    let under =
        |set: &BTreeSet<&str>, p: &str| ancestors(p).iter().any(|a| set.contains(a.as_str()));
    let mut out: BTreeSet<String> = BTreeSet::new();
    for a in &inc {
        if ign.contains(a) || under(&ign, a) {
            out.insert(a.to_string());
        }
    }
    for b in &ign {
        if under(&inc, b) {
            out.insert(b.to_string());
        }
    }
    let all = out.clone();
    out.into_iter()
        .filter(|p| !ancestors(p).iter().any(|a| all.contains(a)))
        .collect()
}

/// What to copy, asking git both questions at once.
fn selected(main_root: &Path, list: &Path) -> Result<Vec<String>> {
    let (included, ignored) = std::thread::scope(|s| {
        let inc = s.spawn(|| git::untracked_matching(main_root, list));
        let ign = git::ignored_paths(main_root);
        (inc.join(), ign)
    });
    let included = included.map_err(|_| anyhow::anyhow!("git ls-files failed"))??;
    Ok(intersect(&included, &ignored?))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// What a copy did, and what it left out.
#[derive(Default)]
struct Stats {
    files: usize,
    links: usize,
    bytes: u64,
    reflinked: bool,
    /// Symlinks leading outside the repository (not copied).
    outside: Vec<String>,
    /// Nested repositories and worktrees (not copied).
    nested: Vec<String>,
    /// Sockets, fifos, devices.
    special: Vec<String>,
    /// Paths the worktree already has something else at (kept).
    blocked: Vec<String>,
    /// Files that could not be read or written, with the reason.
    failed: Vec<String>,
}

impl Stats {
    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |list: &[String], what: &str| {
            if !list.is_empty() {
                out.push(format!("{FILE}: left out {what}: {}", first_few(list)));
            }
        };
        say(
            &self.outside,
            "symlinks that lead outside the repository (dev-prism does not follow them)",
        );
        say(&self.nested, "nested repositories and worktrees");
        say(&self.special, "special files (sockets, fifos, devices)");
        say(
            &self.blocked,
            "paths where the worktree has something else (a symlink or a file where a directory was)",
        );
        say(&self.failed, "files that could not be copied");
        out
    }
}

fn first_few(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
    let more = if items.len() > 3 {
        format!(" and {} more", items.len() - 3)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// One file to copy: source, destination, and its path for messages.
struct Job {
    src: PathBuf,
    dst: PathBuf,
    rel: String,
}

/// Copy `entries` (relative to both roots; `dir/` for a directory) from
/// `src_root` to `dst_root`: the walk (directories, symlinks) runs here
/// while a few threads copy the files.
fn copy_tree(src_root: &Path, dst_root: &Path, entries: &[String]) -> Result<Stats> {
    let threads = copy_threads();
    let (tx, rx) = mpsc::sync_channel::<Job>(4096);
    let rx = Mutex::new(rx);
    let files = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let reflinked = AtomicUsize::new(0);
    let failed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let fatal: Mutex<Option<String>> = Mutex::new(None);
    let real_root = std::fs::canonicalize(src_root).unwrap_or_else(|_| src_root.to_path_buf());
    let mut walk = Walk {
        src_root,
        real_root: &real_root,
        dst_root,
        tx,
        dirs: Vec::new(),
        stats: Stats::default(),
        seen: 0,
    };
    let walked = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                if interrupt::pending() || fatal.lock().is_ok_and(|f| f.is_some()) {
                    continue; // drain: the walk stops soon
                }
                match safefs::clone_file(&job.src, &job.dst) {
                    Ok(c) => {
                        files.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(c.bytes, Ordering::Relaxed);
                        if c.reflinked {
                            reflinked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // The worktree has it (a tracked file): keep theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if is_fatal(&e) => {
                        if let Ok(mut f) = fatal.lock() {
                            f.get_or_insert_with(|| format!("{}: {e}", job.dst.display()));
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.push(format!("{} ({e})", job.rel));
                        }
                    }
                }
            });
        }
        let result = walk.entries(entries, &fatal);
        // Closing the channel ends the workers.
        drop(std::mem::replace(&mut walk.tx, mpsc::sync_channel(1).0));
        result
    });
    if let Some(f) = fatal.into_inner().ok().flatten() {
        bail!("{FILE}: could not copy into the new worktree: {f}");
    }
    interrupt::check()?;
    walked?;
    // Directory modes and times last: their files are in place now.
    for (dst, meta) in walk.dirs.iter().rev() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            dst,
            std::fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
        );
        if let (Ok(a), Ok(m)) = (meta.accessed(), meta.modified()) {
            if let Ok(d) = std::fs::File::open(dst) {
                let _ = d.set_times(std::fs::FileTimes::new().set_accessed(a).set_modified(m));
            }
        }
    }
    let mut stats = walk.stats;
    stats.files = files.into_inner();
    stats.bytes = bytes.into_inner();
    stats.reflinked = reflinked.into_inner() > 0;
    stats.failed = failed.into_inner().unwrap_or_default();
    Ok(stats)
}

/// How many threads copy files: `DEV_PRISM_COPY_THREADS`, else twice the
/// cores (the copies wait on the disk as much as on the CPU), 2 to 8.
fn copy_threads() -> usize {
    std::env::var("DEV_PRISM_COPY_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| (n.get() * 2).clamp(2, 8))
                .unwrap_or(4)
        })
}

/// Out of space, out of quota, a read-only filesystem: no point going on.
fn is_fatal(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == rustix::io::Errno::NOSPC.raw_os_error()
        || c == rustix::io::Errno::DQUOT.raw_os_error()
        || c == rustix::io::Errno::ROFS.raw_os_error())
}

struct Walk<'a> {
    src_root: &'a Path,
    real_root: &'a Path,
    dst_root: &'a Path,
    tx: mpsc::SyncSender<Job>,
    /// Directories made, with their source's metadata (mode and times are
    /// set once their content is in place).
    dirs: Vec<(PathBuf, std::fs::Metadata)>,
    stats: Stats,
    seen: usize,
}

impl Walk<'_> {
    fn entries(&mut self, entries: &[String], fatal: &Mutex<Option<String>>) -> Result<()> {
        for entry in entries {
            let rel = Path::new(entry.trim_end_matches('/'));
            safefs::require_relative(rel)?;
            // The directories on the way in the worktree must be real (a
            // tracked symlink there would be written through).
            if safefs::create_dirs(self.dst_root, rel).is_err() {
                self.stats.blocked.push(entry.clone());
                continue;
            }
            let src = self.src_root.join(rel);
            let Ok(meta) = std::fs::symlink_metadata(&src) else {
                continue; // gone meanwhile
            };
            self.node(&src, &self.dst_root.join(rel), rel, &meta)?;
            if fatal.lock().is_ok_and(|f| f.is_some()) {
                break;
            }
        }
        Ok(())
    }

    fn node(&mut self, src: &Path, dst: &Path, rel: &Path, meta: &std::fs::Metadata) -> Result<()> {
        self.seen += 1;
        if self.seen.is_multiple_of(256) {
            interrupt::check()?;
        }
        let ft = meta.file_type();
        if ft.is_file() {
            let job = Job {
                src: src.to_path_buf(),
                dst: dst.to_path_buf(),
                rel: safety::git_path(rel),
            };
            if self.tx.send(job).is_err() {
                bail!("the copy threads stopped");
            }
        } else if ft.is_symlink() {
            self.link(src, dst, rel)?;
        } else if ft.is_dir() {
            self.dir(src, dst, rel, meta)?;
        } else {
            self.stats.special.push(safety::git_path(rel));
        }
        Ok(())
    }

    fn dir(&mut self, src: &Path, dst: &Path, rel: &Path, meta: &std::fs::Metadata) -> Result<()> {
        if std::fs::symlink_metadata(src.join(".git")).is_ok() {
            self.stats
                .nested
                .push(format!("{}/", safety::git_path(rel)));
            return Ok(());
        }
        match std::fs::create_dir(dst) {
            Ok(()) => self.dirs.push((dst.to_path_buf(), meta.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Merge into a real directory the worktree has; never
                // into a link.
                if !std::fs::symlink_metadata(dst).is_ok_and(|m| m.is_dir()) {
                    self.stats.blocked.push(safety::git_path(rel));
                    return Ok(());
                }
            }
            Err(e) => return Err(e).with_context(|| format!("could not create {}", dst.display())),
        }
        // A directory that cannot be read is named, not fatal (as with `cp`).
        let children = match std::fs::read_dir(src) {
            Ok(c) => c,
            Err(e) => {
                self.stats
                    .failed
                    .push(format!("{}/ ({e})", safety::git_path(rel)));
                return Ok(());
            }
        };
        for child in children {
            let Ok(child) = child else { continue };
            let name = child.file_name();
            let (csrc, cdst, crel) = (src.join(&name), dst.join(&name), rel.join(&name));
            let Ok(ft) = child.file_type() else { continue };
            if ft.is_file() {
                // No stat here: the copying thread reads the metadata
                // from the open file.
                self.seen += 1;
                let job = Job {
                    src: csrc,
                    dst: cdst,
                    rel: safety::git_path(&crel),
                };
                if self.tx.send(job).is_err() {
                    bail!("the copy threads stopped");
                }
                continue;
            }
            let Ok(cmeta) = std::fs::symlink_metadata(&csrc) else {
                continue;
            };
            self.node(&csrc, &cdst, &crel, &cmeta)?;
        }
        Ok(())
    }

    /// Copy a symlink as a symlink, when it leads inside the repository (an
    /// absolute one is pointed at the same place in the new worktree).
    fn link(&mut self, src: &Path, dst: &Path, rel: &Path) -> Result<()> {
        let target = std::fs::read_link(src)
            .with_context(|| format!("could not read the symlink {}", src.display()))?;
        let parent = src.parent().unwrap_or(self.src_root);
        let raw = parent.join(&target);
        let leads_to = layout::normalize(&raw);
        // Where the kernel would go (through any other link on the way);
        // a dangling link by its words alone.
        let inside = match std::fs::canonicalize(&raw) {
            Ok(real) => real.starts_with(self.real_root),
            Err(_) => leads_to.starts_with(self.src_root),
        };
        if !inside {
            self.stats
                .outside
                .push(format!("{} -> {}", safety::git_path(rel), target.display()));
            return Ok(());
        }
        let new_target = match leads_to.strip_prefix(self.src_root) {
            Ok(in_repo) if target.is_absolute() => layout::join(self.dst_root, in_repo),
            _ => target,
        };
        match std::os::unix::fs::symlink(&new_target, dst) {
            Ok(()) => self.stats.links += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => self
                .stats
                .failed
                .push(format!("{} ({e})", safety::git_path(rel))),
        }
        Ok(())
    }
}

/// Record the copies that git does not ignore in the new worktree (they
/// would count as uncommitted work when the session is destroyed).
fn record(wt: &mut MadeWorktree, entries: &[String]) -> Result<()> {
    let status = safety::parse_status(&git::status_porcelain(&wt.top)?);
    let copied = |path: &str| {
        entries.iter().any(|e| match e.strip_suffix('/') {
            Some(dir) => path.starts_with(dir) && path[dir.len()..].starts_with('/'),
            None => path == e,
        })
    };
    let owned: Vec<(String, String)> = status
        .iter()
        .filter(|e| e.untracked() && copied(&e.path))
        .filter_map(|e| Some((e.path.clone(), safefs::hash_of(&wt.top.join(&e.path))?)))
        .collect();
    if owned.is_empty() {
        return Ok(());
    }
    workspace::record(wt, |m| {
        for (path, hash) in owned {
            m.set_file(&path, hash);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keeps_what_both_select_deepest_first() {
        let included = v(&[".claude/", ".env", "config/", "node_modules/", "notes.md"]);
        let ignored = v(&[
            ".claude/worktrees/",
            ".env",
            ".env.local",
            "config/a.local",
            "mixed/x.local",
            "node_modules/",
        ]);
        assert_eq!(
            intersect(&included, &ignored),
            v(&[
                ".claude/worktrees/",
                ".env",
                "config/a.local",
                "node_modules/"
            ])
        );
    }

    #[test]
    fn an_included_file_inside_an_ignored_directory_is_kept_alone() {
        assert_eq!(
            intersect(&v(&["build/cache/x.bin", "build/out/"]), &v(&["build/"])),
            v(&["build/cache/x.bin", "build/out/"])
        );
        assert_eq!(
            intersect(&v(&["a/"]), &v(&["b/", "ab/x"])),
            Vec::<String>::new()
        );
        assert_eq!(intersect(&v(&["a/", "a/b/"]), &v(&["a/"])), v(&["a/"]));
    }

    /// A main checkout and a worktree top, as plain directories.
    fn roots() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().canonicalize().unwrap();
        let (main, wt) = (base.join("main"), base.join("wt"));
        std::fs::create_dir_all(&main).unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        (d, main, wt)
    }

    #[test]
    fn copies_trees_links_and_modes_and_leaves_out_what_leads_outside() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let (d, main, wt) = roots();
        let nm = main.join("node_modules");
        std::fs::create_dir_all(nm.join("pkg/lib")).unwrap();
        std::fs::create_dir_all(nm.join("empty")).unwrap();
        std::fs::create_dir_all(nm.join("nested/.git")).unwrap();
        std::fs::write(nm.join("pkg/lib/index.js"), "module.exports = 1\n").unwrap();
        std::fs::write(nm.join("pkg/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            nm.join("pkg/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::create_dir_all(nm.join(".bin")).unwrap();
        symlink("../pkg/run.sh", nm.join(".bin/run")).unwrap();
        symlink(main.join("node_modules/pkg"), nm.join("abs")).unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        symlink(&outside, nm.join("escape")).unwrap();
        symlink(&outside, main.join("linked-out")).unwrap();
        std::fs::write(main.join(".env"), "A=1\n").unwrap();
        // the worktree already has a tracked .env: it is kept
        std::fs::write(wt.join(".env"), "TRACKED=1\n").unwrap();

        let stats = copy_tree(&main, &wt, &v(&["node_modules/", ".env", "linked-out"])).unwrap();
        let wnm = wt.join("node_modules");
        assert_eq!(
            std::fs::read_to_string(wnm.join("pkg/lib/index.js")).unwrap(),
            "module.exports = 1\n"
        );
        assert_eq!(
            std::fs::metadata(wnm.join("pkg/run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert!(wnm.join("empty").is_dir());
        assert_eq!(
            std::fs::read_link(wnm.join(".bin/run")).unwrap(),
            Path::new("../pkg/run.sh")
        );
        assert_eq!(
            std::fs::read_link(wnm.join("abs")).unwrap(),
            wnm.join("pkg")
        );
        assert!(std::fs::symlink_metadata(wnm.join("escape")).is_err());
        assert!(std::fs::symlink_metadata(wt.join("linked-out")).is_err());
        assert!(!wnm.join("nested").exists());
        assert_eq!(
            std::fs::read_to_string(wt.join(".env")).unwrap(),
            "TRACKED=1\n"
        );
        assert_eq!(stats.files, 2);
        assert_eq!(stats.links, 2);
        assert_eq!(stats.outside.len(), 2, "{:?}", stats.outside);
        assert_eq!(stats.nested, v(&["node_modules/nested/"]));
        let warnings = stats.warnings().join("\n");
        assert!(warnings.contains("node_modules/escape ->"), "{warnings}");
    }

    #[test]
    fn never_writes_through_a_symlinked_directory_of_the_worktree() {
        use std::os::unix::fs::symlink;
        let (d, main, wt) = roots();
        std::fs::create_dir_all(main.join("data/sub")).unwrap();
        std::fs::write(main.join("data/sub/x"), "x").unwrap();
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        // in the worktree's commit, `data` is a (tracked) symlink
        symlink(&elsewhere, wt.join("data")).unwrap();
        let stats = copy_tree(&main, &wt, &v(&["data/sub/", "data/"])).unwrap();
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        assert_eq!(stats.blocked.len(), 2, "{:?}", stats.blocked);
    }
}
