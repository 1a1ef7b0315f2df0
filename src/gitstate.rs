//! The git state of session worktrees for `list`: how many files have
//! uncommitted changes, and how many commits the branch has that its
//! upstream (when it has one) or the commit the session started from (when
//! dev-prism created the branch) does not. Computed for all sessions at
//! once, a few git processes at a time, each through `process::Cmd`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::Cmd;

/// The git state of one worktree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GitState {
    /// Changed, staged, conflicted or untracked (not ignored) files;
    /// an untracked directory counts once.
    pub uncommitted: usize,
    /// Commits on the branch that the upstream (else the base) lacks.
    pub ahead: Option<usize>,
    /// Commits on the upstream that the branch lacks (only with an upstream).
    pub behind: Option<usize>,
    /// The upstream the counts compare with (`origin/main`).
    pub upstream: Option<String>,
    /// Without an upstream: the commit the session's branch was created at.
    pub base: Option<String>,
}

impl GitState {
    /// For a table: `clean`, `2 changed`, `↑3`, `2 changed ↑3 ↓1`.
    pub fn short(&self) -> String {
        let mut parts = Vec::new();
        if self.uncommitted > 0 {
            parts.push(format!("{} changed", self.uncommitted));
        }
        if let Some(n) = self.ahead.filter(|n| *n > 0) {
            parts.push(format!("↑{n}"));
        }
        if let Some(n) = self.behind.filter(|n| *n > 0) {
            parts.push(format!("↓{n}"));
        }
        if parts.is_empty() {
            "clean".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// What `git status --porcelain=v2 --branch -z` says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub uncommitted: usize,
    pub head: Option<String>,
    pub upstream: Option<String>,
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// Pure: parse `git status --porcelain=v2 --branch -z`.
pub fn parse_status(text: &str) -> Status {
    let mut st = Status::default();
    let mut fields = text.split('\0');
    while let Some(f) = fields.next() {
        if let Some(h) = f.strip_prefix("# branch.oid ") {
            st.head = Some(h.to_string()).filter(|h| h != "(initial)");
        } else if let Some(u) = f.strip_prefix("# branch.upstream ") {
            st.upstream = Some(u.to_string());
        } else if let Some(ab) = f.strip_prefix("# branch.ab ") {
            for part in ab.split_whitespace() {
                if let Some(n) = part.strip_prefix('+') {
                    st.ahead = n.parse().ok();
                } else if let Some(n) = part.strip_prefix('-') {
                    st.behind = n.parse().ok();
                }
            }
        } else if f.starts_with("1 ") || f.starts_with("u ") || f.starts_with("? ") {
            st.uncommitted += 1;
        } else if f.starts_with("2 ") {
            // A rename or copy: the original path follows as its own field.
            st.uncommitted += 1;
            fields.next();
        }
    }
    st
}

fn git(dir: &Path) -> Cmd {
    Cmd::new("git")
        .cwd(dir)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        // Read only: no index refresh that could collide with the user's git.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .deadline(Duration::from_secs(20))
}

/// The git state of the worktree holding `dir`; `base` is the commit the
/// session's branch was created at, when dev-prism created it. `None` when
/// `dir` is gone or not in git.
pub fn of(dir: &Path, base: Option<&str>) -> Option<GitState> {
    if !dir.is_dir() {
        return None;
    }
    let text = git(dir)
        .args([
            "status",
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=normal",
        ])
        .output()
        .ok()?;
    let st = parse_status(&text);
    let mut state = GitState {
        uncommitted: st.uncommitted,
        ahead: st.ahead,
        behind: st.behind,
        upstream: st.upstream.clone(),
        base: None,
    };
    if st.upstream.is_none() {
        if let (Some(base), Some(head)) = (base.filter(|b| !b.starts_with('-')), &st.head) {
            // Still where it started (a fresh session): no process needed.
            let count = if head == base {
                Some(0)
            } else {
                git(dir)
                    .args(["rev-list", "--count", "--end-of-options"])
                    .arg(format!("{base}..HEAD"))
                    .output()
                    .ok()
                    .and_then(|n| n.trim().parse().ok())
            };
            if count.is_some() {
                state.ahead = count;
                state.base = Some(base.to_string());
            }
        }
    }
    Some(state)
}

/// The repository's common git dir, seen from `dir` (one process);
/// `None` outside git.
pub fn common_dir(dir: &Path) -> Option<PathBuf> {
    let out = git(dir)
        .args(["rev-parse", "--git-common-dir"])
        .output()
        .ok()?;
    let path = dir.join(out.trim_end_matches('\n'));
    std::fs::canonicalize(&path).ok()
}

/// The base commit of every worktree dev-prism made in the repositories of
/// `git_dirs` (read from their records; no process).
pub fn bases(git_dirs: &[PathBuf]) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for common in git_dirs {
        for admin in crate::ownership::admins(common) {
            if let Some(base) = admin.marker.as_ref().and_then(|m| m.base.clone()) {
                out.insert(admin.worktree.clone(), base);
            }
        }
    }
    out
}

/// The base of the worktree holding `dir`, from [`bases`].
pub fn base_of<'a>(bases: &'a BTreeMap<PathBuf, String>, dir: &Path) -> Option<&'a str> {
    bases
        .iter()
        .filter(|(top, _)| dir.starts_with(top))
        .max_by_key(|(top, _)| top.as_os_str().len())
        .map(|(_, b)| b.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_branch_headers_and_counts_entries() {
        let text = "# branch.oid 895f09\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +3 -1\0\
1 .M N... 100644 100644 100644 aa bb src/main.rs\0\
2 RM N... 100644 100644 100644 aa bb R100 new name.rs\0old name.rs\0\
u UU N... 100644 100644 100644 100644 aa bb cc both.rs\0\
? notes/\0";
        let st = parse_status(text);
        assert_eq!(st.uncommitted, 4);
        assert_eq!(st.head.as_deref(), Some("895f09"));
        assert_eq!(st.upstream.as_deref(), Some("origin/main"));
        assert_eq!((st.ahead, st.behind), (Some(3), Some(1)));
    }

    #[test]
    fn a_clean_branch_without_upstream() {
        let st = parse_status("# branch.oid 1234\0# branch.head session/x\0");
        assert_eq!(st.uncommitted, 0);
        assert_eq!(st.upstream, None);
        assert_eq!(st.ahead, None);
        let initial = parse_status("# branch.oid (initial)\0# branch.head main\0");
        assert_eq!(initial.head, None);
    }

    #[test]
    fn short_words() {
        let s = |uncommitted, ahead, behind| GitState {
            uncommitted,
            ahead,
            behind,
            ..GitState::default()
        };
        assert_eq!(s(0, None, None).short(), "clean");
        assert_eq!(s(0, Some(0), Some(0)).short(), "clean");
        assert_eq!(s(2, None, None).short(), "2 changed");
        assert_eq!(s(2, Some(3), Some(1)).short(), "2 changed ↑3 ↓1");
        assert_eq!(s(0, Some(1), None).short(), "↑1");
    }

    #[test]
    fn base_of_the_deepest_worktree() {
        let bases: BTreeMap<PathBuf, String> = [
            (PathBuf::from("/s/a"), "aaa".to_string()),
            (PathBuf::from("/s/a/b"), "bbb".to_string()),
        ]
        .into();
        assert_eq!(base_of(&bases, Path::new("/s/a/b/c")), Some("bbb"));
        assert_eq!(base_of(&bases, Path::new("/s/a/x")), Some("aaa"));
        assert_eq!(base_of(&bases, Path::new("/s/ab")), None);
    }
}
