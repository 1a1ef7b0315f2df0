//! Files a session writes besides `.env.session`: the `appEnv` files and the
//! `DATABASE_URL` of copied `envFiles`; and their removal when the ports
//! they hold are no longer valid.

use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::appenv;
use crate::config::{self, Config};
use crate::docker;
use crate::envfile;
use crate::git;
use crate::output;
use crate::session::{self, Session};

/// `appEnv` files and the `DATABASE_URL` of copied env files, for a session
/// whose config is found from its directory.
pub fn write_app_env(s: &Session) -> Result<()> {
    write_env_files(s, &config_of(s)?)
}

pub fn write_env_files(s: &Session, config: &Config) -> Result<()> {
    let env = s.env(docker::url_host_from_env().as_deref());
    for (path, vars) in &config.app_env {
        let entries: Vec<(String, String)> = vars
            .iter()
            .map(|(k, template)| {
                let (value, unknown) = appenv::substitute(template, &env);
                for u in unknown {
                    output::warn(&format!(
                        "appEnv {path}: {k} uses unknown variable ${{{u}}}"
                    ));
                }
                (k.clone(), value)
            })
            .collect();
        let dir = s.id.working_dir.join(path);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        envfile::write_if_changed(&dir.join(session::ENV_FILE), &envfile::render(&entries))?;
    }
    let Some((_, url)) = env.iter().find(|(k, _)| k == "DATABASE_URL") else {
        return Ok(());
    };
    for f in &config.env_files {
        let path = s.id.working_dir.join(f);
        // Only files inside a worktree dev-prism made are ours to rewrite.
        if !s.id.worktree || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        if let Some(new) = appenv::rewrite_database_url(&text, url) {
            envfile::write_if_changed(&path, &new)?;
        }
    }
    Ok(())
}

/// The session's config, looked up from its directory.
fn config_of(s: &Session) -> Result<Config> {
    let repo = git::discover(&s.id.working_dir)?;
    Ok(config::load(&super::config_root(repo.as_ref(), &s.id.working_dir))?.config)
}

/// The `appEnv` files dev-prism wrote for a session (files named
/// `.env.session` under each `appEnv` path that start with its header).
pub fn app_env_files(s: &Session) -> Vec<PathBuf> {
    let Ok(config) = config_of(s) else {
        return Vec::new();
    };
    config
        .app_env
        .keys()
        .map(|dir| s.id.working_dir.join(dir).join(session::ENV_FILE))
        .filter(|p| {
            std::fs::read_to_string(p)
                .map(|t| t.starts_with(envfile::ENV_HEADER))
                .unwrap_or(false)
        })
        .collect()
}

/// Remove the `appEnv` files (their ports are no longer valid).
pub fn remove_app_env_files(s: &Session) -> Result<()> {
    for p in app_env_files(s) {
        std::fs::remove_file(&p).with_context(|| format!("could not remove {}", p.display()))?;
    }
    Ok(())
}
