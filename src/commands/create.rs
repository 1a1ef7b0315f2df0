//! `dev-prism create`: worktree, override file, compose up, readiness, ports,
//! env files, setup. On failure everything it made is removed again.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ctx;
use crate::cli::{CreateArgs, Mode};
use crate::clock;
use crate::compose;
use crate::config::{self, Config};
use crate::docker::{self, ComposeProject};
use crate::envfile;
use crate::git;
use crate::interrupt;
use crate::layout;
use crate::output;
use crate::ready;
use crate::session::{self, group_sessions, label, Identity, Session};

/// Everything create made so far, so a failure can take it back.
#[derive(Default)]
struct Made {
    repo_dir: Option<PathBuf>,
    worktree: Option<PathBuf>,
    branch: Option<String>,
    files: Vec<PathBuf>,
    project: Option<ComposeProject>,
}

impl Made {
    fn rollback(&mut self) {
        if self.project.is_none()
            && self.files.is_empty()
            && self.worktree.is_none()
            && self.branch.is_none()
        {
            return;
        }
        output::progress("Rolling back: removing what this create made");
        if let Some(p) = self.project.take() {
            if let Err(e) = p.down() {
                output::warn(&format!(
                    "could not remove the containers of {}: {e}",
                    p.name
                ));
            }
        }
        for f in self.files.drain(..) {
            let _ = std::fs::remove_file(f);
        }
        // This run made the worktree and branch a moment ago: what is in them
        // is a fresh checkout plus copies dev-prism made (env files, bind-mount
        // directories Docker created), so they go even though untracked.
        if let (Some(repo), Some(wt)) = (&self.repo_dir, self.worktree.take()) {
            if let Err(e) = git::remove_worktree_forced(repo, &wt) {
                output::warn(&format!("{e:#}"));
            }
        }
        if let (Some(repo), Some(branch)) = (&self.repo_dir, self.branch.take()) {
            if let Err(e) = git::force_delete_branch(repo, &branch) {
                output::warn(&format!("could not delete the branch {branch}: {e}"));
            }
        }
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
    let config_root = super::config_root(repo.as_ref(), &ctx.cwd);
    let loaded = config::load(&config_root)?;
    for w in &loaded.warnings {
        output::warn(w);
    }
    let config = loaded.config;
    let main_root = repo
        .as_ref()
        .map(|r| r.main_root.clone())
        .unwrap_or(ctx.cwd.clone());
    let prefix = config.project_name.clone().unwrap_or_else(|| {
        main_root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "session".into())
    });
    // Fail early (before any worktree exists) when there is no compose file.
    layout::compose_files(&ctx.cwd, config.compose_files.as_deref())?;

    crate::interrupt::install();
    let mut made = Made::default();
    let result = create(ctx, &args, repo.as_ref(), &config, &prefix, &mut made);
    if let Err(e) = result {
        made.rollback();
        if crate::interrupt::interrupted() {
            bail!("interrupted: everything this create made was removed");
        }
        return Err(e);
    }
    result
}

