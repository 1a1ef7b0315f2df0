//! create / list / info / destroy end to end (issue: core).

use crate::harness::*;
use std::path::{Path, PathBuf};

/// A base file with fixed host ports and a named volume, as real projects have.
const FIXED_PORT: u16 = 18765;
const COMPOSE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
      - "18765:8080"
  db:
    image: dev-prism-test/busybox:latest
    command: ["sh", "-c", "echo data > /data/file && exec httpd -f -p 5432 -h /www"]
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: secret
    ports:
      - "127.0.0.1:15432:5432"
    volumes:
      - db-data:/data
volumes:
  db-data:
"#;

fn session_dirs(repo: &TestRepo) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = repo
        .list_json()
        .iter()
        .map(|s| PathBuf::from(s["working_dir"].as_str().unwrap()))
        .collect();
    dirs.sort();
    dirs
}

fn port(env: &[(String, String)], key: &str) -> u16 {
    env_get(env, key)
        .unwrap_or_else(|| panic!("{key} missing from .env.session: {env:?}"))
        .parse()
        .unwrap()
}

/// Two sessions made concurrently, shared by the tests below that only read.
fn two_sessions() -> (TestRepo, Vec<PathBuf>) {
    let repo = TestRepo::new(COMPOSE);
    let children: Vec<_> = (0..2)
        .map(|_| repo.spawn_in(&repo.root, &["create"]))
        .collect();
    wait_ok(children);
    let dirs = session_dirs(&repo);
    assert_eq!(dirs.len(), 2, "two sessions listed: {dirs:?}");
    (repo, dirs)
}

