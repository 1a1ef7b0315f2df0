//! `dev-prism prune`: remove the session worktrees under the sessions
//! directory that have no running containers — also those whose containers
//! are all gone — with their leftover containers, networks and volumes, and
//! the branches dev-prism created for them. Only worktrees that carry
//! dev-prism's trace (a session's containers, or its generated override
//! file) are considered: a worktree the user added by hand is never touched.
//! Git is checked first, as for `destroy`.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
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
    /// The session's branch, and whether dev-prism created it.
    pub branch: Option<String>,
    pub branch_created: bool,
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

    /// The branch dev-prism created for this worktree (deleted with it).
    fn created_branch(&self) -> Option<&str> {
        self.sessions
            .iter()
            .filter(|s| s.branch_created && !s.in_place)
            .find_map(|s| s.branch.as_deref().filter(|b| !b.is_empty()))
    }

    /// Session branches that existed before their session (kept).
    fn kept_branches(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .sessions
            .iter()
            .filter(|s| !s.branch_created)
            .filter_map(|s| s.branch.as_deref().filter(|b| !b.is_empty()))
            .collect();
        out.dedup();
        out
    }
}

/// Pick the worktrees to prune: linked worktrees strictly inside
/// `sessions_dir` (never the main worktree) that hold a dev-prism session —
/// found in Docker (`sessions`) or, when its containers are gone, from the
/// override file left in the worktree (`traces`) — without a running
/// session and without an in-place session (whose directory is never
/// removed). Returns the candidates and the worktrees skipped for a reason
/// worth telling.
pub fn select(
    worktrees: &[Worktree],
    sessions_dir: &Path,
    sessions: &[SessionRef],
    traces: impl Fn(&Worktree) -> Vec<SessionRef>,
) -> (Vec<Candidate>, Vec<(PathBuf, String)>) {
    let mut picked = Vec::new();
    let mut skipped = Vec::new();
    for wt in worktrees.iter().skip(1) {
        let path = &wt.path;
        if wt.bare || path == sessions_dir || !path.starts_with(sessions_dir) {
            continue;
        }
        let mut inside: Vec<SessionRef> = sessions
            .iter()
            .filter(|s| session::contains(path, &s.dir))
            .cloned()
            .collect();
        if inside.is_empty() {
            inside = traces(wt);
            if inside.is_empty() {
                continue; // not made by dev-prism (or nothing tells)
            }
        }
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
            branch: s.id.branch,
            branch_created: s.id.branch_created,
        })
        .collect();
    let (candidates, skipped) = select(&worktrees, &sessions_dir, &sessions, |wt| {
        traces_of(&wt.path, &prefix)
    });
    for (path, why) in &skipped {
        output::warn(&format!("kept {}: {why}", path.display()));
    }

    // Git first: nothing is touched before every candidate is checked.
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for c in &candidates {
        match check(&repo, c, args.force) {
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
fn check(repo: &git::Repo, c: &Candidate, force: bool) -> Result<Option<Target>> {
    let path = &c.worktree.path;
    if !path.is_dir() {
        return Ok(None);
    }
    let dirs: Vec<&Path> = c.sessions.iter().map(|s| s.dir.as_path()).collect();
    let target = Target {
        repo_dir: repo.main_root.clone(),
        path: path.clone(),
        head: c.worktree.head.clone(),
        branch: c.worktree.branch.clone(),
        copied: destroy::copied_env_files(repo, path, &dirs),
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
    match c.created_branch() {
        Some(branch) => destroy::delete_branch(root, Some(branch), force, "prune"),
        None => {
            for branch in c.kept_branches() {
                if git::branch_exists(root, branch).unwrap_or(false) {
                    output::progress(&destroy::existed_before(branch));
                }
            }
        }
    }
    Ok(())
}

/// The sessions dev-prism left in a worktree whose containers are gone,
/// read from their override files: the one at the worktree top, else any in
/// a subdirectory that is that file's session directory.
fn traces_of(top: &Path, prefix: &str) -> Vec<SessionRef> {
    let read = |dir: &Path| -> Option<SessionRef> {
        let text = std::fs::read_to_string(dir.join(session::OVERRIDE_FILE)).ok()?;
        trace_of(top, dir, &override_labels(&text), prefix)
    };
    if !top.is_dir() {
        return Vec::new();
    }
    if let Some(s) = read(top) {
        return vec![s];
    }
    let Ok(text) = git::status_porcelain_ignored(top) else {
        return Vec::new();
    };
    let suffix = format!("/{}", session::OVERRIDE_FILE);
    safety::parse_status(&text)
        .iter()
        .filter_map(|e| e.path.strip_suffix(&suffix))
        .filter_map(|rel| read(&top.join(rel)))
        .collect()
}

/// The dev-prism labels of a generated override file
/// (`      "dev-prism.branch": "session/x"` lines; `$$` is a literal `$`).
pub fn override_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with("\"dev-prism.") {
            continue;
        }
        let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&format!(
            "{{{line}}}"
        )) else {
            continue;
        };
        for (k, v) in map {
            if let serde_json::Value::String(v) = v {
                labels.entry(k).or_insert_with(|| v.replace("$$", "$"));
            }
        }
    }
    labels
}

