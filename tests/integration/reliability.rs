//! Reliability: rollback of a failed or interrupted create, concurrency,
//! self-healing, bad input, odd paths.

use crate::harness::*;
use crate::lifecycle::{send_signal, wait_timeout};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WEB: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["8080:8080"]
    volumes: ["data:/data"]
volumes:
  data:
"#;

/// A repo whose compose projects all start with a unique prefix, so what is
/// left in Docker after a rollback can be counted.
fn repo_with(name: &str, compose: &str) -> (TestRepo, String) {
    let prefix = format!("{name}{}", std::process::id());
    let config = format!(r#"{{"projectName": "{prefix}"}}"#);
    let repo = TestRepo::named(
        name,
        &[("compose.yaml", compose), ("session.config.json", &config)],
    );
    (repo, prefix)
}

/// Containers, networks and volumes whose compose project starts with `prefix-`.
fn leftovers_with_prefix(prefix: &str) -> (usize, usize, usize) {
    let fmt = "{{.Label \"com.docker.compose.project\"}}";
    let count = |args: &[&str]| {
        docker(args)
            .lines()
            .filter(|l| l.starts_with(&format!("{prefix}-")))
            .count()
    };
    (
        count(&["ps", "-a", "--format", fmt]),
        count(&["network", "ls", "--format", fmt]),
        count(&["volume", "ls", "--format", fmt]),
    )
}

/// Nothing of a rolled-back create is left: Docker objects, worktrees,
/// branches, generated files.
fn assert_nothing_left(repo: &TestRepo, prefix: &str, sessions_dir: &Path) {
    assert_eq!(
        leftovers_with_prefix(prefix),
        (0, 0, 0),
        "docker objects left"
    );
    let worktrees = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert_eq!(
        repo.git(&["branch", "--format=%(refname:short)"]).trim(),
        "main"
    );
    let left: Vec<PathBuf> = std::fs::read_dir(sessions_dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the sessions dir: {left:?}");
}

fn failing_create(name: &str, compose: &str, extra: &[&str], expect: &str) {
    let (repo, prefix) = repo_with(name, compose);
    let mut args = vec!["create"];
    args.extend(extra);
    let start = Instant::now();
    let out = repo.cmd().args(&args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(expect), "expected `{expect}` in:\n{err}");
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_nothing_left(
        &repo,
        &prefix,
        &repo.base.join(format!("{prefix}-sessions")),
    );
}

#[test]
fn rollback_when_a_container_exits_non_zero() {
    let compose = format!(
        "{}  migrate:\n    image: dev-prism-test/busybox:latest\n    command: [\"sh\", \"-c\", \"echo migration boom; exit 3\"]\n",
        services_of(WEB)
    );
    failing_create("rbexit", &with_volume(&compose), &[], "migration boom");
}

/// The `services:` part of WEB (everything before its top-level `volumes:`).
fn services_of(compose: &str) -> &str {
    &compose[..compose.find("\nvolumes:").unwrap() + 1]
}

fn with_volume(services: &str) -> String {
    format!("{services}volumes:\n  data:\n")
}

#[test]
fn rollback_when_the_image_is_missing() {
    let compose = WEB.replace(
        "image: dev-prism-test/busybox:latest",
        "image: dev-prism-test/no-such-image:latest\n    pull_policy: never",
    );
    failing_create("rbimage", &compose, &[], "no-such-image");
}

#[test]
fn rollback_when_compose_config_is_invalid() {
    let compose = "services:\n  web:\n    image: dev-prism-test/busybox:latest\n    ports: [\"not-a-port\"]\n";
    failing_create("rbconfig", compose, &[], "not-a-port");
}

#[test]
fn rollback_on_readiness_timeout() {
    // probed every second (within the wait), failing, but "starting" until
    // 1000 failures
    let compose = WEB.replace(
        "    volumes: [\"data:/data\"]",
        "    volumes: [\"data:/data\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 1000",
    );
    failing_create(
        "rbtimeout",
        &compose,
        &["--wait-timeout", "4"],
        "not ready after 4s",
    );
}

#[test]
fn rollback_removes_the_images_it_built() {
    let (repo, prefix) = repo_with(
        "rbbuild",
        "services:\n  app:\n    build: ./app\n    command: [\"sh\", \"-c\", \"echo build ok, start failed; exit 3\"]\n",
    );
    let _images = ImagesNamed(format!("{prefix}-"));
    repo.write(
        "app/Dockerfile",
        "FROM dev-prism-test/busybox:latest\nRUN echo built > /built.txt\n",
    );
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "app"]);
    let out = repo.cmd().arg("create").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("build ok, start failed"), "{err}");
    assert_eq!(images_named(&format!("{prefix}-")), Vec::<String>::new());
    assert_nothing_left(
        &repo,
        &prefix,
        &repo.base.join(format!("{prefix}-sessions")),
    );
}

