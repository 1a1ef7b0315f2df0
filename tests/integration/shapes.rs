//! Real-world compose files (issue 4): every fixture in `tests/fixtures/` run
//! as two concurrent sessions, readiness failures, and remote engines.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../fixtures/", $path))
    };
}

/// A test repository whose name (and so its compose project prefix) is
/// unique to this test and process, so leftovers can be found by prefix.
fn repo(name: &str, files: &[(&str, &str)]) -> (TestRepo, String) {
    let name = format!("shapes-{name}-{}", std::process::id());
    (TestRepo::named(&name, files), name)
}

struct Session {
    dir: PathBuf,
    project: String,
    env: Vec<(String, String)>,
}

impl Session {
    fn port(&self, key: &str) -> u16 {
        env_get(&self.env, key)
            .unwrap_or_else(|| panic!("{key} missing from .env.session: {:?}", self.env))
            .parse()
            .unwrap()
    }

    fn has_var_starting(&self, prefix: &str) -> bool {
        self.env.iter().any(|(k, _)| k.starts_with(prefix))
    }

    /// Inspect JSON of this session's containers.
    fn containers(&self) -> Vec<Value> {
        containers()
            .into_iter()
            .filter(|c| c["Config"]["Labels"]["com.docker.compose.project"] == *self.project)
            .collect()
    }