fn create(
    ctx: &Ctx,
    args: &CreateArgs,
    repo: Option<&git::Repo>,
    config: &Config,
    prefix: &str,
    made: &mut Made,
) -> Result<i32> {
    // 1. The working directory.
    let (session_dir, branch, worktree) = if args.in_place {
        let branch = repo.and_then(|r| {
            git::worktrees(&r.toplevel)
                .ok()?
                .into_iter()
                .find(|w| w.path == r.toplevel)?
                .branch
        });
        (ctx.cwd.clone(), branch, false)
    } else {
        let repo = repo.context("not in a git repository")?;
        // Say "engine not reachable" before making a worktree.
        docker::ps_ids(&[format!("{}={}", label::WORKING_DIR, ctx.cwd.display())])?;
        let subdir = ctx
            .cwd
            .strip_prefix(&repo.toplevel)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let (wt, branch) = make_worktree(repo, config, prefix, args, made)?;
        let dir = if subdir.as_os_str().is_empty() {
            wt
        } else {
            wt.join(subdir)
        };
        (dir, Some(branch), true)
    };
    interrupt::check()?;
    let _lock = lock_dir(&session_dir)?;
    refuse_existing(&session_dir)?;

    if worktree {
        if let Some(repo) = repo {
            // envFiles are relative to the project dir: its counterpart in the main checkout.
            let rel = ctx
                .cwd
                .strip_prefix(&repo.toplevel)
                .unwrap_or(Path::new(""));
            copy_env_files(&repo.main_root.join(rel), &session_dir, &config.env_files)?;
        }
    }

    // 2. The compose project and its resolved services.
    let base_files = layout::compose_files(&session_dir, config.compose_files.as_deref())?;
    let mut files = docker::absolute(&session_dir, &base_files);
    for w in args.without.iter().filter(|w| !config.apps.contains(w)) {
        output::warn(&format!(
            "--without {w}: `{w}` is not one of the config's apps ({})",
            if config.apps.is_empty() {
                "none".to_string()
            } else {
                config.apps.join(", ")
            }
        ));
    }
    let profiles: Vec<String> = match args.mode {
        Mode::Native => Vec::new(),
        Mode::Docker => config
            .apps
            .iter()
            .filter(|a| !args.without.contains(a))
            .cloned()
            .collect(),
    };
    let name = session::project_name(prefix, &session_dir);
    let base = ComposeProject {
        dir: session_dir.clone(),
        name: name.clone(),
        files: files.clone(),
        profiles: profiles.clone(),
    };
    interrupt::check()?;
    let resolved = compose::parse_project(&base.config_json().map_err(compose_error)?)?;
    files.push(session_dir.join(session::OVERRIDE_FILE));
    let identity = Identity {
        working_dir: session_dir.clone(),
        project_name: name.clone(),
        branch: branch.clone(),
        worktree,
        branch_created: made.branch.is_some(),
        git_dir: repo.map(|r| r.common_dir.clone()),
        mode: args.mode.as_str().to_string(),
        profiles: profiles.clone(),
        created_at: clock::rfc3339(clock::now_secs()),
        compose_files: files.clone(),
        services: resolved.services.keys().cloned().collect(),
    };

    // 3. Generated files.
    let extra: Vec<(String, u16)> = config
        .services
        .iter()
        .map(|e| (e.name.clone(), e.internal_port))
        .collect();
    let plan = compose::session_override(&resolved, &extra, |svc, port| identity.labels(svc, port));
    for w in &plan.warnings {
        output::warn(w);
    }
    if let Some(repo) = repo {
        if let Err(e) = git::exclude(
            &repo.common_dir,
            &session_dir,
            &[session::OVERRIDE_FILE, session::ENV_FILE],
        ) {
            output::warn(&format!(
                "could not add the generated files to .git/info/exclude ({e:#}): do not commit {} or {}",
                session::OVERRIDE_FILE,
                session::ENV_FILE
            ));
        }
    }
    let override_path = session_dir.join(session::OVERRIDE_FILE);
    made.files.push(override_path.clone());
    envfile::write_atomically(&override_path, &plan.text)?;
    let env_path = session_dir.join(session::ENV_FILE);
    let stub = Session {
        id: identity.clone(),
        containers: Vec::new(),
    };
    made.files.push(env_path.clone());
    envfile::write_atomically(&env_path, &envfile::render(&stub.env(None)))?;

    // 4. Start and wait.
    let project = ComposeProject { files, ..base };
    let n = resolved.services.len();
    output::progress(&format!(
        "Starting {n} service{} of {name}…",
        if n == 1 { "" } else { "s" }
    ));
    made.project = Some(project.clone());
    interrupt::check()?;
    let timeout = Duration::from_secs(args.wait_timeout);
    let started = std::time::Instant::now();
    match project.up(true, timeout) {
        Ok(true) => {}
        // Stopped by Ctrl-C, or still blocked on a dependency's healthcheck.
        Ok(false) => {
            interrupt::check()?;
            bail!(ready::explain(&name, timeout).unwrap_or_else(|| format!(
                "`docker compose up` did not finish within {}s",
                timeout.as_secs()
            )));
        }
        // A dependency that exited non-zero or turned unhealthy fails `up`
        // before readiness sees it: name it and show its logs.
        Err(e) if docker::require_compose().is_err() => return Err(compose_error(e)),
        Err(e) => match ready::explain(&name, timeout)
            .filter(|why| !why.starts_with("services not ready"))
        {
            Some(why) => bail!(why),
            None => return Err(docker::engine_error(e)),
        },
    }
    interrupt::check()?;
    let containers = ready::wait_since(&name, started, timeout)?;
    interrupt::check()?;

    // 5. Ports and env files.
    let session = group_sessions(containers)
        .into_iter()
        .find(|s| s.id.working_dir == session_dir)
        .context("the started containers do not carry the session labels")?;
    super::refresh_env_file(&session)?;
    super::session_files::write_env_files(&session, config)?;
    // From here on the session exists: a failing setup leaves it running.
    *made = Made::default();

    let host = docker::url_host_from_env();
    // The answer first: even when a setup command fails, a script learns
    // where the session (left running) is.
    if args.json {
        output::print_json(&super::list::SessionJson::new(&session, host.as_deref()));
    } else {
        print_summary(ctx, &session, host.as_deref());
    }
    if !args.no_setup {
        run_setup(&session, &config.setup, host.as_deref())?;
    }
    if args.no_detach {
        output::progress("Following logs (Ctrl-C stops following; the services keep running)");
        let _ = super::lifecycle::project_of(&session)
            .cmd()
            .args(["logs", "--follow", "--tail", "50"])
            .run_until_interrupted();
    }
    Ok(0)
}

