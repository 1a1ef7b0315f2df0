//! One file per command; shared lookups (scope, the session of a directory,
//! refreshing env files) live here.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::docker;
use crate::envfile;
use crate::git;
use crate::session::{self, group_sessions, Session};

pub mod claude;
pub mod create;
pub mod destroy;
pub mod doctor;
pub mod env;
pub mod info;
pub mod lifecycle;
pub mod list;
pub mod prune;
pub mod session_files;

/// What every command gets: where it runs and the global answers.
pub struct Ctx {
    pub cwd: PathBuf,
    pub yes: bool,
}

/// Run the parsed command; the exit code on success.
pub fn run(cli: Cli) -> Result<i32> {
    let cwd = match &cli.chdir {
        Some(dir) => std::fs::canonicalize(dir)
            .map_err(|e| anyhow::anyhow!("cannot use -C {}: {e}", dir.display()))?,
        None => std::env::current_dir()
            .and_then(std::fs::canonicalize)
            .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?,
    };
    let ctx = Ctx { cwd, yes: cli.yes };
    match cli.command {
        Command::Create(args) => create::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Info(args) => info::run(&ctx, args),
        Command::Destroy(args) => destroy::run(&ctx, args),
        Command::Env(args) => env::run_env(&ctx, args),
        Command::WithEnv(args) => env::run_with_env(&ctx, args),
        Command::Start(args) => lifecycle::run_start(&ctx, args),
        Command::Stop(args) => lifecycle::run_stop(&ctx, args),
        Command::StopAll(args) => lifecycle::run_stop_all(&ctx, args),
        Command::Logs(args) => lifecycle::run_logs(&ctx, args),
        Command::Prune(args) => prune::run(&ctx, args),
        Command::Claude(args) => claude::run(&ctx, args),
        Command::Doctor => doctor::run(&ctx),
        Command::Completions(args) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            crate::output::print(&crate::completions::script(args.shell, cmd, "dev-prism"));
            Ok(0)
        }
    }
}

/// Where the config of `dir` lives: the nearest directory with a config file
/// from `dir`'s counterpart in the main worktree up to the main worktree
/// root (so a session worktree reads the main checkout's config, and a
/// project in a monorepo subfolder can have its own); outside git, `dir`.
pub fn config_root(repo: Option<&git::Repo>, dir: &Path) -> PathBuf {
    let Some(repo) = repo else {
        return dir.to_path_buf();
    };
    let rel = dir.strip_prefix(&repo.toplevel).unwrap_or(Path::new(""));
    let mut candidate = repo.main_root.join(rel);
    loop {
        if crate::config::CONFIG_FILES
            .iter()
            .any(|n| candidate.join(n).is_file())
        {
            return candidate;
        }
        if candidate == repo.main_root
            || !candidate.pop()
            || !candidate.starts_with(&repo.main_root)
        {
            return repo.main_root.clone();
        }
    }
}

/// Resolve a DIR argument against the working directory.
pub fn resolve_dir(ctx: &Ctx, dir: Option<&Path>) -> Result<PathBuf> {
    let Some(dir) = dir else {
        return Ok(ctx.cwd.clone());
    };
    let joined = ctx.cwd.join(dir);
    std::fs::canonicalize(&joined).or_else(|_| Ok(crate::layout::normalize(&joined)))
}

/// Sessions in scope: the repository's (a session whose working dir is one
/// of its worktrees or inside one), or every session with `global` or when
/// `dir` is not in a repository. One `docker ps` + one `docker inspect`.
pub fn sessions_in_scope(dir: &Path, global: bool) -> Result<(Vec<Session>, bool)> {
    let all = group_sessions(docker::managed_containers()?);
    if global {
        return Ok((all, true));
    }
    let Some(repo) = git::discover(dir)? else {
        return Ok((all, true));
    };
    let worktrees: Vec<PathBuf> = git::worktrees(&repo.toplevel)?
        .into_iter()
        .map(|w| w.path)
        .collect();
    let mine = all
        .into_iter()
        .filter(|s| worktrees.iter().any(|w| s.id.working_dir.starts_with(w)))
        .collect();
    Ok((mine, false))
}

/// The session whose working dir is `dir` or its nearest ancestor.
pub fn session_at(sessions: Vec<Session>, dir: &Path) -> Option<Session> {
    sessions
        .into_iter()
        .filter(|s| session::contains(&s.id.working_dir, dir))
        .max_by_key(|s| s.id.working_dir.as_os_str().len())
}

/// Find the session of `dir` (one `ps` + one `inspect`), or a clear error.
pub fn require_session(dir: &Path) -> Result<Session> {
    let all = group_sessions(docker::managed_containers()?);
    match session_at(all, dir) {
        Some(s) => Ok(s),
        None => bail!(
            "No session found in this directory ({}); run `dev-prism list` to see sessions, or `dev-prism create`",
            dir.display()
        ),
    }
}

/// Rewrite `.env.session` from Docker when it is missing or stale. Only for a
/// session with running containers (a stopped session's ports are not valid).
/// Returns the path when the file exists afterwards.
pub fn refresh_env_file(s: &Session) -> Result<Option<PathBuf>> {
    let path = s.id.working_dir.join(session::ENV_FILE);
    if s.status() == session::Status::Stopped || !s.id.working_dir.is_dir() {
        return Ok(path.is_file().then_some(path));
    }
    let text = envfile::render(&s.env(docker::url_host_from_env().as_deref()));
    envfile::write_if_changed(&path, &text)?;
    Ok(Some(path))
}

/// Path for display: relative to `base` when inside it.
pub fn display_path(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}
