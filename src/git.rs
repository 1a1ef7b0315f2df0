//! git calls: repository roots, worktrees, branches, excludes. User values are
//! always passed after `--` or validated first, so they never become options.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::process::{Cmd, CmdError};

fn git(dir: &Path) -> Cmd {
    Cmd::new("git")
        .cwd(dir)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
}

/// One entry of `git worktree list --porcelain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    pub head: Option<String>,
    /// Short branch name (`refs/heads/` removed).
    pub branch: Option<String>,
    pub bare: bool,
    pub prunable: bool,
}

/// Parse `git worktree list --porcelain` (the first entry is the main worktree).
pub fn parse_worktrees(text: &str) -> Vec<Worktree> {
    let mut out = Vec::new();
    let mut cur: Option<Worktree> = None;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("worktree ") {
            out.extend(cur.take());
            cur = Some(Worktree {
                path: PathBuf::from(path),
                head: None,
                branch: None,
                bare: false,
                prunable: false,
            });
        } else if let Some(wt) = cur.as_mut() {
            if let Some(head) = line.strip_prefix("HEAD ") {
                wt.head = Some(head.to_string());
            } else if let Some(branch) = line.strip_prefix("branch ") {
                wt.branch = Some(
                    branch
                        .strip_prefix("refs/heads/")
                        .unwrap_or(branch)
                        .to_string(),
                );
            } else if line == "bare" {
                wt.bare = true;
            } else if line.starts_with("prunable") {
                wt.prunable = true;
            }
        }
    }
    out.extend(cur);
    out
}

/// The repository that contains `dir`, if any.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Top of the worktree that contains `dir`.
    pub toplevel: PathBuf,
    /// Root of the main worktree (where the config lives).
    pub main_root: PathBuf,
    /// The common git dir (`.git` of the main worktree).
    pub common_dir: PathBuf,
}

/// Find the repository containing `dir`; `None` when it is not in one.
pub fn discover(dir: &Path) -> Result<Option<Repo>> {
    let out = match git(dir)
        .args(["rev-parse", "--show-toplevel", "--git-common-dir"])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.not_found => return Err(e.into()),
        Err(_) => return Ok(None),
    };
    let mut lines = out.lines();
    let (Some(top), Some(common)) = (lines.next(), lines.next()) else {
        return Ok(None);
    };
    let toplevel = canonical(Path::new(top));
    let common_dir = canonical(&dir.join(common));
    let main_root = worktrees(&toplevel)?
        .into_iter()
        .find(|w| !w.bare)
        .map(|w| canonical(&w.path))
        .unwrap_or_else(|| toplevel.clone());
    Ok(Some(Repo {
        toplevel,
        main_root,
        common_dir,
    }))
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Every worktree of the repository.
pub fn worktrees(repo_dir: &Path) -> Result<Vec<Worktree>> {
    let text = git(repo_dir)
        .args(["worktree", "list", "--porcelain"])
        .output()?;
    Ok(parse_worktrees(&text))
}

/// Fail unless `name` is a valid branch name that cannot be read as an option.
pub fn require_valid_branch(repo_dir: &Path, name: &str) -> Result<()> {
    if name.starts_with('-') {
        bail!("invalid branch name `{name}`: a branch name cannot start with `-`");
    }
    let ok = git(repo_dir)
        .args(["check-ref-format", "--branch"])
        .arg(name)
        .output_any()?
        .status
        .success();
    if !ok {
        bail!("invalid branch name `{name}` (see `git check-ref-format --help`)");
    }
    Ok(())
}

pub fn branch_exists(repo_dir: &Path, name: &str) -> Result<bool> {
    let out = git(repo_dir)
        .args(["show-ref", "--verify", "--quiet"])
        .arg(format!("refs/heads/{name}"))
        .output_any()?;
    Ok(out.status.success())
}

/// Resolve a revision to a commit id (for `--base`).
pub fn rev_parse_commit(repo_dir: &Path, rev: &str) -> Result<String> {
    if rev.starts_with('-') {
        bail!("invalid base `{rev}`: it cannot start with `-`");
    }
    let out = git(repo_dir)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .output()
        .map_err(|_| {
            anyhow::anyhow!("`{rev}` is not a commit, branch or tag in this repository")
        })?;
    Ok(out.trim().to_string())
}

/// `git worktree add`: a new branch from `base`, or an existing branch.
pub fn add_worktree(
    repo_dir: &Path,
    path: &Path,
    branch: &str,
    new_branch_from: Option<&str>,
) -> std::result::Result<(), CmdError> {
    let mut cmd = git(repo_dir).args(["worktree", "add", "--quiet"]);
    match new_branch_from {
        Some(base) => {
            cmd = cmd.arg("-b").arg(branch).arg("--").arg(path).arg(base);
        }
        None => {
            cmd = cmd.arg("--").arg(path).arg(branch);
        }
    }
    cmd.output().map(|_| ())
}

/// Is this git failure a transient lock collision worth retrying?
pub fn is_lock_error(e: &CmdError) -> bool {
    let s = e.stderr.as_str();
    s.contains(".lock") || s.contains("could not lock") || s.contains("Unable to create")
}

