//! Lifecycle and configuration: modes, setup, env files, start/stop, logs,
//! env/with-env, .mjs configs, doctor, completions.

use crate::harness::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// db is infrastructure; web is an app (profile `apps`).
const COMPOSE: &str = r#"
services:
  db:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "5432", "-h", "/www"]
    environment:
      POSTGRES_USER: alice
      POSTGRES_PASSWORD: "s3cret"
      POSTGRES_DB: shop
    ports: ["5432:5432"]
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "3000", "-h", "/www"]
    profiles: ["apps"]
    ports: ["3000:3000"]
  worker:
    image: dev-prism-test/busybox:latest
    command: ["sh", "-c", "echo worker says hi; exec httpd -f -p 9000 -h /www"]
"#;

const CONFIG: &str = r#"{
  "projectName": "shop",
  "apps": ["apps"],
  "services": [{"name": "worker", "internalPort": 9000}],
  "envFiles": [".env"],
  "appEnv": {"apps/web": {"API_URL": "http://localhost:${WORKER_PORT}/api", "DB": "${DATABASE_URL}"}},
  "setup": ["echo \"$WORKER_PORT|$DB_PORT|$DATABASE_URL|$SESSION_DIR|$COMPOSE_PROJECT_NAME\" > setup-saw.txt"]
}"#;

fn repo() -> TestRepo {
    let repo = TestRepo::named(
        "shop",
        &[
            ("compose.yaml", COMPOSE),
            ("session.config.json", CONFIG),
            (".gitignore", ".env\nsetup-saw.txt\n"),
        ],
    );
    repo.write(
        ".env",
        "# local\nDATABASE_URL=postgres://localhost:5432/dev\nOTHER=keep me\n",
    );
    repo
}

fn only_session(repo: &TestRepo) -> Value {
    let list = repo.list_json();
    assert_eq!(list.len(), 1, "{list:?}");
    list.into_iter().next().unwrap()
}

