//! The files derived from a session's ports, all written through the
//! safe-write rules: `.env.session`, the `appEnv` files and the
//! `DATABASE_URL` of copied `envFiles`. They are written (and healed)
//! together, from the session's labels alone — no repository code runs.

use anyhow::Result;
use std::path::{Path, PathBuf};

use crate::appenv;
use crate::compose::OVERRIDE_HEADER;
use crate::docker;
use crate::envfile::{self, ENV_HEADER};
use crate::git;
use crate::ownership;
use crate::safefs::{self, Generated};
use crate::session::{Identity, Session, Status};
use crate::teardown::GeneratedFile;

/// How to move a generated file when its name is taken.
const MOVE_ENV: &str = "set `envFile` in session.config.json to use another name";
const MOVE_OVERRIDE: &str = "set `overrideFile` in session.config.json to use another name";
const MOVE_APP_ENV: &str = "change that `appEnv` entry (or `envFile`) in session.config.json";

/// Whether git tracks a file of the session directory (asked only when a
/// file dev-prism would replace exists). Outside git nothing is tracked.
fn tracked_in(dir: &Path) -> impl Fn(&Path) -> bool + '_ {
    move |rel: &Path| {
        let abs = dir.join(rel);
        match git::discover(dir) {
            Ok(Some(repo)) => match abs.strip_prefix(&repo.toplevel) {
                Ok(in_top) => git::is_tracked(&repo.toplevel, in_top),
                Err(_) => false,
            },
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

/// The env file's place in the session directory.
pub fn env_file(id: &Identity) -> Generated<'_> {
    Generated {
        root: &id.working_dir,
        rel: Path::new(&id.env_file),
        header: ENV_HEADER,
        mode: 0o600,
        moved_by: MOVE_ENV,
    }
}

/// Write `.env.session`, the `appEnv` files and the `DATABASE_URL` of the
/// copied env files from the session's containers. Returns warnings (an
/// `appEnv` template naming an unknown variable).
pub fn write_env_files(s: &Session) -> Result<Vec<String>> {
    let id = &s.id;
    let env = s.env(docker::url_host_from_env().as_deref());
    let tracked = tracked_in(&id.working_dir);
    env_file(id).write(&envfile::render(&env), &tracked)?;
    let mut warnings = Vec::new();
    for (dir, vars) in &id.app_env {
        let entries: Vec<(String, String)> = vars
            .iter()
            .map(|(k, template)| {
                let (value, unknown) = appenv::substitute(template, &env);
                for u in unknown {
                    warnings.push(format!("appEnv {dir}: {k} uses unknown variable ${{{u}}}"));
                }
                (k.clone(), value)
            })
            .collect();
        let rel = Path::new(dir).join(&id.env_file);
        Generated {
            root: &id.working_dir,
            rel: &rel,
            header: ENV_HEADER,
            mode: 0o600,
            moved_by: MOVE_APP_ENV,
        }
        .write(&envfile::render(&entries), &tracked)?;
    }
    if let Some((_, url)) = env.iter().find(|(k, _)| k == "DATABASE_URL") {
        if id.worktree {
            rewrite_database_urls(id, url, &tracked)?;
        }
    }
    Ok(warnings)
}

/// A new session's generated files: check every one (none may be tracked,
/// a symlink, or a file that is not dev-prism's) before writing any, add
/// them to `info/exclude`, then write the override file and a first env
/// file. `made` lists them as soon as they may exist (for a rollback).
pub fn write_first(
    repo: Option<&git::Repo>,
    id: &Identity,
    override_text: &str,
    made: &mut Vec<GeneratedFile>,
) -> Result<()> {
    let dir = &id.working_dir;
    let wanted = generated(id);
    let top = match repo {
        Some(r) => Some(git::discover(dir)?.map_or(r.toplevel.clone(), |r| r.toplevel)),
        None => None,
    };
    let in_top = |rel: &Path| -> Option<PathBuf> {
        let top = top.as_ref()?;
        dir.join(rel).strip_prefix(top).ok().map(Path::to_path_buf)
    };
    let tracked = match &top {
        Some(top) => {
            let rels: Vec<PathBuf> = wanted.iter().filter_map(|g| in_top(&g.rel)).collect();
            git::tracked(top, &rels)?
        }
        None => Default::default(),
    };
    let is_tracked = |rel: &Path| in_top(rel).is_some_and(|p| tracked.contains(&p));
    for g in &wanted {
        let moved_by = if g.header == OVERRIDE_HEADER {
            MOVE_OVERRIDE
        } else if g.rel == Path::new(&id.env_file) {
            MOVE_ENV
        } else {
            MOVE_APP_ENV
        };
        Generated {
            root: dir,
            rel: &g.rel,
            header: g.header,
            mode: 0o600,
            moved_by,
        }
        .check(is_tracked)?;
    }
    if let (Some(repo), Some(_)) = (repo, &top) {
        let entries: Vec<String> = wanted
            .iter()
            .filter_map(|g| in_top(&g.rel))
            .map(|p| format!("/{}", crate::safety::git_path(&p)))
            .collect();
        let old = [crate::session::OVERRIDE_FILE, crate::session::ENV_FILE];
        if let Err(e) = git::exclude(&repo.common_dir, &entries, &old) {
            crate::output::warn(&format!(
                "could not add the generated files to .git/info/exclude ({e:#}): do not commit them"
            ));
        }
    }
    *made = wanted;
    let over_rel = made
        .iter()
        .find(|g| g.header == OVERRIDE_HEADER)
        .map(|g| g.rel.clone())
        .unwrap_or_default();
    Generated {
        root: dir,
        rel: &over_rel,
        header: OVERRIDE_HEADER,
        mode: 0o644,
        moved_by: MOVE_OVERRIDE,
    }
    .write(override_text, is_tracked)?;
    let stub = Session {
        id: id.clone(),
        containers: Vec::new(),
    };
    env_file(id).write(&envfile::render(&stub.env(None)), is_tracked)?;
    Ok(())
}

/// Rewrite `DATABASE_URL` in the copied env files of a worktree session.
fn rewrite_database_urls(id: &Identity, url: &str, tracked: &impl Fn(&Path) -> bool) -> Result<()> {
    let admin = id
        .git_dir
        .as_deref()
        .and_then(|common| ownership::admin_containing(common, &id.working_dir));
    for f in &id.env_files {
        let rel = Path::new(f);
        if safefs::check_dirs(&id.working_dir, rel).is_err() || tracked_if_present(id, rel, tracked)
        {
            continue;
        }
        let path = id.working_dir.join(rel);
        let Ok(text) = safefs::read_nofollow(&path) else {
            continue;
        };
        let Some(new) = appenv::rewrite_database_url(&text, url) else {
            continue;
        };
        let mode = std::fs::symlink_metadata(&path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap_or(0o600);
        if safefs::write_if_changed(&path, &new, mode)? {
            if let Some(admin) = &admin {
                update_hash(admin, &path, &new)?;
            }
        }
    }
    Ok(())
}

fn tracked_if_present(id: &Identity, rel: &Path, tracked: &impl Fn(&Path) -> bool) -> bool {
    id.working_dir.join(rel).exists() && tracked(rel)
}

/// A copied file dev-prism rewrote stays dev-prism's: record its new hash.
fn update_hash(admin: &ownership::Admin, path: &Path, text: &str) -> Result<()> {
    let Some(mut marker) = admin.marker.clone() else {
        return Ok(());
    };
    let Some(rel) = path
        .strip_prefix(&admin.worktree)
        .ok()
        .map(crate::safety::git_path)
    else {
        return Ok(());
    };
    if marker.owned_file(&rel).is_some() {
        marker.set_file(&rel, safefs::hash(text.as_bytes()));
        admin.write_marker(&marker)?;
    }
    Ok(())
}

/// Rewrite the derived files of a running session when they are missing or
/// stale (a stopped session's ports are not valid). Returns the env file's
/// path when it exists afterwards.
pub fn refresh(s: &Session) -> Result<Option<PathBuf>> {
    let path = s.id.working_dir.join(&s.id.env_file);
    if s.status() == Status::Stopped || !s.id.working_dir.is_dir() {
        return Ok(path.is_file().then_some(path));
    }
    for w in write_env_files(s)? {
        crate::output::warn(&w);
    }
    Ok(Some(path))
}

/// The files dev-prism generated in a session directory (override, env
/// file, appEnv files), as recorded in its labels.
pub fn generated(id: &Identity) -> Vec<GeneratedFile> {
    let mut out = vec![GeneratedFile {
        rel: PathBuf::from(&id.env_file),
        header: ENV_HEADER,
    }];
    if let Some(over) = id
        .compose_files
        .last()
        .and_then(|f| f.strip_prefix(&id.working_dir).ok())
        .filter(|rel| rel.components().count() == 1)
    {
        out.push(GeneratedFile {
            rel: over.to_path_buf(),
            header: OVERRIDE_HEADER,
        });
    }
    for dir in id.app_env.keys() {
        out.push(GeneratedFile {
            rel: Path::new(dir).join(&id.env_file),
            header: ENV_HEADER,
        });
    }
    out
}

/// Remove the env file and the `appEnv` files (their ports are no longer
/// valid): only files that still carry dev-prism's header.
pub fn remove_env_files(id: &Identity) -> Result<()> {
    let tracked = tracked_in(&id.working_dir);
    for g in generated(id).iter().filter(|g| g.header == ENV_HEADER) {
        safefs::remove_generated(&id.working_dir, &g.rel, g.header, &tracked)?;
    }
    Ok(())
}
