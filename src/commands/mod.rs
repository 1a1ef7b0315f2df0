//! One file per command; shared lookups (scope, the session of a directory,
//! refreshing env files) live here.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::docker;
use crate::git;
use crate::ownership::{self, Marker};
use crate::session::{self, group_sessions, Identity, Session};

pub mod claude;
pub mod create;
pub mod destroy;
pub mod doctor;
pub mod env;
pub mod hook;
pub mod info;
pub mod lifecycle;
pub mod list;
pub mod list_view;
pub mod path;
pub mod prune;
pub mod resolve;
pub mod session_files;

/// What every command gets: where it runs and the global answers.
pub struct Ctx {
    pub cwd: PathBuf,
    pub yes: bool,
}

/// Run the parsed command; the exit code on success.
pub fn run(cli: Cli) -> Result<i32> {
    let cwd = match &cli.chdir {
        Some(dir) if !dir.is_dir() && dir.exists() => {
            bail!("cannot use -C {}: it is not a directory", dir.display())
        }
        Some(dir) => std::fs::canonicalize(dir)
            .map_err(|e| anyhow::anyhow!("cannot use -C {}: {e}", dir.display()))?,
        None => match std::env::current_dir().and_then(std::fs::canonicalize) {
            Ok(dir) => dir,
            // A hook finds its directories in its payload; Claude Code may
            // run it from a directory that is gone.
            Err(_) if matches!(cli.command, Command::Hook(_)) => PathBuf::from("/"),
            Err(e) => bail!("cannot read the current directory: {e}"),
        },
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
        Command::Path(args) => path::run(&ctx, args),
        Command::Hook(args) => hook::run(&ctx, args),
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

/// Resolve a DIR argument: a path (an existing one wins), or a session's
/// branch or worktree directory name (see `resolve`).
pub fn resolve_dir(ctx: &Ctx, dir: Option<&Path>) -> Result<PathBuf> {
    resolve::resolve_dir(ctx, dir)
}

/// Sessions in scope: the repository's (a session whose working dir is one
/// of its worktrees or inside one), or every session with `global` or when
/// `dir` is not in a repository. One `docker ps` + one `docker inspect`;
/// for the repository, also the worktrees dev-prism made whose containers
/// are gone (found by their record in git's admin dir, no extra process).
pub fn sessions_in_scope(dir: &Path, global: bool) -> Result<(Vec<Session>, bool)> {
    let all = group_sessions(docker::managed_containers()?);
    if global {
        return Ok((all, true));
    }
    let Some(repo) = git::discover(dir)? else {
        return Ok((all, true));
    };
    let worktrees = &repo.worktrees;
    let mut mine: Vec<Session> = all
        .into_iter()
        .filter(|s| {
            worktrees
                .iter()
                .any(|w| s.id.working_dir.starts_with(&w.path))
        })
        .collect();
    // Sessions of the original tool carry no branch label: ask git.
    for s in mine.iter_mut().filter(|s| s.id.branch.is_none()) {
        s.id.branch = worktrees
            .iter()
            .filter(|w| s.id.working_dir.starts_with(&w.path))
            .max_by_key(|w| w.path.as_os_str().len())
            .and_then(|w| w.branch.clone());
    }
    let admins = ownership::admins(&repo.common_dir);
    for s in &mine {
        migrate(&admins, s);
    }
    for a in &admins {
        let Some(m) = &a.marker else { continue };
        if a.being_created()
            || mine
                .iter()
                .any(|s| s.id.working_dir.starts_with(&a.worktree))
        {
            continue;
        }
        mine.push(Session {
            id: identity_of_marker(m, &repo.common_dir),
            containers: Vec::new(),
        });
    }
    mine.sort_by(|a, b| a.id.working_dir.cmp(&b.id.working_dir));
    Ok((mine, false))
}

/// A session that has only its record left (its containers are gone).
pub fn identity_of_marker(m: &Marker, common_dir: &Path) -> Identity {
    Identity {
        working_dir: m.session_dir.clone(),
        project_name: m.project.clone(),
        branch: m.branch.clone(),
        worktree: true,
        branch_created: m.branch_created,
        git_dir: Some(common_dir.to_path_buf()),
        mode: "docker".into(),
        profiles: m.profiles.clone(),
        created_at: m.created_at.clone(),
        compose_files: m.compose_files.clone(),
        services: Vec::new(),
        env_file: session::ENV_FILE.into(),
        app_env: Default::default(),
        env_files: Vec::new(),
        legacy: false,
        port_range: None,
        pre_destroy: Vec::new(),
    }
}

/// A worktree session of the first release has no record: write one from
/// its labels (trusted: they were set when the session was made), so the
/// rest of dev-prism can rely on it.
pub fn migrate(admins: &[ownership::Admin], s: &Session) {
    if !(s.id.worktree || s.id.legacy) || s.containers.is_empty() {
        return;
    }
    let Some(admin) = admins
        .iter()
        .filter(|a| s.id.working_dir.starts_with(&a.worktree))
        .max_by_key(|a| a.worktree.as_os_str().len())
    else {
        return;
    };
    // The original tool made the worktree when its session is at its top.
    if admin.ours() || (s.id.legacy && admin.worktree != s.id.working_dir) {
        return;
    }
    let marker = Marker {
        version: 1,
        state: ownership::State::Ready,
        creator: ownership::Creator {
            pid: 0,
            start: None,
            host: String::new(),
        },
        session_dir: s.id.working_dir.clone(),
        project: s.id.project_name.clone(),
        branch: s.id.branch.clone().filter(|b| !b.is_empty()),
        branch_created: s.id.branch_created,
        base: None,
        created_at: s.id.created_at.clone(),
        sessions_dir: None,
        files: Vec::new(),
        migrated: true,
        branch_unknown: s.id.legacy,
        compose_files: s.id.compose_files.clone(),
        profiles: s.id.profiles.clone(),
    };
    if let Err(e) = admin.write_marker(&marker) {
        crate::output::warn(&format!(
            "could not record {} as a dev-prism worktree: {e:#}",
            admin.worktree.display()
        ));
    }
}

/// The session whose working dir is `dir` or its nearest ancestor.
pub fn session_at(sessions: Vec<Session>, dir: &Path) -> Option<Session> {
    sessions
        .into_iter()
        .filter(|s| session::contains(&s.id.working_dir, dir))
        .max_by_key(|s| s.id.working_dir.as_os_str().len())
}

/// The session of `dir`: by its containers (one `ps` + one `inspect`), else
/// by the record of the worktree dev-prism made there.
pub fn find_session(dir: &Path) -> Result<Option<Session>> {
    let all = group_sessions(docker::managed_containers()?);
    if let Some(s) = session_at(all, dir) {
        if let Some(common) = s.id.git_dir.as_deref().filter(|_| s.id.worktree) {
            migrate(&ownership::admins(common), &s);
        }
        return Ok(Some(s));
    }
    if !dir.is_dir() {
        return Ok(None);
    }
    let Some(repo) = git::discover(dir)? else {
        return Ok(None);
    };
    let Some(admin) = ownership::admin_containing(&repo.common_dir, dir) else {
        return Ok(None);
    };
    Ok(admin.marker.as_ref().map(|m| Session {
        id: identity_of_marker(m, &repo.common_dir),
        containers: Vec::new(),
    }))
}

/// Find the session of `dir`, or a clear error.
pub fn require_session(dir: &Path) -> Result<Session> {
    match find_session(dir)? {
        Some(s) => Ok(s),
        None if !dir.exists() => bail!(
            "no session found in {}: no such directory, and no session has that branch or worktree directory name; run `dev-prism list` to see sessions",
            dir.display()
        ),
        None => bail!(
            "no session found in {}: run `dev-prism list` to see sessions, or `dev-prism create`",
            dir.display()
        ),
    }
}

/// Rewrite the derived env files of a running session when they are missing
/// or stale. Returns the env file's path when it exists afterwards.
pub fn refresh_env_file(s: &Session) -> Result<Option<PathBuf>> {
    session_files::refresh(s)
}

/// Path for display: relative to `base` when inside it.
pub fn display_path(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}