/// Run the setup commands in order with `sh -c` in the session directory and
/// the session env; the first failure stops the rest (the session stays up).
fn run_setup(s: &Session, setup: &[String], host: Option<&str>) -> Result<()> {
    let env = s.env(host);
    for command in setup {
        output::progress(&format!("{} {command}", output::bold("setup:")));
        let mut cmd = crate::process::Cmd::new("sh")
            .arg("-c")
            .arg(command)
            .cwd(&s.id.working_dir);
        for (k, v) in &env {
            cmd = cmd.env(k, v);
        }
        if let Err(e) = cmd.status_to_stderr() {
            let code = e
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none (killed)".into());
            bail!(
                "setup command `{command}` failed with exit code {code}; the session is left running in {} (fix it and run the command there, or `dev-prism destroy`)",
                s.id.working_dir.display()
            );
        }
    }
    Ok(())
}

/// A failed compose call: when Compose itself is missing, v1 or too old
/// (checked only now, to keep the common path fast), say that instead.
fn compose_error(e: crate::process::CmdError) -> anyhow::Error {
    match docker::require_compose() {
        Err(version) => version,
        Ok(_) => docker::engine_error(e),
    }
}

/// Make the worktree and branch, retrying on git lock collisions and taking
/// the next free `-N` name when a generated name is taken concurrently.
fn make_worktree(
    repo: &git::Repo,
    config: &Config,
    prefix: &str,
    args: &CreateArgs,
    made: &mut Made,
) -> Result<(PathBuf, String)> {
    let repo_dir = &repo.main_root;
    // Validate the names and resolve the base (in the worktree create runs
    // in: `HEAD` is that checkout's) before anything is made.
    let resolve_base = || -> Result<String> {
        git::rev_parse_commit(&repo.toplevel, &args.base).map_err(|e| {
            if args.base == "HEAD" {
                anyhow::anyhow!(
                    "this repository has no commits yet: commit first (a worktree starts from a commit), or use --in-place"
                )
            } else {
                e
            }
        })
    };
    let (existing, base) = match &args.branch {
        Some(branch) => {
            git::require_valid_branch(repo_dir, branch)?;
            let existing = git::branch_exists(repo_dir, branch)?;
            if existing && args.base != "HEAD" {
                output::warn(&format!(
                    "branch `{branch}` exists: it is checked out as it is, --base {} is not used",
                    args.base
                ));
            }
            (
                existing,
                if existing {
                    None
                } else {
                    Some(resolve_base()?)
                },
            )
        }
        None => (false, Some(resolve_base()?)),
    };
    let sessions_dir = layout::normalize(&layout::sessions_dir(
        &repo.main_root,
        config.sessions_dir.as_deref(),
        prefix,
    ));
    std::fs::create_dir_all(&sessions_dir)
        .with_context(|| format!("could not create {}", sessions_dir.display()))?;
    let sessions_dir = std::fs::canonicalize(&sessions_dir).unwrap_or(sessions_dir);
    made.repo_dir = Some(repo_dir.clone());

    if let Some(branch) = &args.branch {
        let dir_name = layout::worktree_dir_name(branch);
        for n in 1..=50 {
            let path = sessions_dir.join(layout::with_suffix(&dir_name, n));
            if path.exists() {
                continue;
            }
            match retry_locks(|| git::add_worktree(repo_dir, &path, branch, base.as_deref())) {
                Ok(()) => {
                    made.worktree = Some(path.clone());
                    if !existing {
                        made.branch = Some(branch.clone());
                    }
                    return Ok((path, branch.clone()));
                }
                Err(e) if path.exists() && !e.stderr.contains("already checked out") => continue,
                Err(e) => {
                    let why = e.stderr.trim().trim_start_matches("fatal: ").to_string();
                    bail!("could not create the worktree for branch `{branch}`: {why}");
                }
            }
        }
        bail!(
            "no free directory name for `{dir_name}` in {}",
            sessions_dir.display()
        );
    }

    let base = base.unwrap_or_default();
    let stamp = format!("session/{}", clock::branch_stamp(clock::now_secs()));
    for n in 1..=100 {
        let branch = layout::with_suffix(&stamp, n);
        let path = sessions_dir.join(layout::worktree_dir_name(&branch));
        if path.exists() || git::branch_exists(repo_dir, &branch)? {
            continue;
        }
        match retry_locks(|| git::add_worktree(repo_dir, &path, &branch, Some(&base))) {
            Ok(()) => {
                made.worktree = Some(path.clone());
                made.branch = Some(branch.clone());
                return Ok((path, branch));
            }
            // Taken by a concurrent create between our check and git's: next name.
            Err(e) if e.stderr.contains("already exists") => continue,
            Err(e) => return Err(e).context("could not create the session worktree"),
        }
    }
    bail!("no free session branch name after 100 tries");
}

