//! `dev-prism list`: sessions with status, directory, branch, URLs and age.

use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

use super::Ctx;
use crate::cli::ListArgs;
use crate::clock;
use crate::docker;
use crate::output;
use crate::session::{service_of, Session, SessionPort, Status};

/// One session in `list --json` / `info --json`.
#[derive(Serialize)]
pub struct SessionJson {
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
        }
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
    let (sessions, global) = super::sessions_in_scope(&ctx.cwd, args.scope.global)?;
    let host = docker::url_host_from_env();
    // Self-healing: a deleted or edited .env.session of a running session
    // of this repository is rewritten from Docker (no extra docker call);
    // a global list only reads.
    for s in sessions.iter().filter(|_| !global) {
        if let Err(e) = super::refresh_env_file(s) {
            output::warn(&format!("{e:#}"));
        }
    }
    if args.json {
        let items: Vec<SessionJson> = sessions
            .iter()
            .map(|s| SessionJson::new(s, host.as_deref()))
            .collect();
        output::print_json(&items);
        return Ok(0);
    }
    if sessions.is_empty() {
        let scope = if global { "" } else { " for this repository" };
        output::progress(&format!(
            "No sessions{scope}. Start one with `dev-prism create`."
        ));
        return Ok(0);
    }
    let now = clock::now_secs();
    let rows = sessions
        .iter()
        .map(|s| {
            let urls: Vec<String> = s
                .ports(host.as_deref())
                .into_iter()
                .map(|p| format!("{} {}", p.service, p.url))
                .collect();
            let age = clock::parse_rfc3339(&s.id.created_at)
                .map(|t| clock::age(now - t))
                .unwrap_or_default();
            vec![
                status_text(s.status()),
                s.id.working_dir.display().to_string(),
                s.id.branch.clone().unwrap_or_else(|| "-".into()),
                if urls.is_empty() {
                    "-".into()
                } else {
                    urls.join("\n")
                },
                age,
            ]
        })
        .collect();
    output::print(&output::table(
        &["STATUS", "DIRECTORY", "BRANCH", "URLS", "AGE"],
        rows,
    ));
    Ok(0)
}
