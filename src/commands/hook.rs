//! `dev-prism hook worktree-create | worktree-remove`: what the Claude Code
//! `WorktreeCreate` / `WorktreeRemove` hooks (installed by `dev-prism
//! claude`) run. Claude Code runs them with `sh -c` in the project
//! directory and one JSON object on stdin.
//!
//! **worktree-create** reads `name` (or `worktree_name`; an old payload's
//! `worktree_path` gives both the name and the place), `cwd`, and the
//! optional `base_path` and `source_ref`; unknown keys are ignored. It makes
//! a full session through `create`'s own code: a worktree on the branch
//! NAME (an existing branch is checked out) starting at `source_ref` (else
//! the HEAD of `cwd`), in the config's `sessionsDir`, else in `base_path`,
//! else in the default sessions directory; then the stack, the copied
//! files, `setup` and `postStart`. Only the worktree's absolute path goes to
//! stdout (everything else to stderr). Any failure — `setup` included, as
//! Claude Code cannot use half a session — removes what this run made and
//! exits non-zero with one line. A NAME whose dev-prism worktree exists
//! already is reused (started if stopped), as Claude Code reuses a
//! worktree of the same name.
//!
//! **worktree-remove** reads `worktree_path` and destroys that session by
//! the teardown plan's rules (`preDestroy` first). When that would lose
//! work (uncommitted or untracked files), nothing is removed: the stack is
//! stopped (its data kept), stderr says why and how to finish, and the exit
//! code is **0** — the hook did what it is for, and a non-zero exit would
//! only make Claude Code report a failure and keep a session entry that it
//! cannot delete. A branch with unmerged commits is kept (and named), as
//! for `destroy`. A path that no longer exists and has no session left is
//! a no-op (exit 0). Real failures (a worktree dev-prism did not make, a
//! failing `preDestroy`, an engine that does not answer) exit 1.

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{destroy, Ctx};
use crate::cli::{Cli, Command, HookArgs, HookEvent};
use crate::docker;
use crate::git::{self, Repo};
use crate::interrupt;
use crate::lock::Wait;
use crate::output;
use crate::ownership::{self, Admin, Creator, State};
use crate::process::shell_quote;
use crate::session::{group_sessions, Session, Status};
use crate::teardown::{self, Why, WouldLoseWork};

/// What `WorktreeCreate` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayload {
    pub name: String,
    pub cwd: Option<PathBuf>,
    pub base_path: Option<PathBuf>,
    pub source_ref: Option<String>,
}

/// What `WorktreeRemove` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovePayload {
    pub worktree_path: PathBuf,
    pub cwd: Option<PathBuf>,
}

/// A string field: absent and `null` are `None`, another type an error.
fn field(v: &Value, key: &str) -> Result<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!(
            "the hook payload's `{key}` must be a string, not {}",
            kind(other)
        ),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl CreatePayload {
    pub fn parse(v: &Value) -> Result<Self> {
        let cwd = field(v, "cwd")?.map(PathBuf::from);
        let mut base_path = field(v, "base_path")?.map(PathBuf::from);
        let source_ref = field(v, "source_ref")?;
        let name = match (field(v, "name")?, field(v, "worktree_name")?) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                // Old payloads: the path the worktree should have.
                let Some(path) = field(v, "worktree_path")?.map(PathBuf::from) else {
                    bail!(
                        "the WorktreeCreate payload has no `name` (nor `worktree_name`): nothing tells which worktree to make"
                    );
                };
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .context("the payload's `worktree_path` has no last component")?;
                base_path = base_path.or_else(|| path.parent().map(Path::to_path_buf));
                name
            }
        };
        Ok(CreatePayload {
            name,
            cwd,
            base_path,
            source_ref,
        })
    }
}

impl RemovePayload {
    pub fn parse(v: &Value) -> Result<Self> {
        let Some(path) = field(v, "worktree_path")? else {
            bail!("the WorktreeRemove payload has no `worktree_path`: nothing tells which worktree to remove");
        };
        Ok(RemovePayload {
            worktree_path: PathBuf::from(path),
            cwd: field(v, "cwd")?.map(PathBuf::from),
        })
    }
}

/// How long to wait for the payload: `DEV_PRISM_HOOK_STDIN_TIMEOUT`
/// seconds, default 10.
fn stdin_deadline() -> Duration {
    crate::process::seconds_from_env("DEV_PRISM_HOOK_STDIN_TIMEOUT", 10)
}

