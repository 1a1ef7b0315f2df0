//! Lifecycle hooks of the config (SPEC §3): `hooks.postStart` after the
//! ports are known (create, start); `hooks.preDestroy` first thing in a
//! destroy, as recorded when the session was created.

use crate::harness::*;
use std::path::Path;
use std::time::{Duration, Instant};

const COMPOSE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_signal: SIGKILL
    ports:
      - "8080"
"#;

/// A config whose hooks append to `log` (outside the worktree, so they
/// leave no work behind).
fn config(log: &Path, pre_destroy: &str) -> String {
    let log = log.display();
    serde_json::json!({
        "hooks": {
            "postStart": [format!("echo \"start $WEB_PORT $(basename \"$PWD\")\" >> '{log}'")],
            // the containers must still be there when preDestroy runs
            "preDestroy": [format!(
                "n=$(docker ps -q --filter label=com.docker.compose.project=$COMPOSE_PROJECT_NAME | wc -l); echo \"{pre_destroy} $WEB_PORT $n\" >> '{log}'"
            )]
        }
    })
    .to_string()
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn post_start_runs_on_create_and_start_pre_destroy_as_recorded() {
    let repo = TestRepo::new(COMPOSE);
    let log = repo.base.join("events.log");
    repo.write("session.config.json", &config(&log, "first"));
    let dir = repo.create_branch("hooked");
    let port = |d: &Path| {
        env_get(&read_env(&d.join(".env.session")), "WEB_PORT")
            .unwrap()
            .to_string()
    };
    let p1 = port(&dir);
    assert_eq!(lines(&log), [format!("start {p1} hooked")]);

    repo.ok(&["stop", dir.to_str().unwrap()]);
    repo.ok(&["start", dir.to_str().unwrap()]);
    let p2 = port(&dir);
    assert_eq!(lines(&log)[1], format!("start {p2} hooked"));

    // the config changes; destroy runs what the session recorded
    repo.write("session.config.json", &config(&log, "second"));
    let out = repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(stderr(&out).contains("preDestroy:"), "{}", stderr(&out));
    assert_eq!(lines(&log)[2], format!("first {p2} 1"), "{:?}", lines(&log));
    assert!(!dir.exists());
}

#[test]
fn a_failing_pre_destroy_stops_the_destroy_unless_forced() {
    let repo = TestRepo::new(COMPOSE);
    repo.write(
        "session.config.json",
        r#"{"hooks": {"preDestroy": ["echo dumping; exit 7"]}}"#,
    );
    let dir = repo.create_branch("guarded");
    let out = repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("preDestroy command `echo dumping; exit 7` failed (exit code 7)")
            && err.contains("nothing was removed"),
        "{err}"
    );
    assert_eq!(
        repo.session_field(&dir, "status").as_deref(),
        Some("running")
    );
    assert!(dir.is_dir());

    let out = repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("destroying anyway"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists());
    assert!(repo.projects().is_empty());
}

#[test]
fn destroy_all_runs_each_sessions_pre_destroy_within_a_time_bound() {
    let repo = TestRepo::new(COMPOSE);
    let log = repo.base.join("events.log");
    repo.write("session.config.json", &config(&log, "a"));
    let a = repo.create_branch("a");
    repo.write(
        "session.config.json",
        r#"{"hooks": {"preDestroy": ["sleep 60"]}}"#,
    );
    let b = repo.create_branch("b");
    let start = Instant::now();
    let out = repo
        .cmd()
        .env("DEV_PRISM_HOOK_TIMEOUT", "1")
        .args(["destroy", "--all", "-y"])
        .output()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(40));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`sleep 60` failed (it did not finish within 1s and was stopped)"),
        "{err}"
    );
    assert!(!a.exists(), "a is destroyed");
    assert!(
        lines(&log).iter().any(|l| l.starts_with("a ")),
        "{:?}",
        lines(&log)
    );
    assert!(b.is_dir(), "b is kept");
    repo.ok(&["destroy", "--force", b.to_str().unwrap()]);
}
