//! `dev-prism list`: sessions with status, directory, branch, URLs and age.

use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

use super::list_view;
use super::Ctx;
use crate::bulk;
use crate::cli::ListArgs;
use crate::clock;
use crate::docker;
use crate::gitstate::{self, GitState};
use crate::output;
use crate::session::{service_of, Session, SessionPort, Status};

/// The version of the session object of `list --json`, `info --json` and
/// `create --json`. 2 added `schema`, `is_current`, `git` and
/// `ports[].address`; everything of 1 is unchanged.
pub const SCHEMA: u32 = 2;

/// One session in `list --json` / `info --json`.
#[derive(Serialize)]
pub struct SessionJson {
    pub schema: u32,
    pub working_dir: PathBuf,
    pub project_name: String,
    pub branch: Option<String>,
    /// `running`, `stopped` or `partial`
    pub status: &'static str,
    pub running: usize,
    pub total: usize,
    pub mode: String,
    pub profiles: Vec<String>,
    pub worktree: bool,
    pub created_at: String,
    pub ports: Vec<SessionPort>,
    pub containers: Vec<ContainerJson>,
    /// The current directory is inside the session's working directory.
    pub is_current: bool,
    /// Uncommitted files and commits ahead; `null` outside git, for a
    /// missing directory, and in `create --json`.
    pub git: Option<GitState>,
}

#[derive(Serialize)]
pub struct ContainerJson {
    pub name: String,
    pub service: String,
    pub state: String,
    pub health: Option<String>,
    pub exit_code: i64,
}

impl SessionJson {
    pub fn new(s: &Session, host: Option<&str>) -> Self {
        let status = s.status();
        let running = s.containers.iter().filter(|c| c.state.is_running()).count();
        let total = match status {
            Status::Partial { total, .. } => total,
            _ => s.containers.len(),
        };
        SessionJson {
            schema: SCHEMA,
            working_dir: s.id.working_dir.clone(),
            project_name: s.id.project_name.clone(),
            branch: s.id.branch.clone(),
            status: match status {
                Status::Running => "running",
                Status::Stopped => "stopped",
                Status::Partial { .. } => "partial",
            },
            running,
            total,
            mode: s.id.mode.clone(),
            profiles: s.id.profiles.clone(),
            worktree: s.id.worktree,
            created_at: s.id.created_at.clone(),
            ports: s.ports(host),
            containers: s
                .containers
                .iter()
                .map(|c| ContainerJson {
                    name: c.name.clone(),
                    service: service_of(c).to_string(),
                    state: c.state.status.clone(),
                    health: c.state.health.clone(),
                    exit_code: c.state.exit_code,
                })
                .collect(),
            is_current: false,
            git: None,
        }
    }

    /// Say whether the current directory `cwd` is inside the session.
    pub fn current_in(mut self, cwd: &Path) -> Self {
        self.is_current = crate::session::contains(&self.working_dir, cwd);
        self
    }

    pub fn with_git(mut self, git: Option<GitState>) -> Self {
        self.git = git;
        self
    }
}

/// `running` / `stopped` / `partial n/m`, coloured.
pub fn status_text(status: Status) -> String {
    match status {
        Status::Running => output::green("running"),
        Status::Stopped => output::yellow("stopped"),
        Status::Partial { running, total } => output::red(&format!("partial {running}/{total}")),
    }
}