    fn container(&self, service: &str) -> Value {
        self.containers()
            .into_iter()
            .find(|c| c["Config"]["Labels"]["com.docker.compose.service"] == service)
            .unwrap_or_else(|| panic!("no container of service {service} in {}", self.project))
    }
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Two `create` at once in the repository root; returns the sessions (sorted
/// by directory) and the stderr of each create.
fn two_sessions(repo: &TestRepo) -> (Vec<Session>, Vec<String>) {
    let children: Vec<_> = (0..2)
        .map(|_| repo.spawn_in(&repo.root, &["create"]))
        .collect();
    let stderrs = wait_ok(children).iter().map(stderr).collect();
    (sessions(repo), stderrs)
}

fn sessions(repo: &TestRepo) -> Vec<Session> {
    sessions_with(repo, &[])
}

/// The sessions of `repo`, listed with `env` set (`list` rewrites
/// `.env.session` for the engine it is pointed at).
fn sessions_with(repo: &TestRepo, env: &[(&str, &str)]) -> Vec<Session> {
    let mut cmd = repo.cmd();
    cmd.args(["list", "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    check(&out, "list --json");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut dirs: Vec<PathBuf> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| PathBuf::from(s["working_dir"].as_str().unwrap()))
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "two sessions listed: {dirs:?}");
    dirs.into_iter()
        .map(|dir| {
            let env = read_env(&dir.join(".env.session"));
            let project = env_get(&env, "COMPOSE_PROJECT_NAME").unwrap().to_string();
            Session { dir, project, env }
        })
        .collect()
}

/// `destroy --all -y` leaves no container, network or volume behind.
fn destroy_all(repo: &TestRepo, sessions: &[Session]) {
    repo.ok(&["destroy", "--all", "-y"]);
    assert!(repo.list_json().is_empty());
    for s in sessions {
        assert_eq!(leftovers(&s.project), (0, 0, 0), "left by {}", s.project);
    }
}

/// Every variable answers HTTP, and no two sessions share a host port.
fn assert_answer(sessions: &[Session], vars: &[&str]) {
    let mut all = Vec::new();
    for s in sessions {
        for var in vars {
            let port = s.port(var);
            assert!(
                http_get(port).contains("dev-prism test page"),
                "{var}={port} of {}",
                s.dir.display()
            );
            all.push(port);
        }
    }
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "ports are distinct: {all:?}");
}

/// None of the base files' fixed host ports is published or open.
fn assert_base_ports_unused(tcp: &[u16], udp: &[u16]) {
    let published = docker(&["ps", "--format", "{{.Ports}}"]);
    for p in tcp.iter().chain(udp) {
        assert!(
            !published.contains(&format!(":{p}->")),
            "base host port {p} is published:\n{published}"
        );
    }
    for &p in tcp {
        assert!(!port_open(p), "base host port {p} is open");
    }
}

/// Compose projects, networks and volumes whose project starts with `prefix-`.
fn resources_with_prefix(prefix: &str) -> Vec<String> {
    let fmt = "{{.Label \"com.docker.compose.project\"}}";
    let mut found = Vec::new();
    for args in [
        vec!["ps", "-a", "--format", fmt],
        vec!["network", "ls", "--format", fmt],
        vec!["volume", "ls", "--format", fmt],
    ] {
        for project in docker(&args).lines() {
            if project.starts_with(&format!("{prefix}-")) {
                found.push(format!("{} of {project}", args[0]));
            }
        }
    }
    found
}

/// A failed create took back everything: Docker resources, worktree, branch.
fn assert_nothing_left(repo: &TestRepo, name: &str) {
    assert_eq!(resources_with_prefix(name), Vec::<String>::new());
    let sessions_dir = repo.base.join(format!("{name}-sessions"));
    let entries = std::fs::read_dir(&sessions_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(entries, 0, "worktrees left in {}", sessions_dir.display());
    let branches = repo.git(&["branch", "--list"]);
    assert!(!branches.contains("session/"), "{branches}");
    assert!(repo.list_json().is_empty());
}

// ---------------------------------------------------------------- ports

#[test]
fn port_shapes_in_two_concurrent_sessions() {
    let (repo, _) = repo(
        "ports",
        &[
            ("compose.yaml", fixture!("ports/compose.yaml")),
            (".env", fixture!("ports/dot-env")),
            (".gitignore", fixture!("ports/dot-gitignore")),
            ("session.config.json", fixture!("ports/session.config.json")),
        ],
    );
    assert!(
        !repo.git(&["ls-files"]).contains(".env\n"),
        "the .env is gitignored: envFiles copies it into each worktree"
    );
    let (sessions, _) = two_sessions(&repo);
    let tcp_vars = [
        "WEB_PORT_5432",
        "WEB_PORT_6379",
        "WEB_PORT_8000", // the container port came from .env
        "WEB_PORT_80",
        "RANGE_PORT_4510",
        "RANGE_PORT_4511",
        "RANGE_PORT_4512",
        "DNS_PORT_8053",
        "RANDOM_PORT_6380",
        "RANDOM_PORT_5433",
    ];
    assert_answer(&sessions, &tcp_vars);
    for s in &sessions {
        assert_eq!(s.port("WEB_PORT"), s.port("WEB_PORT_5432"));
        assert!(s.port("DNS_PORT_53_UDP") > 0);
        // expose-only and inactive-profile services publish nothing
        assert!(!s.has_var_starting("HIDDEN_PORT"), "{:?}", s.env);
        assert!(!s.has_var_starting("DEBUG_PORT"), "{:?}", s.env);
        let hidden = s.container("hidden");
        let bindings = hidden["NetworkSettings"]["Ports"]["9000/tcp"].clone();
        assert!(bindings.is_null(), "hidden publishes 9000: {bindings}");
        let services: Vec<String> = s
            .containers()
            .iter()
            .map(|c| c["Config"]["Labels"]["com.docker.compose.service"].to_string())
            .collect();
        assert_eq!(services.len(), 5, "{services:?}");
        assert!(
            !services.iter().any(|n| n.contains("debug")),
            "{services:?}"
        );
    }
    let json = repo.list_json();
    for s in &json {
        let ports = s["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 11, "{ports:?}");
        let udp: Vec<&Value> = ports.iter().filter(|p| p["protocol"] == "udp").collect();
        assert_eq!(udp.len(), 1);
        assert!(udp[0]["url"].as_str().unwrap().starts_with("udp://"));
    }
    assert_base_ports_unused(
        &[
            27432, 27379, 27123, 27010, 27081, 27510, 27511, 27512, 27853, 27100,
        ],
        &[27053],
    );
    destroy_all(&repo, &sessions);
}

// ---------------------------------------------------------------- several base files

#[test]
fn auto_loaded_override_file_in_two_concurrent_sessions() {
    let (repo, _) = repo(
        "override",
        &[
            (
                "docker-compose.yml",
                fixture!("override/docker-compose.yml"),
            ),
            (
                "docker-compose.override.yml",
                fixture!("override/docker-compose.override.yml"),
            ),
        ],
    );
    let (sessions, _) = two_sessions(&repo);
    assert_answer(&sessions, &["WEB_PORT_8080", "WEB_PORT_8081", "CACHE_PORT"]);
    for s in &sessions {
        let files: Vec<&str> = env_get(&s.env, "COMPOSE_FILE")
            .unwrap()
            .split(':')
            .collect();
        let names: Vec<&str> = files
            .iter()
            .map(|f| Path::new(f).file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "docker-compose.yml",
                "docker-compose.override.yml",
                "docker-compose.session.yml"
            ]
        );
    }
    assert_base_ports_unused(&[27180, 27181, 27182], &[]);
    destroy_all(&repo, &sessions);
}

#[test]
fn configured_compose_files_in_two_concurrent_sessions() {
    let (repo, _) = repo(
        "files",
        &[
            (
                "docker-compose.yml",
                fixture!("compose-files/docker-compose.yml"),
            ),
            (
                "docker-compose.dev.yml",
                fixture!("compose-files/docker-compose.dev.yml"),
            ),
            (
                "docker-compose.override.yml",
                fixture!("compose-files/docker-compose.override.yml"),
            ),
            (
                "session.config.json",
                fixture!("compose-files/session.config.json"),
            ),
        ],
    );
    let (sessions, _) = two_sessions(&repo);
    assert_answer(&sessions, &["WEB_PORT", "MAIL_PORT_1025", "MAIL_PORT_8025"]);
    for s in &sessions {
        let files = env_get(&s.env, "COMPOSE_FILE").unwrap();
        assert!(files.contains("/docker-compose.dev.yml:"), "{files}");
        assert!(!files.contains("override"), "{files}");
    }
    assert_base_ports_unused(&[27280, 27225, 27226], &[]);
    destroy_all(&repo, &sessions);
}

// ---------------------------------------------------------------- readiness

#[test]
fn one_shot_jobs_and_healthchecks_in_two_concurrent_sessions() {
    let (repo, _) = repo(
        "oneshot",
        &[("compose.yaml", fixture!("oneshot/compose.yaml"))],
    );
    let (sessions, _) = two_sessions(&repo);
    assert_answer(&sessions, &["APP_PORT", "DB_PORT", "CACHE_PORT"]);
    for s in &sessions {
        for job in ["init", "migrate"] {
            let state = &s.container(job)["State"];
            assert_eq!(state["Status"], "exited", "{job}: {state}");
            assert_eq!(state["ExitCode"], 0, "{job}: {state}");
            assert!(!s.has_var_starting(&job.to_uppercase()));
        }
        // create returned only once every healthcheck passed
        for svc in ["db", "cache"] {
            assert_eq!(
                s.container(svc)["State"]["Health"]["Status"],
                "healthy",
                "{svc}"
            );
        }
    }
    for s in repo.list_json() {
        assert_eq!(s["status"], "running", "{s}");
    }
    assert_base_ports_unused(&[27332, 27339, 27380], &[]);
    destroy_all(&repo, &sessions);
}

/// `create` that must fail fast; returns its stderr.
fn failing_create(repo: &TestRepo, args: &[&str], limit: Duration) -> String {
    let start = Instant::now();
    let out = repo.cmd().args(args).output().unwrap();
    let took = start.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "create should fail:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(took < limit, "create took {took:?} to fail");
    stderr(&out)
}

#[test]
fn failing_one_shot_fails_create_with_its_logs() {
    let (repo, name) = repo(
        "failjob",
        &[("compose.yaml", fixture!("readiness/failing-oneshot.yaml"))],
    );
    let err = failing_create(&repo, &["create"], Duration::from_secs(40));
    assert!(err.contains("`migrate` exited with code 3"), "{err}");
    assert!(err.contains("migrate: applying 0001"), "{err}");
    assert!(
        err.contains("migrate: relation users already exists"),
        "{err}"
    );
    assert_nothing_left(&repo, &name);
}

#[test]
fn failing_one_shot_with_a_dependant_fails_create_with_its_logs() {
    let (repo, name) = repo(
        "faildep",
        &[(
            "compose.yaml",
            fixture!("readiness/failing-oneshot-dependant.yaml"),
        )],
    );
    let err = failing_create(&repo, &["create"], Duration::from_secs(40));
    assert!(err.contains("migrate"), "{err}");
    assert!(
        err.contains("migrate: relation users already exists"),
        "{err}"
    );
    assert_nothing_left(&repo, &name);
}

/// The healthcheck of `readiness/unhealthy*.yaml` prints this and exits 1.
const PROBE_OUTPUT: &str = "probe: db refused the connection on 5432";

#[test]
fn unhealthy_service_fails_create_with_its_healthcheck_output_and_logs() {
    let (repo, name) = repo(
        "unhealthy",
        &[("compose.yaml", fixture!("readiness/unhealthy.yaml"))],
    );
    let err = failing_create(&repo, &["create"], Duration::from_secs(40));
    assert!(err.contains("`db` is unhealthy"), "{err}");
    assert!(
        err.contains(&format!(
            "its last healthcheck (exit code 1) printed:\n    {PROBE_OUTPUT}\n"
        )),
        "{err}"
    );
    assert!(err.contains("db: FATAL data directory is corrupt"), "{err}");
    assert_nothing_left(&repo, &name);
}

#[test]
fn unhealthy_service_with_a_dependant_fails_create_with_its_healthcheck_output() {
    let (repo, name) = repo(
        "unhealthydep",
        &[(
            "compose.yaml",
            fixture!("readiness/unhealthy-dependant.yaml"),
        )],
    );
    let err = failing_create(&repo, &["create"], Duration::from_secs(40));
    assert!(err.contains("`db` is unhealthy"), "{err}");
    assert!(err.contains(PROBE_OUTPUT), "{err}");
    assert!(err.contains("db: FATAL data directory is corrupt"), "{err}");
    assert_nothing_left(&repo, &name);
}

#[test]
fn slow_healthcheck_hits_the_wait_timeout() {
    let (repo, name) = repo(
        "slow",
        &[("compose.yaml", fixture!("readiness/slow-health.yaml"))],
    );
    let err = failing_create(
        &repo,
        &["create", "--wait-timeout", "4"],
        Duration::from_secs(40),
    );
    assert!(err.contains("not ready after 4s"), "{err}");
    assert!(err.contains("db (health: starting)"), "{err}");
    assert!(err.contains("--wait-timeout"), "{err}");
    assert!(!err.contains("not waiting for"), "{err}");
    assert_nothing_left(&repo, &name);
}

#[test]
fn a_healthcheck_whose_first_probe_comes_too_late_is_not_waited_for() {
    let (repo, _) = repo(
        "firstprobe",
        &[("compose.yaml", fixture!("readiness/slow-first-probe.yaml"))],
    );
    let start = Instant::now();
    let out = repo.cmd().args(["create", "--in-place"]).output().unwrap();
    let took = start.elapsed();
    check(&out, "create");
    assert!(took < Duration::from_secs(30), "create took {took:?}");
    let err = stderr(&out);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("not waiting for"))
        .collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].starts_with(
            "warning: not waiting for `db` to turn healthy: its first healthcheck runs 5m after it starts, later than the "
        ),
        "{err}"
    );
    assert!(
        said[0].ends_with("it counts as ready once running"),
        "{err}"
    );
    let s = &repo.list_json()[0];
    assert_eq!(s["status"], "running", "{s}");
    let env = read_env(&repo.root.join(".env.session"));
    for var in ["DB_PORT", "WEB_PORT"] {
        let port: u16 = env_get(&env, var).unwrap().parse().unwrap();
        assert!(http_get(port).contains("dev-prism test page"), "{var}");
    }
    // the healthcheck has not run yet: Docker still says "starting"
    let project = env_get(&env, "COMPOSE_PROJECT_NAME").unwrap();
    let health = docker(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=com.docker.compose.service=db",
        "--format",
        "{{.Status}}",
    ]);
    assert!(health.contains("health: starting"), "{health}");
    // `start` reads the same from the session's files
    repo.ok(&["stop"]);
    let start = Instant::now();
    let err = stderr(&repo.ok(&["start"]));
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        err.contains("not waiting for `db` to turn healthy"),
        "{err}"
    );
    repo.ok(&["destroy"]);
    assert_eq!(leftovers(project), (0, 0, 0));
}

