//! `dev-prism prune`: remove the session worktrees under the sessions
//! directory that have no running containers — also those whose containers
//! are all gone — with their leftover containers, networks and volumes, and
//! their branches. Git is checked first, as for `destroy`.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::destroy;
use super::Ctx;
use crate::cli::PruneArgs;
use crate::config;
use crate::docker;
use crate::git::{self, Worktree};
use crate::layout;
use crate::output;
use crate::safety::{self, Target};
use crate::session::{self, group_sessions, Status};

/// What prune needs to know of a session found in Docker.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRef {
    pub dir: PathBuf,
    pub project: String,
    pub profiles: Vec<String>,
    pub running: bool,
    pub in_place: bool,
    pub containers: usize,
}

/// A worktree prune would remove.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub worktree: Worktree,
    /// Sessions inside it (all stopped): their projects and generated files.
    pub sessions: Vec<SessionRef>,
}

impl Candidate {
    fn containers(&self) -> usize {
        self.sessions.iter().map(|s| s.containers).sum()
    }

    /// `stopped (2 containers)`, `no containers`, `directory missing`.
    fn state(&self) -> String {
        let n = self.containers();
        let containers = if n == 0 {
            "no containers".to_string()
        } else {
            format!("stopped ({})", safety::count(n, "container"))
        };
        if self.worktree.path.exists() {
            containers
        } else {
            format!("{containers}, directory missing")
        }
    }
}

/// Pick the worktrees to prune: linked worktrees strictly inside
/// `sessions_dir` (never the main worktree), without a running session and
/// without an in-place session (whose directory is never removed). Returns
/// the candidates and the worktrees skipped for a reason worth telling.
pub fn select(
    worktrees: &[Worktree],
    sessions_dir: &Path,
    sessions: &[SessionRef],
) -> (Vec<Candidate>, Vec<(PathBuf, String)>) {
    let mut picked = Vec::new();
    let mut skipped = Vec::new();
    for wt in worktrees.iter().skip(1) {
        let path = &wt.path;
        if wt.bare || path == sessions_dir || !path.starts_with(sessions_dir) {
            continue;
        }
        let inside: Vec<SessionRef> = sessions
            .iter()
            .filter(|s| session::contains(path, &s.dir))
            .cloned()
            .collect();
        if inside.iter().any(|s| s.running) {
            continue;
        }
        if let Some(s) = inside.iter().find(|s| s.in_place) {
            skipped.push((
                path.clone(),
                format!(
                    "holds the in-place session {}; destroy it with `dev-prism destroy {}` first",
                    s.dir.display(),
                    s.dir.display()
                ),
            ));
            continue;
        }
        picked.push(Candidate {
            worktree: wt.clone(),
            sessions: inside,
        });
    }
    (picked, skipped)
}

