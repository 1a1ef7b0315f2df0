//! `start`, `stop`, `stop-all` and `logs`.

use anyhow::{bail, Result};
use std::time::Duration;

use super::Ctx;
use crate::cli::{DirArgs, LogsArgs, ScopeArgs};
use crate::docker::{self, ComposeProject};
use crate::output;
use crate::ready;
use crate::session::{self, group_sessions, service_of, Session, Status};

/// The session's compose project: its files when they all still exist, else
/// the project name alone (enough for start/stop/logs/down).
pub fn project_of(s: &Session) -> ComposeProject {
    let files_ok = !s.id.compose_files.is_empty() && s.id.compose_files.iter().all(|f| f.is_file());
    ComposeProject {
        dir: if files_ok && s.id.working_dir.is_dir() {
            s.id.working_dir.clone()
        } else {
            std::env::temp_dir()
        },
        name: s.id.project_name.clone(),
        files: if files_ok {
            s.id.compose_files.clone()
        } else {
            Vec::new()
        },
        profiles: s.id.profiles.clone(),
    }
}

pub fn run_start(ctx: &Ctx, args: DirArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
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
    if s.id.working_dir.is_dir() {
        super::session_files::write_app_env(&s)?;
    }
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
    Ok(0)
}

pub fn run_stop(ctx: &Ctx, args: DirArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    stop(&s)?;
    Ok(0)
}

fn stop(s: &Session) -> Result<()> {
    output::progress(&format!("Stopping {}", s.id.working_dir.display()));
    project_of(s)
        .cmd()
        .args(["stop"])
        .output()
        .map_err(docker::engine_error)?;
    // Its ports are released: the files would only mislead.
    let env = s.id.working_dir.join(session::ENV_FILE);
    if env.is_file() {
        std::fs::remove_file(&env)?;
    }
    super::session_files::remove_app_env_files(s)?;
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
        stop(s)?;
    }
    Ok(0)
}

pub fn run_logs(ctx: &Ctx, mut args: LogsArgs) -> Result<i32> {
    // `logs web`: a first word that names a service of the current session,
    // or that is not a directory, is a service; `.`, `../x`, `a/b` are paths.
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
        if pathy || (is_dir && !is_service()) {
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
    cmd = cmd.arg("--").args(&args.services);
    crate::interrupt::install();
    match cmd.run_until_interrupted()? {
        Some(status) => Ok(super::env::exit_code(status)),
        None => Ok(0), // Ctrl-C ends following; the services keep running
    }
}
