//! `start`, `stop`, `stop-all` and `logs`.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::time::Duration;

use super::Ctx;
use crate::bulk;
use crate::cli::{LogsArgs, StartArgs, StopAllArgs, StopArgs};
use crate::docker::{self, ComposeProject};
use crate::output;
use crate::ports;
use crate::progress::{self, Op, Progress, Step};
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
    let post_start = post_start_commands(&s).unwrap_or_else(|e| {
        output::warn(&format!("hooks.postStart will not run: {e:#}"));
        Vec::new()
    });
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
        moved = ports::move_taken(&s, path, &mut chooser);
    }
    // With its files, `up -d` also recreates a container removed by hand;
    // without them (worktree deleted), start what is there.
    let name = &s.id.project_name;
    let progress = Progress::services(&progress::service_labels(&s));
    if project.files.is_empty() {
        progress
            .watch(name, Op::Up, || project.cmd().args(["start"]).output())
            .map_err(docker::engine_error)?;
    } else {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let (_, more) = progress
            .watch(name, Op::Up, || {
                ports::up(
                    &project,
                    override_file.as_deref(),
                    &mut chooser,
                    false,
                    deadline,
                )
            })
            .map_err(docker::engine_error)?;
        moved.extend(more);
    }
    let containers = ready::wait_observed(
        name,
        std::time::Instant::now(),
        Duration::from_secs(120),
        None,
        |c| progress.observe(Op::Up, c),
    )?;
    progress.settle(Step::done("running"));
    progress.finish();
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
    } else {
        print_ports(&s, host.as_deref());
    }
    let left = format!(
        "the session is left running in {}",
        s.id.working_dir.display()
    );
    crate::setup::run(
        "postStart",
        &post_start,
        &s.id.working_dir,
        &s.env(host.as_deref()),
        &left,
    )?;
    Ok(0)
}

/// The session's ports as a table (stdout).
fn print_ports(s: &Session, host: Option<&str>) {
    let rows = s
        .ports(host)
        .into_iter()
        .map(|p| {
            vec![
                p.service,
                format!("{}/{}", p.container_port, p.protocol),
                p.address,
            ]
        })
        .collect();
    output::print(&output::table(&["SERVICE", "PORT", "URL"], rows));
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

pub fn run_stop(ctx: &Ctx, args: StopArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let _lock = lock_or_explain(&s, "stop")?;
    output::progress(&format!("Stopping {}", s.id.working_dir.display()));
    let progress = Progress::services(&progress::service_labels(&s));
    progress.watch(&s.id.project_name, Op::Stop, || {
        stop(&s, args.timeout.timeout)
    })?;
    progress.settle(Step::done("stopped"));
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

/// `compose stop` (with `--timeout` when given), then the env files go.
pub fn stop(s: &Session, timeout: Option<u32>) -> Result<()> {
    let mut cmd = project_of(s).cmd().args(["stop"]);
    if let Some(t) = timeout {
        cmd = cmd.arg("--timeout").arg(t.to_string());
    }
    cmd.output().map_err(docker::engine_error)?;
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
    // The services are down: the files would only mislead.
    if s.id.working_dir.is_dir() {
        super::session_files::remove_env_files(&s.id)?;
    }
    Ok(())
}

/// Stop every running session in scope, [`bulk::AT_ONCE`] at a time: one
/// result line each, a summary, exit 1 when any failed.
pub fn run_stop_all(ctx: &Ctx, args: StopAllArgs) -> Result<i32> {
    let (sessions, global) = super::sessions_in_scope(&ctx.cwd, args.scope.global)?;
    if global && !args.scope.global {
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
    let labels: Vec<String> = running
        .iter()
        .map(|s| super::list_view::label(&s.id.working_dir, &ctx.cwd))
        .collect();
    let progress = Progress::sessions(&labels);
    let items: Vec<(&Session, &String)> = running.iter().copied().zip(&labels).collect();
    let results = bulk::run(&items, bulk::AT_ONCE, |(s, label)| {
        progress.set(label, Step::active("stopping"));
        let r = lock_or_explain(s, "stop").and_then(|_lock| stop(s, args.timeout.timeout));
        progress.set(label, progress::result_step(&r, "stopped"));
        r
    });
    progress.finish();
    let outcomes = labels
        .into_iter()
        .zip(results)
        .map(|(label, result)| bulk::Outcome { label, result })
        .collect();
    bulk::conclude("stopped", "session", outcomes, Vec::new())
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
    // Compose starts every line with ESC[2K (erase line) even into a file
    // or a pipe: only a terminal gets its output as is.
    let result = if std::io::stdout().is_terminal() {
        cmd.status_any().map(|status| (status, false))
    } else {
        cmd.status_filtered(output::strip_erase_line)
    };
    match result {
        // The reader went away (`| head`): nothing more to say.
        Ok((_, true)) => Ok(0),
        Ok((status, false)) => Ok(crate::process::exit_code(status)),
        // Ctrl-C ends following; the services keep running.
        Err(e) if e.interrupted() => Err(crate::interrupt::error("")),
        Err(e) => Err(e.into()),
    }
}
