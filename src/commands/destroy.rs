//! `dev-prism destroy`: check git first (nothing is lost, see `safety`), then
//! compose down (containers, networks, volumes), remove generated files, and
//! the worktree and branch when dev-prism made them.

use anyhow::{bail, Result};
use std::io::{BufRead, IsTerminal};
use std::path::Path;

use super::Ctx;
use crate::cli::DestroyArgs;
use crate::config;
use crate::docker::ComposeProject;
use crate::envfile;
use crate::git;
use crate::output;
use crate::safety::{self, Target};
use crate::session::{self, Session};

pub fn run(ctx: &Ctx, args: DestroyArgs) -> Result<i32> {
    if !args.all {
        let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
        let s = super::require_session(&dir)?;
        let target = prepare(&s, args.force)?;
        destroy(&s, target.as_ref(), args.force)?;
        return Ok(0);
    }
    if !args.global && git::discover(&ctx.cwd)?.is_none() {
        bail!("not in a git repository: pass -g to destroy every session on this engine");
    }
    let (sessions, global) = super::sessions_in_scope(&ctx.cwd, args.global)?;
    if sessions.is_empty() {
        let scope = if global { "" } else { " in this repository" };
        output::progress(&format!("No sessions{scope}: nothing to destroy."));
        return Ok(0);
    }
    // Git first: every session is checked before anything is touched.
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for s in &sessions {
        match prepare(s, args.force) {
            Ok(target) => ready.push((s, target)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if !ready.is_empty() {
        let dirs: Vec<&Path> = ready
            .iter()
            .map(|(s, _)| s.id.working_dir.as_path())
            .collect();
        confirm(ctx, &dirs, &problems)?;
    }
    for (s, target) in &ready {
        if let Err(e) = destroy(s, target.as_ref(), args.force) {
            problems.push(format!("{}: {e:#}", s.id.working_dir.display()));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} of {} sessions not destroyed:\n  {}",
            problems.len(),
            sessions.len(),
            problems.join("\n  ")
        );
    }
    Ok(0)
}

/// Ask on a terminal unless `-y`; `kept` are the refusals, shown too.
fn confirm(ctx: &Ctx, dirs: &[&Path], kept: &[String]) -> Result<()> {
    if ctx.yes {
        return Ok(());
    }
    let list: Vec<String> = dirs.iter().map(|d| format!("  {}", d.display())).collect();
    let kept_note = if kept.is_empty() {
        String::new()
    } else {
        format!("\nand keep:\n  {}", kept.join("\n  "))
    };
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "destroy --all would remove {}:\n{}{kept_note}\nrun again with -y to confirm",
            safety::count(dirs.len(), "session"),
            list.join("\n")
        );
    }
    output::progress(&format!(
        "This removes {}:\n{}{kept_note}",
        safety::count(dirs.len(), "session"),
        list.join("\n")
    ));
    let ok = dialoguer::Confirm::new()
        .with_prompt("Destroy them, with their containers, networks and volumes?")
        .default(false)
        .interact()
        .unwrap_or(false);
    if !ok {
        bail!("cancelled: nothing was destroyed");
    }
    Ok(())
}

/// Decide from git, before anything is touched, which worktree destroying
/// `s` removes: `None` to keep the directory (in-place session, directory
/// gone, not a linked worktree). An error is the refusal: work would be lost
/// (unless `force`), or git could not tell.
pub fn prepare(s: &Session, force: bool) -> Result<Option<Target>> {
    let dir = &s.id.working_dir;
    if !s.id.worktree || !dir.is_dir() {
        return Ok(None);
    }
    let Some(target) = target_of(dir)? else {
        return Ok(None);
    };
    if !force {
        let risk = safety::assess(&target)?;
        if !risk.is_safe() {
            bail!("{}", safety::refusal(&target.path, &risk, "destroy"));
        }
    }
    Ok(Some(target))
}