#[test]
fn concurrent_sessions_list_info_env_file_and_destroy() {
    let (repo, dirs) = two_sessions();

    // --- every published port is random, distinct, answers, and is in .env.session
    let mut all_ports = Vec::new();
    for dir in &dirs {
        assert!(
            dir.starts_with(repo.base.join("repo-sessions")),
            "{}",
            dir.display()
        );
        let env = read_env(&dir.join(".env.session"));
        let (web, db) = (port(&env, "WEB_PORT"), port(&env, "DB_PORT"));
        for p in [web, db] {
            assert!(p != FIXED_PORT && p != 15432, "base host port kept: {p}");
        }
        assert!(http_get(web).contains("dev-prism test page"));
        assert!(http_get(db).starts_with("HTTP/"));
        let url = env_get(&env, "DATABASE_URL").unwrap();
        assert!(url.starts_with("postgresql://app:secret@"), "{url}");
        assert!(url.ends_with(&format!(":{db}/app")), "{url}");
        // absolute compose files and the project name
        let files = env_get(&env, "COMPOSE_FILE").unwrap();
        assert!(
            files
                .split(':')
                .all(|f| Path::new(f).is_absolute() && Path::new(f).is_file()),
            "{files}"
        );
        assert!(files.ends_with("/docker-compose.session.yml"));
        assert_eq!(env_get(&env, "SESSION_DIR"), Some(dir.to_str().unwrap()));
        all_ports.extend([web, db]);
    }
    let mut unique = all_ports.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        all_ports.len(),
        "ports are distinct: {all_ports:?}"
    );
    assert!(
        !port_open(FIXED_PORT),
        "the base file's fixed port is published"
    );
    let published = docker(&["ps", "--format", "{{.Ports}}"]);
    assert!(
        !published.contains(":18765->") && !published.contains(":15432->"),
        "{published}"
    );

    // --- a named volume per session (why the override is not an `extends` file)
    let projects = repo.projects();
    assert_eq!(projects.len(), 2);
    for project in &projects {
        assert_eq!(
            leftovers(project),
            (2, 1, 1),
            "containers, networks, volumes of {project}"
        );
    }

    // --- plain compose with the env file hits the session
    let dir = &dirs[0];
    let env = read_env(&dir.join(".env.session"));
    let out = std::process::Command::new("docker")
        .args([
            "compose",
            "--env-file",
            ".env.session",
            "ps",
            "--format",
            "{{.Service}} {{.State}}",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    let ps = stdout(&out);
    assert!(
        ps.contains("web running") && ps.contains("db running"),
        "{ps}\n{}",
        stderr(&out)
    );
    let project = env_get(&env, "COMPOSE_PROJECT_NAME").unwrap();
    assert!(projects.iter().any(|p| p == project));

    // --- list (table and JSON)
    let table = stdout(&repo.ok(&["list"]));
    for d in &dirs {
        // Shown relative to the current directory (the main checkout).
        let name = d.file_name().unwrap().to_str().unwrap();
        assert!(
            table.contains(&format!("../repo-sessions/{name}")),
            "{table}"
        );
    }
    assert!(table.contains("running"), "{table}");
    assert!(
        table.contains(&format!(":{}", port(&env, "WEB_PORT"))),
        "{table}"
    );
    let json = repo.list_json();
    for s in &json {
        assert_eq!(s["status"], "running");
        assert_eq!(s["running"], 2);
        assert!(s["branch"].as_str().unwrap().starts_with("session/"));
        assert_eq!(s["worktree"], true);
        let urls: Vec<&str> = s["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["url"].as_str().unwrap())
            .collect();
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert!(urls.iter().all(|u| u.starts_with("http://")));
    }

    // --- info from a subdirectory; a deleted .env.session comes back byte-identical
    let sub = dir.join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    let before = std::fs::read(dir.join(".env.session")).unwrap();
    std::fs::remove_file(dir.join(".env.session")).unwrap();
    let info = stdout(&repo.ok_in(&sub, &["info"]));
    assert!(info.contains(dir.to_str().unwrap()), "{info}");
    assert!(info.contains("running"), "{info}");
    assert_eq!(std::fs::read(dir.join(".env.session")).unwrap(), before);
    let info_json: serde_json::Value =
        serde_json::from_slice(&repo.ok_in(&sub, &["info", "--json"]).stdout).unwrap();
    assert_eq!(info_json["working_dir"], dir.to_str().unwrap());
    assert_eq!(
        info_json["env"]["WEB_PORT"],
        env_get(&env, "WEB_PORT").unwrap()
    );

    // --- generated files are never committed by accident
    let status = git_in(dir, &["status", "--porcelain"]);
    assert!(
        !status.contains("docker-compose.session.yml") && !status.contains(".env.session"),
        "{status}"
    );

    // --- destroy one by DIR, then the rest with --all -y
    repo.ok(&["destroy", dirs[0].to_str().unwrap()]);
    assert_eq!(session_dirs(&repo), vec![dirs[1].clone()]);
    repo.ok(&["destroy", "--all", "-y"]);
    assert!(repo.list_json().is_empty());
    for project in &projects {
        assert_eq!(leftovers(project), (0, 0, 0), "left behind by {project}");
    }
    for dir in &dirs {
        assert!(!dir.exists(), "worktree dir {} still there", dir.display());
    }
    let worktrees = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    let branches = repo.git(&["branch", "--list"]);
    assert!(!branches.contains("session/"), "{branches}");
    let out = repo.ok(&["destroy", "--all", "-y"]);
    assert!(stderr(&out).contains("nothing to destroy"));
}

#[test]
fn in_place_session_keeps_the_directory_and_its_files() {
    let repo = TestRepo::new(COMPOSE);
    // -C and --quiet: run from elsewhere, stderr stays empty, stdout answers
    let out = repo.ok_in(
        &repo.base,
        &["-C", "repo", "--quiet", "create", "--in-place"],
    );
    assert!(stdout(&out).contains(repo.root.to_str().unwrap()));
    assert_eq!(stderr(&out), "", "--quiet");
    let env = read_env(&repo.root.join(".env.session"));
    assert!(http_get(port(&env, "WEB_PORT")).contains("dev-prism test page"));
    let json = repo.list_json();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["worktree"], false);
    assert_eq!(json[0]["branch"], "main");
    // a second create in the same directory is refused
    let again = repo.cmd().args(["create", "--in-place"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("a session is already running in"),
        "{}",
        stderr(&again)
    );
    let project = repo.projects().remove(0);
    repo.ok(&["destroy"]);
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(
        repo.root.join("compose.yaml").is_file(),
        "the user's files stay"
    );
    assert!(!repo.root.join(".env.session").exists());
    assert!(!repo.root.join("docker-compose.session.yml").exists());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn branch_and_base_options() {
    let repo = TestRepo::new(COMPOSE);
    repo.write("second.txt", "x");
    repo.git(&["add", "second.txt"]);
    repo.git(&["commit", "-q", "-m", "second"]);
    let first = repo.git(&["rev-parse", "HEAD~1"]).trim().to_string();
    let out = repo.ok(&["create", "--branch", "feature/login", "--base", "HEAD~1"]);
    let dir = repo.base.join("repo-sessions/feature-login");
    assert!(
        stdout(&out).contains(dir.to_str().unwrap()),
        "{}",
        stdout(&out)
    );
    assert_eq!(git_in(&dir, &["rev-parse", "HEAD"]).trim(), first);
    assert_eq!(
        git_in(&dir, &["branch", "--show-current"]).trim(),
        "feature/login"
    );
    // from inside that session, HEAD is the session's commit
    let json: serde_json::Value = serde_json::from_slice(
        &repo
            .ok_in(&dir, &["create", "--branch", "from-session", "--json"])
            .stdout,
    )
    .unwrap();
    let nested = std::path::PathBuf::from(json["working_dir"].as_str().unwrap());
    assert_eq!(json["branch"], "from-session");
    assert_eq!(json["status"], "running");
    assert_eq!(json["worktree"], true);
    assert_eq!(git_in(&nested, &["rev-parse", "HEAD"]).trim(), first);
    repo.ok(&["destroy", nested.to_str().unwrap()]);

    // an existing branch is checked out as it is: --base is not used, and said so
    repo.git(&["branch", "existing"]);
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let out = repo.ok(&["create", "--branch", "existing", "--base", "HEAD~1"]);
    assert!(
        stderr(&out).contains("--base HEAD~1 is not used"),
        "{}",
        stderr(&out)
    );
    let existing = repo.base.join("repo-sessions/existing");
    assert_eq!(git_in(&existing, &["rev-parse", "HEAD"]).trim(), head);
    repo.ok(&["destroy", existing.to_str().unwrap()]);
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!repo.git(&["branch", "--list"]).contains("feature/login"));
}