pub fn run(ctx: &Ctx, args: ListArgs) -> Result<i32> {
    // The git state of the worktrees dev-prism made here is read while
    // Docker is asked for the sessions: neither waits for the other.
    let (found, early) = std::thread::scope(|scope| {
        let early = scope.spawn(|| early_git_states(&ctx.cwd));
        let found = super::sessions_in_scope(&ctx.cwd, args.scope.global);
        (found, early.join().unwrap_or_default())
    });
    let (sessions, global) = found?;
    let host = docker::url_host_from_env();
    // Self-healing: a deleted or edited .env.session of a running session
    // of this repository is rewritten from Docker (no extra docker call);
    // a global list only reads.
    for s in sessions.iter().filter(|_| !global) {
        if let Err(e) = super::refresh_env_file(s) {
            output::warn(&format!("{e:#}"));
        }
    }
    if sessions.is_empty() && !args.json {
        let scope = if global { "" } else { " for this repository" };
        output::progress(&format!(
            "No sessions{scope}. Start one with `dev-prism create`."
        ));
        return Ok(0);
    }
    let current = current_session(&sessions, &ctx.cwd);
    let git = git_states(&sessions, &early);
    if args.json {
        let items: Vec<SessionJson> = sessions
            .iter()
            .zip(git)
            .enumerate()
            .map(|(i, (s, g))| {
                let mut j = SessionJson::new(s, host.as_deref()).with_git(g);
                j.is_current = current == Some(i);
                j
            })
            .collect();
        output::print_json(&items);
        return Ok(0);
    }
    let now = clock::now_secs();
    let rows: Vec<list_view::Row> = sessions
        .iter()
        .zip(git)
        .enumerate()
        .map(|(i, (s, git))| list_view::Row {
            current: current == Some(i),
            status: s.status(),
            dir: s.id.working_dir.clone(),
            branch: s.id.branch.clone().filter(|b| !b.is_empty()),
            git,
            ports: s.ports(host.as_deref()),
            age: clock::parse_rfc3339(&s.id.created_at)
                .map(|t| clock::age(now - t))
                .unwrap_or_default(),
        })
        .collect();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    output::print(&list_view::render(
        &rows,
        &ctx.cwd,
        home.as_deref(),
        list_view::terminal_width(),
        &|status, text| paint_status(status, text),
        &|text| output::bold(text),
    ));
    Ok(0)
}

/// The session you are in: the deepest whose working dir holds `cwd`.
fn current_session(sessions: &[Session], cwd: &Path) -> Option<usize> {
    sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| crate::session::contains(&s.id.working_dir, cwd))
        .max_by_key(|(_, s)| s.id.working_dir.as_os_str().len())
        .map(|(i, _)| i)
}

/// The git state of each worktree dev-prism made in the repository of
/// `cwd` (by its record in git's admin dir), keyed by the worktree's top.
fn early_git_states(cwd: &Path) -> Vec<(PathBuf, Option<GitState>)> {
    let Some(common_dir) = gitstate::common_dir(cwd) else {
        return Vec::new();
    };
    let made: Vec<(PathBuf, Option<String>)> = crate::ownership::admins(&common_dir)
        .into_iter()
        .filter_map(|a| {
            let base = a.marker.as_ref()?.base.clone();
            Some((a.worktree, base))
        })
        .collect();
    bulk::map(&made, GIT_AT_ONCE, |(top, base)| {
        (top.clone(), gitstate::of(top, base.as_deref()))
    })
}

/// The git state of every session made in git: from `early` when its
/// worktree is there, else read now, a few at a time.
fn git_states(
    sessions: &[Session],
    early: &[(PathBuf, Option<GitState>)],
) -> Vec<Option<GitState>> {
    let known = |dir: &Path| {
        early
            .iter()
            .filter(|(top, _)| dir.starts_with(top))
            .max_by_key(|(top, _)| top.as_os_str().len())
            .map(|(_, state)| state.clone())
    };
    let mut git_dirs: Vec<PathBuf> = sessions
        .iter()
        .filter_map(|s| s.id.git_dir.clone())
        .collect();
    git_dirs.sort();
    git_dirs.dedup();
    let bases = gitstate::bases(&git_dirs);
    bulk::map(sessions, GIT_AT_ONCE, |s| {
        // A session made outside git has no state to show: no process.
        if s.id.git_dir.is_none() && !s.id.worktree {
            return None;
        }
        let dir = &s.id.working_dir;
        match known(dir) {
            Some(state) => state,
            None => gitstate::of(dir, gitstate::base_of(&bases, dir)),
        }
    })
}

/// git processes at once for `list`: short ones, mostly waiting on the disk.
const GIT_AT_ONCE: usize = 8;

/// The status words, coloured.
fn paint_status(status: Status, text: &str) -> String {
    match status {
        Status::Running => output::green(text),
        Status::Stopped => output::yellow(text),
        Status::Partial { .. } => output::red(text),
    }
}