#[test]
fn wait_timeout_also_bounds_up_blocked_on_a_healthy_dependency() {
    let (repo, name) = repo(
        "slowdep",
        &[(
            "compose.yaml",
            fixture!("readiness/slow-health-dependant.yaml"),
        )],
    );
    let err = failing_create(
        &repo,
        &["create", "--wait-timeout", "3"],
        Duration::from_secs(30),
    );
    assert!(err.contains("not ready after 3s"), "{err}");
    assert!(err.contains("db (health: starting)"), "{err}");
    assert_nothing_left(&repo, &name);
}

// ---------------------------------------------------------------- blockers

#[test]
fn parallel_session_blockers_are_neutralised() {
    let (repo, _) = repo(
        "blockers",
        &[("compose.yaml", fixture!("blockers/compose.yaml"))],
    );
    let doctor = stdout(&repo.ok(&["doctor"]));
    let warnings: Vec<&str> = doctor
        .lines()
        .filter(|l| l.contains("parallel sessions"))
        .collect();
    assert_eq!(warnings.len(), 1, "{doctor}");
    assert!(warnings[0].contains("`agent` uses `network_mode: host`"));

    let (sessions, stderrs) = two_sessions(&repo);
    for err in &stderrs {
        assert!(err.contains("`agent` uses `network_mode: host`"), "{err}");
        assert!(err.contains("clashes"), "{err}");
    }
    assert_answer(&sessions, &["DB_PORT", "WEB_PORT"]);
    for s in &sessions {
        // every old container name resolved for the probe
        let probe = &s.container("probe")["State"];
        assert_eq!(probe["ExitCode"], 0, "{probe}");
        let url = env_get(&s.env, "DATABASE_URL").unwrap();
        assert!(
            url.ends_with(&format!(":{}/app", s.port("DB_PORT"))),
            "{url}"
        );
        // own networks, volume and container names per session
        assert_eq!(leftovers(&s.project), (6, 3, 1), "{}", s.project);
        for net in docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", s.project),
        ])
        .split_whitespace()
        {
            let inspect = docker(&["network", "inspect", net]);
            assert!(!inspect.contains("172.31.240."), "{inspect}");
            assert!(!inspect.contains("172.31.241."), "{inspect}");
            assert!(!inspect.contains("dp-fixture"), "{inspect}");
        }
    }
    let names = docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!names.contains("dp-fixture-"), "{names}");
    let networks = docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains("dp-fixture-front"), "{networks}");
    let volumes = docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(!volumes.contains("dp-fixture-data"), "{volumes}");
    assert_base_ports_unused(&[27532, 27580], &[]);
    destroy_all(&repo, &sessions);
}