/// Retry a git call that failed on a lock held by a concurrent git process.
fn retry_locks<F>(mut f: F) -> std::result::Result<(), crate::process::CmdError>
where
    F: FnMut() -> std::result::Result<(), crate::process::CmdError>,
{
    let mut pause = Duration::from_millis(50);
    for _ in 0..8 {
        match f() {
            Err(e) if git::is_lock_error(&e) => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return other,
        }
    }
    f()
}

/// One create per directory at a time: an exclusive lock on a file named
/// after the directory (released by the OS even if dev-prism is killed).
fn lock_dir(dir: &Path) -> Result<File> {
    let name = session::project_name("dev-prism", dir);
    let locks = std::env::temp_dir().join("dev-prism-locks");
    std::fs::create_dir_all(&locks)
        .with_context(|| format!("could not create {}", locks.display()))?;
    let path = locks.join(format!("{name}.lock"));
    let file =
        File::create(&path).with_context(|| format!("could not create {}", path.display()))?;
    if file.try_lock().is_err() {
        bail!(
            "Session already exists in this directory ({}): another dev-prism create is making it",
            dir.display()
        );
    }
    Ok(file)
}

fn refuse_existing(dir: &Path) -> Result<()> {
    let ids = docker::ps_ids(&[format!("{}={}", label::WORKING_DIR, dir.display())])?;
    if ids.is_empty() {
        return Ok(());
    }
    let sessions = group_sessions(docker::inspect(&ids)?);
    match sessions.first().map(|s| s.status()) {
        Some(session::Status::Stopped) => bail!(
            "A stopped session exists in this directory: run `dev-prism start` or `dev-prism destroy`"
        ),
        Some(_) => bail!("Session already running in this directory ({})", dir.display()),
        None => Ok(()),
    }
}

/// Copy the configured env files (usually gitignored) into the new worktree.
fn copy_env_files(main_root: &Path, dir: &Path, files: &[String]) -> Result<()> {
    for f in files {
        let src = main_root.join(f);
        if !src.is_file() {
            output::warn(&format!(
                "envFiles: {} does not exist, not copied",
                src.display()
            ));
            continue;
        }
        let dst = dir.join(f);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&src, &dst).with_context(|| format!("could not copy {}", src.display()))?;
    }
    Ok(())
}

fn print_summary(ctx: &Ctx, s: &Session, host: Option<&str>) {
    output::progress(&format!(
        "{} session {}",
        output::green("Created"),
        output::bold(&super::display_path(&s.id.working_dir, &ctx.cwd))
    ));
    let mut text = format!("directory: {}\n", s.id.working_dir.display());
    if let Some(b) = &s.id.branch {
        text.push_str(&format!("branch:    {b}\n"));
    }
    text.push_str(&format!("project:   {}\n", s.id.project_name));
    let rows: Vec<Vec<String>> = s
        .ports(host)
        .into_iter()
        .map(|p| {
            vec![
                p.service.clone(),
                format!("{}/{}", p.container_port, p.protocol),
                p.url,
            ]
        })
        .collect();
    if !rows.is_empty() {
        text.push('\n');
        text.push_str(&output::table(&["SERVICE", "PORT", "URL"], rows));
    }
    output::print(&text);
}
