//! A session runs what plain `docker compose` would run in its directory
//! (issue 10): `.env` with COMPOSE_FILE/COMPOSE_PROFILES, a project folder
//! with its own `.env` and `env_file`, `${PWD}`, a lone
//! `docker-compose.dev.yml` needing a gitignored `.env`, the original tool's
//! sessions and configs, healing, a path with `:`.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The environment of the running container of `service` in `project`.
fn container_env(project: &str, service: &str) -> Vec<String> {
    containers()
        .into_iter()
        .find(|c| {
            c["Config"]["Labels"]["com.docker.compose.project"] == project
                && c["Config"]["Labels"]["com.docker.compose.service"] == service
        })
        .map(|c| {
            c["Config"]["Env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn only(repo: &TestRepo) -> Value {
    let list = repo.list_json();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
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

/// What plain `docker compose` resolves in `dir` (its own lookup, `.env`).
fn plain_config(dir: &Path) -> Value {
    let out = std::process::Command::new("docker")
        .args(["compose", "config", "--format", "json"])
        .current_dir(dir)
        .env("PWD", dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

const SUBFOLDER: &str = r#"
services:
  web:
    image: ${WEB_IMAGE}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    env_file: ./web.env
    environment:
      WHERE: ${PWD}
    ports: ["8080"]
  extra:
    image: ${WEB_IMAGE}
    command: ["sleep", "600"]
    stop_grace_period: 1s
    profiles: ["extra"]
"#;

/// `.env` names the compose file in a subfolder and a profile; the
/// subfolder has its own `.env` (interpolation) and an `env_file`, both
/// gitignored, so a new worktree needs them copied.
#[test]
fn dotenv_compose_file_subfolder_project_dir_and_pwd() {
    let repo = TestRepo::named(
        "repo",
        &[
            ("docker/compose.yml", SUBFOLDER),
            (".gitignore", ".env\n*.env\n"),
        ],
    );
    repo.write(
        ".env",
        "COMPOSE_FILE=docker/compose.yml\nCOMPOSE_PROFILES=extra\n",
    );
    repo.write("docker/.env", &format!("WEB_IMAGE={TEST_IMAGE}\n"));
    repo.write("docker/web.env", "FROM_ENV_FILE=yes\n");
    // `doctor` says what will run before the first create.
    let doctor = stdout(&repo.ok(&["doctor"]));
    assert!(
        doctor.contains("docker/compose.yml (from COMPOSE_FILE in .env)"),
        "{doctor}"
    );
    assert!(doctor.contains("profiles: extra"), "{doctor}");
    assert!(
        doctor.contains(&format!(
            "project directory: {}",
            repo.root.join("docker").display()
        )),
        "{doctor}"
    );
    assert!(
        doctor.contains("copied into a new worktree: .env, docker/.env, docker/web.env"),
        "{doctor}"
    );

    // From `/`, with -C: `${PWD}` is still the session directory.
    let out = repo
        .cmd_in(Path::new("/"))
        .args(["-C", repo.root.to_str().unwrap(), "create"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = only(&repo);
    let dir = PathBuf::from(s["working_dir"].as_str().unwrap());
    assert_eq!(services(&s), ["extra", "web"], "the .env profile runs");
    let project = s["project_name"].as_str().unwrap();
    let env = container_env(project, "web");
    assert!(env.contains(&format!("WHERE={}", dir.display())), "{env:?}");
    assert!(env.contains(&"FROM_ENV_FILE=yes".to_string()), "{env:?}");
    for copied in [".env", "docker/.env", "docker/web.env"] {
        assert!(dir.join(copied).is_file(), "{copied} was not copied");
    }
    // Plain compose in the session directory resolves the same stack.
    let plain = plain_config(&dir);
    let web = &plain["services"]["web"];
    assert_eq!(web["environment"]["WHERE"], dir.to_str().unwrap());
    assert_eq!(web["environment"]["FROM_ENV_FILE"], "yes");
    assert!(plain["services"]["extra"].is_object());
    repo.ok_in(&dir, &["destroy"]);
}

/// No compose file under Compose's names: the lone development file is
/// used, and the gitignored `.env` it needs is copied into the worktree.
#[test]
fn lone_dev_compose_file_with_a_gitignored_dotenv() {
    let compose = r#"
services:
  web:
    image: ${WEB_IMAGE:?set WEB_IMAGE in .env}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    ports: ["8080:8080"]
"#;
    let repo = TestRepo::named(
        "repo",
        &[
            ("docker-compose.dev.yml", compose),
            ("docker-compose.prod.yml", compose),
            (".gitignore", ".env\n"),
        ],
    );
    repo.write(".env", &format!("WEB_IMAGE={TEST_IMAGE}\n"));
    repo.ok(&["create"]);
    let s = only(&repo);
    let dir = PathBuf::from(s["working_dir"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).unwrap(),
        format!("WEB_IMAGE={TEST_IMAGE}\n")
    );
    let env = read_env(&dir.join(".env.session"));
    assert!(env_get(&env, "COMPOSE_FILE")
        .unwrap()
        .contains("docker-compose.dev.yml"));
    repo.ok_in(&dir, &["destroy"]);

    // Several files and none is the development one: the candidates are named.
    let repo = TestRepo::named(
        "repo",
        &[
            ("docker-compose.prod.yml", compose),
            ("docker-compose.ci.yml", compose),
        ],
    );
    let out = repo.cmd().arg("create").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("docker-compose.ci.yml, docker-compose.prod.yml"),
        "{err}"
    );
    assert!(err.contains("composeFiles"), "{err}");
    assert!(
        repo.git(&["worktree", "list"]).lines().count() == 1,
        "nothing made"
    );
}

/// A config of the original tool without `services` gets its defaults:
/// `app:3000` and `postgres:5432` are published where those services exist.
#[test]
fn mjs_config_without_services_gets_the_original_defaults() {
    let compose = r#"
services:
  app:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "3000", "-h", "/www"]
    stop_grace_period: 1s
"#;
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", compose),
            ("session.config.mjs", "export default { setup: [] };\n"),
        ],
    );
    repo.ok(&["create", "--in-place"]);
    let env = read_env(&repo.root.join(".env.session"));
    let port: u16 = env_get(&env, "APP_PORT")
        .expect("APP_PORT")
        .parse()
        .unwrap();
    assert!(http_get(port).contains("dev-prism test page"));
    assert_eq!(env_get(&env, "POSTGRES_PORT"), None, "no postgres service");
    repo.ok(&["destroy"]);
}

/// The `appEnv` files and the session env file heal together, from labels.
#[test]
fn app_env_heals_with_the_env_file() {
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", WEB_SERVICE),
            (
                "session.config.json",
                r#"{"appEnv": {"apps/web": {"API_URL": "http://127.0.0.1:${WEB_PORT}"}}}"#,
            ),
        ],
    );
    repo.ok(&["create", "--in-place"]);
    let app = repo.root.join("apps/web/.env.session");
    let good = std::fs::read_to_string(&app).unwrap();
    let env_path = repo.root.join(".env.session");
    let good_env = std::fs::read_to_string(&env_path).unwrap();
    // Both stale (as after a port change), headers kept.
    let stale = |t: &str| t.replace(|c: char| c.is_ascii_digit(), "1");
    std::fs::write(&app, stale(&good)).unwrap();
    std::fs::write(&env_path, stale(&good_env)).unwrap();
    repo.ok(&["list"]);
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), good_env);
    assert_eq!(std::fs::read_to_string(&app).unwrap(), good);
    repo.ok(&["destroy"]);
}

