//! `dev-prism destroy`: the session's teardown plan (see `teardown`) —
//! decided from git before anything is touched, then containers, generated
//! files, the worktree and the branch dev-prism made.

use anyhow::{bail, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use super::Ctx;
use crate::cli::DestroyArgs;
use crate::docker::ComposeProject;
use crate::git;
use crate::lock::{self, Lock, Wait};
use crate::output;
use crate::ownership;
use crate::safety;
use crate::session::Session;
use crate::teardown::{self, MadeWorktree, Plan, PreDestroy, Target, Why};

pub fn run(ctx: &Ctx, args: DestroyArgs) -> Result<i32> {
    if args.all {
        return run_all(ctx, &args);
    }
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let Some((_lock, s)) = lock_session(&s, Wait::Up(Duration::from_secs(300)))? else {
        output::progress(&format!(
            "the session in {} was already destroyed (by another dev-prism)",
            s.id.working_dir.display()
        ));
        return Ok(0);
    };
    let plan = teardown::plan(target_of(&s)?, Why::Destroy, args.force)?
        .with_pre_destroy(pre_destroy_of(&s));
    output::progress(&format!("Destroying {}", s.id.working_dir.display()));
    report(teardown::execute(plan)?);
    Ok(0)
}

/// Take the session's lock (waiting for another destroy), then look the
/// session up again: `None` when it is gone meanwhile.
pub fn lock_session(s: &Session, wait: Wait) -> Result<Option<(Lock, Session)>> {
    let dir = &s.id.working_dir;
    let path = lock::session_path(dir)?;
    let holder = lock::describe(&path);
    let lock = match lock::acquire(&path, "destroy", Wait::No)? {
        Some(l) => l,
        None if holder.starts_with("create") => bail!(
            "a dev-prism create is making the session in {} right now: wait for it to finish, then destroy it",
            dir.display()
        ),
        None => {
            output::progress(&format!(
                "waiting for another dev-prism ({holder}) working on {}",
                dir.display()
            ));
            match lock::acquire(&path, "destroy", wait)? {
                Some(l) => l,
                None => bail!(
                    "another dev-prism ({holder}) is still working on {}: try again later",
                    dir.display()
                ),
            }
        }
    };
    Ok(super::find_session(dir)?
        .filter(|now| now.id.working_dir == *dir)
        .map(|now| (lock, now)))
}

/// Print what a teardown left for the user to know.
pub fn report(r: teardown::Report) {
    for n in r.notes {
        output::progress(&n);
    }
    for w in r.warnings {
        output::warn(&w);
    }
}

fn run_all(ctx: &Ctx, args: &DestroyArgs) -> Result<i32> {
    if !args.global && git::discover(&ctx.cwd)?.is_none() {
        bail!("not in a git repository: pass -g to destroy every session on this engine");
    }
    let (sessions, global) = super::sessions_in_scope(&ctx.cwd, args.global)?;
    if sessions.is_empty() {
        let scope = if global { "" } else { " in this repository" };
        output::progress(&format!("No sessions{scope}: nothing to destroy."));
        return Ok(0);
    }
    // Every session is locked and planned before anything is touched.
    let mut ready: Vec<(Lock, Plan)> = Vec::new();
    let mut problems = Vec::new();
    for s in &sessions {
        let dir = &s.id.working_dir;
        let lock = match lock::acquire(&lock::session_path(dir)?, "destroy", Wait::No)? {
            Some(l) => l,
            None => {
                problems.push(format!(
                    "{}: another dev-prism ({}) is working on it",
                    dir.display(),
                    lock::describe(&lock::session_path(dir)?)
                ));
                continue;
            }
        };
        match target_of(s).and_then(|t| teardown::plan(t, Why::Destroy, args.force)) {
            Ok(plan) => ready.push((lock, plan.with_pre_destroy(pre_destroy_of(s)))),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if !ready.is_empty() {
        confirm(ctx, &ready, &problems)?;
    }
    for (_lock, plan) in ready {
        let dir = plan.target().dir.clone();
        output::progress(&format!("Destroying {}", dir.display()));
        match teardown::execute(plan) {
            Ok(r) => report(r),
            Err(e) => {
                if crate::interrupt::pending() {
                    return Err(e);
                }
                problems.push(format!("{}: {e:#}", dir.display()));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} of {} not destroyed:\n  {}",
            problems.len(),
            safety::count(sessions.len(), "session"),
            problems.join("\n  ")
        );
    }
    Ok(0)
}

/// Ask on a terminal unless `-y`; `kept` are the refusals, shown too.
fn confirm(ctx: &Ctx, ready: &[(Lock, Plan)], kept: &[String]) -> Result<()> {
    if ctx.yes {
        return Ok(());
    }
    let list: Vec<String> = ready
        .iter()
        .map(|(_, p)| format!("  {} ({})", p.target().dir.display(), p.summary()))
        .collect();
    let kept_note = if kept.is_empty() {
        String::new()
    } else {
        format!("\nand keep:\n  {}", kept.join("\n  "))
    };
    let what = safety::count(ready.len(), "session");
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "destroy --all would remove {what}:\n{}{kept_note}\nrun again with -y to confirm",
            list.join("\n")
        );
    }
    output::progress(&format!(
        "This removes {what}:\n{}{kept_note}",
        list.join("\n")
    ));
    let ok = dialoguer::Confirm::new()
        .with_prompt(format!("Destroy {what}?"))
        .default(false)
        .interact()
        .unwrap_or(false);
    if !ok {
        bail!("cancelled: nothing was destroyed");
    }
    Ok(())
}

/// The `preDestroy` commands recorded in the session's labels when it was
/// created (the repository's config is not read), with the session
/// environment.
pub fn pre_destroy_of(s: &Session) -> PreDestroy {
    PreDestroy {
        commands: s.id.pre_destroy.clone(),
        env: s.env(crate::docker::url_host_from_env().as_deref()),
    }
}

/// What destroying the session `s` involves: its compose project, its
/// generated files, and the worktree dev-prism made (per its record; a
/// first-release session gets its record now).
pub fn target_of(s: &Session) -> Result<Target> {
    let dir = &s.id.working_dir;
    let worktree = if s.id.worktree {
        made_worktree(s)?
    } else {
        None
    };
    Ok(Target {
        dir: dir.clone(),
        projects: vec![ComposeProject::for_session(&s.id)],
        generated: super::session_files::generated(&s.id),
        worktree,
    })
}

/// The worktree dev-prism made for `s`, from git's admin dir.
fn made_worktree(s: &Session) -> Result<Option<MadeWorktree>> {
    let dir = &s.id.working_dir;
    let repo = if dir.is_dir() {
        git::discover(dir)?
    } else {
        None
    };
    let common = match (&repo, &s.id.git_dir) {
        (Some(r), _) => r.common_dir.clone(),
        (None, Some(g)) if g.is_dir() => g.clone(),
        _ => {
            if !dir.exists() {
                let branch_step = match s.id.branch.as_deref().filter(|b| !b.is_empty()) {
                    Some(b) if s.id.branch_created => format!(
                        ", and `git branch -d -- {}` if you no longer need its branch",
                        crate::process::shell_quote(b)
                    ),
                    _ => String::new(),
                };
                output::warn(&format!(
                    "{} is gone and its repository is unknown: run `git worktree prune` in that repository{branch_step}",
                    dir.display()
                ));
            }
            return Ok(None);
        }
    };
    let find = || {
        ownership::admins(&common).into_iter().find(|a| {
            dir.starts_with(&a.worktree) || a.marker.as_ref().is_some_and(|m| m.session_dir == *dir)
        })
    };
    let Some(admin) = find() else {
        if dir.is_dir() {
            output::warn(&format!(
                "{} is not a linked worktree any more: nothing to remove there",
                dir.display()
            ));
        }
        return Ok(None);
    };
    if !admin.ours() {
        super::migrate(std::slice::from_ref(&admin), s);
    }
    let Some(admin) = find().filter(|a| a.ours()) else {
        return Ok(None);
    };
    let repo_dir = repo
        .map(|r| r.main_root)
        .filter(|p| p.is_dir())
        .or_else(|| {
            common
                .parent()
                .map(Path::to_path_buf)
                .filter(|p| p.join(".git").exists())
        })
        .unwrap_or_else(|| common.clone());
    Ok(Some(MadeWorktree {
        repo_dir,
        top: admin.worktree.clone(),
        admin,
    }))
}
