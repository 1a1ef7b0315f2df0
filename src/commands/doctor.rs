//! `dev-prism doctor`: one line per check, exit 1 when a required one fails.

use anyhow::Result;

use super::Ctx;
use crate::compose;
use crate::config;
use crate::docker::{self, ComposeProject};
use crate::git;
use crate::layout;
use crate::output;
use crate::process::Cmd;
use crate::session;

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, ok: bool, required: bool, what: &str, detail: &str) {
        let mark = match (ok, required) {
            (true, _) => output::green("ok  "),
            (false, true) => output::red("FAIL"),
            (false, false) => output::yellow("warn"),
        };
        if !ok && required {
            self.failed = true;
        }
        output::print(&format!("{mark} {what}: {detail}\n"));
    }
}

pub fn run(ctx: &Ctx) -> Result<i32> {
    let mut r = Report { failed: false };
    match Cmd::new("git").arg("--version").output() {
        Ok(v) => r.line(true, true, "git", v.trim()),
        Err(e) => r.line(false, true, "git", &e.to_string()),
    }
    let client = Cmd::new("docker")
        .args(["version", "--format", "{{.Client.Version}}"])
        .output_any();
    let client_ok = match &client {
        Ok(out) if !out.stdout.trim().is_empty() => {
            r.line(true, true, "docker client", out.stdout.trim());
            true
        }
        Ok(out) => {
            r.line(false, true, "docker client", out.stderr.trim());
            false
        }
        Err(e) => {
            r.line(false, true, "docker client", &e.to_string());
            false
        }
    };
    let mut engine_ok = false;
    if client_ok {
        match Cmd::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
        {
            Ok(v) => {
                engine_ok = true;
                r.line(true, true, "docker engine", v.trim());
            }
            Err(e) => r.line(
                false,
                true,
                "docker engine",
                &docker::engine_error(e).to_string(),
            ),
        }
        match docker::require_compose() {
            Ok((a, b, c)) => r.line(true, true, "docker compose", &format!("{a}.{b}.{c}")),
            Err(e) => r.line(false, true, "docker compose", &e.to_string()),
        }
    }
    let repo = git::discover(&ctx.cwd).ok().flatten();
    let root = super::config_root(repo.as_ref(), &ctx.cwd);
    // A `.mjs`/`.js` config is repository code: doctor never runs it (a
    // fresh clone must be safe to inspect); create and start do.
    let config = match config::load_without_code(&root) {
        Ok(Ok(l)) => {
            let detail = match &l.path {
                Some(p) => p.display().to_string(),
                None => "no session.config.json (defaults)".to_string(),
            };
            r.line(l.warnings.is_empty(), false, "config", &detail);
            for w in &l.warnings {
                output::warn(w);
            }
            Some(l.config)
        }
        Ok(Err(script)) => {
            r.line(
                false,
                false,
                "config",
                &format!(
                    "{} is not evaluated by doctor (it is code from the repository; create and start run it with node); checking with the defaults",
                    script.display()
                ),
            );
            if let Err(e) = Cmd::new("node").arg("--version").output() {
                r.line(false, true, "node (for session.config.mjs)", &e.to_string());
            }
            Some(config::Config::default())
        }
        Err(e) => {
            r.line(false, true, "config", &format!("{e:#}"));
            None
        }
    };
    if let Some(config) = config {
        compose_checks(&mut r, ctx, repo.as_ref(), &config, engine_ok || client_ok);
    }
    Ok(if r.failed { 1 } else { 0 })
}

/// What dev-prism will run in this directory (files, profiles, project
/// directory, what a new worktree gets copied), checked with `compose config`.
fn compose_checks(
    r: &mut Report,
    ctx: &Ctx,
    repo: Option<&git::Repo>,
    config: &config::Config,
    compose_ok: bool,
) {
    let reserved = [config.override_file(), session::OVERRIDE_FILE];
    let picture = match layout::picture(&ctx.cwd, config.compose_files.as_deref(), &reserved) {
        Ok(p) => p,
        Err(e) => return r.line(false, true, "compose files", &e.to_string()),
    };
    let shown: Vec<String> = picture
        .files
        .iter()
        .map(|f| super::display_path(f, &ctx.cwd))
        .collect();
    r.line(
        true,
        true,
        "compose files",
        &format!("{} (from {})", shown.join(", "), picture.source),
    );
    let profiles = layout::session_profiles(&picture.profiles, &config.apps, true, &[]);
    r.line(
        true,
        false,
        "profiles",
        &if profiles.is_empty() {
            "none (services without a profile)".to_string()
        } else {
            profiles.join(", ")
        },
    );
    r.line(
        true,
        false,
        "project directory",
        &picture.project_dir.display().to_string(),
    );
    let local = docker::engine_is_local();
    let bind = crate::ports::bind_address(config.bind_address.as_deref(), local);
    let why = match (&config.bind_address, local) {
        (Some(_), _) => "bindAddress in the config",
        (None, true) => "default for a local engine: not reachable from the network",
        (None, false) => "default for a remote engine",
    };
    r.line(
        true,
        false,
        "bind address",
        &format!("{} ({why})", bind.as_deref().unwrap_or("all interfaces")),
    );
    if !compose_ok {
        return;
    }
    let project = ComposeProject {
        dir: ctx.cwd.clone(),
        name: session::project_name("doctor", &ctx.cwd),
        files: picture.files.clone(),
        profiles,
    };
    match project.config_json() {
        Ok(json) => {
            if let Ok(resolved) = compose::parse_project(&json) {
                let plan = compose::session_override(&resolved, &[], |_, _| Vec::new());
                for w in plan.warnings {
                    r.line(false, false, "parallel sessions", &w);
                }
            }
        }
        Err(e) => {
            r.line(
                false,
                true,
                "compose config",
                &docker::compose_failure(e).to_string(),
            );
            return;
        }
    }
    if let Some(repo) = repo {
        let copies = if config.env_files.is_empty() {
            crate::workspace::zero_config_copies(repo, &ctx.cwd, &picture, &project)
                .map(|c| (c, "gitignored files Compose reads"))
        } else {
            Ok((config.env_files.clone(), "envFiles in the config"))
        };
        match copies {
            Ok((c, _)) if c.is_empty() => {
                r.line(true, false, "copied into a new worktree", "nothing")
            }
            Ok((c, why)) => r.line(
                true,
                false,
                "copied into a new worktree",
                &format!("{} ({why})", c.join(", ")),
            ),
            Err(e) => r.line(
                false,
                false,
                "copied into a new worktree",
                &format!("{e:#}"),
            ),
        }
    }
}