fn services(s: &Value) -> Vec<String> {
    let mut v: Vec<String> = s["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["service"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn dir_of(s: &Value) -> PathBuf {
    PathBuf::from(s["working_dir"].as_str().unwrap())
}

#[test]
fn docker_mode_setup_env_files_app_env_and_stop_start() {
    let repo = repo();
    repo.ok(&["create"]);
    let s = only_session(&repo);
    assert_eq!(
        services(&s),
        ["db", "web", "worker"],
        "docker mode starts the apps"
    );
    assert_eq!(s["mode"], "docker");
    assert_eq!(s["profiles"], serde_json::json!(["apps"]));
    let dir = dir_of(&s);
    let env = read_env(&dir.join(".env.session"));
    assert_eq!(env_get(&env, "COMPOSE_PROFILES"), Some("apps"));
    let worker: u16 = env_get(&env, "WORKER_PORT").unwrap().parse().unwrap();
    let db: u16 = env_get(&env, "DB_PORT").unwrap().parse().unwrap();
    assert!(
        http_get(worker).starts_with("HTTP/"),
        "config `services` publishes worker:9000"
    );
    let url = format!("postgresql://alice:s3cret@{}:{db}/shop", url_host(&env));
    assert_eq!(env_get(&env, "DATABASE_URL"), Some(url.as_str()));

    // setup saw the session env
    let saw = std::fs::read_to_string(dir.join("setup-saw.txt")).unwrap();
    assert_eq!(
        saw.trim(),
        format!(
            "{worker}|{db}|{url}|{}|{}",
            dir.display(),
            env_get(&env, "COMPOSE_PROJECT_NAME").unwrap()
        )
    );
    // envFiles copied, DATABASE_URL rewritten, the rest kept
    let copied = std::fs::read_to_string(dir.join(".env")).unwrap();
    assert_eq!(
        copied,
        format!("# local\nDATABASE_URL={url}\nOTHER=keep me\n")
    );
    assert!(std::fs::read_to_string(repo.root.join(".env"))
        .unwrap()
        .contains("localhost:5432/dev"));
    // appEnv
    let app = read_env(&dir.join("apps/web/.env.session"));
    assert_eq!(
        env_get(&app, "API_URL"),
        Some(&*format!("http://localhost:{worker}/api"))
    );
    assert_eq!(env_get(&app, "DB"), Some(url.as_str()));

    // env / env --json / with-env
    let text = stdout(&repo.ok_in(&dir, &["env"]));
    assert_eq!(
        text,
        std::fs::read_to_string(dir.join(".env.session")).unwrap()
    );
    let json: Value = serde_json::from_slice(&repo.ok_in(&dir, &["env", "--json"]).stdout).unwrap();
    assert_eq!(json["WORKER_PORT"], worker.to_string());
    let out = repo
        .cmd_in(&dir.join("apps"))
        .args([
            "with-env",
            "--",
            "sh",
            "-c",
            "test \"$WORKER_PORT\" = \"$1\" && exit 3",
            "sh",
        ])
        .arg(worker.to_string())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "with-env passes the exit code on"
    );

    // logs: all services, or the ones named (a first word that is no directory)
    let all = stdout(&repo.ok_in(&dir, &["logs", "--no-follow"]));
    assert!(all.contains("worker says hi"), "{all}");
    let worker_only = stdout(&repo.ok_in(&dir, &["logs", "worker", "--no-follow", "-n", "5"]));
    assert!(worker_only.contains("worker says hi"), "{worker_only}");
    let db_only = stdout(&repo.ok_in(&dir, &["logs", ".", "db", "--no-follow"]));
    assert!(!db_only.contains("worker says hi"), "{db_only}");
    // a directory named like a service does not hide the service
    std::fs::create_dir_all(dir.join("worker")).unwrap();
    let worker_again = stdout(&repo.ok_in(&dir, &["logs", "worker", "--no-follow"]));
    assert!(worker_again.contains("worker says hi"), "{worker_again}");
    std::fs::remove_dir(dir.join("worker")).unwrap();
    let out = repo
        .cmd_in(&dir)
        .args(["logs", "nope", "--no-follow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no service `nope`"),
        "{}",
        stderr(&out)
    );

    // partial: one container stopped by hand
    let web_id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!(
            "label=com.docker.compose.project={}",
            s["project_name"].as_str().unwrap()
        ),
        "--filter",
        "label=com.docker.compose.service=web",
    ]);
    docker(&["stop", "-t", "1", web_id.trim()]);
    let s = only_session(&repo);
    assert_eq!(s["status"], "partial");
    assert!(stdout(&repo.ok(&["list"])).contains("partial 2/3"));

    // stop: volumes kept, env file gone, list says stopped
    repo.ok_in(&dir, &["stop"]);
    assert!(!dir.join(".env.session").exists());
    assert!(
        !dir.join("apps/web/.env.session").exists(),
        "appEnv ports are gone too"
    );
    assert_eq!(only_session(&repo)["status"], "stopped");
    assert!(stdout(&repo.ok(&["list"])).contains("stopped"));
    // a stopped session has no env
    let out = repo.cmd_in(&dir).args(["env"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("dev-prism start"));

    // start: same profiles, new ports written and answering
    repo.ok_in(&dir, &["start"]);
    let s = only_session(&repo);
    assert_eq!(s["status"], "running");
    assert_eq!(services(&s), ["db", "web", "worker"]);
    let env = read_env(&dir.join(".env.session"));
    let worker2: u16 = env_get(&env, "WORKER_PORT").unwrap().parse().unwrap();
    assert!(http_get(worker2).starts_with("HTTP/"));
    let app = read_env(&dir.join("apps/web/.env.session"));
    assert_eq!(
        env_get(&app, "API_URL"),
        Some(&*format!("http://localhost:{worker2}/api"))
    );
    let out = repo.ok_in(&dir, &["start"]);
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));

    // stop-all
    repo.ok(&["stop-all"]);
    assert_eq!(only_session(&repo)["status"], "stopped");
    let project = s["project_name"].as_str().unwrap().to_string();
    repo.ok(&["destroy", "--all", "-y"]);
    assert_eq!(leftovers(&project), (0, 0, 0));
}