pub fn run(ctx: &Ctx, args: HookArgs) -> Result<i32> {
    let what = match args.event {
        HookEvent::WorktreeCreate => "worktree-create",
        HookEvent::WorktreeRemove => "worktree-remove",
    };
    let payload = read_payload(what, stdin_deadline())?;
    // Whatever other code paths print as their answer goes to stderr:
    // Claude Code reads stdout.
    output::answers_to_stderr();
    match args.event {
        HookEvent::WorktreeCreate => create(ctx, CreatePayload::parse(&payload)?),
        HookEvent::WorktreeRemove => remove(ctx, RemovePayload::parse(&payload)?),
    }
}

/// One JSON value from stdin, parsed as soon as it is complete (stdin may
/// stay open), within `deadline`.
fn read_payload(what: &str, deadline: Duration) -> Result<Value> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        bail!(
            "`dev-prism hook {what}` reads Claude Code's JSON payload on stdin: it is what the hooks `dev-prism claude` installs run"
        );
    }
    let (tx, rx) = mpsc::channel();
    // The thread is left behind if the deadline passes (the process ends).
    std::thread::spawn(move || {
        let stdin = std::io::stdin().lock();
        let mut values = serde_json::Deserializer::from_reader(stdin).into_iter::<Value>();
        let _ = tx.send(values.next());
    });
    let start = Instant::now();
    loop {
        interrupt::check()?;
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(read) => return payload_of(read),
            Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() < deadline => {}
            Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                "no complete JSON payload arrived on stdin within {}s (set DEV_PRISM_HOOK_STDIN_TIMEOUT to wait longer): nothing was made",
                deadline.as_secs_f64().round()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("could not read stdin"),
        }
    }
}

/// Pure: the payload, or why what arrived is not one.
fn payload_of(read: Option<serde_json::Result<Value>>) -> Result<Value> {
    match read {
        None => bail!(
            "stdin is empty: expected Claude Code's JSON payload (an object); nothing was made"
        ),
        Some(Err(e)) if e.is_eof() => bail!(
            "stdin ended in the middle of the JSON payload (line {}, column {}); nothing was made",
            e.line(),
            e.column()
        ),
        Some(Err(e)) => bail!("stdin is not a JSON payload ({e}); nothing was made"),
        Some(Ok(v)) if !v.is_object() => bail!(
            "the payload on stdin must be a JSON object, not {}; nothing was made",
            kind(&v)
        ),
        Some(Ok(v)) => Ok(v),
    }
}

/// `path` made absolute against `base`, canonical when it exists.
fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = base.join(path);
    std::fs::canonicalize(&joined).unwrap_or_else(|_| crate::layout::normalize(&joined))
}

/// Parse a dev-prism command line (so new options get their defaults).
fn parse(words: &[&str]) -> Result<Cli> {
    Cli::try_parse_from(std::iter::once("dev-prism").chain(words.iter().copied()))
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))
}

fn create(ctx: &Ctx, p: CreatePayload) -> Result<i32> {
    let cwd = absolute(&ctx.cwd, p.cwd.as_deref().unwrap_or(Path::new(".")));
    if !cwd.is_dir() {
        bail!(
            "the payload's cwd {} is not a directory: nothing was made",
            cwd.display()
        );
    }
    let Some(repo) = git::discover(&cwd)? else {
        bail!(
            "{} is not in a git repository: a Claude Code worktree needs one",
            cwd.display()
        );
    };
    if let Some(top) = reuse(&repo, &p.name)? {
        output::print_stdout(&format!("{}\n", top.display()));
        return Ok(0);
    }
    let branch = format!("--branch={}", p.name);
    let base = format!("--base={}", p.source_ref.as_deref().unwrap_or("HEAD"));
    let Command::Create(mut args) = parse(&["create", &branch, &base])?.command else {
        bail!("internal error: not a create command line");
    };
    args.sessions_dir = p.base_path.as_deref().map(|b| absolute(&cwd, b));
    args.failure_note =
        Some("the session is removed again: Claude Code gets a complete session or none".into());
    let here = Ctx {
        cwd: cwd.clone(),
        yes: ctx.yes,
    };
    if let Err(e) = super::create::run(&here, args) {
        return Err(roll_back_mine(&repo, e));
    }
    let Some(admin) = mine(&repo) else {
        bail!(
            "the session for `{}` was made, but its worktree is not in git's records",
            p.name
        );
    };
    output::print_stdout(&format!("{}\n", admin.worktree.display()));
    Ok(0)
}

/// The worktree this process made (its record names this process).
fn mine(repo: &Repo) -> Option<Admin> {
    let me = Creator::me();
    ownership::admins(&repo.common_dir)
        .into_iter()
        .find(|a| a.marker.as_ref().is_some_and(|m| m.creator == me))
}