#[test]
fn doctor_reports_what_cannot_be_neutralised() {
    let (repo, _) = repo(
        "warnonly",
        &[("compose.yaml", fixture!("warn-only/compose.yaml"))],
    );
    let out = repo.ok(&["doctor"]);
    let text = stdout(&out);
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("parallel sessions"))
        .collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(text.contains("`agent` uses `network_mode: host`"), "{text}");
    assert!(
        text.contains("network `pinned` has the fixed subnet 172.31.242.0/24"),
        "{text}"
    );
    assert!(text.contains("`db` pins a fixed address"), "{text}");
}

#[test]
fn legacy_bridge_with_container_name_in_two_concurrent_sessions() {
    let (repo, _) = repo(
        "bridge",
        &[("compose.yaml", fixture!("bridge/compose.yaml"))],
    );
    let (sessions, _) = two_sessions(&repo);
    assert_answer(&sessions, &["LEGACY_PORT", "OLDER_PORT"]);
    for s in &sessions {
        // on the legacy bridge, as plain Compose runs them (Engine 20.10
        // keeps the word `default`, later engines say `bridge`); only the
        // container names are the session's own
        for svc in ["legacy", "older"] {
            let c = s.container(svc);
            let mode = c["HostConfig"]["NetworkMode"].as_str().unwrap();
            assert!(["bridge", "default"].contains(&mode), "{svc}: {mode}");
            assert_eq!(networks_of(&c), ["bridge"], "{svc}");
        }
        let legacy_id = s.container("legacy")["Id"].as_str().unwrap().to_string();
        assert_eq!(
            s.container("rider")["HostConfig"]["NetworkMode"],
            format!("container:{legacy_id}")
        );
        for svc in ["legacy", "older", "rider"] {
            let name = s.container(svc)["Name"].as_str().unwrap().to_string();
            assert!(name.starts_with(&format!("/{}-", s.project)), "{name}");
        }
        assert_eq!(leftovers(&s.project).1, 0, "no network of its own");
    }
    let names = docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!names.contains("dp-fixture-"), "{names}");
    assert_base_ports_unused(&[27680, 27681], &[]);
    destroy_all(&repo, &sessions);
}

