//! Claude Code worktrees (issue 13): the hooks `dev-prism claude` writes
//! into `.claude/settings.json`, run exactly as Claude Code runs them —
//! `sh -c "<command>"` in the project directory with `dev-prism` on PATH
//! and one JSON object on stdin (which stays open).

use crate::harness::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Stops at once (busybox httpd ignores SIGTERM).
const COMPOSE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_signal: SIGKILL
    ports:
      - "8080"
"#;

fn repo(config: &str) -> TestRepo {
    let repo = TestRepo::named(
        "app",
        &[
            ("compose.yaml", COMPOSE),
            (".gitignore", "node_modules/\n.env\n.claude/worktrees/\n"),
            (".worktreeinclude", "node_modules/\n.env\n"),
            ("session.config.json", config),
            (
                ".claude/settings.json",
                "{\n  \"model\": \"opus\",\n  \"permissions\": {\n    \"allow\": []\n  }\n}\n",
            ),
        ],
    );
    repo.write("node_modules/lib/index.js", "module.exports = 42;\n");
    repo.write(".env", "API_KEY=local-secret\n");
    repo
}

/// The command `dev-prism claude` wrote for `event`.
fn hook_command(repo: &TestRepo, event: &str) -> String {
    let text = std::fs::read_to_string(repo.root.join(".claude/settings.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let entries = v["hooks"][event].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{text}");
    entries[0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Run a hook command as Claude Code does: `sh -c` in `dir`, the JSON on
/// stdin, stdin left open until the hook exits (it must not wait for EOF).
fn run_hook(repo: &TestRepo, dir: &Path, command: &str, payload: &str) -> Output {
    run_hook_stdin(repo, dir, command, payload, false)
}

/// [`run_hook`], closing stdin after the payload when `close`.
fn run_hook_stdin(
    repo: &TestRepo,
    dir: &Path,
    command: &str,
    payload: &str,
    close: bool,
) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("dev-prism");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path);
    for key in ["COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"] {
        cmd.env_remove(key);
    }
    for (k, v) in [
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "Test"),
        ("GIT_AUTHOR_EMAIL", "test@example.invalid"),
        ("GIT_COMMITTER_NAME", "Test"),
        ("GIT_COMMITTER_EMAIL", "test@example.invalid"),
        ("NO_COLOR", "1"),
        ("CLAUDE_PROJECT_DIR", &repo.root.to_string_lossy()),
    ] {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(payload.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let stdin = (!close).then_some(stdin);
    // stdin stays open while the hook runs
    let start = Instant::now();
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the hook did not finish (waiting for EOF on stdin?)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    out
}

fn worktrees(repo: &TestRepo) -> Vec<PathBuf> {
    repo.git(&["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(PathBuf::from)
        .collect()
}

fn session<'a>(list: &'a [Value], dir: &Path) -> Option<&'a Value> {
    list.iter()
        .find(|s| s["working_dir"] == dir.to_str().unwrap())
}

#[test]
fn claude_hooks_make_a_full_session_and_remove_it_safely() {
    let repo = repo(r#"{ "setup": ["echo setup-ran-here > setup.log"] }"#);
    repo.write(
        ".gitignore",
        "node_modules/\n.env\n.claude/worktrees/\nsetup.log\n",
    );
    repo.git(&["add", ".gitignore"]);
    repo.git(&["commit", "-q", "-m", "ignore setup.log"]);
    repo.ok(&["claude"]);
    let create = hook_command(&repo, "WorktreeCreate");
    let remove = hook_command(&repo, "WorktreeRemove");
    assert_eq!(create, "dev-prism hook worktree-create");
    assert_eq!(remove, "dev-prism hook worktree-remove");
    // `dev-prism claude` again: no duplicate entries
    repo.ok(&["claude"]);
    assert_eq!(hook_command(&repo, "WorktreeCreate"), create);
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.root.join(".claude/settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(settings["model"], "opus", "the user's keys are kept");

    // 1. The payload of current Claude Code: `name`, absolute cwd.
    let payload = serde_json::json!({
        "session_id": "0b7e", "transcript_path": "/tmp/t.jsonl",
        "cwd": repo.root, "hook_event_name": "WorktreeCreate", "name": "feature-x"
    })
    .to_string();
    let out = run_hook(&repo, &repo.root, &create, &payload);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let first = PathBuf::from(printed.strip_suffix('\n').unwrap());
    assert_eq!(printed, format!("{}\n", first.display()), "only the path");
    assert!(first.is_absolute());
    assert_eq!(first, repo.base.join("app-sessions/feature-x"));
    assert!(
        worktrees(&repo).contains(&first),
        "a worktree of the repository"
    );
    assert_eq!(
        git_in(&first, &["branch", "--show-current"]).trim(),
        "feature-x"
    );
    let list = repo.list_json();
    let s = session(&list, &first).expect("a session in the printed path");
    assert_eq!(s["status"], "running");
    let env = read_env(&first.join(".env.session"));
    let port: u16 = env_get(&env, "WEB_PORT").unwrap().parse().unwrap();
    assert!(http_get(port).starts_with("HTTP/"));
    assert_eq!(
        std::fs::read_to_string(first.join("node_modules/lib/index.js")).unwrap(),
        "module.exports = 42;\n"
    );
    assert_eq!(
        std::fs::read_to_string(first.join(".env")).unwrap(),
        "API_KEY=local-secret\n"
    );
    assert_eq!(
        std::fs::read_to_string(first.join("setup.log")).unwrap(),
        "setup-ran-here\n"
    );
    let err = stderr(&out);
    assert!(err.contains("Copied .worktreeinclude"), "{err}");

    // 2. The documented payload: `worktree_name`, a relative cwd,
    //    `base_path` and `source_ref`.
    repo.git(&["checkout", "-q", "-b", "base-branch"]);
    repo.write("BASE.md", "from base-branch\n");
    repo.git(&["add", "BASE.md"]);
    repo.git(&["commit", "-q", "-m", "base"]);
    let base_commit = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    repo.git(&["checkout", "-q", "main"]);
    let payload = serde_json::json!({
        "cwd": ".", "hook_event_name": "WorktreeCreate", "worktree_name": "feat/y",
        "base_path": repo.root.join(".claude/worktrees"), "source_ref": "base-branch",
        "some_future_key": {"x": 1}
    })
    .to_string();
    let out = run_hook(&repo, &repo.root, &create, &payload);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = PathBuf::from(stdout(&out).trim_end());
    assert_eq!(second, repo.root.join(".claude/worktrees/feat-y"));
    assert_eq!(git_in(&second, &["rev-parse", "HEAD"]).trim(), base_commit);
    assert_eq!(
        git_in(&second, &["branch", "--show-current"]).trim(),
        "feat/y"
    );
    assert_eq!(
        session(&repo.list_json(), &second).unwrap()["status"],
        "running"
    );
    // the main checkout's worktrees are not copied into the new one
    assert!(!second.join(".claude/worktrees").exists());

    // 3. Remove with uncommitted work: kept, said why, exit 0, stack stopped.
    std::fs::write(second.join("notes.md"), "my work\n").unwrap();
    let payload = serde_json::json!({
        "hook_event_name": "WorktreeRemove", "cwd": repo.root, "worktree_path": second
    })
    .to_string();
    let out = run_hook(&repo, &repo.root, &remove, &payload);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains("kept the worktree") && err.contains("notes.md"),
        "{err}"
    );
    assert!(second.join("notes.md").is_file());
    assert!(repo.has_branch("feat/y"));
    assert_eq!(
        session(&repo.list_json(), &second).unwrap()["status"],
        "stopped"
    );

    // 4. Remove a clean one: worktree, branch and stack gone.
    let project = session(&repo.list_json(), &first).unwrap()["project_name"]
        .as_str()
        .unwrap()
        .to_string();
    let payload = format!("{{\"worktree_path\": \"{}\"}}", first.display());
    let out = run_hook(&repo, &repo.root, &remove, &payload);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!first.exists());
    assert!(!repo.has_branch("feature-x"));
    assert_eq!(leftovers(&project), (0, 0, 0));
    // again (Claude Code may fire it for a worktree already gone): a no-op
    let out = run_hook(&repo, &repo.root, &remove, &payload);
    assert!(out.status.success(), "{}", stderr(&out));

    repo.ok(&["destroy", "--force", second.to_str().unwrap()]);
}

#[test]
fn a_failing_create_hook_removes_what_it_made_and_bad_payloads_make_nothing() {
    let repo = repo(r#"{ "setup": ["echo about to fail", "exit 3"] }"#);
    repo.ok(&["claude"]);
    let create = hook_command(&repo, "WorktreeCreate");
    let before = worktrees(&repo);

    let out = run_hook(
        &repo,
        &repo.root,
        &create,
        r#"{"name": "broken", "cwd": "."}"#,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no path on failure");
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("setup command `exit 3` failed (exit code 3)")
            && errors[0].contains("removed again"),
        "{err}"
    );
    assert_eq!(worktrees(&repo), before);
    assert!(!repo.has_branch("broken"));
    assert!(repo.projects().is_empty(), "{:?}", repo.projects());

    for (payload, says) in [
        ("", "stdin is empty"),
        ("{\"name\": ", "ended in the middle"),
        ("name=x", "not a JSON payload"),
        ("[\"x\"]", "must be a JSON object"),
        ("{\"cwd\": \".\"}", "no `name`"),
        ("{\"name\": \"bad name\"}", "invalid branch name"),
    ] {
        // (Claude Code closes stdin after the payload)
        let out = run_hook_stdin(&repo, &repo.root, &create, payload, true);
        assert_eq!(out.status.code(), Some(1), "{payload}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
        assert!(stderr(&out).contains(says), "{payload}: {}", stderr(&out));
    }
    assert_eq!(worktrees(&repo), before);
    assert!(repo.projects().is_empty());
}

#[test]
fn a_create_hook_payload_that_never_completes_times_out() {
    let repo = TestRepo::new(COMPOSE);
    let bin = assert_cmd::cargo::cargo_bin("dev-prism");
    let mut child = std::process::Command::new(bin)
        .args(["hook", "worktree-create"])
        .current_dir(&repo.root)
        .env("DEV_PRISM_HOOK_STDIN_TIMEOUT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"name\": \"slow\"").unwrap();
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no complete JSON payload arrived on stdin within 1s"),
        "{}",
        stderr(&out)
    );
    assert_eq!(worktrees(&repo).len(), 1);
}
