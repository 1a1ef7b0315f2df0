//! `dev-prism prune`: remove the worktrees dev-prism made — by its record
//! in git's admin dir, never by a file in the work tree — that have no
//! running containers: stopped sessions, sessions whose containers are
//! gone, and creates that died (SIGKILL) part-way. A worktree a create is
//! making right now, or another dev-prism is working on, is left alone.
//! Each goes through the teardown plan, as for `destroy`.

use anyhow::{bail, Result};
use std::path::PathBuf;

use super::destroy;
use super::Ctx;
use crate::bulk;
use crate::cli::PruneArgs;
use crate::docker::{self, ComposeProject};
use crate::git;
use crate::lock::{self, Lock, Wait};
use crate::output;
use crate::ownership::{self, Admin};
use crate::prompt;
use crate::safety;
use crate::session::{group_sessions, Session, Status};
use crate::teardown::{self, MadeWorktree, Plan, Target, Why};

/// A worktree prune would remove.
struct Candidate {
    admin: Admin,
    sessions: Vec<Session>,
}

impl Candidate {
    /// `stopped (2 containers)`, `no containers`, `interrupted create`,
    /// `directory missing`.
    fn state(&self) -> String {
        let n: usize = self.sessions.iter().map(|s| s.containers.len()).sum();
        let mut state = if self.admin.interrupted() {
            "interrupted create".to_string()
        } else if n == 0 {
            "no containers".to_string()
        } else {
            format!("stopped ({})", safety::count(n, "container"))
        };
        if !self.admin.worktree.exists() {
            state.push_str(", directory missing");
        }
        state
    }

    fn branch(&self) -> String {
        self.admin
            .marker
            .as_ref()
            .and_then(|m| m.branch.clone())
            .unwrap_or_else(|| "(detached)".into())
    }

    /// The session directory the lock is named after.
    fn dir(&self) -> PathBuf {
        self.admin
            .marker
            .as_ref()
            .map(|m| m.session_dir.clone())
            .unwrap_or_else(|| self.admin.worktree.clone())
    }
}

/// Pure: pick the worktrees to prune from the records and the sessions in
/// Docker. Returns the candidates and the ones skipped, with the reason.
fn select(admins: Vec<Admin>, sessions: &[Session]) -> (Vec<Candidate>, Vec<String>) {
    let mut picked = Vec::new();
    let mut skipped = Vec::new();
    for admin in admins.into_iter().filter(Admin::ours) {
        let top = admin.worktree.clone();
        if admin.being_created() {
            skipped.push(format!(
                "{}: being created by another dev-prism right now",
                top.display()
            ));
            continue;
        }
        let inside: Vec<Session> = sessions
            .iter()
            .filter(|s| s.id.working_dir.starts_with(&top))
            .cloned()
            .collect();
        if let Some(s) = inside.iter().find(|s| !s.id.worktree) {
            skipped.push(format!(
                "{}: holds the in-place session {}; destroy it with `dev-prism destroy {}` first",
                top.display(),
                s.id.working_dir.display(),
                s.id.working_dir.display()
            ));
            continue;
        }
        let running = inside.iter().any(|s| s.status() != Status::Stopped);
        if running && !admin.interrupted() {
            continue;
        }
        picked.push(Candidate {
            admin,
            sessions: inside,
        });
    }
    (picked, skipped)
}

/// The candidate table (stdout): directory, branch and state.
fn render(candidates: &[&Candidate]) -> String {
    let rows = candidates
        .iter()
        .map(|c| {
            vec![
                c.admin.worktree.display().to_string(),
                c.branch(),
                c.state(),
            ]
        })
        .collect();
    output::table(&["DIRECTORY", "BRANCH", "STATE"], rows)
}

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<i32> {
    let Some(repo) = git::discover(&ctx.cwd)? else {
        bail!(
            "{} is not in a git repository: prune removes the session worktrees of a repository; run it there (or `dev-prism -C REPO prune`)",
            ctx.cwd.display()
        );
    };
    crate::lock::sweep();
    let sessions = group_sessions(docker::managed_containers()?);
    let admins = ownership::admins(&repo.common_dir);
    for s in &sessions {
        super::migrate(&admins, s);
    }
    let (candidates, skipped) = select(ownership::admins(&repo.common_dir), &sessions);
    for s in &skipped {
        output::progress(&format!("Skipped {s}"));
    }
    // Lock and plan every candidate before anything is touched (the plans
    // only read: they are made side by side too).
    let planned = bulk::map(
        &candidates,
        bulk::AT_ONCE,
        |c| -> Result<(Lock, Plan), String> {
            let path = lock::session_path(&c.dir()).map_err(|e| format!("{e:#}"))?;
            let lock = match lock::acquire(&path, "prune", Wait::No) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    return Err(format!(
                        "{}: another dev-prism ({}) is working on it",
                        c.admin.worktree.display(),
                        lock::describe(&path)
                    ))
                }
                Err(e) => return Err(format!("{e:#}")),
            };
            teardown::plan(target_of(&repo, c), Why::Prune, args.force)
                .map(|plan| (lock, plan))
                .map_err(|e| format!("{e:#}"))
        },
    );
    let mut ready: Vec<(Lock, Plan, &Candidate)> = Vec::new();
    let mut problems = Vec::new();
    for (p, c) in planned.into_iter().zip(&candidates) {
        match p {
            Ok((lock, plan)) => ready.push((lock, plan, c)),
            Err(why) => problems.push(why),
        }
    }
    for p in &problems {
        output::warn(p);
    }
    if ready.is_empty() && problems.is_empty() {
        output::progress("Nothing to prune: no session worktree without running containers.");
        return Ok(0);
    }
    if !ready.is_empty() {
        let listed: Vec<&Candidate> = ready.iter().map(|(_, _, c)| *c).collect();
        output::print(&render(&listed));
    }
    if args.dry_run {
        output::progress(&format!(
            "Dry run: {} would be removed.",
            safety::count(ready.len(), "worktree")
        ));
        return Ok(0);
    }
    if !ready.is_empty() && !confirm(ctx, &ready)? {
        return Ok(1);
    }
    // Then all of them at once, a few at a time.
    let mut locks = Vec::new();
    let mut labelled = Vec::new();
    for (lock, plan, c) in ready {
        locks.push(lock);
        labelled.push((super::list_view::label(&c.admin.worktree, &ctx.cwd), plan));
    }
    let outcomes = destroy::execute_all(labelled, "pruning", "pruned");
    drop(locks);
    bulk::conclude("pruned", "worktree", outcomes, problems)
}