/// A stack started with plain `docker compose up` in a directory (not a
/// session); taken down when dropped, also when the test fails.
struct PlainStack {
    dir: PathBuf,
    project: String,
}

impl PlainStack {
    fn up(dir: &Path, project: &str) -> Self {
        let stack = PlainStack {
            dir: dir.to_path_buf(),
            project: project.to_string(),
        };
        let out = std::process::Command::new("docker")
            .args(["compose", "up", "--detach"])
            .current_dir(dir)
            .env("PWD", dir)
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .output()
            .unwrap();
        check(&out, "docker compose up");
        stack
    }

    /// Inspect JSON of the plain stack's container of `service`, once it
    /// has exited (waits up to 30 s).
    fn exited(&self, service: &str) -> Value {
        let start = Instant::now();
        loop {
            let id = docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project),
                "--filter",
                &format!("label=com.docker.compose.service={service}"),
                "--filter",
                "status=exited",
            ]);
            if !id.trim().is_empty() {
                let json: Value =
                    serde_json::from_str(&docker(&["container", "inspect", id.trim()])).unwrap();
                return json[0].clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{service} never exited"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PlainStack {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["compose", "down", "--volumes", "--timeout", "1"])
            .current_dir(&self.dir)
            .env("PWD", &self.dir)
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .output();
        cleanup_project(&self.project);
    }
}

