//! How a session is torn down: one plan shared by `destroy`, `destroy
//! --all`, `prune`, create's rollback and the Claude Code remove hook.
//!
//! [`plan`] decides everything **before any effect**: whether the worktree
//! can be removed by git's own rules (changes, untracked files that are
//! not gitignored, checked-out submodules, a lock), exempting only files
//! dev-prism wrote and still owns; which containers go; whether the branch
//! goes. [`execute`] then runs the session's `preDestroy` commands (for a
//! destroy, when the plan carries them), and removes, in order, the
//! containers, the generated files, the worktree, the branch and an empty
//! sessions directory. If a
//! step fails, nothing after it runs: the session stays findable (its
//! containers, or the marker in git's admin dir) and the error says what is
//! left and the one command that finishes the job.

use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::docker::{self, ComposeProject};
use crate::git;
use crate::interrupt;
use crate::ownership::{Admin, Marker};
use crate::process::shell_quote;
use crate::safefs;
use crate::safety::{self, Risk};

/// Why a session is torn down (decides the rules and the words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Destroy,
    Prune,
    /// A `create` that failed or was interrupted takes back what it made.
    Rollback,
}

impl Why {
    fn verb(self) -> &'static str {
        match self {
            Why::Destroy | Why::Rollback => "destroy",
            Why::Prune => "prune",
        }
    }
}

/// A worktree dev-prism made, as its record says.
#[derive(Debug, Clone)]
pub struct MadeWorktree {
    /// Where git commands run (the main worktree, or the common dir).
    pub repo_dir: PathBuf,
    pub top: PathBuf,
    pub admin: Admin,
}

impl MadeWorktree {
    fn marker(&self) -> Option<&Marker> {
        self.admin.marker.as_ref()
    }

    /// `ref: refs/heads/x` → branch `x`; a commit id → detached at it.
    fn head(&self) -> (Option<String>, Option<String>) {
        let text = safefs::read_nofollow(&self.admin.dir.join("HEAD")).unwrap_or_default();
        let text = text.trim();
        match text.strip_prefix("ref: refs/heads/") {
            Some(branch) => (Some(branch.to_string()), None),
            None if !text.is_empty() && !text.starts_with("ref:") => (None, Some(text.to_string())),
            None => (None, None),
        }
    }
}

/// A generated file in the session directory, with the header that makes it
/// dev-prism's.
#[derive(Debug, Clone)]
pub struct GeneratedFile {
    /// Relative to the session directory.
    pub rel: PathBuf,
    pub header: &'static str,
}

/// What a session consists of.
#[derive(Debug, Clone)]
pub struct Target {
    /// The session directory (may be gone).
    pub dir: PathBuf,
    /// Compose projects to take down (a worktree may hold several sessions).
    pub projects: Vec<ComposeProject>,
    pub generated: Vec<GeneratedFile>,
    /// The worktree dev-prism made for it (`None`: in place, or not made by
    /// dev-prism as far as its records go: never removed).
    pub worktree: Option<MadeWorktree>,
}

enum WorktreeStep {
    Remove {
        force: bool,
        unlock: bool,
        pre_delete: Vec<PathBuf>,
    },
    /// The directory is gone: let git forget it.
    Forget,
}

enum BranchStep {
    Nothing,
    Delete(String),
    Keep(String),
}

/// Seconds a container gets to stop in a teardown unless told otherwise.
pub const STOP_TIMEOUT: u32 = 5;
/// The session's `preDestroy` commands and the environment they run with.
#[derive(Debug, Clone, Default)]
pub struct PreDestroy {
    pub commands: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// How long one `preDestroy` command may run: `DEV_PRISM_HOOK_TIMEOUT`
/// seconds, default 300.
pub fn pre_destroy_deadline() -> Duration {
    crate::process::seconds_from_env("DEV_PRISM_HOOK_TIMEOUT", 300)
}

/// The refusal of a plan because removing the worktree would lose work
/// (uncommitted or untracked files, detached commits, submodules). Its
/// text is the one-line refusal; callers may downcast to tell it apart.
#[derive(Debug)]
pub struct WouldLoseWork {
    /// The refusal, with what to do.
    pub message: String,
    /// What would be lost: `1 uncommitted or untracked file (notes.txt)`.
    pub reason: String,
}

impl std::fmt::Display for WouldLoseWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WouldLoseWork {}

/// Every decision, made before anything is touched.
pub struct Plan {
    target: Target,
    why: Why,
    force: bool,
    pre_destroy: PreDestroy,
    worktree: Option<WorktreeStep>,
    branch: BranchStep,
    notes: Vec<String>,
    stop_timeout: u32,
}

impl Plan {
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Give each container `seconds` to stop (`--timeout`); `None` keeps
    /// [`STOP_TIMEOUT`].
    pub fn with_stop_timeout(mut self, seconds: Option<u32>) -> Plan {
        self.stop_timeout = seconds.unwrap_or(STOP_TIMEOUT);
        self
    }