/// `git worktree remove` (no `--force`: git refuses when there are changes).
pub fn remove_worktree(repo_dir: &Path, path: &Path) -> Result<()> {
    git(repo_dir)
        .args(["worktree", "remove", "--"])
        .arg(path)
        .output()
        .with_context(|| format!("could not remove the worktree {}", path.display()))?;
    Ok(())
}

/// `git worktree prune`: forget worktrees whose directory is gone.
pub fn prune_worktrees(repo_dir: &Path) -> Result<()> {
    git(repo_dir).args(["worktree", "prune"]).output()?;
    Ok(())
}

/// Add generated file names to the repository's `info/exclude` unless git
/// already ignores them there.
pub fn exclude(common_dir: &Path, worktree: &Path, names: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    for name in names {
        // Probe a nested path too: appEnv files live in subdirectories.
        let ignored = git(worktree)
            .args(["check-ignore", "-q", "--no-index", "--"])
            .arg(format!("dev-prism-probe/{name}"))
            .output_any()?
            .status
            .success();
        if !ignored {
            missing.push(*name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let path = common_dir.join("info").join("exclude");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# dev-prism generated files\n");
    for name in missing {
        text.push_str(name);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    crate::envfile::write_atomically(&path, &text)
}

/// `git status --porcelain -z --untracked-files=all` of a worktree: one
/// NUL-terminated entry per changed or untracked file, paths relative to the
/// worktree top (parsed by `safety::parse_status`).
pub fn status_porcelain(worktree: &Path) -> Result<String> {
    git(worktree)
        .args(["status", "--porcelain", "-z", "--untracked-files=all"])
        .output()
        .with_context(|| format!("could not read the git status of {}", worktree.display()))
}

/// `git status --porcelain -z --untracked-files=all --ignored=matching`:
/// like `status_porcelain`, plus a `!!` entry for each gitignored file — a
/// wholly ignored directory (`node_modules/`) is one entry ending in `/`.
pub fn status_porcelain_ignored(worktree: &Path) -> Result<String> {
    git(worktree)
        .args([
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--ignored=matching",
        ])
        .output()
        .with_context(|| format!("could not read the git status of {}", worktree.display()))
}

/// How many commits of `rev` no other local branch and no remote-tracking
/// branch contains, `except` being the branch `rev` names (left out of the
/// "other branches"). These are the commits deleting that branch would lose.
pub fn unique_commits(repo_dir: &Path, rev: &str, except: Option<&str>) -> Result<usize> {
    if rev.starts_with('-') {
        bail!("invalid revision `{rev}`: it cannot start with `-`");
    }
    let mut cmd = git(repo_dir)
        .args(["rev-list", "--count"])
        .arg(rev)
        .arg("--not");
    if let Some(branch) = except {
        // `--exclude` patterns for `--branches` are relative to refs/heads/.
        cmd = cmd.arg(format!("--exclude={branch}"));
    }
    let out = cmd
        .args(["--branches", "--remotes"])
        .output()
        .with_context(|| format!("could not count the commits of `{rev}`"))?;
    out.trim()
        .parse()
        .with_context(|| format!("unexpected `git rev-list --count` output `{}`", out.trim()))
}

/// `git worktree remove --force`: also with uncommitted or untracked files.
pub fn remove_worktree_forced(repo_dir: &Path, path: &Path) -> Result<()> {
    git(repo_dir)
        .args(["worktree", "remove", "--force", "--"])
        .arg(path)
        .output()
        .with_context(|| format!("could not remove the worktree {}", path.display()))?;
    Ok(())
}

/// `git branch -D`: delete a branch whatever it holds.
pub fn force_delete_branch(repo_dir: &Path, branch: &str) -> std::result::Result<(), CmdError> {
    git(repo_dir)
        .args(["branch", "-D", "--"])
        .arg(branch)
        .output()
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_porcelain_worktree_list() {
        let text = "worktree /repo\nHEAD 1111\nbranch refs/heads/main\n\n\
                    worktree /repo-sessions/session-1\nHEAD 2222\nbranch refs/heads/session/1\n\n\
                    worktree /tmp/detached\nHEAD 3333\ndetached\n\n\
                    worktree /tmp/gone dir\nHEAD 4444\nbranch refs/heads/x\nprunable gitdir file points to non-existent location\n\n";
        let wts = parse_worktrees(text);
        assert_eq!(wts.len(), 4);
        assert_eq!(wts[0].path, Path::new("/repo"));
        assert_eq!(wts[0].branch.as_deref(), Some("main"));
        assert_eq!(wts[1].branch.as_deref(), Some("session/1"));
        assert_eq!(wts[2].branch, None);
        assert_eq!(wts[2].head.as_deref(), Some("3333"));
        assert_eq!(wts[3].path, Path::new("/tmp/gone dir"));
        assert!(wts[3].prunable);
    }

    #[test]
    fn parses_bare_main() {
        let wts =
            parse_worktrees("worktree /r.git\nbare\n\nworktree /w\nHEAD 1\nbranch refs/heads/a\n");
        assert!(wts[0].bare);
        assert!(!wts[1].bare);
    }
}
