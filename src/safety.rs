//! Nothing is lost: what removing a session worktree or deleting its branch
//! would throw away, decided from git before `destroy` or `prune` touches
//! anything. The decisions and messages are pure; `assess` and
//! `branch_commits` ask git.

use anyhow::Result;
use std::path::{Path, PathBuf};

use crate::git;
use crate::session;

/// File names dev-prism writes into a session (the override file, the
/// session env file and every `appEnv` env file): never "work".
pub const GENERATED: [&str; 2] = [session::OVERRIDE_FILE, session::ENV_FILE];

/// One entry of `git status --porcelain -z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// The two status letters, e.g. ` M`, `A `, `??`.
    pub code: String,
    /// Path relative to the worktree top (the new path of a rename).
    pub path: String,
}

impl StatusEntry {
    pub fn untracked(&self) -> bool {
        self.code == "??"
    }

    /// A gitignored file or directory (`--ignored=matching`).
    pub fn ignored(&self) -> bool {
        self.code == "!!"
    }

    /// A file dev-prism generated (matched by file name, at any depth, so
    /// `appEnv` files and sessions in a subdirectory count too).
    pub fn generated(&self) -> bool {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        GENERATED.contains(&name)
    }
}

/// Parse `git status --porcelain -z`: `XY PATH\0`, plus `ORIG\0` after a
/// rename or copy.
pub fn parse_status(text: &str) -> Vec<StatusEntry> {
    let mut out = Vec::new();
    let mut fields = text.split('\0');
    while let Some(field) = fields.next() {
        if field.len() < 4 || !field.is_char_boundary(2) || !field.is_char_boundary(3) {
            continue;
        }
        let code = &field[..2];
        if code.starts_with(['R', 'C']) {
            fields.next(); // the original path
        }
        out.push(StatusEntry {
            code: code.to_string(),
            path: field[3..].to_string(),
        });
    }
    out
}

/// The entries that are the user's work, as git sees it: changes and
/// untracked files, except dev-prism's generated files and the files it
/// copied there (`copied`: the config's `envFiles`, relative to the worktree
/// top). Gitignored files are not work by git's own definition (build output,
/// dependencies, caches): counting them would make nearly every session need
/// `--force`, which also switches off the branch protection.
pub fn work<'a>(entries: &'a [StatusEntry], copied: &[String]) -> Vec<&'a StatusEntry> {
    entries
        .iter()
        .filter(|e| !e.generated() && !e.ignored())
        .filter(|e| !copied.contains(&e.path))
        .collect()
}

/// `a/./b` → `a/b`: a relative path as git prints it (`/`-separated).
pub fn git_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What removing a worktree would lose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Risk {
    /// Uncommitted or untracked files (generated files left out).
    pub files: Vec<String>,
    /// Commits of a detached HEAD that no branch contains.
    pub detached_commits: usize,
}

impl Risk {
    pub fn is_safe(&self) -> bool {
        self.files.is_empty() && self.detached_commits == 0
    }

    /// `3 uncommitted or untracked files (a.txt, b.txt, …)`, and/or the
    /// detached commits.
    pub fn reason(&self) -> String {
        let mut parts = Vec::new();
        if !self.files.is_empty() {
            let shown: Vec<&str> = self.files.iter().take(3).map(String::as_str).collect();
            let more = if self.files.len() > 3 { ", …" } else { "" };
            parts.push(format!(
                "{} ({}{more})",
                count(self.files.len(), "uncommitted or untracked file"),
                shown.join(", ")
            ));
        }
        if self.detached_commits > 0 {
            parts.push(format!(
                "{} on a detached HEAD that no branch contains",
                count(self.detached_commits, "commit")
            ));
        }
        parts.join(" and ")
    }
}

/// The one-line refusal: what would be lost and how to go on. `verb` is the
/// command (`destroy`, `prune`).
pub fn refusal(dir: &Path, risk: &Risk, verb: &str) -> String {
    let (it, they) = if risk.files.len() + risk.detached_commits == 1 {
        ("it", "it")
    } else {
        ("them", "they")
    };
    let what = if risk.files.is_empty() {
        format!("put {it} on a branch")
    } else {
        format!("commit or stash {it}")
    };
    format!(
        "{} has {}: {what}, or pass --force to {verb} anyway ({they} will be lost)",
        dir.display(),
        risk.reason()
    )
}

/// Why a branch was kept, and how to delete it anyway.
pub fn kept_branch(branch: &str, commits: usize, verb: &str) -> String {
    let (verb_be, pronoun) = if commits == 1 {
        ("is", "it")
    } else {
        ("are", "they")
    };
    format!(
        "kept branch `{branch}`: {} {verb_be} on no other branch and not pushed to its upstream; merge or push {pronoun}, or delete the branch with `git branch -D {branch}` (or {verb} with --force)",
        count(commits, "commit")
    )
}

