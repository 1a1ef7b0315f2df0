//! `dev-prism info`: one session in detail; regenerates `.env.session`.

use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

use super::list::{status_text, SessionJson};
use super::Ctx;
use crate::cli::InfoArgs;
use crate::docker;
use crate::output;
use crate::session::service_of;

#[derive(Serialize)]
struct InfoJson {
    #[serde(flatten)]
    session: SessionJson,
    env_file: Option<PathBuf>,
    env: serde_json::Map<String, serde_json::Value>,
}

pub fn run(ctx: &Ctx, args: InfoArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.dir.as_deref())?;
    let s = super::require_session(&dir)?;
    let env_file = super::refresh_env_file(&s)?;
    let host = docker::url_host_from_env();
    if args.json {
        let env = s
            .env(host.as_deref())
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        output::print_json(&InfoJson {
            session: SessionJson::new(&s, host.as_deref())
                .current_in(&ctx.cwd)
                .with_git(git_state(&s)),
            env_file,
            env,
        });
        return Ok(0);
    }
    let mut text = String::new();
    text.push_str(&format!("directory: {}\n", s.id.working_dir.display()));
    text.push_str(&format!("status:    {}\n", status_text(s.status())));
    if let Some(b) = &s.id.branch {
        text.push_str(&format!("branch:    {b}\n"));
    }
    text.push_str(&format!("project:   {}\n", s.id.project_name));
    text.push_str(&format!("mode:      {}\n", s.id.mode));
    if !s.id.profiles.is_empty() {
        text.push_str(&format!("profiles:  {}\n", s.id.profiles.join(",")));
    }
    match &env_file {
        Some(p) => text.push_str(&format!("env file:  {}\n", p.display())),
        None => text.push_str("env file:  (none: the session is stopped)\n"),
    }
    let ports = s.ports(host.as_deref());
    let rows = s
        .containers
        .iter()
        .map(|c| {
            let service = service_of(c);
            let state = match &c.state.health {
                Some(h) if c.state.is_running() => format!("{} ({h})", c.state.status),
                _ if c.state.status == "exited" => format!("exited ({})", c.state.exit_code),
                _ => c.state.status.clone(),
            };
            let urls: Vec<String> = ports
                .iter()
                .filter(|p| p.service == service)
                .map(|p| format!("{}/{} {}", p.container_port, p.protocol, p.address))
                .collect();
            vec![
                service.to_string(),
                state,
                if urls.is_empty() {
                    "-".into()
                } else {
                    urls.join("\n")
                },
            ]
        })
        .collect();
    let mut rows: Vec<Vec<String>> = rows;
    for svc in s.missing_services() {
        rows.push(vec![svc, "missing (container removed)".into(), "-".into()]);
    }
    text.push('\n');
    text.push_str(&output::table(&["SERVICE", "STATE", "PORTS"], rows));
    if !s.missing_services().is_empty() {
        text.push_str("\nRun `dev-prism start` to recreate the missing containers.\n");
    }
    output::print(&text);
    Ok(0)
}

/// The session's git state (one or two git processes; none outside git).
fn git_state(s: &crate::session::Session) -> Option<crate::gitstate::GitState> {
    if s.id.git_dir.is_none() && !s.id.worktree {
        return None;
    }
    let git_dirs: Vec<std::path::PathBuf> = s.id.git_dir.iter().cloned().collect();
    let bases = crate::gitstate::bases(&git_dirs);
    let dir = &s.id.working_dir;
    crate::gitstate::of(dir, crate::gitstate::base_of(&bases, dir))
}