/// A session directory with `:` in its path: `.env.session` names another
/// separator, so `set -a; . ./.env.session; docker compose ps` reaches it.
#[test]
fn a_path_with_a_colon_still_reaches_the_session() {
    let repo = TestRepo::named("re:po", &[("compose.yaml", WEB_SERVICE)]);
    repo.ok(&["create", "--in-place"]);
    let env = read_env(&repo.root.join(".env.session"));
    assert_eq!(env_get(&env, "COMPOSE_PATH_SEPARATOR"), Some(";"));
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "set -a; . ./.env.session; set +a; docker compose ps --format '{{.Service}}'",
        ])
        .current_dir(&repo.root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "web");
    repo.ok(&["destroy"]);
}

/// A session of the original TypeScript tool (its labels only), in a
/// worktree it made, with a service of an `apps` profile running: destroy
/// removes every container, the network and volumes, and the worktree; its
/// branch is listed from git and kept (the tool did not record making it).
#[test]
fn an_original_tool_session_is_destroyed_whole() {
    let repo = TestRepo::new(WEB_SERVICE);
    let dir = repo.base.join("repo-sessions").join("session-old");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "session/old",
        dir.to_str().unwrap(),
    ]);
    let project = format!("orig-{}", std::process::id());
    let labels = |svc: &str, port: &str| {
        format!(
            "      dev-prism.managed: \"true\"\n      dev-prism.working_dir: \"{d}\"\n      dev-prism.session_id: \"{d}\"\n      dev-prism.created_at: \"2026-01-01T00:00:00Z\"\n      dev-prism.service: \"{svc}\"\n      dev-prism.internal_port: \"{port}\"\n",
            d = dir.display()
        )
    };
    let compose = format!(
        "services:\n  web:\n    image: {TEST_IMAGE}\n    command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n    stop_grace_period: 1s\n    ports: [\"8080\"]\n    volumes: [\"data:/data\"]\n    labels:\n{}  worker:\n    image: {TEST_IMAGE}\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 1s\n    profiles: [\"apps\"]\n    labels:\n{}volumes:\n  data:\n",
        labels("web", "8080"),
        labels("worker", "")
    );
    let file = repo.base.join("original.yaml");
    std::fs::write(&file, compose).unwrap();
    let up = std::process::Command::new("docker")
        .args([
            "compose",
            "-p",
            &project,
            "-f",
            file.to_str().unwrap(),
            "--profile",
            "apps",
            "up",
            "-d",
        ])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", stderr(&up));
    let _guard = PrefixGuard(project.clone());

    let s = only(&repo);
    assert_eq!(s["branch"], "session/old", "the branch comes from git");
    assert_eq!(leftovers(&project).0, 2);
    let out = repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("kept branch `session/old`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        leftovers(&project),
        (0, 0, 0),
        "every container, network and volume"
    );
    assert!(!dir.exists(), "the worktree it made is removed");
    assert!(repo.has_branch("session/old"));
}
