//! Who made a worktree, and is it still being made: the ownership record.
//!
//! A worktree dev-prism makes carries a marker, `dev-prism.json`, in git's
//! own admin directory for it (`<common dir>/worktrees/<id>/`), a place no
//! commit can reach; git removes it together with the worktree. While
//! `create` runs, the worktree is locked (`git worktree add --lock`) with a
//! reason naming dev-prism and the creating process. `prune`, `destroy` and
//! rollback decide what dev-prism made from this record and from container
//! labels only — never from a file inside the work tree.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::safefs;

/// File name of the marker in a worktree's admin directory.
pub const MARKER: &str = "dev-prism.json";
/// Start of the lock reason of a worktree `create` is making.
pub const REASON: &str = "dev-prism create";

/// The process that makes a worktree: pid, its start time (so a reused
/// pid is not mistaken for it) and the host (a repository on a shared
/// disk may be used from several machines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub pid: u32,
    #[serde(default)]
    pub start: Option<u64>,
    #[serde(default)]
    pub host: String,
}

impl Creator {
    /// This process.
    pub fn me() -> Self {
        let pid = std::process::id();
        Creator {
            pid,
            start: start_time(pid),
            host: hostname(),
        }
    }

    /// Whether the process is still running. On another host, or when it
    /// cannot be told, it counts as alive (nothing is removed under it).
    pub fn alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        if Path::new("/proc/self/stat").exists() {
            return match (start_time(self.pid), self.start) {
                (Some(now), Some(then)) => now == then,
                (Some(_), None) => true,
                (None, _) => false,
            };
        }
        match rustix::process::Pid::from_raw(self.pid as i32) {
            Some(pid) => rustix::process::test_kill_process(pid).is_ok(),
            None => false,
        }
    }

    /// The lock reason `create` gives the worktree.
    pub fn reason(&self) -> String {
        format!(
            "{REASON} pid={} start={} host={}",
            self.pid,
            self.start.map(|s| s.to_string()).unwrap_or_default(),
            self.host
        )
    }

    /// Parse a lock reason written by [`Creator::reason`].
    pub fn from_reason(reason: &str) -> Option<Creator> {
        let rest = reason.trim().strip_prefix(REASON)?;
        let mut c = Creator {
            pid: 0,
            start: None,
            host: String::new(),
        };
        for word in rest.split_whitespace() {
            match word.split_once('=') {
                Some(("pid", v)) => c.pid = v.parse().ok()?,
                Some(("start", v)) => c.start = v.parse().ok(),
                Some(("host", v)) => c.host = v.to_string(),
                _ => {}
            }
        }
        (c.pid != 0).then_some(c)
    }
}

/// The start time of a process (clock ticks since boot, field 22 of
/// `/proc/<pid>/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &text[text.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Where a session's create got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Creating,
    Ready,
}

/// A file dev-prism copied into the worktree, and the hash of what it
/// wrote there last (unchanged since: still dev-prism's, not the user's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedFile {
    pub path: String,
    pub hash: String,
}

/// The marker: what dev-prism made with this worktree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub version: u32,
    pub state: State,
    pub creator: Creator,
    /// The session directory (the worktree top, or a folder in it).
    pub session_dir: PathBuf,
    /// The compose project of the session.
    pub project: String,
    pub branch: Option<String>,
    /// dev-prism created the branch (so it may delete it).
    pub branch_created: bool,
    /// The commit a created branch started at.
    #[serde(default)]
    pub base: Option<String>,
    pub created_at: String,
    /// The sessions directory, removed when its last worktree goes (only
    /// when dev-prism chose it, not a configured `sessionsDir`).
    #[serde(default)]
    pub sessions_dir: Option<PathBuf>,
    /// Files dev-prism copied in (envFiles, …), relative to the worktree top.
    #[serde(default)]
    pub files: Vec<OwnedFile>,
    /// Made from a running first-release session's labels.
    #[serde(default)]
    pub migrated: bool,
    /// Made from a session of the original TypeScript tool, which did not
    /// record whether it created the branch (so it is kept).
    #[serde(default)]
    pub branch_unknown: bool,
    /// The session's compose files and profiles, so a session whose
    /// containers are all gone can be started again.
    #[serde(default)]
    pub compose_files: Vec<PathBuf>,
    #[serde(default)]
    pub profiles: Vec<String>,
}

