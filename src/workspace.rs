//! Making a session worktree, so that it is recorded from the first moment:
//! `git worktree add --lock` (the lock reason names this process), then the
//! marker in git's admin dir, then — for a new branch — the branch, created
//! inside the recorded worktree. A `create` killed at any point leaves
//! nothing `prune` cannot recognise.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock;
use crate::git::{self, Repo, Start};
use crate::layout;
use crate::ownership::{self, Creator, Marker, State};
use crate::process::CmdError;
use crate::safefs::{self, Copied};
use crate::teardown::MadeWorktree;

/// What `create` asks for.
pub struct Request<'a> {
    pub repo: &'a Repo,
    /// `--branch`, else a generated `session/<UTC time>`.
    pub branch: Option<&'a str>,
    /// `--base`.
    pub base: &'a str,
    pub sessions_dir: PathBuf,
    /// The sessions dir is dev-prism's default (removed when emptied).
    pub sessions_dir_default: bool,
    /// The project folder inside the worktree (a monorepo subfolder).
    pub subdir: PathBuf,
    /// Compose project name prefix.
    pub prefix: &'a str,
}

/// The branch to use, checked before anything is made.
struct BranchPlan {
    name: Option<String>,
    existing: bool,
    base: Option<String>,
}

fn branch_plan(req: &Request) -> Result<BranchPlan> {
    let repo = req.repo;
    let resolve_base = || -> Result<String> {
        // `HEAD` is the checkout create runs in.
        git::rev_parse_commit(&repo.toplevel, req.base).map_err(|e| {
            if req.base == "HEAD" {
                anyhow::anyhow!(
                    "this repository has no commits yet: commit first (a worktree starts from a commit), or use --in-place"
                )
            } else {
                e
            }
        })
    };
    match req.branch {
        Some(branch) => {
            git::require_valid_branch(&repo.main_root, branch)?;
            let existing = git::branch_exists(&repo.main_root, branch)?;
            if existing && req.base != "HEAD" {
                crate::output::warn(&format!(
                    "branch `{branch}` exists: it is checked out as it is, --base {} is not used",
                    req.base
                ));
            }
            Ok(BranchPlan {
                name: Some(branch.to_string()),
                existing,
                base: if existing {
                    None
                } else {
                    Some(resolve_base()?)
                },
            })
        }
        None => Ok(BranchPlan {
            name: None,
            existing: false,
            base: Some(resolve_base()?),
        }),
    }
}