/// The candidate table (stdout): directory, branch and state.
pub fn render(candidates: &[&Candidate]) -> String {
    let rows = candidates
        .iter()
        .map(|c| {
            vec![
                c.worktree.path.display().to_string(),
                c.worktree
                    .branch
                    .clone()
                    .unwrap_or_else(|| "(detached)".into()),
                c.state(),
            ]
        })
        .collect();
    output::table(&["DIRECTORY", "BRANCH", "STATE"], rows)
}

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<i32> {
    let Some(repo) = git::discover(&ctx.cwd)? else {
        bail!(
            "{} is not in a git repository: prune removes the session worktrees of a repository",
            ctx.cwd.display()
        );
    };
    let root = repo.main_root.clone();
    let loaded = config::load(&super::config_root(Some(&repo), &ctx.cwd))?;
    for w in &loaded.warnings {
        output::warn(w);
    }
    let prefix = loaded.config.project_name.clone().unwrap_or_else(|| {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "session".into())
    });
    let sessions_dir = canonical(&layout::normalize(&layout::sessions_dir(
        &root,
        loaded.config.sessions_dir.as_deref(),
        &prefix,
    )));
    let mut worktrees = git::worktrees(&root)?;
    for wt in &mut worktrees {
        wt.path = canonical(&wt.path);
    }
    let sessions: Vec<SessionRef> = group_sessions(docker::managed_containers()?)
        .into_iter()
        .map(|s| SessionRef {
            running: s.status() != Status::Stopped,
            containers: s.containers.len(),
            dir: s.id.working_dir,
            project: s.id.project_name,
            profiles: s.id.profiles,
            in_place: !s.id.worktree,
        })
        .collect();
    let (candidates, skipped) = select(&worktrees, &sessions_dir, &sessions);
    for (path, why) in &skipped {
        output::warn(&format!("kept {}: {why}", path.display()));
    }

    // Git first: nothing is touched before every candidate is checked.
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for c in &candidates {
        match check(&root, c, args.force) {
            Ok(target) => ready.push((c, target)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    for p in &problems {
        output::warn(p);
    }
    let total = candidates.len();
    if ready.is_empty() && problems.is_empty() {
        output::progress(&format!(
            "Nothing to prune: no session worktree in {} without running containers.",
            sessions_dir.display()
        ));
        return Ok(0);
    }
    if !ready.is_empty() {
        let listed: Vec<&Candidate> = ready.iter().map(|(c, _)| *c).collect();
        output::print(&render(&listed));
    }
    if args.dry_run {
        output::progress(&format!(
            "Dry run: {} would be removed.",
            safety::count(ready.len(), "worktree")
        ));
        return Ok(0);
    }
    if !ready.is_empty() && !confirm(ctx, ready.len())? {
        return Ok(1);
    }
    let mut failed = 0;
    for (c, target) in &ready {
        if let Err(e) = remove(&root, &prefix, c, target.as_ref(), args.force) {
            output::warn(&format!("{}: {e:#}", c.worktree.path.display()));
            failed += 1;
        }
    }
    let pruned = ready.len() - failed;
    if pruned > 0 {
        output::progress(&format!("Pruned {}.", safety::count(pruned, "worktree")));
    }
    let not_pruned = problems.len() + failed;
    if not_pruned > 0 {
        bail!(
            "{not_pruned} of {} not pruned (see the warnings above)",
            safety::count(total, "worktree")
        );
    }
    Ok(0)
}

/// Ask on a terminal unless `-y`; without a terminal and without `-y`, say
/// how to confirm and stop (never wait for an answer that cannot come).
fn confirm(ctx: &Ctx, n: usize) -> Result<bool> {
    if ctx.yes {
        return Ok(true);
    }
    let what = safety::count(n, "worktree");
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!("prune would remove the {what} listed above: run again with -y to confirm (or --dry-run to only list)");
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(format!(
            "Remove these {what}, with their branches, containers and volumes?"
        ))
        .default(false)
        .interact()
        .unwrap_or(false);
    if !ok {
        output::progress("Cancelled: nothing was removed.");
    }
    Ok(ok)
}

/// The worktree to remove, after the git check; `None` when its directory
/// is already gone. An error is the refusal.
fn check(root: &Path, c: &Candidate, force: bool) -> Result<Option<Target>> {
    let path = &c.worktree.path;
    if !path.is_dir() {
        return Ok(None);
    }
    let target = Target {
        repo_dir: root.to_path_buf(),
        path: path.clone(),
        head: c.worktree.head.clone(),
        branch: c.worktree.branch.clone(),
    };
    if !force {
        let risk = safety::assess(&target)
            .with_context(|| format!("{}: could not check for uncommitted work", path.display()))?;
        if !risk.is_safe() {
            bail!("{}", safety::refusal(path, &risk, "prune"));
        }
    }
    Ok(Some(target))
}

/// Remove one candidate: leftover containers, networks and volumes (by
/// project name), generated files, the worktree, then the branch.
fn remove(
    root: &Path,
    prefix: &str,
    c: &Candidate,
    target: Option<&Target>,
    force: bool,
) -> Result<()> {
    let path = &c.worktree.path;
    output::progress(&format!("Pruning {}", path.display()));
    let mut projects: Vec<(String, Vec<String>)> = c
        .sessions
        .iter()
        .map(|s| (s.project.clone(), s.profiles.clone()))
        .collect();
    // Containers removed by hand leave networks and volumes under the
    // project name dev-prism gives the worktree.
    let own = session::project_name(prefix, path);
    if !projects.iter().any(|(p, _)| *p == own) {
        projects.push((own, Vec::new()));
    }
    for (name, profiles) in &projects {
        if !name.is_empty() {
            destroy::down_by_name(name, profiles)?;
        }
    }
    for s in &c.sessions {
        if s.dir.is_dir() {
            destroy::remove_generated(&s.dir)?;
        }
    }
    match target {
        Some(t) => destroy::remove_worktree(t, force)?,
        None => git::prune_worktrees(root)?,
    }
    destroy::delete_branch(root, c.worktree.branch.as_deref(), force, "prune");
    Ok(())
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wt(path: &str, branch: Option<&str>) -> Worktree {
        Worktree {
            path: PathBuf::from(path),
            head: Some("1111".into()),
            branch: branch.map(str::to_string),
            bare: false,
            prunable: false,
        }
    }

    fn sref(dir: &str, running: bool, in_place: bool) -> SessionRef {
        SessionRef {
            dir: PathBuf::from(dir),
            project: format!("p-{}", dir.len()),
            profiles: Vec::new(),
            running,
            in_place,
            containers: 2,
        }
    }

    #[test]
    fn selects_stopped_and_orphan_worktrees_in_the_sessions_dir_only() {
        let worktrees = vec![
            wt("/r", Some("main")),
            wt("/r-sessions/stopped", Some("session/a")),
            wt("/r-sessions/running", Some("session/b")),
            wt("/r-sessions/orphan", Some("session/c")),
            wt("/elsewhere/x", Some("x")),
            wt("/r-sessions-other/y", Some("y")),
            wt("/r-sessions/partial", None),
        ];
        let sessions = vec![
            sref("/r-sessions/stopped", false, false),
            sref("/r-sessions/running", true, false),
            sref("/r-sessions/partial/sub", true, false),
            sref("/r-sessions/partial", false, false),
            sref("/elsewhere/x", false, false),
        ];
        let (picked, skipped) = select(&worktrees, Path::new("/r-sessions"), &sessions);
        let paths: Vec<&Path> = picked.iter().map(|c| c.worktree.path.as_path()).collect();
        assert_eq!(
            paths,
            vec![
                Path::new("/r-sessions/stopped"),
                Path::new("/r-sessions/orphan")
            ]
        );
        assert_eq!(picked[0].sessions.len(), 1);
        assert!(picked[1].sessions.is_empty());
        assert!(skipped.is_empty());
    }

    #[test]
    fn never_the_main_worktree_nor_the_sessions_dir_itself() {
        // sessionsDir configured as ".." puts the main worktree inside it.
        let worktrees = vec![
            wt("/home/me/r", Some("main")),
            wt("/home/me", Some("odd")),
            wt("/home/me/r-s/a", Some("a")),
        ];
        let (picked, _) = select(&worktrees, Path::new("/home/me"), &[]);
        let paths: Vec<&Path> = picked.iter().map(|c| c.worktree.path.as_path()).collect();
        assert_eq!(paths, vec![Path::new("/home/me/r-s/a")]);
    }

    #[test]
    fn in_place_sessions_keep_their_worktree() {
        let worktrees = vec![wt("/r", Some("main")), wt("/s/a", Some("a"))];
        let sessions = vec![sref("/s/a/app", false, true)];
        let (picked, skipped) = select(&worktrees, Path::new("/s"), &sessions);
        assert!(picked.is_empty());
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].1.contains("in-place session /s/a/app"));
    }

    #[test]
    fn renders_state() {
        let mut c = Candidate {
            worktree: wt("/nonexistent/dev-prism/s/a", None),
            sessions: vec![sref("/nonexistent/dev-prism/s/a", false, false)],
        };
        let text = render(&[&c]);
        assert!(text.contains("(detached)"), "{text}");
        assert!(
            text.contains("stopped (2 containers), directory missing"),
            "{text}"
        );
        c.sessions.clear();
        assert!(render(&[&c]).contains("no containers, directory missing"));
    }
}