/// The linked worktree that contains the session directory `dir`; `None`
/// outside git and for the main worktree (never removed).
pub fn target_of(dir: &Path) -> Result<Option<Target>> {
    let Some(repo) = git::discover(dir)? else {
        return Ok(None);
    };
    if repo.toplevel == repo.main_root {
        return Ok(None);
    }
    let entry = git::worktrees(&repo.main_root)?
        .into_iter()
        .find(|w| std::fs::canonicalize(&w.path).is_ok_and(|p| p == repo.toplevel));
    let (head, branch) = entry.map(|w| (w.head, w.branch)).unwrap_or_default();
    let copied = copied_env_files(&repo, &repo.toplevel, &[dir]);
    Ok(Some(Target {
        repo_dir: repo.main_root,
        path: repo.toplevel,
        head,
        branch,
        copied,
    }))
}

/// The `envFiles` dev-prism copied into the session directories `dirs` of
/// the worktree `top`, relative to `top` (each session reads its own
/// config). A config that cannot be read exempts nothing: those files then
/// count as work.
pub fn copied_env_files(repo: &git::Repo, top: &Path, dirs: &[&Path]) -> Vec<String> {
    let repo = git::Repo {
        toplevel: top.to_path_buf(),
        ..repo.clone()
    };
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rel) = dir.strip_prefix(top) else {
            continue;
        };
        let Ok(loaded) = config::load(&super::config_root(Some(&repo), dir)) else {
            continue;
        };
        for f in &loaded.config.env_files {
            out.push(safety::git_path(&rel.join(f)));
        }
    }
    out
}

/// Destroy one session whose git check (`prepare`) passed.
pub fn destroy(s: &Session, target: Option<&Target>, force: bool) -> Result<()> {
    let dir = &s.id.working_dir;
    output::progress(&format!("Destroying {}", dir.display()));
    compose_down(s)?;
    remove_generated(dir)?;
    if target.is_none() && dir.is_dir() {
        // The directory stays: take the `appEnv` files out of it too.
        remove_app_env_files(dir)?;
    }
    if !s.id.worktree {
        return Ok(()); // in place: the directory is the user's
    }
    let Some(t) = target else {
        if !dir.exists() {
            forget_deleted_worktree(s, force);
            return Ok(());
        }
        if git::discover(dir)?.is_none() {
            output::warn(&format!(
                "{} is no longer a git worktree: nothing to remove there",
                dir.display()
            ));
        }
        return Ok(());
    };
    remove_worktree(t, force)?;
    delete_session_branch(&t.repo_dir, s, force);
    Ok(())
}

/// Delete the session's branch when dev-prism created it (with the safety
/// of `delete_branch`); a branch that existed before is kept, and said so.
fn delete_session_branch(repo_dir: &Path, s: &Session, force: bool) {
    let Some(branch) = s.id.branch.as_deref().filter(|b| !b.is_empty()) else {
        return;
    };
    if s.id.branch_created {
        delete_branch(repo_dir, Some(branch), force, "destroy");
    } else if git::branch_exists(repo_dir, branch).unwrap_or(false) {
        output::progress(&existed_before(branch));
    }
}

/// Why a branch dev-prism did not create is not deleted.
pub fn existed_before(branch: &str) -> String {
    format!("Kept branch `{branch}`: it existed before the session")
}