/// The networks a container is attached to, by name.
fn networks_of(container: &Value) -> Vec<String> {
    let mut names: Vec<String> = container["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn network_mode_naming_the_projects_network_in_two_concurrent_sessions() {
    // the name plain `docker compose` gives the project: the directory's
    let main = format!("shapes-netmode-{}", std::process::id());
    let compose = fixture!("network-mode/compose.yaml").replace("@MAIN@", &main);
    // declared first, so dropped last: after the sessions' cleanup
    let plain: PlainStack;
    let (repo, name) = repo("netmode", &[("compose.yaml", &compose)]);
    assert_eq!(name, main);

    // plain Compose in the main checkout: sidecar and probe join
    // `<main>_default`, and the probe reaches web and sidecar there
    plain = PlainStack::up(&repo.root, &main);
    let probe = plain.exited("probe");
    assert_eq!(probe["State"]["ExitCode"], 0, "{}", probe["State"]);
    assert_eq!(
        probe["HostConfig"]["NetworkMode"],
        format!("{main}_default")
    );

    // two sessions beside it: each the same on its own network, none on
    // the main stack's
    let (sessions, _) = two_sessions(&repo);
    assert_answer(&sessions, &["WEB_PORT"]);
    for s in &sessions {
        let probe = &s.container("probe");
        assert_eq!(probe["State"]["ExitCode"], 0, "{}", probe["State"]);
        for svc in ["web", "sidecar", "probe"] {
            assert_eq!(
                networks_of(&s.container(svc)),
                [format!("{}_default", s.project)],
                "{svc}"
            );
        }
        assert_eq!(leftovers(&s.project), (3, 1, 0), "{}", s.project);
    }
    let on_main = docker(&[
        "network",
        "inspect",
        &format!("{main}_default"),
        "--format",
        "{{range .Containers}}{{.Name}} {{end}}",
    ]);
    let mut on_main: Vec<&str> = on_main.split_whitespace().collect();
    on_main.sort();
    assert_eq!(
        on_main,
        [format!("{main}-sidecar"), format!("{main}-web-1")]
    );
    destroy_all(&repo, &sessions);
}

// ---------------------------------------------------------------- images

fn dangling_of(project: &str) -> Vec<String> {
    docker(&[
        "image",
        "ls",
        "-q",
        "--filter",
        "dangling=true",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ])
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

#[test]
fn images_built_for_a_session_go_with_it_images_of_the_user_stay() {
    let unique = format!("dp-test-images-{}", std::process::id());
    let _images = ImagesNamed(unique.clone());
    let out = std::process::Command::new("docker")
        .args(["tag", TEST_IMAGE, &format!("{unique}:mine")])
        .output()
        .unwrap();
    check(&out, "docker tag");
    let compose = fixture!("built-images/compose.yaml").replace("@IMAGE@", &unique);
    let (repo, name) = repo(
        "images",
        &[
            ("compose.yaml", &compose),
            ("app/Dockerfile", fixture!("built-images/app/Dockerfile")),
        ],
    );
    // one after the other: the second build of the shared name re-tags it
    let sessions_dir = repo.base.join(format!("{name}-sessions"));
    let (first, second) = (sessions_dir.join("first"), sessions_dir.join("second"));
    repo.ok(&["create", "--branch", "first"]);
    repo.ok(&["create", "--branch", "second"]);
    let project = |dir: &Path| {
        let env = read_env(&dir.join(".env.session"));
        env_get(&env, "COMPOSE_PROJECT_NAME").unwrap().to_string()
    };
    let (p1, p2) = (project(&first), project(&second));
    assert_eq!(
        images_named(&format!("{p1}-")),
        [format!("{p1}-app:latest")]
    );
    assert_eq!(
        images_named(&format!("{p2}-")),
        [format!("{p2}-app:latest")]
    );
    assert_eq!(
        dangling_of(&p1).len(),
        1,
        "the first session's shared build"
    );
    let shared = format!("{unique}-shared:dev");
    let labels = docker(&[
        "image",
        "inspect",
        &shared,
        "--format",
        "{{index .Config.Labels \"com.docker.compose.project\"}}",
    ]);
    assert_eq!(
        labels.trim(),
        p2,
        "the second session built the shared name last"
    );

    repo.ok_in(&first, &["destroy"]);
    assert!(images_named(&format!("{p1}-")).is_empty());
    assert!(dangling_of(&p1).is_empty());
    // the second session's images, the user's image and the base image stay
    assert_eq!(
        images_named(&format!("{p2}-")),
        [format!("{p2}-app:latest")]
    );
    assert_eq!(
        images_named(&unique),
        [format!("{unique}-shared:dev"), format!("{unique}:mine")]
    );
    assert!(
        !docker(&["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE])
            .trim()
            .is_empty()
    );

    repo.ok_in(&second, &["destroy"]);
    assert!(images_named(&format!("{p2}-")).is_empty());
    // the shared name held the second session's build: gone with it
    assert_eq!(images_named(&unique), [format!("{unique}:mine")]);
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{unique}:mine")
        ])
        .trim(),
        docker(&["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE]).trim()
    );
}

// ---------------------------------------------------------------- remote engines

/// A second endpoint of the local engine: TCP on 127.0.0.2 forwarded to the
/// docker socket. Returns its port; the listener lives as long as the tests.
fn engine_on_loopback() -> u16 {
    use std::net::{Shutdown, TcpListener};
    use std::os::unix::net::UnixStream;
    let listener = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let Ok(unix) = UnixStream::connect(docker_socket()) else {
                continue;
            };
            let (Ok(mut tcp_in), Ok(mut unix_in)) = (tcp.try_clone(), unix.try_clone()) else {
                continue;
            };
            let (mut tcp_out, mut unix_out) = (tcp, unix);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut tcp_in, &mut unix_out);
                let _ = unix_out.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut unix_in, &mut tcp_out);
                let _ = tcp_out.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

/// A docker context, removed again when dropped (also when the test fails).
struct Context {
    name: String,
    config: Option<PathBuf>,
}

impl Context {
    fn create(endpoint: &str, config: Option<&Path>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let ctx = Context {
            name: format!("dp-test-{}-{nanos:x}", std::process::id()),
            config: config.map(Path::to_path_buf),
        };
        let out = ctx
            .docker(&["context", "create", &ctx.name, "--docker"])
            .arg(format!("host={endpoint}"))
            .output()
            .unwrap();
        check(&out, "docker context create");
        ctx
    }

    fn docker(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("docker");
        cmd.args(args).env_remove("DOCKER_HOST");
        if let Some(dir) = &self.config {
            cmd.env("DOCKER_CONFIG", dir);
        }
        cmd
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = self
            .docker(&["context", "rm", "--force", &self.name])
            .output();
    }
}

/// The hosts of the URLs in `list --json`, and the number of docker
/// processes it started.
fn list_hosts(repo: &TestRepo, env: &[(&str, &str)]) -> (Vec<String>, usize) {
    let mut cmd = repo.cmd();
    cmd.args(["-v", "list", "--json"]).env_remove("DOCKER_HOST");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    check(&out, "list --json");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts = json
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["ports"].as_array().unwrap().clone())
        .map(|p| {
            let url = p["url"].as_str().unwrap();
            assert_eq!(
                url,
                format!("http://{}:{}", p["host"].as_str().unwrap(), p["host_port"])
            );
            p["host"].as_str().unwrap().to_string()
        })
        .collect();
    let calls = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("+ docker "))
        .count();
    (hosts, calls)
}

