//! Nothing is lost: the pure decisions of "what would removing this
//! worktree or deleting this branch throw away", and their messages. The
//! teardown plan (`teardown`) asks git and calls these.

use std::path::Path;

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

/// The entries that are the user's work: every change and untracked file
/// git reports (gitignored files are not listed), except untracked files
/// `ours` says dev-prism wrote and still owns.
pub fn work(entries: &[StatusEntry], ours: impl Fn(&str) -> bool) -> Vec<&StatusEntry> {
    entries
        .iter()
        .filter(|e| !(e.untracked() && ours(&e.path)))
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
    /// Uncommitted or untracked files (dev-prism's own left out).
    pub files: Vec<String>,
    /// Commits of a detached HEAD that no branch contains.
    pub detached_commits: usize,
    /// Checked-out submodules (their own work is not visible to the status).
    pub submodules: Vec<String>,
}

impl Risk {
    pub fn is_safe(&self) -> bool {
        self.files.is_empty() && self.detached_commits == 0 && self.submodules.is_empty()
    }

    /// `3 uncommitted or untracked files (a.txt, b.txt, …)`, and/or the
    /// detached commits, and/or the submodules.
    pub fn reason(&self) -> String {
        let mut parts = Vec::new();
        if !self.files.is_empty() {
            parts.push(format!(
                "{} ({})",
                count(self.files.len(), "uncommitted or untracked file"),
                first_three(&self.files)
            ));
        }
        if self.detached_commits > 0 {
            parts.push(format!(
                "{} on a detached HEAD that no branch contains",
                count(self.detached_commits, "commit")
            ));
        }
        if !self.submodules.is_empty() {
            parts.push(format!(
                "{} checked out ({})",
                count(self.submodules.len(), "submodule"),
                first_three(&self.submodules)
            ));
        }
        parts.join(" and ")
    }
}

fn first_three(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
    let more = if items.len() > 3 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The one-line refusal: what would be lost and how to go on. `verb` is the
/// command (`destroy`, `prune`).
pub fn refusal(dir: &Path, risk: &Risk, verb: &str) -> String {
    let n = risk.files.len() + risk.detached_commits + risk.submodules.len();
    let (it, they) = if n == 1 {
        ("it", "it")
    } else {
        ("them", "they")
    };
    let what = if !risk.files.is_empty() {
        format!("commit or stash {it}")
    } else if risk.detached_commits > 0 {
        format!("put {it} on a branch")
    } else {
        format!("commit and push in {it}")
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
        "kept branch `{branch}`: {} {verb_be} on no other branch and not pushed to its upstream; merge or push {pronoun}, or delete the branch with `git branch -D {}` (or {verb} with --force)",
        count(commits, "commit"),
        crate::process::shell_quote(branch)
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
    fn files_dev_prism_owns_are_not_work() {
        let e = parse_status(
            "?? .env.session\0?? notes/.env.session\0 M .env.session.tracked\0?? todo.txt\0",
        );
        let ours = |p: &str| p == ".env.session";
        let work: Vec<&str> = work(&e, ours).iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            work,
            vec!["notes/.env.session", ".env.session.tracked", "todo.txt"]
        );
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
            ..Risk::default()
        };
        assert_eq!(
            refusal(Path::new("/s/session-x"), &one, "destroy"),
            "/s/session-x has 1 uncommitted or untracked file (notes.txt): commit or stash it, or pass --force to destroy anyway (it will be lost)"
        );
        let many = Risk {
            files: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            detached_commits: 2,
            ..Risk::default()
        };
        assert!(!many.is_safe());
        assert_eq!(
            refusal(Path::new("/s/x"), &many, "prune"),
            "/s/x has 4 uncommitted or untracked files (a, b, c, …) and 2 commits on a detached HEAD that no branch contains: commit or stash them, or pass --force to prune anyway (they will be lost)"
        );
        let detached = Risk {
            detached_commits: 1,
            ..Risk::default()
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
        assert!(kept_branch("feat/$x", 1, "destroy").contains("`git branch -D 'feat/$x'`"));
    }

    #[test]
    fn submodules_are_a_risk() {
        let r = Risk {
            submodules: vec!["vendor/lib".into()],
            ..Risk::default()
        };
        assert!(!r.is_safe());
        assert!(refusal(Path::new("/s/x"), &r, "destroy").contains(
            "1 submodule checked out (vendor/lib): commit and push in it, or pass --force"
        ));
    }
}
