//! `dev-prism destroy`: check git first (nothing is lost, see `safety`), then
//! compose down (containers, networks, volumes), remove generated files, and
//! the worktree and branch when dev-prism made them.

use anyhow::{bail, Result};
use std::io::IsTerminal;
use std::path::Path;

use super::Ctx;
use crate::cli::DestroyArgs;
use crate::docker::ComposeProject;
use crate::git;
use crate::output;
use crate::safety::{self, Target};
use crate::session::{self, Session};

pub fn run(ctx: &Ctx, args: DestroyArgs) -> Result<i32> {
    if !args.all {
        let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
        let s = super::require_session(&dir)?;
        let target = prepare(&s, args.force)?;
        destroy(&s, target.as_ref(), &ctx.cwd, args.force)?;
        return Ok(0);
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
        if let Err(e) = destroy(s, target.as_ref(), &ctx.cwd, args.force) {
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

/// The linked worktree that contains `dir`; `None` outside git and for the
/// main worktree (never removed).
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
    Ok(Some(Target {
        repo_dir: repo.main_root,
        path: repo.toplevel,
        head,
        branch,
    }))
}

/// Destroy one session whose git check (`prepare`) passed.
pub fn destroy(s: &Session, target: Option<&Target>, cwd: &Path, force: bool) -> Result<()> {
    let dir = &s.id.working_dir;
    output::progress(&format!("Destroying {}", dir.display()));
    compose_down(s)?;
    remove_generated(dir)?;
    if !s.id.worktree {
        return Ok(()); // in place: the directory is the user's
    }
    let Some(t) = target else {
        if !dir.exists() {
            return forget_deleted_worktree(s, cwd, force);
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
    delete_branch(&t.repo_dir, s.id.branch.as_deref(), force, "destroy");
    Ok(())
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

/// The worktree directory was deleted by hand: let git forget it, then
/// delete the branch (with the same safety).
fn forget_deleted_worktree(s: &Session, cwd: &Path, force: bool) -> Result<()> {
    let Some(repo) = git::discover(cwd)? else {
        output::warn(&format!(
            "{} is gone; run destroy from the repository to also delete its branch",
            s.id.working_dir.display()
        ));
        return Ok(());
    };
    git::prune_worktrees(&repo.main_root)?;
    delete_branch(&repo.main_root, s.id.branch.as_deref(), force, "destroy");
    Ok(())
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
