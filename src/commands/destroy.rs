//! `dev-prism destroy`: compose down (containers, networks, volumes), remove
//! generated files, and the worktree and branch when dev-prism made them.

use anyhow::{bail, Result};
use std::io::IsTerminal;

use super::Ctx;
use crate::cli::DestroyArgs;
use crate::docker::ComposeProject;
use crate::git;
use crate::output;
use crate::session::{self, Session};

pub fn run(ctx: &Ctx, args: DestroyArgs) -> Result<i32> {
    let sessions = if args.all {
        let (sessions, global) = super::sessions_in_scope(&ctx.cwd, args.global)?;
        if sessions.is_empty() {
            let scope = if global { "" } else { " in this repository" };
            output::progress(&format!("No sessions{scope}: nothing to destroy."));
            return Ok(0);
        }
        confirm(ctx, &sessions)?;
        sessions
    } else {
        let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
        vec![super::require_session(&dir)?]
    };
    let mut failed = 0;
    for s in &sessions {
        if let Err(e) = destroy(s, &ctx.cwd) {
            output::warn(&format!("{}: {e:#}", s.id.working_dir.display()));
            failed += 1;
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} sessions could not be fully destroyed",
            sessions.len()
        );
    }
    Ok(0)
}

fn confirm(ctx: &Ctx, sessions: &[Session]) -> Result<()> {
    if ctx.yes {
        return Ok(());
    }
    let list: Vec<String> = sessions
        .iter()
        .map(|s| format!("  {}", s.id.working_dir.display()))
        .collect();
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "destroy --all would remove {} sessions:\n{}\nrun again with -y to confirm",
            sessions.len(),
            list.join("\n")
        );
    }
    output::progress(&format!(
        "This removes {} sessions:\n{}",
        sessions.len(),
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

/// Destroy one session.
pub fn destroy(s: &Session, cwd: &std::path::Path) -> Result<()> {
    let dir = &s.id.working_dir;
    output::progress(&format!("Destroying {}", dir.display()));
    compose_down(s)?;
    for name in [session::OVERRIDE_FILE, session::ENV_FILE] {
        let path = dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path)?;
        }
    }
    if !s.id.worktree {
        return Ok(());
    }
    if !dir.exists() {
        return forget_deleted_worktree(s, cwd);
    }
    let Some(repo) = git::discover(dir)? else {
        output::warn(&format!(
            "{} is no longer a git worktree: nothing to remove there",
            dir.display()
        ));
        return Ok(());
    };
    let top = repo.toplevel.clone();
    if top == repo.main_root {
        return Ok(()); // never remove the main worktree
    }
    git::remove_worktree(&repo.main_root, &top)?;
    delete_branch(&repo.main_root, s);
    Ok(())
}

fn delete_branch(repo_dir: &std::path::Path, s: &Session) {
    let Some(branch) = s.id.branch.as_deref().filter(|b| !b.is_empty()) else {
        return;
    };
    if let Err(e) = git::delete_branch(repo_dir, branch) {
        output::warn(&format!(
            "kept branch `{branch}`: {}",
            e.stderr.trim().trim_start_matches("error: ")
        ));
    }
}

/// The worktree directory was deleted by hand: let git forget it, then
/// delete the branch (still with `git branch -d` safety).
fn forget_deleted_worktree(s: &Session, cwd: &std::path::Path) -> Result<()> {
    let Some(repo) = git::discover(cwd)? else {
        output::warn(&format!(
            "{} is gone; run destroy from the repository to also delete its branch",
            s.id.working_dir.display()
        ));
        return Ok(());
    };
    git::prune_worktrees(&repo.main_root)?;
    delete_branch(&repo.main_root, s);
    Ok(())
}

/// `compose down -v --remove-orphans` with the session's files and profiles;
/// by project name alone when the files are gone or no longer parse.
fn compose_down(s: &Session) -> Result<()> {
    let project = super::lifecycle::project_of(s);
    if project.files.is_empty() || project.down().is_err() {
        let by_name = ComposeProject {
            files: Vec::new(),
            dir: std::env::temp_dir(),
            ..project
        };
        by_name.down().map_err(crate::docker::engine_error)?;
    }
    Ok(())
}
