//! `dev-prism create`: worktree, copied files, override file, compose up,
//! readiness, ports, env files, setup. Until the session exists, a failure
//! or a signal rolls back what this run made (by the teardown plan).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ctx;
use crate::cli::{CreateArgs, Mode};
use crate::clock;
use crate::compose;
use crate::config::{self, Config};
use crate::docker::{self, ComposeProject};
use crate::git;
use crate::interrupt;
use crate::layout;
use crate::lock::{self, Lock, Wait};
use crate::output;
use crate::ports;
use crate::progress::{Op, Progress, Step};
use crate::ready;
use crate::session::{self, group_sessions, label, Identity, Session};
use crate::setup;
use crate::teardown::{self, GeneratedFile, MadeWorktree, Target};
use crate::workspace;

/// What this create made so far, so a failure can take it back.
#[derive(Default)]
struct Made {
    worktree: Option<MadeWorktree>,
    dir: Option<PathBuf>,
    generated: Vec<GeneratedFile>,
    project: Option<ComposeProject>,
    lock: Option<Lock>,
}

impl Made {
    /// Take back what this create made (by the teardown plan); the error
    /// says what happened.
    fn rollback(self, cause: anyhow::Error) -> anyhow::Error {
        let Made {
            worktree,
            dir,
            generated,
            project,
            lock,
        } = self;
        if worktree.is_none() && project.is_none() && generated.is_empty() {
            return cause; // nothing was made
        }
        let Some(dir) = dir.or_else(|| worktree.as_ref().map(|w| w.top.clone())) else {
            return cause;
        };
        let target = Target {
            dir,
            projects: project.into_iter().collect(),
            generated,
            worktree,
        };
        teardown::rollback(target, lock, cause)
    }
}

pub fn run(ctx: &Ctx, args: CreateArgs) -> Result<i32> {
    if args.wait_timeout == 0 {
        bail!("--wait-timeout must be at least 1 second");
    }
    let repo = git::discover(&ctx.cwd)?;
    if repo.is_none() && !args.in_place {
        bail!(
            "{} is not in a git repository: run `git init` first, or use `dev-prism create --in-place`",
            ctx.cwd.display()
        );
    }
    let loaded = config::load(&super::config_root(repo.as_ref(), &ctx.cwd))?;
    for w in &loaded.warnings {
        output::warn(w);
    }
    let config = loaded.config;
    let prefix = config.prefix(repo.as_ref().map_or(&ctx.cwd, |r| &r.main_root));
    // Fail early, before anything is made: no compose file, no engine.
    layout::picture(
        &ctx.cwd,
        config.compose_files.as_deref(),
        &workspace::reserved(&config),
    )?;
    docker::ps_ids(&[format!("{}={}", label::WORKING_DIR, ctx.cwd.display())])?;
    let copies =
        workspace::files_to_copy(&ctx.cwd, args.in_place, repo.as_ref(), &config, &prefix)?;

    let mut made = Made::default();
    let session = match create(
        ctx,
        &args,
        repo.as_ref(),
        &config,
        &prefix,
        &copies,
        &mut made,
    ) {
        Ok(s) => s,
        Err(e) => return Err(made.rollback(e)),
    };
    let host = docker::url_host_from_env();
    // The answer first: even when a setup command fails, a script learns
    // where the session (left running) is.
    if args.json {
        output::print_json(
            &super::list::SessionJson::new(&session, host.as_deref()).current_in(&ctx.cwd),
        );
    } else {
        super::list_view::print_summary(&session, &ctx.cwd, host.as_deref());
    }
    let dir = &session.id.working_dir;
    let left = args.failure_note.clone().unwrap_or_else(|| {
        format!(
            "the session is left running in {} (fix it and run the command there, or `dev-prism destroy`)",
            dir.display()
        )
    });
    let env = session.env(host.as_deref());
    let setup: &[String] = if args.no_setup { &[] } else { &config.setup };
    setup::run("setup", setup, dir, &env, &left)?;
    setup::run("postStart", &config.hooks.post_start, dir, &env, &left)?;
    if args.no_detach {
        output::progress("Following logs (Ctrl-C stops following; the services keep running)");
        // Ctrl-C ends following (the services keep running) and, as for
        // every command, exits 130; the create itself succeeded.
        let _ = ComposeProject::for_session(&session.id)
            .cmd()
            .no_deadline()
            .args(["logs", "--follow", "--tail", "50"])
            .status_any();
    }
    Ok(0)
}