/// Ask on a terminal unless `-y`; without a terminal and without `-y`, say
/// how to confirm and stop (never wait for an answer that cannot come).
fn confirm(ctx: &Ctx, ready: &[(Lock, Plan, &Candidate)]) -> Result<bool> {
    let plans: Vec<&Plan> = ready.iter().map(|(_, p, _)| p).collect();
    let what = prompt::everything_in("worktree", &plans);
    prompt::confirm(
        ctx.yes,
        &format!("This removes {what}."),
        &format!("Prune {}?", prompt::count(plans.len(), "worktree")),
        &format!("prune would remove {what} (listed above; --dry-run only lists)"),
    )
}

/// The teardown target of a candidate: the compose projects of the
/// sessions in it (and the one its record names, for what a removed
/// container left), no generated files to keep, the worktree.
fn target_of(repo: &git::Repo, c: &Candidate) -> Target {
    let mut projects: Vec<ComposeProject> = c
        .sessions
        .iter()
        .map(|s| ComposeProject::for_session(&s.id))
        .collect();
    if let Some(m) = &c.admin.marker {
        if !projects.iter().any(|p| p.name == m.project) && !m.project.is_empty() {
            projects.push(
                ComposeProject {
                    dir: m.session_dir.clone(),
                    name: m.project.clone(),
                    files: Vec::new(),
                    profiles: Vec::new(),
                }
                .by_name(),
            );
        }
    }
    Target {
        dir: c.dir(),
        projects,
        generated: Vec::new(),
        worktree: Some(MadeWorktree {
            repo_dir: repo.main_root.clone(),
            top: c.admin.worktree.clone(),
            admin: c.admin.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::{Creator, Marker, State};
    use std::path::Path;

    fn admin(top: &str, marker: Option<State>, locked: Option<String>) -> Admin {
        Admin {
            dir: Path::new("/r/.git/worktrees").join(top.rsplit('/').next().unwrap()),
            worktree: PathBuf::from(top),
            locked,
            marker: marker.map(|state| Marker {
                version: 1,
                state,
                creator: Creator {
                    pid: u32::MAX - 1,
                    start: Some(1),
                    host: "elsewhere-never".into(),
                },
                session_dir: PathBuf::from(top),
                project: "p".into(),
                branch: Some("b".into()),
                branch_created: true,
                base: None,
                created_at: String::new(),
                sessions_dir: None,
                files: vec![],
                migrated: false,
                branch_unknown: false,
                compose_files: Vec::new(),
                profiles: Vec::new(),
            }),
        }
    }

    fn session(dir: &str, running: bool, worktree: bool) -> Session {
        let mut id = super::super::identity_of_marker(
            admin(dir, Some(State::Ready), None)
                .marker
                .as_ref()
                .unwrap(),
            Path::new("/r/.git"),
        );
        id.worktree = worktree;
        let state = crate::inspect::State {
            status: if running { "running" } else { "exited" }.into(),
            exit_code: if running { 0 } else { 137 },
            health: None,
        };
        Session {
            id,
            containers: vec![crate::inspect::Container {
                id: "c".into(),
                name: "c".into(),
                labels: Default::default(),
                state,
                env: vec![],
                image: String::new(),
                ports: vec![],
                bound_ports: vec![],
            }],
        }
    }

    #[test]
    fn picks_only_recorded_worktrees_without_running_sessions() {
        let mine_dead = Creator {
            pid: u32::MAX - 1,
            start: Some(1),
            host: Creator::me().host,
        };
        let admins = vec![
            admin("/s/stopped", Some(State::Ready), None),
            admin("/s/running", Some(State::Ready), None),
            admin("/s/by-hand", None, None),
            admin("/s/by-hand-locked", None, Some("my USB disk".into())),
            admin("/s/killed", None, Some(mine_dead.reason())),
            admin("/s/creating", None, Some(Creator::me().reason())),
            admin("/s/in-place", Some(State::Ready), None),
        ];
        let sessions = vec![
            session("/s/stopped", false, true),
            session("/s/running", true, true),
            session("/s/in-place/app", false, false),
        ];
        let (picked, skipped) = select(admins, &sessions);
        let tops: Vec<&Path> = picked.iter().map(|c| c.admin.worktree.as_path()).collect();
        assert_eq!(tops, vec![Path::new("/s/stopped"), Path::new("/s/killed")]);
        assert_eq!(
            picked[0].state(),
            "stopped (1 container), directory missing"
        );
        assert!(picked[1].state().starts_with("interrupted create"));
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped[0].contains("being created"));
        assert!(skipped[1].contains("in-place session"));
    }
}