/// Make the worktree (and branch). `made` is set as soon as the worktree
/// exists, so the caller's rollback covers every later failure.
pub fn make(req: &Request, made: &mut Option<MadeWorktree>) -> Result<PathBuf> {
    let plan = branch_plan(req)?;
    crate::interrupt::check()?;
    let sessions_dir = layout::normalize(&req.sessions_dir);
    std::fs::create_dir_all(&sessions_dir)
        .with_context(|| format!("could not create {}", sessions_dir.display()))?;
    let sessions_dir = std::fs::canonicalize(&sessions_dir).unwrap_or(sessions_dir);
    let repo_dir = &req.repo.main_root;
    let me = Creator::me();
    let reason = me.reason();

    let (names, start): (Vec<(PathBuf, String)>, Start) = match &plan.name {
        Some(branch) => {
            let dir_name = layout::worktree_dir_name(branch);
            let names = (1..=50)
                .map(|n| {
                    (
                        sessions_dir.join(layout::with_suffix(&dir_name, n)),
                        branch.clone(),
                    )
                })
                .collect();
            let start = match &plan.base {
                Some(base) if !plan.existing => Start::Detached(base),
                _ => Start::Branch(branch),
            };
            (names, start)
        }
        None => {
            let stamp = format!("session/{}", clock::branch_stamp(clock::now_secs()));
            let names = (1..=100)
                .map(|n| {
                    let branch = layout::with_suffix(&stamp, n);
                    (
                        sessions_dir.join(layout::worktree_dir_name(&branch)),
                        branch,
                    )
                })
                .collect();
            (
                names,
                Start::Detached(plan.base.as_deref().unwrap_or("HEAD")),
            )
        }
    };
    let mut chosen = None;
    for (path, branch) in names {
        if plan.name.is_none() && git::branch_exists(repo_dir, &branch)? {
            continue;
        }
        // Claim the directory atomically: git would also accept an empty
        // directory a concurrent create made a moment ago.
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => bail!(
                "could not create the worktree directory {}: {e}",
                path.display()
            ),
        }
        match retry_locks(|| git::add_worktree(repo_dir, &path, &reason, clone_start(&start))) {
            Ok(()) => {
                chosen = Some((path, branch));
                break;
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                let why = e.error_lines().join("; ");
                bail!(
                    "could not create the worktree for branch `{branch}`: {}",
                    why.trim_start_matches("fatal: ")
                );
            }
        }
    }
    let Some((top, branch)) = chosen else {
        bail!(
            "no free worktree directory name in {}",
            sessions_dir.display()
        );
    };

    // The worktree exists: from now on a failure rolls it back.
    let admin = ownership::admin_of(&req.repo.common_dir, &top)
        .with_context(|| format!("git did not record the new worktree {}", top.display()))?;
    let session_dir = layout::join(&top, &req.subdir);
    let marker = Marker {
        version: 1,
        state: State::Creating,
        creator: me,
        project: crate::session::project_name(req.prefix, &session_dir),
        session_dir,
        branch: Some(branch.clone()),
        branch_created: !plan.existing,
        base: plan.base.clone().filter(|_| !plan.existing),
        created_at: clock::rfc3339(clock::now_secs()),
        sessions_dir: req.sessions_dir_default.then(|| sessions_dir.clone()),
        files: Vec::new(),
        migrated: false,
        branch_unknown: false,
        compose_files: Vec::new(),
        profiles: Vec::new(),
    };
    let record = |admin: &ownership::Admin| -> Result<ownership::Admin> {
        admin.write_marker(&marker)?;
        Ok(ownership::Admin {
            marker: Some(marker.clone()),
            ..admin.clone()
        })
    };
    *made = Some(MadeWorktree {
        repo_dir: repo_dir.clone(),
        top: top.clone(),
        admin: admin.clone(),
    });
    let admin = record(&admin)?;
    *made = Some(MadeWorktree {
        repo_dir: repo_dir.clone(),
        top: top.clone(),
        admin,
    });
    if !plan.existing {
        let base = plan.base.as_deref().unwrap_or("HEAD");
        git::create_branch_in(&top, &branch, base).map_err(|e| {
            let why = e.error_lines().join("; ");
            anyhow::anyhow!(
                "could not create the branch `{branch}`: {}",
                why.trim_start_matches("fatal: ")
            )
        })?;
    }
    Ok(top)
}

fn clone_start<'a>(s: &Start<'a>) -> Start<'a> {
    match s {
        Start::Detached(c) => Start::Detached(c),
        Start::Branch(b) => Start::Branch(b),
    }
}

/// Retry a git call that failed on a lock held by a concurrent git process.
fn retry_locks<F>(mut f: F) -> std::result::Result<(), CmdError>
where
    F: FnMut() -> std::result::Result<(), CmdError>,
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

/// The session is made: mark the record ready and unlock the worktree.
pub fn finish(made: &MadeWorktree, update: impl FnOnce(&mut Marker)) -> Result<()> {
    let mut marker = made
        .admin
        .marker
        .clone()
        .context("the worktree has no dev-prism record")?;
    update(&mut marker);
    marker.state = State::Ready;
    made.admin.write_marker(&marker)?;
    git::unlock_worktree(&made.repo_dir, &made.top)
}

/// Update the record while create runs (files it copied).
pub fn record(made: &mut MadeWorktree, update: impl FnOnce(&mut Marker)) -> Result<()> {
    let Some(marker) = made.admin.marker.as_mut() else {
        return Ok(());
    };
    update(marker);
    ownership::write_marker(&made.admin.dir, marker)
}

/// The names dev-prism generates, never a base compose file.
pub fn reserved(config: &crate::config::Config) -> [&str; 2] {
    [config.override_file(), crate::session::OVERRIDE_FILE]
}