impl Marker {
    pub fn owned_file(&self, rel: &str) -> Option<&OwnedFile> {
        self.files.iter().find(|f| f.path == rel)
    }

    /// Record (or update) the hash of a file dev-prism wrote.
    pub fn set_file(&mut self, rel: &str, hash: String) {
        match self.files.iter_mut().find(|f| f.path == rel) {
            Some(f) => f.hash = hash,
            None => self.files.push(OwnedFile {
                path: rel.to_string(),
                hash,
            }),
        }
    }
}

/// One linked worktree as git's admin directory records it.
#[derive(Debug, Clone)]
pub struct Admin {
    /// `<common dir>/worktrees/<id>`.
    pub dir: PathBuf,
    /// The worktree top (from the admin dir's `gitdir` file).
    pub worktree: PathBuf,
    /// The lock reason, when locked.
    pub locked: Option<String>,
    pub marker: Option<Marker>,
}

impl Admin {
    /// Made by dev-prism: it has a marker, or is locked by a dev-prism create.
    pub fn ours(&self) -> bool {
        self.marker.is_some() || self.lock_creator().is_some()
    }

    /// The creator named by a dev-prism lock.
    pub fn lock_creator(&self) -> Option<Creator> {
        Creator::from_reason(self.locked.as_deref()?)
    }

    /// A create is still making this worktree right now.
    pub fn being_created(&self) -> bool {
        let creating = self
            .marker
            .as_ref()
            .is_none_or(|m| m.state == State::Creating);
        let by_lock = self.lock_creator().is_some_and(|c| c.alive());
        let by_marker = self
            .marker
            .as_ref()
            .is_some_and(|m| m.state == State::Creating && m.creator.alive());
        by_lock || (creating && by_marker)
    }

    /// A create that died before it finished (SIGKILL, power loss).
    pub fn interrupted(&self) -> bool {
        if self.being_created() {
            return false;
        }
        self.lock_creator().is_some()
            || self
                .marker
                .as_ref()
                .is_some_and(|m| m.state == State::Creating)
    }

    /// Locked by something other than a dev-prism create (the user, another tool).
    pub fn foreign_lock(&self) -> Option<&str> {
        match &self.locked {
            Some(r) if Creator::from_reason(r).is_none() => Some(r.as_str()),
            _ => None,
        }
    }

    pub fn write_marker(&self, marker: &Marker) -> Result<()> {
        write_marker(&self.dir, marker)
    }
}

/// Every linked worktree recorded under `<common dir>/worktrees/`. Pure
/// file reads: no git process.
pub fn admins(common_dir: &Path) -> Vec<Admin> {
    let Ok(entries) = std::fs::read_dir(common_dir.join("worktrees")) else {
        return Vec::new();
    };
    let mut out: Vec<Admin> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| read_admin(&e.path()))
        .collect();
    out.sort_by(|a, b| a.worktree.cmp(&b.worktree));
    out
}

fn read_admin(dir: &Path) -> Option<Admin> {
    let gitdir = safefs::read_nofollow(&dir.join("gitdir")).ok()?;
    let gitdir = PathBuf::from(gitdir.trim_end_matches(['\n', '\r']));
    let worktree = gitdir.parent()?.to_path_buf();
    let worktree = std::fs::canonicalize(&worktree).unwrap_or(worktree);
    let locked = match safefs::read_nofollow(&dir.join("locked")) {
        Ok(reason) => Some(reason.trim().to_string()),
        Err(_) => None,
    };
    let marker = safefs::read_nofollow(&dir.join(MARKER))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    Some(Admin {
        dir: dir.to_path_buf(),
        worktree,
        locked,
        marker,
    })
}

