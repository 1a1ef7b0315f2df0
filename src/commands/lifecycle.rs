//! `start`, `stop`, `stop-all` and `logs`.

use anyhow::{bail, Context, Result};
use std::time::Duration;

use super::Ctx;
use crate::cli::{DirArgs, LogsArgs, ScopeArgs};
use crate::docker::{self, ComposeProject};
use crate::output;
use crate::ready;
use crate::session::{group_sessions, service_of, Session, Status};

/// The session's compose project (its files when they all still exist).
pub fn project_of(s: &Session) -> ComposeProject {
    ComposeProject::for_session(&s.id)
}

pub fn run_start(ctx: &Ctx, args: DirArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let _lock = lock_or_explain(&s, "start")?;
    let post_start = post_start_commands(&s).unwrap_or_else(|e| {
        output::warn(&format!("hooks.postStart will not run: {e:#}"));
        Vec::new()
    });
    let was_running = s.status() == Status::Running;
    let project = project_of(&s);
    if !was_running {
        output::progress(&format!("Starting {}…", s.id.project_name));
    }
    // With its files, `up -d` also recreates a container removed by hand;
    // without them (worktree deleted), start what is there.
    let verb: &[&str] = if project.files.is_empty() {
        &["start"]
    } else {
        &["up", "--detach"]
    };
    project
        .cmd()
        .args(verb)
        .output()
        .map_err(docker::engine_error)?;
    let containers = ready::wait(&s.id.project_name, Duration::from_secs(120))?;
    let before = s.containers.len();
    let s = group_sessions(containers)
        .into_iter()
        .find(|n| n.id.working_dir == s.id.working_dir)
        .unwrap_or(s);
    super::refresh_env_file(&s)?;
    if was_running && s.containers.len() == before {
        output::progress(&format!(
            "Session in {} is already running.",
            s.id.working_dir.display()
        ));
    } else {
        output::progress(&format!(
            "{} {}",
            output::green("Started"),
            s.id.working_dir.display()
        ));
    }
    let rows = s
        .ports(docker::url_host_from_env().as_deref())
        .into_iter()
        .map(|p| {
            vec![
                p.service,
                format!("{}/{}", p.container_port, p.protocol),
                p.url,
            ]
        })
        .collect();
    output::print(&output::table(&["SERVICE", "PORT", "URL"], rows));
    let left = format!(
        "the session is left running in {}",
        s.id.working_dir.display()
    );
    crate::setup::run(
        "postStart",
        &post_start,
        &s.id.working_dir,
        &s.env(docker::url_host_from_env().as_deref()),
        &left,
    )?;
    Ok(0)
}

/// The config's `hooks.postStart` for a session (`start` may evaluate the
/// config: it starts the stack anyway). None when the directory is gone.
fn post_start_commands(s: &Session) -> Result<Vec<String>> {
    let dir = &s.id.working_dir;
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let repo = crate::git::discover(dir)?;
    let loaded = crate::config::load(&super::config_root(repo.as_ref(), dir))?;
    Ok(loaded.config.hooks.post_start)
}

pub fn run_stop(ctx: &Ctx, args: DirArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let _lock = lock_or_explain(&s, "stop")?;
    stop(&s)?;
    Ok(0)
}

/// The session's lock, or an error naming who holds it (a create or
/// destroy of the same session must not run at the same time).
fn lock_or_explain(s: &Session, what: &str) -> Result<crate::lock::Lock> {
    let path = crate::lock::session_path(&s.id.working_dir)?;
    crate::lock::acquire(&path, what, crate::lock::Wait::Up(Duration::from_secs(10)))?.with_context(
        || {
            format!(
                "another dev-prism ({}) is working on the session in {}: try again when it is done",
                crate::lock::describe(&path),
                s.id.working_dir.display()
            )
        },
    )
}

/// Stop the session's containers and remove its env files (their ports
/// are released).
pub fn stop(s: &Session) -> Result<()> {
    output::progress(&format!("Stopping {}", s.id.working_dir.display()));
    project_of(s)
        .cmd()
        .args(["stop"])
        .output()
        .map_err(docker::engine_error)?;
    // Its ports are released: the files would only mislead.
    if s.id.working_dir.is_dir() {
        super::session_files::remove_env_files(&s.id)?;
    }
    Ok(())
}

pub fn run_stop_all(ctx: &Ctx, args: ScopeArgs) -> Result<i32> {
    let (sessions, global) = super::sessions_in_scope(&ctx.cwd, args.global)?;
    if global && !args.global {
        bail!("not in a git repository: pass -g to stop every session on this engine");
    }
    let running: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.status() != Status::Stopped)
        .collect();
    if running.is_empty() {
        output::progress("No running sessions: nothing to stop.");
        return Ok(0);
    }
    for s in running {
        let _lock = lock_or_explain(s, "stop")?;
        stop(s)?;
    }
    Ok(0)
}

pub fn run_logs(ctx: &Ctx, mut args: LogsArgs) -> Result<i32> {
    // `logs web`: a first word that names a service of the current session
    // is a service; else a directory, or a session's name (`feat-x`), is
    // the session; anything else is a service. `.`, `../x`, `a/b` are
    // paths (or names with a `/`, like a branch `feat/x`).
    if let Some(first) = args.dir.take() {
        let word = first.to_string_lossy().into_owned();
        let pathy = word.contains('/') || word == "." || word == "..";
        let is_dir = ctx.cwd.join(&first).is_dir();
        let is_service = || {
            super::require_session(&ctx.cwd)
                .map(|s| {
                    s.id.services.contains(&word)
                        || s.containers.iter().any(|c| service_of(c) == word)
                })
                .unwrap_or(false)
        };
        let names_session =
            || !is_dir && super::resolve::names_a_session(ctx, &word).unwrap_or(false);
        if pathy || (!is_service() && (is_dir || names_session())) {
            args.dir = Some(first);
        } else {
            args.services.insert(0, word);
        }
    }
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let known: Vec<String> = {
        let mut v: Vec<String> = s
            .containers
            .iter()
            .map(|c| service_of(c).to_string())
            .collect();
        v.extend(s.id.services.iter().cloned());
        v.sort();
        v.dedup();
        v
    };
    if let Some(unknown) = args.services.iter().find(|svc| !known.contains(svc)) {
        bail!(
            "no service `{unknown}` in the session in {} (services: {})",
            s.id.working_dir.display(),
            known.join(", ")
        );
    }
    let mut cmd = project_of(&s)
        .cmd()
        .args(["logs", "--tail", &args.tail.to_string()]);
    if !args.no_follow {
        cmd = cmd.arg("--follow");
    }
    cmd = cmd.arg("--").args(&args.services).no_deadline();
    match cmd.status_any() {
        Ok(status) => Ok(crate::process::exit_code(status)),
        // Ctrl-C ends following; the services keep running.
        Err(e) if e.interrupted() => Err(crate::interrupt::error("")),
        Err(e) => Err(e.into()),
    }
}