#[test]
fn remote_engine_endpoint_is_the_url_host() {
    let port = engine_on_loopback();
    let endpoint = format!("tcp://127.0.0.2:{port}");
    let (repo, _) = repo(
        "remote",
        &[("compose.yaml", fixture!("remote/compose.yaml"))],
    );

    // two sessions at once, made through the remote endpoint
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    repo.cmd()
                        .arg("create")
                        .env("DOCKER_HOST", &endpoint)
                        .output()
                        .unwrap()
                })
            })
            .collect();
        for h in handles {
            check(&h.join().unwrap(), "create through DOCKER_HOST");
        }
    });
    let sessions = sessions_with(&repo, &[("DOCKER_HOST", &endpoint)]);
    for s in &sessions {
        let db = s.port("DB_PORT");
        let url = env_get(&s.env, "DATABASE_URL").unwrap();
        assert_eq!(url, format!("postgresql://app:secret@127.0.0.2:{db}/app"));
        let mut conn = std::net::TcpStream::connect(("127.0.0.2", db)).unwrap();
        use std::io::{Read, Write};
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = conn.read_to_string(&mut body);
        assert!(body.contains("dev-prism test page"), "{body}");
    }

    let remote = vec!["127.0.0.2".to_string(); 2];
    let (hosts, _) = list_hosts(&repo, &[("DOCKER_HOST", &endpoint)]);
    assert_eq!(hosts, remote);
    // a local engine: no context lookup, two docker processes (the engine
    // under test: scripts/test.sh may point DOCKER_HOST at a second one)
    let local = std::env::var("DOCKER_HOST").ok();
    let local: Vec<(&str, &str)> = local.iter().map(|h| ("DOCKER_HOST", h.as_str())).collect();
    let (hosts, calls) = list_hosts(&repo, &local);
    assert!(
        hosts.iter().all(|h| h == "localhost" || h == "127.0.0.1"),
        "{hosts:?}"
    );
    assert_eq!(calls, 2);
    // DEV_PRISM_HOST wins
    let (hosts, _) = list_hosts(
        &repo,
        &[
            ("DOCKER_HOST", &endpoint),
            ("DEV_PRISM_HOST", "dev.example"),
        ],
    );
    assert_eq!(hosts, vec!["dev.example".to_string(); 2]);

    // a docker context selected with DOCKER_CONTEXT
    let ctx = Context::create(&endpoint, None);
    let (hosts, calls) = list_hosts(&repo, &[("DOCKER_CONTEXT", &ctx.name)]);
    assert_eq!(hosts, remote);
    assert_eq!(calls, 3, "ps, inspect and one context inspect");
    let mut env_cmd = repo.cmd_in(&sessions[0].dir);
    let out = env_cmd
        .args(["env", "--json"])
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONTEXT", &ctx.name)
        .output()
        .unwrap();
    check(&out, "env --json");
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = env["DATABASE_URL"].as_str().unwrap();
    assert!(url.contains("@127.0.0.2:"), "{url}");

    // the current context of a docker config (`docker context use`)
    let config = tempfile::tempdir().unwrap();
    let current = Context::create(&endpoint, Some(config.path()));
    let out = current
        .docker(&["context", "use", &current.name])
        .output()
        .unwrap();
    check(&out, "docker context use");
    let config_dir = config.path().to_str().unwrap();
    let (hosts, _) = list_hosts(&repo, &[("DOCKER_CONFIG", config_dir)]);
    assert_eq!(hosts, remote);

    let out = repo
        .cmd()
        .args(["destroy", "--all", "-y"])
        .env("DOCKER_HOST", &endpoint)
        .output()
        .unwrap();
    check(&out, "destroy through DOCKER_HOST");
    for s in &sessions {
        assert_eq!(leftovers(&s.project), (0, 0, 0), "left by {}", s.project);
    }
}