#[test]
fn bad_base_and_branch_names_make_nothing() {
    let (repo, prefix) = repo_with("rbbranch", WEB);
    let sessions = repo.base.join(format!("{prefix}-sessions"));
    for (args, expect) in [
        (&["create", "--branch=-x"][..], "invalid branch name `-x`"),
        (
            &["create", "--branch", "a..b"][..],
            "invalid branch name `a..b`",
        ),
        (
            &["create", "--base", "no-such-ref"][..],
            "`no-such-ref` is not a commit",
        ),
        (&["create", "--base=--all"][..], "cannot start with `-`"),
    ] {
        let out = repo.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_nothing_left(&repo, &prefix, &sessions);
    }
}

fn interrupted_create(signal: &str) {
    let compose = WEB.replace(
        "    volumes: [\"data:/data\"]",
        "    volumes: [\"data:/data\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 30s\n      start_period: 60s",
    );
    let (repo, prefix) = repo_with(&format!("rbsig{}", signal.to_lowercase()), &compose);
    let mut child = repo.spawn_in(&repo.root, &["create"]);
    // wait until the stack exists (create is then waiting for readiness)
    let start = Instant::now();
    while leftovers_with_prefix(&prefix).0 == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "containers never appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "create ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // like `timeout`, which signals the process and then its group: the
    // second signal must not cut the rollback short
    send_signal(child.id(), signal);
    send_signal(child.id(), signal);
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().unwrap();
    let expected = if signal == "INT" { 130 } else { 143 };
    assert_eq!(status.code(), Some(expected), "128 + the signal");
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert_nothing_left(
        &repo,
        &prefix,
        &repo.base.join(format!("{prefix}-sessions")),
    );
}

#[test]
fn ctrl_c_during_create_rolls_back() {
    interrupted_create("INT");
}

#[test]
fn sigterm_during_create_rolls_back() {
    interrupted_create("TERM");
}

#[test]
fn six_concurrent_creates_all_succeed_with_distinct_ports() {
    let (repo, _) = repo_with("six", WEB);
    let children: Vec<_> = (0..6)
        .map(|_| repo.spawn_in(&repo.root, &["create"]))
        .collect();
    wait_ok(children);
    let sessions = repo.list_json();
    assert_eq!(sessions.len(), 6);
    let mut ports: Vec<u64> = sessions
        .iter()
        .map(|s| s["ports"][0]["host_port"].as_u64().unwrap())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 6, "{ports:?}");
    for p in &ports {
        assert!(http_get(*p as u16).starts_with("HTTP/"));
    }
    repo.ok(&["destroy", "--all", "-y"]);
    assert!(repo.list_json().is_empty());
}

#[test]
fn two_creates_in_one_directory_exactly_one_wins() {
    let (repo, _) = repo_with("samedir", WEB);
    let children: Vec<_> = (0..2)
        .map(|_| repo.spawn_in(&repo.root, &["create", "--in-place"]))
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "exactly one create succeeds");
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    assert_eq!(loser.status.code(), Some(1));
    assert!(stderr(loser).contains("already"), "{}", stderr(loser));
    assert_eq!(repo.list_json().len(), 1);
    assert!(
        repo.root.join(".env.session").is_file(),
        "the winner's files are intact"
    );
    repo.ok(&["destroy"]);
}

