//! `dev-prism destroy`: the session's teardown plan (see `teardown`) —
//! decided from git before anything is touched, then containers, generated
//! files, the worktree and the branch dev-prism made.

use anyhow::{bail, Result};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use super::Ctx;
use crate::bulk;
use crate::cli::DestroyArgs;
use crate::docker::ComposeProject;
use crate::git;
use crate::lock::{self, Lock, Wait};
use crate::output;
use crate::ownership;
use crate::progress::{self, Op, Progress, Step};
use crate::prompt;
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
            "The session in {} was already destroyed (by another dev-prism).",
            s.id.working_dir.display()
        ));
        return Ok(0);
    };
    let plan = teardown::plan(target_of(&s)?, Why::Destroy, args.force)?
        .with_stop_timeout(args.timeout.timeout)
        .with_pre_destroy(pre_destroy_of(&s));
    output::progress(&format!("Destroying {}", s.id.working_dir.display()));
    let progress = Progress::services(&progress::service_labels(&s));
    let r = progress.watch(&s.id.project_name, Op::Down, || teardown::execute(plan))?;
    progress.settle(Step::done("removed"));
    progress.finish();
    report(r);
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
                "Waiting for another dev-prism ({holder}) working on {}…",
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
    // Every session is locked and planned before anything is touched (the
    // plans only read: they are made side by side too).
    let planned = bulk::map(
        &sessions,
        bulk::AT_ONCE,
        |s| -> Result<(Lock, Plan), String> {
            let dir = &s.id.working_dir;
            let path = lock::session_path(dir).map_err(|e| format!("{e:#}"))?;
            let lock = match lock::acquire(&path, "destroy", Wait::No) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    return Err(format!(
                        "{}: another dev-prism ({}) is working on it",
                        dir.display(),
                        lock::describe(&path)
                    ))
                }
                Err(e) => return Err(format!("{e:#}")),
            };
            target_of(s)
                .and_then(|t| teardown::plan(t, Why::Destroy, args.force))
                .map(|plan| {
                    let plan = plan
                        .with_stop_timeout(args.timeout.timeout)
                        .with_pre_destroy(pre_destroy_of(s));
                    (lock, plan)
                })
                .map_err(|e| format!("{e:#}"))
        },
    );
    let mut locks: Vec<Lock> = Vec::new();
    let mut plans: Vec<Plan> = Vec::new();
    let mut problems = Vec::new();
    for p in planned {
        match p {
            Ok((lock, plan)) => {
                locks.push(lock);
                plans.push(plan);
            }
            Err(why) => problems.push(why),
        }
    }
    if !plans.is_empty() && !confirm(ctx, &plans, &problems)? {
        return Ok(1);
    }
    // Then all of them at once, a few at a time.
    let labelled = plans
        .into_iter()
        .map(|p| (super::list_view::label(&p.target().dir, &ctx.cwd), p))
        .collect();
    let outcomes = execute_all(labelled, "destroying", "destroyed");
    drop(locks);
    bulk::conclude("destroyed", "session", outcomes, problems)
}

/// Carry out planned teardowns [`bulk::AT_ONCE`] at a time, each with its
/// progress line (`active` while it runs, `done` after): one outcome each.
pub fn execute_all(plans: Vec<(String, Plan)>, active: &str, done: &str) -> Vec<bulk::Outcome> {
    let labels: Vec<String> = plans.iter().map(|(l, _)| l.clone()).collect();
    let items: Vec<(String, Mutex<Option<Plan>>)> = plans
        .into_iter()
        .map(|(label, plan)| (label, Mutex::new(Some(plan))))
        .collect();
    let progress = Progress::sessions(&labels);
    let reports = bulk::run(&items, bulk::AT_ONCE, |(label, plan)| {
        let plan = plan.lock().ok().and_then(|mut p| p.take());
        let Some(plan) = plan else {
            return Err(anyhow::anyhow!("planned twice"));
        };
        progress.set(label, Step::active(active));
        let r = teardown::execute(plan);
        progress.set(label, progress::result_step(&r, done));
        r
    });
    progress.finish();
    labels
        .into_iter()
        .zip(reports)
        .map(|(label, r)| bulk::Outcome {
            label,
            result: r.map(|r| r.map(report)),
        })
        .collect()
}

/// Ask on a terminal unless `-y`; `kept` are the refusals, shown too.
fn confirm(ctx: &Ctx, plans: &[Plan], kept: &[String]) -> Result<bool> {
    let width = plans
        .iter()
        .map(|p| {
            super::list_view::label(&p.target().dir, &ctx.cwd)
                .chars()
                .count()
        })
        .max()
        .unwrap_or(0);
    let list: Vec<String> = plans
        .iter()
        .map(|p| {
            format!(
                "  {:<width$}  {}",
                super::list_view::label(&p.target().dir, &ctx.cwd),
                prompt::one(p)
            )
        })
        .collect();
    let kept_note = if kept.is_empty() {
        String::new()
    } else {
        format!("\nand keep:\n  {}", kept.join("\n  "))
    };
    let all: Vec<&Plan> = plans.iter().collect();
    let what = prompt::everything_in("session", &all);
    let sessions = prompt::count(plans.len(), "session");
    prompt::confirm(
        ctx.yes,
        &format!("This removes {what}:\n{}{kept_note}", list.join("\n")),
        &format!("Destroy {sessions}?"),
        &format!(
            "destroy --all would remove {what}:\n{}{kept_note}",
            list.join("\n")
        ),
    )
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
    let worktree = if s.id.worktree || s.id.legacy {
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