fn url_host(env: &[(String, String)]) -> String {
    let url = env_get(env, "DATABASE_URL").unwrap();
    url.split('@')
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn native_mode_and_without_skip_the_apps() {
    let repo = repo();
    repo.ok(&["create", "--mode", "native", "--no-setup"]);
    let s = only_session(&repo);
    assert_eq!(services(&s), ["db", "worker"]);
    assert_eq!(s["mode"], "native");
    let dir = dir_of(&s);
    assert!(!dir.join("setup-saw.txt").exists(), "--no-setup");
    // stop + start keep native mode: web stays off
    repo.ok_in(&dir, &["stop"]);
    repo.ok_in(&dir, &["start"]);
    assert_eq!(services(&only_session(&repo)), ["db", "worker"]);
    repo.ok_in(&dir, &["destroy"]);

    let out = repo.ok(&["create", "--without", "apps,apss", "--no-setup"]);
    assert!(
        stderr(&out).contains("--without apss: `apss` is not one of the config's apps (apps)"),
        "{}",
        stderr(&out)
    );
    let s = only_session(&repo);
    assert_eq!(services(&s), ["db", "worker"]);
    assert_eq!(s["mode"], "docker");
    repo.ok(&["destroy", "--all", "-y"]);
    assert!(repo.list_json().is_empty());
}

#[test]
fn failing_setup_names_the_command_and_keeps_the_session() {
    let config = r#"{"setup": ["true", "echo step two >&2; exit 7", "touch never-ran"]}"#;
    let repo = TestRepo::named(
        "setupfail",
        &[("compose.yaml", COMPOSE), ("session.config.json", config)],
    );
    let out = repo.cmd().args(["create", "--in-place"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("exit 7") && err.contains("exit code 7"),
        "{err}"
    );
    assert!(err.contains("step two"), "setup output is streamed: {err}");
    assert!(
        stdout(&out).contains(repo.root.to_str().unwrap()),
        "the session is reported before setup runs"
    );
    assert!(!repo.root.join("never-ran").exists());
    let s = only_session(&repo);
    assert_eq!(s["status"], "running", "the session is left running");
    assert!(repo.root.join(".env.session").is_file());
    repo.ok(&["destroy"]);
}

#[test]
fn mjs_config_from_the_original_tool_works() {
    let mjs = r#"// session.config.mjs of dev-prism v0.6
const extra = [{ name: 'worker', internalPort: 9000 }];
export default {
  projectName: 'legacy',
  services: extra,
  setup: ['touch from-mjs'],
  portBase: 47000,
};
"#;
    let repo = TestRepo::named(
        "legacyapp",
        &[("compose.yaml", COMPOSE), ("session.config.mjs", mjs)],
    );
    let out = repo.ok(&["create", "--in-place"]);
    assert!(
        stderr(&out).contains("portBase"),
        "obsolete key warned: {}",
        stderr(&out)
    );
    assert!(repo.root.join("from-mjs").exists());
    let s = only_session(&repo);
    assert!(s["project_name"].as_str().unwrap().starts_with("legacy-"));
    let env = read_env(&repo.root.join(".env.session"));
    assert!(env_get(&env, "WORKER_PORT").is_some());
    repo.ok(&["destroy"]);
}

#[test]
fn invalid_config_names_file_line_and_column() {
    let repo = TestRepo::named(
        "badcfg",
        &[
            ("compose.yaml", COMPOSE),
            ("session.config.json", "{\n  \"apps\": [\"a\",,]\n}\n"),
        ],
    );
    for args in [&["create"][..], &["doctor"][..]] {
        let out = repo.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            text.contains("session.config.json at line 2, column"),
            "{text}"
        );
    }
    assert!(repo.list_json().is_empty());
}

#[test]
fn doctor_and_completions() {
    let repo = TestRepo::named("doc", &[("compose.yaml", COMPOSE)]);
    let out = repo.ok(&["doctor"]);
    let text = stdout(&out);
    for check in ["git", "docker engine", "docker compose", "compose file"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check}: {text}"
        );
    }
    // colour: never on a pipe by default, always when asked, never with NO_COLOR
    assert!(!text.contains('\x1b'), "{text}");
    let coloured = stdout(&repo.ok(&["doctor", "--color", "always"]));
    assert!(coloured.contains("\x1b[32mok"), "{coloured}");
    let plain = stdout(
        &repo
            .cmd()
            .args(["doctor", "--color", "never"])
            .output()
            .unwrap(),
    );
    assert!(!plain.contains('\x1b'), "{plain}");
    let bash = stdout(&repo.ok(&["completions", "bash"]));
    assert!(bash.contains("dev-prism") && bash.contains("with-env"));
    let empty = TestRepo::named("doc2", &[("README", "x")]);
    let out = empty.cmd().arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAIL compose file"));
}

#[test]
fn no_detach_follows_logs_until_interrupted_and_keeps_services() {
    let repo = TestRepo::named("follow", &[("compose.yaml", COMPOSE)]);
    let mut child = repo.spawn_in(&repo.root, &["create", "--in-place", "--no-detach"]);
    let start = Instant::now();
    while !repo.root.join(".env.session").is_file()
        || repo
            .list_json()
            .first()
            .is_none_or(|s| s["status"] != "running")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "session never came up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "still following logs");
    send_signal(child.id(), "INT");
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C ends following with 130, like every command: {status}"
    );
    assert_eq!(
        only_session(&repo)["status"],
        "running",
        "services keep running"
    );
    repo.ok(&["destroy"]);
}

pub fn send_signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

pub fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
