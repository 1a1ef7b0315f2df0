//! Sessions by name (SPEC §4, §7): wherever a command takes DIR it also
//! takes a session's branch or worktree directory name; `path NAME`.

use crate::harness::*;
use std::path::PathBuf;

const COMPOSE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["sh", "-c", "echo web-is-up; exec httpd -f -p 8080 -h /www"]
    stop_signal: SIGKILL
    ports:
      - "8080"
"#;

fn path_of(repo: &TestRepo, name: &str) -> PathBuf {
    let out = repo.ok(&["path", name]);
    let text = stdout(&out);
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    PathBuf::from(text.trim_end())
}

#[test]
fn commands_take_a_branch_or_worktree_name() {
    let repo = TestRepo::new(COMPOSE);
    let dir = repo.create_branch("feat/x");
    assert_eq!(path_of(&repo, "feat/x"), dir);
    assert_eq!(path_of(&repo, "feat-x"), dir);
    // a path still works, and `path` alone is the session you are in
    assert_eq!(path_of(&repo, dir.to_str().unwrap()), dir);
    assert_eq!(
        PathBuf::from(stdout(&repo.ok_in(&dir.join("."), &["path"])).trim_end()),
        dir
    );

    let info: serde_json::Value =
        serde_json::from_slice(&repo.ok(&["info", "--json", "feat/x"]).stdout).unwrap();
    assert_eq!(info["working_dir"], dir.to_str().unwrap());
    let env: serde_json::Value =
        serde_json::from_slice(&repo.ok(&["env", "--json", "feat-x"]).stdout).unwrap();
    let port = env["WEB_PORT"].as_str().unwrap().to_string();
    let out = repo.ok(&[
        "with-env",
        "feat/x",
        "--",
        "sh",
        "-c",
        "printf %s \"$WEB_PORT\"",
    ]);
    assert_eq!(stdout(&out), port);
    // logs: a session name as the first word, then a service
    let out = repo.ok(&["logs", "feat-x", "web", "--no-follow"]);
    assert!(stdout(&out).contains("web-is-up"), "{}", stdout(&out));
    let out = repo.ok(&["logs", "feat/x", "--no-follow"]);
    assert!(stdout(&out).contains("web-is-up"), "{}", stdout(&out));
    repo.ok(&["stop", "feat-x"]);
    assert_eq!(
        repo.session_field(&dir, "status").as_deref(),
        Some("stopped")
    );
    repo.ok(&["start", "feat/x"]);
    assert_eq!(
        repo.session_field(&dir, "status").as_deref(),
        Some("running")
    );

    // an existing path wins over a name
    std::fs::create_dir(repo.root.join("feat-x")).unwrap();
    let out = repo.cmd().args(["info", "feat-x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no session found in"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir(repo.root.join("feat-x")).unwrap();

    // a name nothing has
    let out = repo.cmd().args(["path", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no session has that branch or worktree directory name"),
        "{}",
        stderr(&out)
    );

    let project = repo.projects().remove(0);
    repo.ok(&["destroy", "feat-x"]);
    assert!(!dir.exists());
    assert_eq!(leftovers(&project), (0, 0, 0));
}

#[test]
fn an_ambiguous_name_lists_the_candidates() {
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", COMPOSE),
            ("tools/dup/compose.yaml", COMPOSE),
        ],
    );
    let worktree = repo.create_branch("dup");
    // an in-place session in a folder with the same name
    let folder = repo.root.join("tools/dup");
    repo.ok_in(&folder, &["create", "--in-place"]);
    let out = repo.cmd().args(["path", "dup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("`dup` names 2 sessions"), "{err}");
    assert!(err.contains(worktree.to_str().unwrap()), "{err}");
    assert!(err.contains(folder.to_str().unwrap()), "{err}");
    let out = repo.cmd().args(["destroy", "dup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(repo.list_json().len(), 2, "nothing destroyed");
    repo.ok(&["destroy", folder.to_str().unwrap()]);
    repo.ok(&["destroy", worktree.to_str().unwrap()]);
}

#[test]
fn a_name_lookup_runs_no_repository_code() {
    // The config is code: evaluating it leaves a trace.
    let config = "import fs from 'node:fs';\n\
        fs.appendFileSync(new URL('./evaluated.log', import.meta.url), 'x\\n');\n\
        export default {};\n";
    let repo = TestRepo::named(
        "repo",
        &[("compose.yaml", COMPOSE), ("session.config.mjs", config)],
    );
    let dir = repo.create_branch("mjs/x");
    let trace = repo.root.join("evaluated.log");
    assert!(trace.is_file(), "create evaluates the config");
    std::fs::remove_file(&trace).unwrap();
    assert_eq!(path_of(&repo, "mjs/x"), dir);
    repo.ok(&["info", "mjs-x"]);
    repo.ok(&["env", "--json", "mjs/x"]);
    repo.ok(&["logs", "mjs-x", "--no-follow"]);
    repo.ok(&["destroy", "mjs-x"]);
    assert!(
        !trace.exists(),
        "a command that looked a session up by name ran the config"
    );
}