/// Delete the `appEnv` files of a session directory that stays (in-place
/// sessions): `<path>/.env.session` for each `appEnv` key of its config,
/// and only when the file starts with dev-prism's header.
fn remove_app_env_files(dir: &Path) -> Result<()> {
    let repo = git::discover(dir)?;
    let loaded = match config::load(&super::config_root(repo.as_ref(), dir)) {
        Ok(loaded) => loaded,
        Err(e) => {
            output::warn(&format!(
                "appEnv files of {} left in place: {e:#}",
                dir.display()
            ));
            return Ok(());
        }
    };
    for key in loaded.config.app_env.keys() {
        let path = dir.join(key).join(session::ENV_FILE);
        if generated_env_file(&path) {
            std::fs::remove_file(&path)
                .map_err(|e| anyhow::anyhow!("could not remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// A regular file whose first line is dev-prism's `.env.session` header.
fn generated_env_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    if std::io::BufReader::new(file).read_line(&mut first).is_err() {
        return false;
    }
    first.trim_end_matches(['\n', '\r']) == envfile::ENV_HEADER
}

/// Delete the generated override and env files of a session directory.
pub fn remove_generated(dir: &Path) -> Result<()> {
    for name in [session::OVERRIDE_FILE, session::ENV_FILE] {
        let path = dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path)
                .map_err(|e| anyhow::anyhow!("could not remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// `git worktree remove`. Without `force`, the generated files still there
/// (`appEnv` files) are deleted first and git checks for changes once more.
pub fn remove_worktree(t: &Target, force: bool) -> Result<()> {
    if force {
        return git::remove_worktree_forced(&t.repo_dir, &t.path);
    }
    for e in safety::parse_status(&git::status_porcelain(&t.path)?) {
        if e.untracked() && e.generated() {
            let path = t.path.join(&e.path);
            std::fs::remove_file(&path)
                .map_err(|err| anyhow::anyhow!("could not remove {}: {err}", path.display()))?;
        }
    }
    git::remove_worktree(&t.repo_dir, &t.path)
}

/// Delete `branch` unless it holds commits no other branch (or remote) has;
/// a kept branch is reported. `force` deletes it anyway (`git branch -D`).
pub fn delete_branch(repo_dir: &Path, branch: Option<&str>, force: bool, verb: &str) {
    let Some(branch) = branch.filter(|b| !b.is_empty()) else {
        return;
    };
    if !git::branch_exists(repo_dir, branch).unwrap_or(false) {
        return;
    }
    if !force {
        match safety::branch_commits(repo_dir, branch) {
            Ok(0) => {}
            Ok(n) => {
                output::warn(&safety::kept_branch(branch, n, verb));
                return;
            }
            Err(e) => {
                output::warn(&format!("kept branch `{branch}`: {e:#}"));
                return;
            }
        }
    }
    if let Err(e) = git::force_delete_branch(repo_dir, branch) {
        output::warn(&format!(
            "kept branch `{branch}`: {}",
            e.stderr.trim().trim_start_matches("error: ")
        ));
    }
}

/// The worktree directory was deleted by hand: let the session's own
/// repository (its common git dir, from the labels) forget it, then delete
/// the branch dev-prism created there (with the same safety). Without that
/// label no repository is touched: the user is told what to do.
fn forget_deleted_worktree(s: &Session, force: bool) {
    let dir = &s.id.working_dir;
    let branch = s.id.branch.as_deref().filter(|b| !b.is_empty());
    let Some(git_dir) = s.id.git_dir.as_deref().filter(|d| d.is_dir()) else {
        let branch_step = match branch {
            Some(b) if s.id.branch_created => {
                format!(", and `git branch -d -- {b}` if you no longer need its branch")
            }
            _ => String::new(),
        };
        output::warn(&format!(
            "{} is gone and its repository is unknown: run `git worktree prune` in that repository{branch_step}",
            dir.display()
        ));
        return;
    };
    if let Err(e) = git::prune_worktrees(git_dir) {
        output::warn(&format!(
            "could not let {} forget the worktree {}: {e:#}",
            git_dir.display(),
            dir.display()
        ));
        return;
    }
    let Some(branch) = branch else {
        return;
    };
    if s.id.branch_created {
        delete_branch(git_dir, Some(branch), force, "destroy");
    } else if git::branch_exists(git_dir, branch).unwrap_or(false) {
        output::progress(&existed_before(branch));
    }
}

/// `compose down -v --remove-orphans` with the session's files and profiles;
/// by project name alone when the files are gone or no longer parse.
fn compose_down(s: &Session) -> Result<()> {
    let project = super::lifecycle::project_of(s);
    if project.files.is_empty() || project.down().is_err() {
        down_by_name(&project.name, &project.profiles)?;
    }
    Ok(())
}

/// `compose down -v --remove-orphans` of a project by name alone: its
/// containers, networks and volumes, found by Compose's project label.
pub fn down_by_name(name: &str, profiles: &[String]) -> Result<()> {
    let by_name = ComposeProject {
        dir: std::env::temp_dir(),
        name: name.to_string(),
        files: Vec::new(),
        profiles: profiles.to_vec(),
    };
    by_name.down().map_err(crate::docker::engine_error)?;
    Ok(())
}
