//! `start`, `stop`, `stop-all` and `logs`.

use anyhow::{bail, Context, Result};
use std::time::Duration;

use super::Ctx;
use crate::cli::{DirArgs, LogsArgs, ScopeArgs, StartArgs};
use crate::docker::{self, ComposeProject};
use crate::output;
use crate::ports;
use crate::ready;
use crate::session::{group_sessions, service_of, Session, Status};

/// The session's compose project (its files when they all still exist).
pub fn project_of(s: &Session) -> ComposeProject {
    ComposeProject::for_session(&s.id)
}

pub fn run_start(ctx: &Ctx, args: StartArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let _lock = lock_or_explain(&s, "start")?;
    let was_running = s.status() == Status::Running;
    let project = project_of(&s);
    if !was_running {
        output::progress(&format!("Starting {}…", s.id.project_name));
    }
    // The session keeps its ports; one taken meanwhile moves alone.
    let range = s.id.port_range.as_deref().and_then(ports::parse_range);
    let mut chooser =
        ports::Chooser::new(ports::reserved(&docker::managed_containers()?)).within(range);
    let override_file = project.files.last().filter(|f| f.is_file()).cloned();
    let mut moved = Vec::new();
    if let Some(path) = override_file
        .as_deref()
        .filter(|_| docker::engine_is_local())
    {
        moved = move_taken_ports(&s, path, &mut chooser);
    }
    // With its files, `up -d` also recreates a container removed by hand;
    // without them (worktree deleted), start what is there.
    if project.files.is_empty() {
        project
            .cmd()
            .args(["start"])
            .output()
            .map_err(docker::engine_error)?;
    } else {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let (_, more) = ports::up(
            &project,
            override_file.as_deref(),
            &mut chooser,
            false,
            deadline,
        )
        .map_err(docker::engine_error)?;
        moved.extend(more);
    }
    let containers = ready::wait(&s.id.project_name, Duration::from_secs(120))?;
    let before = s.containers.len();
    let s = group_sessions(containers)
        .into_iter()
        .find(|n| n.id.working_dir == s.id.working_dir)
        .unwrap_or(s);
    super::refresh_env_file(&s)?;
    if was_running && s.containers.len() == before && moved.is_empty() {
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
    let host = docker::url_host_from_env();
    if args.json {
        #[derive(serde::Serialize)]
        struct Started {
            #[serde(flatten)]
            session: super::list::SessionJson,
            moved: Vec<ports::Moved>,
        }
        output::print_json(&Started {
            session: super::list::SessionJson::new(&s, host.as_deref()),
            moved,
        });
        return Ok(0);
    }
    let rows = s
        .ports(host.as_deref())
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

/// Before `start`: every recorded host port that something else holds now
/// (not one of the session's own running containers) moves to a new free
/// port in the override file; the moves are reported.
fn move_taken_ports(
    s: &Session,
    path: &std::path::Path,
    chooser: &mut ports::Chooser,
) -> Vec<ports::Moved> {
    let own: std::collections::BTreeSet<u16> = s
        .containers
        .iter()
        .filter(|c| c.state.is_running())
        .flat_map(|c| c.ports.iter().map(|p| p.host_port))
        .collect();
    let text = crate::safefs::read_nofollow(path).unwrap_or_default();
    let mut moved = Vec::new();
    for e in ports::entries(&text) {
        let Some(port) = e.published.filter(|p| !own.contains(p)) else {
            continue;
        };
        if ports::is_free(e.host_ip.as_deref(), port, &e.protocol) {
            continue;
        }
        if let Some(m) = ports::move_in_file(path, port, chooser) {
            output::warn(&m.to_string());
            moved.push(m);
        }
    }
    moved
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

fn stop(s: &Session) -> Result<()> {
    output::progress(&format!("Stopping {}", s.id.working_dir.display()));
    project_of(s)
        .cmd()
        .args(["stop"])
        .output()
        .map_err(docker::engine_error)?;
    if s.id.legacy {
        // The original tool's sessions record no profiles: stop whatever
        // of them still runs.
        let running: Vec<String> = docker::project_containers(&s.id.project_name)?
            .into_iter()
            .filter(|c| c.state.is_running())
            .map(|c| c.id)
            .collect();
        if !running.is_empty() {
            docker::docker()
                .arg("stop")
                .args(&running)
                .deadline(Duration::from_secs(120))
                .output()
                .map_err(docker::engine_error)?;
        }
    }
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
    cmd = cmd.arg("--").args(&args.services).no_deadline();
    match cmd.status_any() {
        Ok(status) => Ok(crate::process::exit_code(status)),
        // Ctrl-C ends following; the services keep running.
        Err(e) if e.interrupted() => Err(crate::interrupt::error("")),
        Err(e) => Err(e.into()),
    }
}