#[test]
fn self_healing_after_hand_edits() {
    let compose = format!(
        "{}  db:\n    image: dev-prism-test/busybox:latest\n    command: [\"httpd\", \"-f\", \"-p\", \"5432\", \"-h\", \"/www\"]\n    ports: [\"5432\"]\n",
        services_of(WEB)
    );
    let (repo, _) = repo_with("heal", &with_volume(&compose));
    repo.ok(&["create"]);
    let s = &repo.list_json()[0];
    let dir = PathBuf::from(s["working_dir"].as_str().unwrap());
    let project = s["project_name"].as_str().unwrap().to_string();
    let env_path = dir.join(".env.session");
    let original = std::fs::read(&env_path).unwrap();

    // an edited .env.session is rewritten by list (a global list only reads)
    let text = String::from_utf8(original.clone()).unwrap();
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("WEB_PORT=") {
                "WEB_PORT=1"
            } else {
                l
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&env_path, &edited).unwrap();
    repo.ok(&["list", "-g"]);
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), edited);
    repo.ok(&["list"]);
    assert_eq!(std::fs::read(&env_path).unwrap(), original);
    // a file that is not dev-prism's (no header) is never overwritten
    std::fs::write(&env_path, "WEB_PORT=1\n").unwrap();
    let out = repo.ok(&["list"]);
    assert!(
        stderr(&out).contains("will not overwrite"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), "WEB_PORT=1\n");
    std::fs::remove_file(&env_path).unwrap();
    repo.ok(&["list"]);
    assert_eq!(
        std::fs::read(&env_path).unwrap(),
        original,
        "a deleted file is rewritten"
    );

    // a container removed by hand: partial, then start recreates it
    let id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=com.docker.compose.service=db",
    ]);
    docker(&["rm", "-f", id.trim()]);
    assert_eq!(repo.list_json()[0]["status"], "partial");
    let info = stdout(&repo.ok_in(&dir, &["info"]));
    assert!(info.contains("missing"), "{info}");
    repo.ok_in(&dir, &["start"]);
    assert_eq!(repo.list_json()[0]["status"], "running");
    let env = read_env(&env_path);
    assert!(http_get(env_get(&env, "DB_PORT").unwrap().parse().unwrap()).starts_with("HTTP/"));

    // the worktree deleted by hand: list and info still answer, destroy cleans up
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(repo.list_json().len(), 1);
    repo.ok(&["info", dir.to_str().unwrap()]);
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert_eq!(leftovers(&project), (0, 0, 0));
    let worktrees = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert_eq!(
        repo.git(&["branch", "--format=%(refname:short)"]).trim(),
        "main"
    );
}