/// `1 file`, `3 files`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A worktree dev-prism may remove, as git lists it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The main worktree root (where git commands run).
    pub repo_dir: PathBuf,
    /// The worktree top.
    pub path: PathBuf,
    /// Its HEAD commit and checked-out branch (`None`: detached).
    pub head: Option<String>,
    pub branch: Option<String>,
    /// Files dev-prism copied into the worktree (the config's `envFiles`),
    /// relative to its top: gitignored, but not the user's work.
    pub copied: Vec<String>,
}

/// Ask git what removing the worktree would lose.
pub fn assess(t: &Target) -> Result<Risk> {
    let entries = parse_status(&git::status_porcelain_ignored(&t.path)?);
    let files = work(&entries, &t.copied)
        .into_iter()
        .map(|e| e.path.clone())
        .collect();
    let detached_commits = match (&t.branch, &t.head) {
        (None, Some(head)) => git::unique_commits(&t.repo_dir, head, None)?,
        _ => 0,
    };
    Ok(Risk {
        files,
        detached_commits,
    })
}

/// Commits of `branch` that deleting it would lose.
pub fn branch_commits(repo_dir: &Path, branch: &str) -> Result<usize> {
    git::unique_commits(repo_dir, &format!("refs/heads/{branch}"), Some(branch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_porcelain_z_with_renames_and_odd_names() {
        let text = " M src/main.rs\0?? notes with space.txt\0R  new.rs\0old.rs\0A  \"q\".txt\0?? ünï.txt\0";
        let e = parse_status(text);
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "src/main.rs",
                "notes with space.txt",
                "new.rs",
                "\"q\".txt",
                "ünï.txt"
            ]
        );
        assert_eq!(e[0].code, " M");
        assert!(e[1].untracked());
        assert!(!e[2].untracked());
        assert!(parse_status("").is_empty());
    }

    #[test]
    fn generated_files_are_not_work() {
        let e = parse_status(
            "?? docker-compose.session.yml\0?? .env.session\0?? apps/web/.env.session\0?? sub/docker-compose.session.yml\0?? .env.session.bak\0?? my.env.session\0",
        );
        let work: Vec<&str> = work(&e, &[]).iter().map(|e| e.path.as_str()).collect();
        assert_eq!(work, vec![".env.session.bak", "my.env.session"]);
    }

    #[test]
    fn work_is_changes_and_untracked_files_not_ignored_generated_or_copied() {
        let e = parse_status(
            "!! .env\0!! notes.local\0!! node_modules/\0!! sub/docker-compose.session.yml\0?? apps/web/.env.session\0?? .env\0?? todo.txt\0 M src/main.rs\0",
        );
        assert!(e[0].ignored() && e[2].ignored() && !e[5].ignored());
        let copied = vec![".env".to_string()];
        let work: Vec<&str> = work(&e, &copied).iter().map(|e| e.path.as_str()).collect();
        assert_eq!(work, vec!["todo.txt", "src/main.rs"]);
        // without the copy exemption, an untracked `.env` is work
        let all: Vec<&str> = super::work(&e, &[])
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(all, vec![".env", "todo.txt", "src/main.rs"]);
    }

    #[test]
    fn git_paths() {
        assert_eq!(git_path(Path::new("./a/./b/.env")), "a/b/.env");
        assert_eq!(git_path(Path::new("")), "");
        assert_eq!(git_path(&Path::new("sub").join(".env")), "sub/.env");
    }

    #[test]
    fn risk_reason_and_refusal() {
        let safe = Risk::default();
        assert!(safe.is_safe());
        let one = Risk {
            files: vec!["notes.txt".into()],
            detached_commits: 0,
        };
        assert_eq!(
            refusal(Path::new("/s/session-x"), &one, "destroy"),
            "/s/session-x has 1 uncommitted or untracked file (notes.txt): commit or stash it, or pass --force to destroy anyway (it will be lost)"
        );
        let many = Risk {
            files: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            detached_commits: 2,
        };
        assert!(!many.is_safe());
        assert_eq!(
            refusal(Path::new("/s/x"), &many, "prune"),
            "/s/x has 4 uncommitted or untracked files (a, b, c, …) and 2 commits on a detached HEAD that no branch contains: commit or stash them, or pass --force to prune anyway (they will be lost)"
        );
        let detached = Risk {
            files: Vec::new(),
            detached_commits: 1,
        };
        assert!(refusal(Path::new("/x"), &detached, "destroy")
            .contains("1 commit on a detached HEAD that no branch contains: put it on a branch"));
    }

    #[test]
    fn kept_branch_message() {
        assert_eq!(
            kept_branch("session/1", 1, "destroy"),
            "kept branch `session/1`: 1 commit is on no other branch and not pushed to its upstream; merge or push it, or delete the branch with `git branch -D session/1` (or destroy with --force)"
        );
        assert!(kept_branch("b", 3, "prune").contains("3 commits are on no other branch"));
    }
}