/// After a failure that left the session up (a `setup` or `postStart`
/// command): take the session back, as a rollback does.
fn roll_back_mine(repo: &Repo, cause: anyhow::Error) -> anyhow::Error {
    let Some(admin) = mine(repo) else {
        return cause; // create rolled back itself, or made nothing
    };
    let Some(marker) = admin.marker.clone() else {
        return cause;
    };
    interrupt::acknowledge();
    output::progress("Removing the session again: Claude Code gets a complete one or none");
    let session = match super::find_session(&marker.session_dir) {
        Ok(Some(s)) => s,
        _ => Session {
            id: super::identity_of_marker(&marker, &repo.common_dir),
            containers: Vec::new(),
        },
    };
    let result = destroy::target_of(&session)
        .and_then(|t| teardown::plan(t, Why::Rollback, true))
        .and_then(teardown::execute);
    match result {
        Ok(_) => cause,
        Err(e) => anyhow::anyhow!("{cause:#}\n  but removing the session failed: {e:#}"),
    }
}

/// A dev-prism worktree of branch `name` that exists already: its path,
/// after starting its stack when it is stopped.
fn reuse(repo: &Repo, name: &str) -> Result<Option<PathBuf>> {
    let found = ownership::admins(&repo.common_dir).into_iter().find(|a| {
        a.marker
            .as_ref()
            .is_some_and(|m| m.branch.as_deref() == Some(name) && m.state == State::Ready)
            && a.worktree.is_dir()
    });
    let Some(admin) = found else {
        return Ok(None);
    };
    let Some(marker) = &admin.marker else {
        return Ok(None);
    };
    let dir = &marker.session_dir;
    let session = super::find_session(dir)?.filter(|s| !s.containers.is_empty());
    let Some(session) = session else {
        bail!(
            "the worktree {} of `{name}` has no containers any more: remove it with `dev-prism destroy {}`, then try again",
            admin.worktree.display(),
            shell_quote(&dir.to_string_lossy())
        );
    };
    output::progress(&format!(
        "Using the existing session of `{name}` in {}",
        dir.display()
    ));
    if session.status() != Status::Running {
        let dir_text = dir.to_string_lossy();
        let cli = parse(&["-C", &dir_text, "start"])?;
        let code = super::run(cli)?;
        if code != 0 {
            bail!("`dev-prism start` of {} failed", dir.display());
        }
    }
    Ok(Some(admin.worktree))
}

fn remove(ctx: &Ctx, p: RemovePayload) -> Result<i32> {
    let base = absolute(&ctx.cwd, p.cwd.as_deref().unwrap_or(Path::new(".")));
    let path = absolute(&base, &p.worktree_path);
    let repo_of = |dir: &Path| -> Option<Repo> {
        dir.is_dir()
            .then(|| git::discover(dir).ok().flatten())
            .flatten()
    };
    let repo = repo_of(&path).or_else(|| repo_of(&base));
    let admin = repo
        .as_ref()
        .and_then(|r| ownership::admin_of(&r.common_dir, &path));
    let inside: Vec<Session> = group_sessions(docker::managed_containers()?)
        .into_iter()
        .filter(|s| s.id.working_dir.starts_with(&path))
        .collect();

    let session = match (&admin, &repo) {
        (Some(a), Some(r)) => {
            let Some(marker) = &a.marker else {
                bail!(
                    "{} is a worktree dev-prism did not make: left as it is (remove it with `git worktree remove {}`)",
                    path.display(),
                    shell_quote(&path.to_string_lossy())
                );
            };
            let others: Vec<String> = inside
                .iter()
                .filter(|s| s.id.working_dir != marker.session_dir)
                .map(|s| s.id.working_dir.display().to_string())
                .collect();
            if !others.is_empty() {
                bail!(
                    "{} also holds the session {}: destroy it first with `dev-prism destroy DIR`; nothing was removed",
                    path.display(),
                    others.join(", ")
                );
            }
            match inside
                .into_iter()
                .find(|s| s.id.working_dir == marker.session_dir)
            {
                Some(s) => s,
                None => Session {
                    id: super::identity_of_marker(marker, &r.common_dir),
                    containers: Vec::new(),
                },
            }
        }
        _ if path.exists() => bail!(
            "{} is not a worktree dev-prism made: left as it is",
            path.display()
        ),
        // Gone: what is left of the session there (its containers).
        _ if inside.len() > 1 => bail!(
            "{} does not exist, and {} sessions were in it: destroy them one by one with `dev-prism destroy DIR`",
            path.display(),
            inside.len()
        ),
        _ => match inside.into_iter().next() {
            Some(s) => s,
            None => {
                output::progress(&format!(
                    "{} does not exist and no session is left there: nothing to remove",
                    path.display()
                ));
                return Ok(0);
            }
        },
    };

    let Some((_lock, s)) = destroy::lock_session(&session, Wait::Up(Duration::from_secs(300)))?
    else {
        output::progress(&format!(
            "the session in {} was already destroyed",
            session.id.working_dir.display()
        ));
        return Ok(0);
    };
    match teardown::plan(destroy::target_of(&s)?, Why::Destroy, false) {
        Ok(plan) => {
            let plan = plan.with_pre_destroy(destroy::pre_destroy_of(&s));
            output::progress(&format!("Destroying {}", s.id.working_dir.display()));
            destroy::report(teardown::execute(plan)?);
            Ok(0)
        }
        Err(e) => match e.downcast_ref::<WouldLoseWork>() {
            Some(w) => {
                keep(&s, &path, &w.reason);
                Ok(0)
            }
            None => Err(e),
        },
    }
}