#[test]
fn commands_without_a_session_say_so() {
    let repo = TestRepo::new(WEB);
    for cmd in ["info", "stop", "start", "destroy", "env", "logs"] {
        let out = repo.cmd().arg(cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&out).contains("no session found in"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn docker_missing_or_engine_down_is_one_clear_line() {
    let repo = TestRepo::new(WEB);
    // PATH with git but no docker
    let bin = repo.base.join("bin-git-only");
    std::fs::create_dir_all(&bin).unwrap();
    let git = which_git();
    std::os::unix::fs::symlink(&git, bin.join("git")).unwrap();
    let out = repo.cmd().env("PATH", &bin).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("`docker` is not installed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    for args in [&["list"][..], &["create"][..]] {
        let out = repo
            .cmd()
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("Docker engine is not reachable") && err.contains("start it"),
            "{err}"
        );
    }
    assert!(
        !repo.base.join("repo-sessions").exists()
            || std::fs::read_dir(repo.base.join("repo-sessions"))
                .unwrap()
                .next()
                .is_none()
    );
}

fn which_git() -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn list_into_a_closed_pipe_exits_quietly() {
    let (repo, _) = repo_with("pipe", WEB);
    repo.ok(&["create", "--in-place"]);
    let bin = assert_cmd::cargo::cargo_bin("dev-prism");
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; \"$0\" list --json | head -c 1 >/dev/null",
        ])
        .arg(&bin)
        .current_dir(&repo.root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    repo.ok(&["destroy"]);
}

#[test]
fn odd_paths_round_trip_exactly() {
    let name = "it's a \"dir\", #1 = $x ü 日本";
    let repo = TestRepo::named(name, &[("compose.yaml", WEB)]);
    for args in [
        &["create", "--in-place"][..],
        &["create", "--branch", "odd/ü"][..],
    ] {
        repo.ok(args);
    }
    let sessions = repo.list_json();
    assert_eq!(sessions.len(), 2);
    let mut dirs: Vec<String> = sessions
        .iter()
        .map(|s| s["working_dir"].as_str().unwrap().to_string())
        .collect();
    dirs.sort();
    let expected_wt = repo.base.join(format!("{name}-sessions")).join("odd-ü");
    let mut expected = vec![
        repo.root.to_str().unwrap().to_string(),
        expected_wt.to_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(dirs, expected);
    for dir in &dirs {
        // labels on the containers hold the exact path
        let labels = containers();
        assert!(labels
            .iter()
            .any(|c| c["Config"]["Labels"]["dev-prism.working_dir"] == dir.as_str()));
        // .env.session reads back exactly through sh
        let out = std::process::Command::new("sh")
            .args(["-c", ". ./.env.session && printf %s \"$SESSION_DIR\""])
            .current_dir(dir)
            .output()
            .unwrap();
        assert_eq!(stdout(&out), *dir);
        repo.ok_in(Path::new(dir), &["info"]);
    }
    repo.ok(&["destroy", "--all", "-y"]);
    assert!(repo.list_json().is_empty());
}

#[test]
fn rollback_removes_a_worktree_holding_copied_untracked_files() {
    let compose = format!(
        "{}  migrate:\n    image: dev-prism-test/busybox:latest\n    command: [\"sh\", \"-c\", \"exit 3\"]\n",
        services_of(WEB)
    );
    let prefix = format!("rbcopy{}", std::process::id());
    let config = format!(r#"{{"projectName": "{prefix}", "envFiles": [".env.local"]}}"#);
    let repo = TestRepo::named(
        "rbcopy",
        &[
            ("compose.yaml", &with_volume(&compose)),
            ("session.config.json", &config),
        ],
    );
    repo.write(".env.local", "SECRET=1\n"); // untracked, not ignored
    let out = repo.cmd().arg("create").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("could not"), "{}", stderr(&out));
    assert_nothing_left(
        &repo,
        &prefix,
        &repo.base.join(format!("{prefix}-sessions")),
    );
    assert_eq!(
        std::fs::read_to_string(repo.root.join(".env.local")).unwrap(),
        "SECRET=1\n"
    );
}

#[test]
fn a_repository_without_commits_gets_a_clear_message() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fresh");
    std::fs::create_dir_all(&root).unwrap();
    git_in(&root, &["init", "-q"]);
    std::fs::write(root.join("compose.yaml"), WEB).unwrap();
    let repo = TestRepo::new(WEB);
    let out = repo.cmd_in(&root).arg("create").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no commits yet") && err.contains("--in-place"),
        "{err}"
    );
    assert!(!tmp.path().join("fresh-sessions").exists(), "nothing made");
}

#[test]
fn destructive_all_commands_outside_a_repository_need_global() {
    let repo = TestRepo::new(WEB);
    let outside = repo.base.join("not-a-repo");
    std::fs::create_dir_all(&outside).unwrap();
    for args in [&["stop-all"][..], &["destroy", "--all", "-y"][..]] {
        let out = repo.cmd_in(&outside).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("pass -g"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_old_failed_compose_run_does_not_break_start() {
    let (repo, _) = repo_with("oneoff", WEB);
    repo.ok(&["create", "--in-place"]);
    let out = std::process::Command::new("docker")
        .args([
            "compose",
            "--env-file",
            ".env.session",
            "run",
            "--no-deps",
            "web",
            "sh",
            "-c",
            "exit 1",
        ])
        .current_dir(&repo.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    repo.ok(&["stop"]);
    repo.ok(&["start"]);
    assert_eq!(repo.list_json()[0]["status"], "running");
    repo.ok(&["destroy"]);
}

#[test]
fn with_env_of_a_missing_command_exits_127() {
    let (repo, _) = repo_with("nocmd", WEB);
    repo.ok(&["create", "--in-place"]);
    let out = repo
        .cmd()
        .args(["with-env", "--", "no-such-command-xyz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("no-such-command-xyz"));
    repo.ok(&["destroy"]);
}