/// The files a new worktree gets from the main checkout: `envFiles`, or —
/// with no config saying otherwise — the gitignored files Compose itself
/// reads there (its `.env`, `env_file:` entries).
pub fn files_to_copy(
    cwd: &Path,
    in_place: bool,
    repo: Option<&Repo>,
    config: &crate::config::Config,
    prefix: &str,
) -> Result<Vec<String>> {
    let Some(repo) = repo.filter(|_| !in_place) else {
        return Ok(Vec::new());
    };
    if !config.env_files.is_empty() {
        return Ok(config.env_files.clone());
    }
    let subdir = cwd.strip_prefix(&repo.toplevel).unwrap_or(Path::new(""));
    let src = layout::join(&repo.main_root, subdir);
    let picture = layout::picture(&src, config.compose_files.as_deref(), &reserved(config))?;
    let project = crate::docker::ComposeProject {
        dir: src.clone(),
        name: crate::session::project_name(prefix, &src),
        files: picture.files.clone(),
        profiles: layout::session_profiles(&picture.profiles, &config.apps, true, &[]),
    };
    zero_config_copies(repo, &src, &picture, &project)
}

/// Zero config: the gitignored files Compose itself reads in the project
/// folder `src` of the main checkout — its `.env`, the project directory's
/// `.env` and the services' `env_file:` entries — relative to `src`. Asks Compose
/// (`config`, no engine needed) which `env_file`s the services use.
pub fn zero_config_copies(
    repo: &Repo,
    src: &Path,
    picture: &layout::Picture,
    project: &crate::docker::ComposeProject,
) -> Result<Vec<String>> {
    let resolved = crate::compose::parse_project(
        &project
            .config_json_uninterpolated()
            .map_err(crate::docker::compose_failure)?,
    )?;
    // The `.env` where Compose starts (it may name COMPOSE_FILE), the
    // project directory's (interpolation), and every `env_file`.
    let mut wanted: Vec<PathBuf> = vec![src.join(".env"), picture.project_dir.join(".env")];
    for service in resolved.services.values() {
        wanted.extend(service.env_file.iter().map(PathBuf::from));
    }
    let mut rels: Vec<PathBuf> = wanted
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| p.strip_prefix(src).ok().map(Path::to_path_buf))
        .collect();
    rels.sort();
    rels.dedup();
    let in_repo: Vec<PathBuf> = rels
        .iter()
        .filter_map(|r| {
            src.join(r)
                .strip_prefix(&repo.main_root)
                .ok()
                .map(Path::to_path_buf)
        })
        .collect();
    let ignored = git::ignored(&repo.main_root, &in_repo)?;
    Ok(rels
        .into_iter()
        .filter(|r| {
            src.join(r)
                .strip_prefix(&repo.main_root)
                .is_ok_and(|p| ignored.contains(p))
        })
        .map(|r| crate::safety::git_path(&r))
        .collect())
}

/// Copy the configured env files (usually gitignored) from the main
/// checkout (`src_root`, the project folder there) into the session
/// directory `dir` of the new worktree, and record what was written.
pub fn copy_env_files(
    src_root: &Path,
    dir: &Path,
    wt: &mut MadeWorktree,
    files: &[String],
) -> Result<()> {
    let top = wt.top.clone();
    let tracked = |r: &Path| {
        dir.join(r)
            .strip_prefix(&top)
            .is_ok_and(|in_top| git::is_tracked(&top, in_top))
    };
    for f in files {
        let rel = Path::new(f);
        match safefs::copy_in(src_root, dir, rel, tracked)
            .with_context(|| format!("envFiles: {f}"))?
        {
            Copied::Written(hash) => {
                if let Ok(in_top) = dir.join(rel).strip_prefix(&top) {
                    let in_top = crate::safety::git_path(in_top);
                    record(wt, |m| m.set_file(&in_top, hash))?;
                }
            }
            Copied::Skipped(why) => crate::output::warn(&format!("envFiles: {why}")),
        }
    }
    Ok(())
}
