//! git calls: repository roots, worktrees, branches, status, excludes.
//! User values are always passed after `--` (or as `--literal-pathspecs`),
//! or validated first, so they never become options. Every call has a
//! deadline; the steps that must not be left half-done (adding and removing
//! a worktree, creating a branch) are not interrupted by Ctrl-C.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{Cmd, CmdError};

fn git(dir: &Path) -> Cmd {
    Cmd::new("git")
        .cwd(dir)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .deadline(Duration::from_secs(60))
}

/// A git call that only reads: it takes no optional locks (`git status`
/// would otherwise refresh the index and collide with a concurrent git).
fn git_read(dir: &Path) -> Cmd {
    git(dir).env("GIT_OPTIONAL_LOCKS", "0")
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
    pub locked: bool,
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
                locked: false,
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
            } else if line == "locked" || line.starts_with("locked ") {
                wt.locked = true;
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
    /// Every worktree, as `git worktree list` gave them when found.
    pub worktrees: Vec<Worktree>,
}

/// Find the repository containing `dir`; `None` when it is not in one. A
/// bare repository and the inside of a `.git` directory are errors that
/// say where to run instead.
pub fn discover(dir: &Path) -> Result<Option<Repo>> {
    let out = match git(dir)
        .args(["rev-parse", "--show-toplevel", "--git-common-dir"])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.exit_code.is_none() => return Err(e.into()),
        Err(e) if e.stderr.contains("must be run in a work tree") => {
            let what = git(dir)
                .args(["rev-parse", "--is-bare-repository"])
                .output()
                .unwrap_or_default();
            if what.trim() == "true" {
                bail!(
                    "{} is in a bare repository: run dev-prism in one of its worktrees (`git worktree list`)",
                    dir.display()
                );
            }
            bail!(
                "{} is inside a .git directory: run dev-prism in the work tree",
                dir.display()
            );
        }
        Err(_) => return Ok(None),
    };
    let mut lines = out.lines();
    let (Some(top), Some(common)) = (lines.next(), lines.next()) else {
        return Ok(None);
    };
    let toplevel = canonical(Path::new(top));
    let common_dir = canonical(&dir.join(common));
    let worktrees = worktrees(&toplevel)?;
    let main_root = worktrees
        .iter()
        .find(|w| !w.bare)
        .map(|w| canonical(&w.path))
        .unwrap_or_else(|| toplevel.clone());
    Ok(Some(Repo {
        toplevel,
        main_root,
        common_dir,
        worktrees,
    }))
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Every worktree of the repository.
pub fn worktrees(repo_dir: &Path) -> Result<Vec<Worktree>> {
    let text = git_read(repo_dir)
        .args(["worktree", "list", "--porcelain"])
        .output()?;
    Ok(parse_worktrees(&text))
}

/// Fail unless `name` is a branch name as written: valid as
/// `refs/heads/<name>` and not a shorthand git would expand (`@`, `-`,
/// `@{-1}`), never an option.
pub fn require_valid_branch(repo_dir: &Path, name: &str) -> Result<()> {
    let bad = |why: &str| anyhow::anyhow!("invalid branch name `{name}`: {why}");
    if name.starts_with('-') {
        return Err(bad("a branch name cannot start with `-`"));
    }
    if name == "@" || name.contains("@{") || name == "HEAD" {
        return Err(bad("git reads it as a revision, not a branch name"));
    }
    let out = git(repo_dir)
        .args(["check-ref-format", "--branch"])
        .arg(name)
        .output_any()?;
    if !out.status.success() || out.stdout.trim_end_matches('\n') != name {
        return Err(bad("see `git check-ref-format --help`"));
    }
    let full = git(repo_dir)
        .args(["check-ref-format"])
        .arg(format!("refs/heads/{name}"))
        .output_any()?;
    if !full.status.success() {
        return Err(bad("see `git check-ref-format --help`"));
    }
    Ok(())
}

pub fn branch_exists(repo_dir: &Path, name: &str) -> Result<bool> {
    Ok(branch_commit(repo_dir, name)?.is_some())
}

/// The commit a local branch points at, `None` when there is no such branch.
pub fn branch_commit(repo_dir: &Path, name: &str) -> Result<Option<String>> {
    let out = git_read(repo_dir)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("refs/heads/{name}^{{commit}}"))
        .output_any()?;
    Ok(out
        .status
        .success()
        .then(|| out.stdout.trim().to_string())
        .filter(|s| !s.is_empty()))
}