fn create(
    ctx: &Ctx,
    args: &CreateArgs,
    repo: Option<&git::Repo>,
    config: &Config,
    prefix: &str,
    copies: &[String],
    made: &mut Made,
) -> Result<Session> {
    // 1. The working directory.
    let subdir = repo
        .and_then(|r| ctx.cwd.strip_prefix(&r.toplevel).ok())
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let (dir, branch) = if args.in_place {
        let branch = repo.and_then(|r| {
            r.worktrees
                .iter()
                .find(|w| w.path == r.toplevel)?
                .branch
                .clone()
        });
        (ctx.cwd.clone(), branch)
    } else {
        let repo = repo.context("not in a git repository")?;
        // The config's sessionsDir, else where the caller (a Claude Code
        // hook's `base_path`) asks, else the default.
        let sessions_dir = match (&config.sessions_dir, &args.sessions_dir) {
            (None, Some(dir)) => dir.clone(),
            (configured, _) => layout::sessions_dir(&repo.main_root, configured.as_deref(), prefix),
        };
        let request = workspace::Request {
            repo,
            branch: args.branch.as_deref(),
            base: &args.base,
            sessions_dir,
            sessions_dir_default: config.sessions_dir.is_none() && args.sessions_dir.is_none(),
            subdir: subdir.clone(),
            prefix,
        };
        let top = workspace::make(&request, &mut made.worktree)?;
        let branch = made
            .worktree
            .as_ref()
            .and_then(|w| w.admin.marker.as_ref()?.branch.clone());
        (layout::join(&top, &subdir), branch)
    };
    made.dir = Some(dir.clone());
    interrupt::check()?;
    let path = lock::session_path(&dir)?;
    made.lock = Some(lock::acquire(&path, "create", Wait::No)?.with_context(|| {
        format!(
            "a session is already being made in {} by another dev-prism ({}): wait for it, then `dev-prism list`",
            dir.display(),
            lock::describe(&path)
        )
    })?);
    // One look at every session on the engine: is there one here already,
    // and which host ports do the others hold (running or stopped)?
    let others = docker::managed_containers()?;
    refuse_existing(&others, &dir)?;

    // 2. Files the stack needs that git does not carry.
    if let (Some(repo), Some(wt)) = (repo, made.worktree.as_mut()) {
        workspace::copy_env_files(&layout::join(&repo.main_root, &subdir), &dir, wt, copies)?;
        crate::include::copy_into(repo, wt)?;
    }

    // 3. The compose project (what plain `docker compose` would run in the
    // session directory) and its resolved services.
    let picture = layout::picture(
        &dir,
        config.compose_files.as_deref(),
        &workspace::reserved(config),
    )?;
    let mut files = picture.files.clone();
    for w in config.unknown_apps(&args.without) {
        output::warn(&w);
    }
    let profiles = layout::session_profiles(
        &picture.profiles,
        &config.apps,
        args.mode == Mode::Docker,
        &args.without,
    );
    let name = session::project_name(prefix, &dir);
    let base = ComposeProject {
        dir: dir.clone(),
        name: name.clone(),
        files: files.clone(),
        profiles: profiles.clone(),
    };
    interrupt::check()?;
    let mut resolved =
        compose::parse_project(&base.config_json().map_err(docker::compose_failure)?)?;
    base.learn_main_names(
        &mut resolved,
        repo.map(|r| layout::join(&r.main_root, &subdir)).as_deref(),
    );
    files.push(dir.join(config.override_file()));
    let identity = Identity {
        working_dir: dir.clone(),
        project_name: name.clone(),
        branch,
        worktree: made.worktree.is_some(),
        branch_created: made
            .worktree
            .as_ref()
            .and_then(|w| w.admin.marker.as_ref())
            .is_some_and(|m| m.branch_created),
        git_dir: repo.map(|r| r.common_dir.clone()),
        mode: args.mode.as_str().to_string(),
        profiles,
        created_at: clock::rfc3339(clock::now_secs()),
        compose_files: files.clone(),
        services: resolved.services.keys().cloned().collect(),
        env_file: config.env_file().to_string(),
        app_env: config.app_env.clone(),
        env_files: copies.to_vec(),
        legacy: false,
        port_range: config.port_range.clone(),
        pre_destroy: config.hooks.pre_destroy.clone(),
    };

    // 4. Generated files: all checked before any is written.
    let names: Vec<String> = resolved.services.keys().cloned().collect();
    let extra = config.extra_ports(&names);
    let local = docker::engine_is_local();
    let bind = ports::bind_address(config.bind_address.as_deref(), local);
    let range = config.port_range.as_deref().and_then(ports::parse_range);
    let mut chooser = ports::Chooser::new(ports::reserved(&others)).within(range);
    let plan = compose::session_override_placed(
        &resolved,
        &extra,
        |_, p| chooser.place(p, bind.as_deref(), local, None),
        |svc, port| identity.labels(svc, port),
    );
    chooser.check()?;
    for w in &plan.warnings {
        output::warn(w);
    }
    super::session_files::write_first(repo, &identity, &plan.text, &mut made.generated)?;

    // 5. Start and wait.
    let project = ComposeProject {
        files: files.clone(),
        ..base
    };
    let n = resolved.services.len();
    output::progress(&format!(
        "Starting {} of {name}…",
        crate::safety::count(n, "service")
    ));
    made.project = Some(project.clone());
    interrupt::check()?;
    let timeout = Duration::from_secs(args.wait_timeout);
    let started = std::time::Instant::now();
    let override_file = files.last().cloned();
    let progress = Progress::services(&resolved.services.keys().cloned().collect::<Vec<_>>());
    match progress
        .watch(&name, Op::Up, || {
            ports::up(
                &project,
                override_file.as_deref(),
                &mut chooser,
                true,
                started + timeout,
            )
        })
        .map(|(done, _)| done)
    {
        Ok(true) => {}
        // Still blocked on a dependency's healthcheck.
        Ok(false) => bail!(ready::explain(&name, timeout).unwrap_or_else(|| format!(
            "`docker compose up` did not finish within {}s",
            timeout.as_secs()
        ))),
        Err(e) if e.interrupted() => return Err(interrupt::error("interrupted")),
        // A dependency that exited non-zero or turned unhealthy fails `up`
        // before readiness sees it: name it and show its logs.
        Err(e) if docker::require_compose().is_err() => return Err(docker::compose_failure(e)),
        Err(e) => match ready::explain(&name, timeout)
            .filter(|why| !why.starts_with("services not ready"))
        {
            Some(why) => bail!(why),
            None => return Err(docker::engine_error(e)),
        },
    }
    interrupt::check()?;
    let containers = ready::wait_observed(&name, started, timeout, Some(&resolved), |c| {
        progress.observe(Op::Up, c)
    })?;
    progress.settle(Step::done("running"));
    progress.finish();
    interrupt::check()?;

    // 6. Ports and env files; the session exists from here on.
    let session = group_sessions(containers)
        .into_iter()
        .find(|s| s.id.working_dir == dir)
        .context("the started containers do not carry the session labels")?;
    // The ports Docker gave are the session's from now on (on a remote
    // engine it chose them; locally they are the ones probed).
    let given = session.ports(None);
    let mut keep = ports::keep_given(&given, &plan.text);
    let sticky = compose::session_override_placed(
        &resolved,
        &extra,
        |svc, p| {
            let kept = keep(svc, &p);
            chooser.place(p, bind.as_deref(), false, kept)
        },
        |svc, port| identity.labels(svc, port),
    );
    if let Some(path) = &override_file {
        crate::safefs::write_if_changed(path, &sticky.text, 0o644)?;
    }
    for w in super::session_files::write_env_files(&session)? {
        output::warn(&w);
    }
    if let Some(wt) = &made.worktree {
        workspace::finish(wt, |m| {
            m.compose_files = session.id.compose_files.clone();
            m.profiles = session.id.profiles.clone();
        })?;
    }
    *made = Made::default();
    Ok(session)
}

fn refuse_existing(containers: &[crate::inspect::Container], dir: &Path) -> Result<()> {
    let here: Vec<crate::inspect::Container> = containers
        .iter()
        .filter(|c| c.labels.get(label::WORKING_DIR).map(Path::new) == Some(dir))
        .cloned()
        .collect();
    match group_sessions(here).first().map(|s| s.status()) {
        Some(session::Status::Stopped) => bail!(
            "a stopped session exists in {}: run `dev-prism start` or `dev-prism destroy`",
            dir.display()
        ),
        Some(_) => bail!(
            "a session is already running in {}: see it with `dev-prism info`, or remove it with `dev-prism destroy` first",
            dir.display()
        ),
        None => Ok(()),
    }
}