/// The worktree holds work: keep everything, stop the stack (its data is
/// kept), and say how to go on.
fn keep(s: &Session, top: &Path, reason: &str) {
    let dir = shell_quote(&s.id.working_dir.to_string_lossy());
    let stopped = if s.status() == Status::Stopped {
        String::new()
    } else {
        match super::lifecycle::stop(s, None) {
            Ok(()) => format!(
                "; its containers are stopped (data kept: `dev-prism start {dir}` resumes them)"
            ),
            Err(e) => format!("; its containers could not be stopped: {e:#}"),
        }
    };
    output::warn(&format!(
        "kept the worktree {}: it has {reason}{stopped}. Commit the work, then `dev-prism destroy {dir}` (or `dev-prism destroy --force {dir}` to throw it away)",
        top.display(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_create_payload_shapes_and_ignores_unknown_keys() {
        let current = json!({"session_id": "s", "transcript_path": "/t", "cwd": "/repo",
            "hook_event_name": "WorktreeCreate", "name": "feat-x", "future_key": [1]});
        assert_eq!(
            CreatePayload::parse(&current).unwrap(),
            CreatePayload {
                name: "feat-x".into(),
                cwd: Some("/repo".into()),
                base_path: None,
                source_ref: None
            }
        );
        let documented = json!({"cwd": "sub", "worktree_name": "feat/y",
            "base_path": "/repo/.claude/worktrees", "source_ref": "main"});
        assert_eq!(
            CreatePayload::parse(&documented).unwrap(),
            CreatePayload {
                name: "feat/y".into(),
                cwd: Some("sub".into()),
                base_path: Some("/repo/.claude/worktrees".into()),
                source_ref: Some("main".into())
            }
        );
        let old = json!({"worktree_path": "/repo/.claude/worktrees/z", "cwd": "/repo"});
        let p = CreatePayload::parse(&old).unwrap();
        assert_eq!(p.name, "z");
        assert_eq!(
            p.base_path.as_deref(),
            Some(Path::new("/repo/.claude/worktrees"))
        );
    }

    #[test]
    fn a_payload_without_a_name_or_with_wrong_types_is_refused() {
        let err = CreatePayload::parse(&json!({"cwd": "/repo"})).unwrap_err();
        assert!(err.to_string().contains("no `name`"), "{err}");
        let err = CreatePayload::parse(&json!({"name": 3})).unwrap_err();
        assert!(
            err.to_string()
                .contains("`name` must be a string, not a number"),
            "{err}"
        );
        let err = RemovePayload::parse(&json!({"name": "x"})).unwrap_err();
        assert!(err.to_string().contains("`worktree_path`"), "{err}");
        let p = RemovePayload::parse(&json!({"worktree_path": "/s/x", "cwd": null})).unwrap();
        assert_eq!(p.worktree_path, Path::new("/s/x"));
        assert_eq!(p.cwd, None);
    }

    fn first(text: &str) -> Result<Value> {
        let mut values = serde_json::Deserializer::from_reader(text.as_bytes()).into_iter();
        payload_of(values.next())
    }

    #[test]
    fn stdin_is_one_json_object() {
        assert!(first("{\"name\": \"x\"}\n{\"ignored\": 1}").is_ok());
        let msg = |t: &str| first(t).unwrap_err().to_string();
        assert!(msg("").starts_with("stdin is empty"), "{}", msg(""));
        assert!(msg("  \n").starts_with("stdin is empty"));
        assert!(
            msg("{\"name\": ").contains("ended in the middle"),
            "{}",
            msg("{\"name\": ")
        );
        assert!(msg("name=x").starts_with("stdin is not a JSON payload"));
        assert!(msg("[1]").contains("not an array"));
    }
}