/// Resolve a revision to a commit id (for `--base`).
pub fn rev_parse_commit(repo_dir: &Path, rev: &str) -> Result<String> {
    if rev.starts_with('-') {
        bail!("invalid base `{rev}`: it cannot start with `-`");
    }
    let out = git_read(repo_dir)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .output()
        .map_err(|_| {
            anyhow::anyhow!("`{rev}` is not a commit, branch or tag in this repository")
        })?;
    Ok(out.trim().to_string())
}

/// How a new worktree starts.
pub enum Start<'a> {
    /// Detached at this commit (a new branch is made in it afterwards, so a
    /// branch never exists without the locked worktree that records it).
    Detached(&'a str),
    /// On this existing branch.
    Branch(&'a str),
}

/// `git worktree add --lock --reason R`, not interrupted by Ctrl-C.
pub fn add_worktree(
    repo_dir: &Path,
    path: &Path,
    reason: &str,
    start: Start,
) -> std::result::Result<(), CmdError> {
    let mut cmd = git(repo_dir)
        .args(["worktree", "add", "--quiet", "--lock", "--reason"])
        .arg(reason)
        .deadline(Duration::from_secs(600))
        .uninterruptible();
    cmd = match start {
        Start::Detached(commit) => cmd.arg("--detach").arg("--").arg(path).arg(commit),
        Start::Branch(branch) => cmd.arg("--").arg(path).arg(branch),
    };
    cmd.output().map(|_| ())
}

/// Create `branch` at `commit` (failing if it exists: the empty old value)
/// and check it out in the worktree `path` without touching its files.
pub fn create_branch_in(
    path: &Path,
    branch: &str,
    commit: &str,
) -> std::result::Result<(), CmdError> {
    let full = format!("refs/heads/{branch}");
    git(path)
        .args(["update-ref", "-m", "branch: created by dev-prism"])
        .arg(&full)
        .arg(commit)
        .arg("")
        .uninterruptible()
        .output()?;
    git(path)
        .args(["symbolic-ref", "-m", "dev-prism: checkout", "HEAD"])
        .arg(&full)
        .uninterruptible()
        .output()
        .map(|_| ())
}

/// Is this git failure a transient lock collision worth retrying?
pub fn is_lock_error(e: &CmdError) -> bool {
    let s = e.stderr.as_str();
    s.contains(".lock': File exists")
        || s.contains("could not lock config file")
        // another `worktree add` is half-way through writing its admin dir
        || (s.contains("failed to read") && s.contains("/worktrees/"))
}

/// `git worktree unlock`.
pub fn unlock_worktree(repo_dir: &Path, path: &Path) -> Result<()> {
    git(repo_dir)
        .args(["worktree", "unlock", "--"])
        .arg(path)
        .output()
        .with_context(|| format!("could not unlock the worktree {}", path.display()))?;
    Ok(())
}

/// `git worktree remove [--force]`, not interrupted by Ctrl-C. Without
/// `force`, git refuses a worktree with changes.
pub fn remove_worktree(repo_dir: &Path, path: &Path, force: bool) -> Result<()> {
    let mut cmd = git(repo_dir).args(["worktree", "remove"]);
    if force {
        cmd = cmd.arg("--force");
    }
    cmd.arg("--")
        .arg(path)
        .deadline(Duration::from_secs(600))
        .uninterruptible()
        .output()
        .map_err(|e| {
            let why = e.error_lines().join("; ");
            anyhow::anyhow!(
                "could not remove the worktree {}: {}",
                path.display(),
                why.trim_start_matches("fatal: ")
            )
        })?;
    Ok(())
}

/// `git worktree prune`: forget worktrees whose directory is gone.
pub fn prune_worktrees(repo_dir: &Path) -> Result<()> {
    git(repo_dir).args(["worktree", "prune"]).output()?;
    Ok(())
}

/// `git status --porcelain -z --untracked-files=all` of a worktree: one
/// entry per changed or untracked file that is not gitignored, paths
/// relative to the worktree top (parsed by `safety::parse_status`).
pub fn status_porcelain(worktree: &Path) -> Result<String> {
    git_read(worktree)
        .args(["status", "--porcelain", "-z", "--untracked-files=all"])
        .deadline(Duration::from_secs(300))
        .output()
        .with_context(|| format!("could not read the git status of {}", worktree.display()))
}

/// Untracked paths of the work tree `dir` that the patterns of
/// `patterns_file` (gitignore syntax) match, relative to its top; a
/// directory matched as a whole is one entry ending in `/`. Only the
/// patterns of that file count here, not the repository's ignore rules.
pub fn untracked_matching(dir: &Path, patterns_file: &Path) -> Result<Vec<String>> {
    let out = git_read(dir)
        .args(["ls-files", "-z", "--others", "--ignored", "--directory"])
        .arg(format!("--exclude-from={}", patterns_file.display()))
        .deadline(Duration::from_secs(300))
        .output()
        .with_context(|| {
            format!(
                "could not ask git what {} matches in {}",
                patterns_file.display(),
                dir.display()
            )
        })?;
    Ok(split_nul(&out))
}

/// The untracked paths git ignores in the work tree `dir` (`git status
/// --ignored=matching`): a directory an ignore pattern matches is one
/// entry ending in `/`, else the ignored files one by one.
pub fn ignored_paths(dir: &Path) -> Result<Vec<String>> {
    let out = git_read(dir)
        .args([
            "status",
            "--porcelain",
            "-z",
            "--ignored=matching",
            "--untracked-files=all",
        ])
        .deadline(Duration::from_secs(300))
        .output()
        .with_context(|| format!("could not ask git what it ignores in {}", dir.display()))?;
    Ok(crate::safety::parse_status(&out)
        .into_iter()
        .filter(|e| e.code == "!!")
        .map(|e| e.path)
        .collect())
}

fn split_nul(out: &str) -> Vec<String> {
    out.split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Which of `paths` (relative to the worktree top) git tracks.
pub fn tracked(worktree: &Path, paths: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    if paths.is_empty() {
        return Ok(BTreeSet::new());
    }
    let out = git_read(worktree)
        .args(["--literal-pathspecs", "ls-files", "-z", "--"])
        .args(paths)
        .output()
        .with_context(|| format!("could not ask git what {} tracks", worktree.display()))?;
    Ok(out
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// Which of `paths` (relative to the worktree) git ignores.
pub fn ignored(worktree: &Path, paths: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    if paths.is_empty() {
        return Ok(BTreeSet::new());
    }
    let out = git_read(worktree)
        .args(["-c", "core.quotePath=false", "check-ignore", "--"])
        .args(paths)
        .output_any()?;
    Ok(out
        .stdout
        .lines()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// Whether git tracks `rel` in the worktree (a failure counts as tracked:
/// then nothing is overwritten).
pub fn is_tracked(worktree: &Path, rel: &Path) -> bool {
    tracked(worktree, &[rel.to_path_buf()]).map_or(true, |t| !t.is_empty())
}

/// Submodules checked out in a worktree (what `git worktree remove`
/// refuses without `--force`): gitlinks whose directory holds a `.git`.
pub fn populated_submodules(worktree: &Path) -> Result<Vec<String>> {
    let out = git_read(worktree)
        .args(["ls-files", "--stage", "-z"])
        .output()
        .with_context(|| format!("could not list the files of {}", worktree.display()))?;
    Ok(out
        .split('\0')
        .filter_map(|entry| {
            let (meta, path) = entry.split_once('\t')?;
            meta.starts_with("160000 ").then_some(path)
        })
        .filter(|path| worktree.join(path).join(".git").exists())
        .map(str::to_string)
        .collect())
}

/// How many commits of `rev` no other local branch and no remote-tracking
/// branch contains, `except` being the branch `rev` names (left out of the
/// "other branches"). These are the commits deleting that branch would lose.
pub fn unique_commits(repo_dir: &Path, rev: &str, except: Option<&str>) -> Result<usize> {
    if rev.starts_with('-') {
        bail!("invalid revision `{rev}`: it cannot start with `-`");
    }
    let mut cmd = git_read(repo_dir)
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

/// Detach a worktree's HEAD at `commit` (its files and index untouched).
pub fn detach_head(worktree: &Path, commit: &str) -> std::result::Result<(), CmdError> {
    git(worktree)
        .args([
            "update-ref",
            "--no-deref",
            "-m",
            "dev-prism: detach before deleting the branch",
            "HEAD",
        ])
        .arg(commit)
        .uninterruptible()
        .output()
        .map(|_| ())
}

/// `git branch -D`: delete a branch whatever it holds.
pub fn force_delete_branch(repo_dir: &Path, branch: &str) -> std::result::Result<(), CmdError> {
    git(repo_dir)
        .args(["branch", "-D", "--"])
        .arg(branch)
        .uninterruptible()
        .output()
        .map(|_| ())
}

/// Header of the block dev-prism keeps in `info/exclude`.
pub const EXCLUDE_HEADER: &str = "# dev-prism generated files";

/// Pure: `info/exclude` with `entries` (anchored patterns like
/// `/.env.session`) in dev-prism's block. The old unanchored names dev-prism
/// wrote there (which also hid a user's own `notes/.env.session`) are
/// dropped from its block. `None` when nothing changes.
pub fn exclude_text(existing: &str, entries: &[String], old_names: &[&str]) -> Option<String> {
    let mut lines: Vec<String> = existing.lines().map(str::to_string).collect();
    let mut changed = false;
    let mut in_block = false;
    lines.retain(|l| {
        if l == EXCLUDE_HEADER {
            in_block = true;
            return true;
        }
        if in_block && (l.is_empty() || l.starts_with('#')) {
            in_block = false;
        }
        if in_block && old_names.contains(&l.as_str()) {
            changed = true;
            return false;
        }
        true
    });
    let missing: Vec<&String> = entries.iter().filter(|e| !lines.contains(e)).collect();
    if !missing.is_empty() {
        let pos = lines.iter().position(|l| l == EXCLUDE_HEADER);
        let at = match pos {
            Some(p) => {
                let mut end = p + 1;
                while end < lines.len() && !lines[end].is_empty() && !lines[end].starts_with('#') {
                    end += 1;
                }
                end
            }
            None => {
                lines.push(EXCLUDE_HEADER.to_string());
                lines.len()
            }
        };
        for (i, e) in missing.into_iter().enumerate() {
            lines.insert(at + i, e.clone());
        }
        changed = true;
    }
    if !changed {
        return None;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Some(text)
}

/// Add anchored patterns for the generated files to the repository's
/// `info/exclude`, under the repository lock.
pub fn exclude(common_dir: &Path, entries: &[String], old_names: &[&str]) -> Result<()> {
    let path = common_dir.join("info").join("exclude");
    let lock_path = crate::lock::repo_path(common_dir)?;
    let _lock = crate::lock::acquire(
        &lock_path,
        "exclude",
        crate::lock::Wait::Up(Duration::from_secs(10)),
    )?
    .context("another dev-prism holds the repository lock")?;
    let existing = match crate::safefs::read_nofollow(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let Some(text) = exclude_text(&existing, entries, old_names) else {
        return Ok(());
    };
    crate::safefs::create_dirs(common_dir, Path::new("info/exclude"))?;
    crate::safefs::write_file(&path, text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_porcelain_worktree_list() {
        let text = "worktree /repo\nHEAD 1111\nbranch refs/heads/main\n\n\
                    worktree /repo-sessions/session-1\nHEAD 2222\nbranch refs/heads/session/1\nlocked dev-prism create pid=1\n\n\
                    worktree /tmp/detached\nHEAD 3333\ndetached\n\n\
                    worktree /tmp/gone dir\nHEAD 4444\nbranch refs/heads/x\nprunable gitdir file points to non-existent location\n\n";
        let wts = parse_worktrees(text);
        assert_eq!(wts.len(), 4);
        assert_eq!(wts[0].path, Path::new("/repo"));
        assert_eq!(wts[0].branch.as_deref(), Some("main"));
        assert_eq!(wts[1].branch.as_deref(), Some("session/1"));
        assert!(wts[1].locked && !wts[0].locked);
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

    #[test]
    fn exclude_block_is_anchored_and_migrates_old_entries() {
        let entries = vec![
            "/.env.session".to_string(),
            "/docker-compose.session.yml".into(),
        ];
        let old = [".env.session", "docker-compose.session.yml"];
        let fresh = exclude_text("", &entries, &old).unwrap();
        assert_eq!(
            fresh,
            "# dev-prism generated files\n/.env.session\n/docker-compose.session.yml\n"
        );
        assert_eq!(exclude_text(&fresh, &entries, &old), None);
        let legacy = "*.log\n# dev-prism generated files\ndocker-compose.session.yml\n.env.session\n\n# mine\n.env.session\n";
        let migrated = exclude_text(legacy, &entries[..1], &old).unwrap();
        assert_eq!(
            migrated,
            "*.log\n# dev-prism generated files\n/.env.session\n\n# mine\n.env.session\n"
        );
        let more = exclude_text(&migrated, &["/apps/web/.env.session".into()], &old).unwrap();
        assert!(
            more.contains("/.env.session\n/apps/web/.env.session\n\n# mine"),
            "{more}"
        );
    }
}