/// The admin entry of the worktree whose top is `top`.
pub fn admin_of(common_dir: &Path, top: &Path) -> Option<Admin> {
    admins(common_dir).into_iter().find(|a| a.worktree == top)
}

/// The admin entry of the worktree that contains `dir`.
pub fn admin_containing(common_dir: &Path, dir: &Path) -> Option<Admin> {
    admins(common_dir)
        .into_iter()
        .filter(|a| dir.starts_with(&a.worktree))
        .max_by_key(|a| a.worktree.as_os_str().len())
}

/// Write the marker into an admin directory (temp file + rename, no link
/// followed).
pub fn write_marker(admin_dir: &Path, marker: &Marker) -> Result<()> {
    let text = serde_json::to_string_pretty(marker).context("could not encode the marker")?;
    safefs::write_if_changed(&admin_dir.join(MARKER), &format!("{text}\n"), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_reason_round_trips() {
        let me = Creator::me();
        assert!(me.alive());
        let reason = me.reason();
        assert!(reason.starts_with("dev-prism create pid="));
        assert_eq!(Creator::from_reason(&reason), Some(me));
        assert_eq!(Creator::from_reason("mine, do not touch"), None);
    }

    #[test]
    fn a_dead_or_reused_pid_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let dead = Creator {
            pid,
            start,
            host: hostname(),
        };
        assert!(!dead.alive());
        let reused = Creator {
            start: Some(1),
            ..Creator::me()
        };
        assert!(!reused.alive());
        let elsewhere = Creator {
            host: "another-machine".into(),
            ..dead
        };
        assert!(elsewhere.alive());
    }

    fn marker(state: State, creator: Creator) -> Marker {
        Marker {
            version: 1,
            state,
            creator,
            session_dir: "/s/a".into(),
            project: "p-1".into(),
            branch: Some("session/a".into()),
            branch_created: true,
            base: None,
            created_at: String::new(),
            sessions_dir: None,
            files: vec![],
            migrated: false,
            branch_unknown: false,
            compose_files: Vec::new(),
            profiles: Vec::new(),
        }
    }

    #[test]
    fn reads_admin_dirs() {
        let d = tempfile::tempdir().unwrap();
        let common = d.path();
        let wt = common.join("worktrees");
        std::fs::create_dir_all(wt.join("a")).unwrap();
        std::fs::create_dir_all(wt.join("b")).unwrap();
        std::fs::write(wt.join("a/gitdir"), "/s/a/.git\n").unwrap();
        std::fs::write(wt.join("b/gitdir"), "/s/b/.git\n").unwrap();
        std::fs::write(wt.join("b/locked"), "on a USB disk").unwrap();
        let dead = Creator {
            pid: u32::MAX - 1,
            start: Some(1),
            host: hostname(),
        };
        write_marker(&wt.join("a"), &marker(State::Creating, dead)).unwrap();
        let all = admins(common);
        assert_eq!(all.len(), 2);
        assert!(all[0].ours() && all[0].interrupted() && !all[0].being_created());
        assert!(!all[1].ours());
        assert_eq!(all[1].foreign_lock(), Some("on a USB disk"));
        assert!(admin_containing(common, Path::new("/s/a/sub")).is_some());
        assert!(admin_of(common, Path::new("/s/c")).is_none());

        std::fs::write(wt.join("b/locked"), Creator::me().reason()).unwrap();
        let b = admin_of(common, Path::new("/s/b")).unwrap();
        assert!(b.ours() && b.being_created() && !b.interrupted());
        write_marker(&wt.join("b"), &marker(State::Ready, Creator::me())).unwrap();
        std::fs::remove_file(wt.join("b/locked")).unwrap();
        let b = admin_of(common, Path::new("/s/b")).unwrap();
        assert!(b.ours() && !b.being_created() && !b.interrupted());
    }
}