/// The session an override file in `dir` (inside the worktree `top`)
/// stands for: only one dev-prism made with its worktree (not in place),
/// and below the top only in the directory its labels name.
pub fn trace_of(
    top: &Path,
    dir: &Path,
    labels: &BTreeMap<String, String>,
    prefix: &str,
) -> Option<SessionRef> {
    let get = |key: &str| {
        labels
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    if get(session::label::MANAGED) != Some("true") || get(session::label::WORKTREE) != Some("true")
    {
        return None;
    }
    let working_dir = get(session::label::WORKING_DIR).map(Path::new);
    if dir != top && working_dir != Some(dir) {
        return None;
    }
    Some(SessionRef {
        dir: dir.to_path_buf(),
        project: session::project_name(prefix, working_dir.unwrap_or(dir)),
        profiles: get(session::label::PROFILES)
            .map(|p| {
                p.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        running: false,
        in_place: false,
        containers: 0,
        branch: get(session::label::BRANCH).map(str::to_string),
        branch_created: get(session::label::BRANCH_CREATED).is_none_or(|v| v == "true"),
    })
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
            branch: None,
            branch_created: true,
        }
    }

    /// A worktree whose containers are gone: a trace only for `orphan`.
    fn orphan_trace(wt: &Worktree) -> Vec<SessionRef> {
        if wt.path.ends_with("orphan") {
            let mut s = sref(&wt.path.to_string_lossy(), false, false);
            s.containers = 0;
            vec![s]
        } else {
            Vec::new()
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
            wt("/r-sessions/by-hand", Some("mine")),
        ];
        let sessions = vec![
            sref("/r-sessions/stopped", false, false),
            sref("/r-sessions/running", true, false),
            sref("/r-sessions/partial/sub", true, false),
            sref("/r-sessions/partial", false, false),
            sref("/elsewhere/x", false, false),
        ];
        let (picked, skipped) = select(
            &worktrees,
            Path::new("/r-sessions"),
            &sessions,
            orphan_trace,
        );
        let paths: Vec<&Path> = picked.iter().map(|c| c.worktree.path.as_path()).collect();
        assert_eq!(
            paths,
            vec![
                Path::new("/r-sessions/stopped"),
                Path::new("/r-sessions/orphan")
            ]
        );
        assert_eq!(picked[0].sessions.len(), 1);
        assert_eq!(picked[1].containers(), 0);
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
        let everything = |w: &Worktree| vec![sref(&w.path.to_string_lossy(), false, false)];
        let (picked, _) = select(&worktrees, Path::new("/home/me"), &[], everything);
        let paths: Vec<&Path> = picked.iter().map(|c| c.worktree.path.as_path()).collect();
        assert_eq!(paths, vec![Path::new("/home/me/r-s/a")]);
    }

    #[test]
    fn in_place_sessions_keep_their_worktree() {
        let worktrees = vec![wt("/r", Some("main")), wt("/s/a", Some("a"))];
        let sessions = vec![sref("/s/a/app", false, true)];
        let (picked, skipped) = select(&worktrees, Path::new("/s"), &sessions, orphan_trace);
        assert!(picked.is_empty());
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].1.contains("in-place session /s/a/app"));
    }

    #[test]
    fn branches_dev_prism_created_are_deleted_others_kept() {
        let mut s = sref("/s/a", false, false);
        s.branch = Some("session/a".into());
        let mut c = Candidate {
            worktree: wt("/s/a", Some("session/a")),
            sessions: vec![s],
        };
        assert_eq!(c.created_branch(), Some("session/a"));
        assert!(c.kept_branches().is_empty());
        c.sessions[0].branch_created = false;
        assert_eq!(c.created_branch(), None);
        assert_eq!(c.kept_branches(), vec!["session/a"]);
    }

    const OVERRIDE: &str = "services:\n  web:\n    ports: !override\n      - target: 8080\n        protocol: \"tcp\"\n    labels:\n      \"dev-prism.managed\": \"true\"\n      \"dev-prism.working_dir\": \"/s/a b/$$HOME \\\"q\\\"\"\n      \"dev-prism.branch\": \"feature/x\"\n      \"dev-prism.worktree\": \"true\"\n      \"dev-prism.branch_created\": \"false\"\n      \"dev-prism.profiles\": \"apps,tools\"\n  db:\n    labels:\n      \"dev-prism.branch\": \"other\"\n";

    #[test]
    fn reads_the_labels_of_an_override_file() {
        let labels = override_labels(OVERRIDE);
        assert_eq!(labels["dev-prism.working_dir"], "/s/a b/$HOME \"q\"");
        assert_eq!(labels["dev-prism.branch"], "feature/x");
        assert_eq!(labels.len(), 6, "{labels:?}");
        assert!(override_labels("services:\n  web:\n    image: x\n").is_empty());
    }

    #[test]
    fn only_worktree_sessions_leave_a_trace() {
        let top = Path::new("/s/a b");
        let mut labels = override_labels(OVERRIDE);
        // at the top: the session, whatever directory its labels name
        let s = trace_of(top, top, &labels, "repo").unwrap();
        assert_eq!(s.dir, top);
        assert_eq!(s.branch.as_deref(), Some("feature/x"));
        assert!(!s.branch_created);
        assert_eq!(s.profiles, vec!["apps", "tools"]);
        assert_eq!(
            s.project,
            session::project_name("repo", Path::new("/s/a b/$HOME \"q\""))
        );
        // below the top only in the directory the labels name
        assert!(trace_of(top, Path::new("/s/a b/sub"), &labels, "repo").is_none());
        let sub = Path::new("/s/a b/$HOME \"q\"");
        assert!(trace_of(top, sub, &labels, "repo").is_some());
        // no branch_created label (older versions): dev-prism made the branch
        labels.remove("dev-prism.branch_created");
        assert!(trace_of(top, top, &labels, "repo").unwrap().branch_created);
        // an in-place session's override, or a file that is not dev-prism's
        labels.insert("dev-prism.worktree".into(), "false".into());
        assert!(trace_of(top, top, &labels, "repo").is_none());
        assert!(trace_of(top, top, &BTreeMap::new(), "repo").is_none());
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