    /// Run these `preDestroy` commands as the first step (a destroy only;
    /// prune and rollback never run them).
    pub fn with_pre_destroy(mut self, pre_destroy: PreDestroy) -> Self {
        self.pre_destroy = pre_destroy;
        self
    }

    /// Whether the worktree directory is removed.
    pub fn removes_worktree(&self) -> bool {
        matches!(self.worktree, Some(WorktreeStep::Remove { .. }))
    }

    /// The branch that is deleted, if any.
    pub fn deleted_branch(&self) -> Option<&str> {
        match &self.branch {
            BranchStep::Delete(name) if self.worktree.is_some() => Some(name),
            _ => None,
        }
    }
}

/// Decide how to tear `target` down. An error is a refusal: nothing was
/// touched.
pub fn plan(target: Target, why: Why, force: bool) -> Result<Plan> {
    let notes = Vec::new();
    let mut worktree = None;
    let mut branch = BranchStep::Nothing;
    if let Some(made) = &target.worktree {
        if let Some(reason) = made.admin.foreign_lock() {
            bail!(
                "{} is locked ({reason}): unlock it with `git worktree unlock {}` first",
                made.top.display(),
                shell_quote(&made.top.to_string_lossy())
            );
        }
        if why != Why::Rollback && made.admin.being_created() {
            bail!(
                "{} is being created by another dev-prism right now: wait for it to finish",
                made.top.display()
            );
        }
        let unlock = made.admin.locked.is_some();
        worktree = Some(if !made.top.is_dir() {
            WorktreeStep::Forget
        } else if force || why == Why::Rollback {
            WorktreeStep::Remove {
                force: true,
                unlock,
                pre_delete: Vec::new(),
            }
        } else {
            let (risk, pre_delete) = assess(made, &target)?;
            if !risk.is_safe() {
                return Err(WouldLoseWork {
                    message: safety::refusal(&made.top, &risk, why.verb()),
                    reason: risk.reason(),
                }
                .into());
            }
            WorktreeStep::Remove {
                force: false,
                unlock,
                pre_delete,
            }
        });
        branch = branch_step(made, why, force)?;
    }
    Ok(Plan {
        target,
        why,
        force,
        pre_destroy: PreDestroy::default(),
        worktree,
        branch,
        notes,
        stop_timeout: STOP_TIMEOUT,
    })
}

/// What removing the worktree would lose, and the untracked files dev-prism
/// owns there (deleted first, so git's own check passes).
fn assess(made: &MadeWorktree, target: &Target) -> Result<(Risk, Vec<PathBuf>)> {
    let entries = safety::parse_status(&git::status_porcelain(&made.top)?);
    let generated: Vec<(String, &'static str)> = target
        .generated
        .iter()
        .filter_map(|g| {
            let abs = target.dir.join(&g.rel);
            let rel = abs.strip_prefix(&made.top).ok()?;
            Some((safety::git_path(rel), g.header))
        })
        .collect();
    let ours = |path: &str| -> bool {
        let abs = made.top.join(path);
        if let Some((_, header)) = generated.iter().find(|(p, _)| p == path) {
            return safefs::existing(&abs, header) == safefs::Existing::Ours;
        }
        match made.marker().and_then(|m| m.owned_file(path)) {
            Some(f) => safefs::hash_of(&abs).as_deref() == Some(f.hash.as_str()),
            None => false,
        }
    };
    let files: Vec<String> = safety::work(&entries, ours)
        .into_iter()
        .map(|e| e.path.clone())
        .collect();
    let pre_delete = entries
        .iter()
        .filter(|e| !files.contains(&e.path))
        .map(|e| made.top.join(&e.path))
        .collect();
    let mut submodules = git::populated_submodules(&made.top)?;
    if made.admin.dir.join("modules").is_dir() && submodules.is_empty() {
        submodules.push("(in the worktree's git dir)".into());
    }
    let detached_commits = match made.head() {
        (None, Some(commit)) => git::unique_commits(&made.repo_dir, &commit, None)?,
        _ => 0,
    };
    Ok((
        Risk {
            files,
            detached_commits,
            submodules,
        },
        pre_delete,
    ))
}

/// Delete the branch only when dev-prism created it and no commit would be
/// lost (a rollback: only while it still points where it started).
fn branch_step(made: &MadeWorktree, why: Why, force: bool) -> Result<BranchStep> {
    let Some(m) = made.marker() else {
        return Ok(BranchStep::Nothing);
    };
    let Some(name) = m.branch.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(BranchStep::Nothing);
    };
    if !m.branch_created {
        return Ok(if !git::branch_exists(&made.repo_dir, name)? {
            BranchStep::Nothing
        } else if m.branch_unknown {
            BranchStep::Keep(format!(
                "kept branch `{name}`: the original dev-prism did not record whether it made it; `git branch -d {}` deletes it once merged",
                shell_quote(name)
            ))
        } else {
            BranchStep::Keep(existed_before(name))
        });
    }
    let Some(commit) = git::branch_commit(&made.repo_dir, name)? else {
        return Ok(BranchStep::Nothing);
    };
    if why == Why::Rollback {
        return Ok(match &m.base {
            Some(base) if *base != commit => BranchStep::Keep(format!(
                "kept branch `{name}`: it has moved since create started"
            )),
            _ => BranchStep::Delete(name.to_string()),
        });
    }
    if force {
        return Ok(BranchStep::Delete(name.to_string()));
    }
    let n = git::unique_commits(&made.repo_dir, &format!("refs/heads/{name}"), Some(name))?;
    Ok(if n == 0 {
        BranchStep::Delete(name.to_string())
    } else {
        BranchStep::Keep(safety::kept_branch(name, n, why.verb()))
    })
}

/// Why a branch dev-prism did not create is not deleted.
pub fn existed_before(branch: &str) -> String {
    format!("kept branch `{branch}`: it existed before the session")
}

/// What a finished teardown did, for the caller to report.
#[derive(Debug, Default)]
pub struct Report {
    /// Kept branches and other things the user should know (warnings).
    pub warnings: Vec<String>,
    /// Quieter notes (a branch that existed before).
    pub notes: Vec<String>,
}

/// The command that finishes a teardown that stopped part-way.
fn finish_command(target: &Target) -> String {
    if target.dir.is_dir() {
        format!(
            "`dev-prism destroy {}`",
            shell_quote(&target.dir.to_string_lossy())
        )
    } else {
        "`dev-prism prune` in the repository".to_string()
    }
}

/// Carry out the plan. Stops at the first step that fails, or when a signal
/// arrives that nobody acted on yet; the error says what is left.
pub fn execute(plan: Plan) -> Result<Report> {
    let Plan {
        target,
        why,
        force,
        pre_destroy,
        worktree,
        branch,
        notes,
        stop_timeout,
    } = plan;
    let mut report = Report {
        notes,
        ..Report::default()
    };
    let dir = target.dir.display().to_string();
    let finish = finish_command(&target);
    let left_worktree = match &target.worktree {
        Some(m) => format!("; the worktree {} is kept", m.top.display()),
        None => String::new(),
    };

    // 0. The session's own last words (a destroy only).
    if why == Why::Destroy {
        run_pre_destroy(&target.dir, &pre_destroy, force)?;
    }

    // 1. Containers, networks, volumes.
    for project in &target.projects {
        if let Err(e) = take_down(project, stop_timeout) {
            bail!(
                "could not remove the containers of {dir}: {e:#}\n  nothing else was removed{left_worktree}; fix the cause and run {finish}"
            );
        }
    }
    stop_if_signalled(&format!(
        "after removing the containers of {dir}{left_worktree}: run {finish} to finish"
    ))?;

    // 2. Generated files in a directory that stays.
    let keeps_dir = !matches!(worktree, Some(WorktreeStep::Remove { .. }));
    if keeps_dir && target.dir.is_dir() {
        remove_generated(&target)?;
    }

    // 3. The branch, then the worktree: the branch goes first (its
    // worktree detached from it), so a kill between the two leaves a
    // worktree whose record still names the branch, never a branch without
    // a record.
    let (Some(step), Some(made)) = (worktree, &target.worktree) else {
        return Ok(report);
    };
    // Bulk commands tear sessions down side by side: their git steps take
    // turns, so they never collide on the repository's locks.
    let _git_turn = GIT_STEPS.lock();
    // The directory may have vanished meanwhile (another process): then
    // git only has to forget the worktree.
    let step = match step {
        WorktreeStep::Remove { .. } if !made.top.is_dir() => WorktreeStep::Forget,
        other => other,
    };
    let removing = matches!(step, WorktreeStep::Remove { .. });
    match branch {
        BranchStep::Nothing => {}
        BranchStep::Keep(msg) if msg.contains("existed before") => report.notes.push(msg),
        BranchStep::Keep(msg) => report.warnings.push(msg),
        BranchStep::Delete(name) if removing => {
            if let Err(e) = delete_branch(made, &name, true) {
                report.warnings.push(e);
            }
        }
        BranchStep::Delete(name) => {
            // The directory is gone: git forgets the worktree first.
            if let Err(e) = git::prune_worktrees(&made.repo_dir) {
                bail!(
                    "removed the containers of {dir}, but git could not forget the worktree: {e:#}\n  run {finish} to finish"
                );
            }
            if let Err(e) = delete_branch(made, &name, false) {
                report.warnings.push(e);
            }
        }
    }
    if why != Why::Rollback {
        stop_if_signalled(&format!(
            "after removing the containers of {dir}; the worktree {} is kept: run {finish} to finish",
            made.top.display()
        ))?;
    }
    let result = match step {
        WorktreeStep::Forget => git::prune_worktrees(&made.repo_dir),
        WorktreeStep::Remove {
            force,
            unlock,
            pre_delete,
        } => remove_worktree(made, force, unlock, &pre_delete),
    };
    if let Err(e) = result {
        bail!(
            "removed the containers of {dir}, but {e:#}\n  the worktree is kept: run {finish} to finish"
        );
    }
    // 4. An empty sessions directory dev-prism chose.
    if let Some(sessions) = made.marker().and_then(|m| m.sessions_dir.as_deref()) {
        let _ = std::fs::remove_dir(sessions);
    }
    Ok(report)
}

/// Delete a branch dev-prism created; with `detach`, its worktree is first
/// detached from it (at the same commit, files untouched). A failure is a
/// warning to report: the branch is kept.
fn delete_branch(made: &MadeWorktree, name: &str, detach: bool) -> std::result::Result<(), String> {
    let kept = |why: String| {
        format!(
            "kept branch `{name}`: {}",
            why.trim_start_matches("error: ")
        )
    };
    if detach && made.head().0.as_deref() == Some(name) {
        let commit = git::branch_commit(&made.repo_dir, name)
            .ok()
            .flatten()
            .ok_or_else(|| kept("its commit could not be read".into()))?;
        git::detach_head(&made.top, &commit).map_err(|e| kept(e.error_lines().join("; ")))?;
    }
    git::force_delete_branch(&made.repo_dir, name).map_err(|e| kept(e.error_lines().join("; ")))
}

/// One teardown's git steps at a time in this process.
static GIT_STEPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run the `preDestroy` commands in the session directory, each bounded
/// in time. A failure stops the destroy (nothing was removed yet) unless
/// `force`, which goes on with a warning. A signal always stops it.
fn run_pre_destroy(dir: &Path, pre: &PreDestroy, force: bool) -> Result<()> {
    if pre.commands.is_empty() {
        return Ok(());
    }
    if !dir.is_dir() {
        crate::output::warn(&format!(
            "preDestroy commands not run: {} is gone",
            dir.display()
        ));
        return Ok(());
    }
    let left = if force {
        "destroying anyway (--force)".to_string()
    } else {
        format!(
            "nothing was removed: fix it and run `dev-prism destroy {}` again, or pass --force to destroy without it",
            shell_quote(&dir.to_string_lossy())
        )
    };
    match crate::setup::run_within(
        "preDestroy",
        &pre.commands,
        dir,
        &pre.env,
        &left,
        Some(pre_destroy_deadline()),
    ) {
        Ok(()) => Ok(()),
        Err(e) if e.downcast_ref::<interrupt::Interrupted>().is_some() => Err(e),
        Err(e) if force => {
            crate::output::warn(&format!("{e:#}"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A `create` that failed (`cause`) or was interrupted takes back what it
/// made, `target`, by this same plan; `lock` (the session's) is released
/// after. The error says what happened, and what is left if the rollback
/// itself stopped (a second signal, the engine lost).
pub fn rollback<L>(target: Target, lock: L, cause: anyhow::Error) -> anyhow::Error {
    interrupt::acknowledge();
    crate::output::progress("Rolling back: removing what this create made");
    let result = plan(target, Why::Rollback, true).and_then(execute);
    drop(lock);
    match (result, interrupt::signal()) {
        (Ok(_), Some(sig)) => interrupt::error(format!(
            "interrupted ({}): everything this create made was removed",
            interrupt::name(sig)
        )),
        (Ok(_), None) => cause,
        (Err(e), sig) => {
            let msg = format!("{cause:#}\n  and the rollback stopped: {e:#}");
            match sig {
                Some(_) => interrupt::error(msg),
                None => anyhow::anyhow!(msg),
            }
        }
    }
}

fn stop_if_signalled(what: &str) -> Result<()> {
    if interrupt::pending() {
        let sig = interrupt::signal().unwrap_or(2);
        return Err(interrupt::error(format!(
            "interrupted ({}) {what}",
            interrupt::name(sig)
        )));
    }
    Ok(())
}

/// `compose down` of one project (by its files when they are still there,
/// else by name), then any container of it Compose left (other profiles),
/// then the images it built that nothing else names (dangling ones with its
/// label; `down --rmi local` took the rest).
fn take_down(project: &ComposeProject, stop_timeout: u32) -> Result<()> {
    if project.down(stop_timeout).is_err() {
        let by_name = project.by_name();
        by_name.down(stop_timeout).map_err(docker::engine_error)?;
    }
    let left: Vec<String> = docker::project_containers(&project.name)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    docker::remove_containers(&left)?;
    if !left.is_empty() {
        project
            .by_name()
            .down(stop_timeout)
            .map_err(docker::engine_error)?;
    }
    docker::remove_dangling_images(&project.name);
    Ok(())
}

/// Remove the generated files of a directory that stays: only regular,
/// untracked files that still carry dev-prism's header.
fn remove_generated(target: &Target) -> Result<()> {
    let repo = git::discover(&target.dir).ok().flatten();
    for g in &target.generated {
        let tracked = |rel: &Path| match &repo {
            Some(r) => {
                let abs = target.dir.join(rel);
                match abs.strip_prefix(&r.toplevel) {
                    Ok(in_top) => git::is_tracked(&r.toplevel, in_top),
                    Err(_) => false,
                }
            }
            None => false,
        };
        safefs::remove_generated(&target.dir, &g.rel, g.header, tracked)?;
    }
    Ok(())
}

fn remove_worktree(
    made: &MadeWorktree,
    force: bool,
    unlock: bool,
    pre_delete: &[PathBuf],
) -> Result<()> {
    for path in pre_delete {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow!("could not remove {}: {e}", path.display())),
        }
    }
    if unlock {
        git::unlock_worktree(&made.repo_dir, &made.top)?;
    }
    git::remove_worktree(&made.repo_dir, &made.top, force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            existed_before("feat/x"),
            "kept branch `feat/x`: it existed before the session"
        );
    }
}
