//! The test bed: a throwaway git repository with a compose file, the built
//! binary run in it with a sealed environment, and cleanup of every
//! container, network and volume the test made, even when it fails.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Once;
use std::time::Duration;

pub const TEST_IMAGE: &str = "dev-prism-test/busybox:latest";

macro_rules! web_service {
    () => {
        r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
      - "8080"
"#
    };
}

/// The smallest useful stack: one web server on a random host port.
pub const WEB_SERVICE: &str = web_service!();

/// [`WEB_SERVICE`] with a named volume (what `down -v` must remove).
pub const WEB_WITH_VOLUME: &str = concat!(
    web_service!(),
    "    volumes:\n      - web-data:/data\nvolumes:\n  web-data:\n"
);

/// Fail (not skip) with directions when there is no engine to test against.
pub fn require_docker() {
    static CHECK: Once = Once::new();
    CHECK.call_once(|| {
        let hint = "run `scripts/test-env.sh` first (it starts a Docker engine, installs the Compose v2 plugin and builds the test image)";
        let ok = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        assert!(ok(&["info"]), "no reachable Docker engine: {hint}");
        assert!(ok(&["compose", "version"]), "no Docker Compose v2 plugin: {hint}");
        assert!(
            ok(&["image", "inspect", TEST_IMAGE]),
            "test image {TEST_IMAGE} is missing: {hint}"
        );
    });
}

/// A git repository in a temp dir, at `<tmp>/<name>`, so that the default
/// sessions dir `<tmp>/<name>-sessions` is inside the temp dir too.
pub struct TestRepo {
    _tmp: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

impl TestRepo {
    /// A repo named `repo` holding `compose.yaml`.
    pub fn new(compose: &str) -> Self {
        Self::named("repo", &[("compose.yaml", compose)])
    }

    /// A repo with the given files committed.
    pub fn named(name: &str, files: &[(&str, &str)]) -> Self {
        require_docker();
        let tmp = tempfile::Builder::new()
            .prefix("dev-prism-test-")
            .tempdir()
            .unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join(name);
        std::fs::create_dir_all(&root).unwrap();
        let repo = TestRepo {
            _tmp: tmp,
            base,
            root,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        for (path, text) in files {
            repo.write(path, text);
        }
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "init"]);
        repo
    }

    pub fn write(&self, path: &str, text: &str) {
        let p = self.root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Run git in the repo; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.root, args)
    }

    /// The dev-prism binary, run in the repo root with a sealed environment.
    pub fn cmd(&self) -> Command {
        self.cmd_in(&self.root)
    }

    pub fn cmd_in(&self, dir: &Path) -> Command {
        let mut cmd = Command::cargo_bin("dev-prism").unwrap();
        cmd.current_dir(dir);
        seal(&mut cmd);
        cmd.timeout(Duration::from_secs(300));
        cmd
    }

    /// Run dev-prism with `args` and require success.
    pub fn ok(&self, args: &[&str]) -> Output {
        self.ok_in(&self.root, args)
    }

    pub fn ok_in(&self, dir: &Path, args: &[&str]) -> Output {
        let out = self.cmd_in(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "dev-prism {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `list --json` for this repository.
    pub fn list_json(&self) -> Vec<Value> {
        let out = self.ok(&["list", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Compose projects of every session under this test's temp dir.
    pub fn projects(&self) -> Vec<String> {
        let mut names: Vec<String> = containers()
            .into_iter()
            .filter(|c| {
                c["Config"]["Labels"]["dev-prism.working_dir"]
                    .as_str()
                    .is_some_and(|d| Path::new(d).starts_with(&self.base))
            })
            .filter_map(|c| {
                c["Config"]["Labels"]["com.docker.compose.project"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl Drop for TestRepo {
    fn drop(&mut self) {
        for project in self.projects() {
            cleanup_project(&project);
        }
    }
}

/// Remove everything of a compose project: containers, networks, volumes.
pub fn cleanup_project(project: &str) {
    let _ = std::process::Command::new("docker")
        .args([
            "compose",
            "-p",
            project,
            "down",
            "-v",
            "--remove-orphans",
            "-t",
            "1",
        ])
        .current_dir(std::env::temp_dir())
        .output();
    let filter = format!("label=com.docker.compose.project={project}");
    for kind in ["network", "volume"] {
        let ids = docker(&[kind, "ls", "-q", "--filter", &filter]);
        for id in ids.split_whitespace() {
            let _ = std::process::Command::new("docker")
                .args([kind, "rm", id])
                .output();
        }
    }
}

/// What is left of a compose project in Docker: (containers, networks, volumes).
pub fn leftovers(project: &str) -> (usize, usize, usize) {
    let filter = format!("label=com.docker.compose.project={project}");
    let count = |args: &[&str]| docker(args).split_whitespace().count();
    (
        count(&["ps", "-aq", "--filter", &filter]),
        count(&["network", "ls", "-q", "--filter", &filter]),
        count(&["volume", "ls", "-q", "--filter", &filter]),
    )
}

/// Inspect JSON of every dev-prism container on the engine.
pub fn containers() -> Vec<Value> {
    let ids = docker(&["ps", "-aq", "--filter", "label=dev-prism.managed=true"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["container", "inspect"];
    args.extend(ids);
    let out = std::process::Command::new("docker")
        .args(&args)
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

pub fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir).args(args);
    seal_std(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Variables from the user's shell that must not leak into a test.
const REMOVED: [&str; 4] = [
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
    "DEV_PRISM_HOST",
];

/// A fixed git identity, no user config, no colour, and the local test
/// images for the quick start example.
const SEALED: [(&str, &str); 11] = [
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "Test"),
    ("GIT_AUTHOR_EMAIL", "test@example.invalid"),
    ("GIT_COMMITTER_NAME", "Test"),
    ("GIT_COMMITTER_EMAIL", "test@example.invalid"),
    ("NO_COLOR", "1"),
    ("QUICKSTART_WEB_IMAGE", TEST_IMAGE),
    ("QUICKSTART_DB_IMAGE", TEST_IMAGE),
    ("QUICKSTART_DB_COMMAND", "httpd -f -p 5432 -h /www"),
    (
        "QUICKSTART_DB_HEALTHCHECK",
        "wget -q -O /dev/null http://127.0.0.1:5432/",
    ),
];

fn seal(cmd: &mut Command) {
    for key in REMOVED {
        cmd.env_remove(key);
    }
    cmd.envs(SEALED);
}

fn seal_std(cmd: &mut std::process::Command) {
    for key in REMOVED {
        cmd.env_remove(key);
    }
    cmd.envs(SEALED);
}

/// Parse a dotenv file written by dev-prism.
pub fn read_env(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            (k.to_string(), v.to_string())
        })
        .collect()
}

pub fn env_get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// GET / over HTTP/1.0 and return the body; panics when nothing answers.
pub fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut last = String::new();
    // The app may still be binding right after `create` reports ready.
    for _ in 0..50 {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/") {
                    return buf;
                }
                last = buf;
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing answered HTTP on 127.0.0.1:{port}: {last}");
}

/// Whether anything accepts TCP on a loopback port.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

impl TestRepo {
    /// A std Command for dev-prism (for running several at once).
    pub fn spawn_in(&self, dir: &Path, args: &[&str]) -> std::process::Child {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dev-prism"));
        cmd.current_dir(dir).args(args);
        for key in [
            "COMPOSE_FILE",
            "COMPOSE_PROJECT_NAME",
            "COMPOSE_PROFILES",
            "DEV_PRISM_HOST",
        ] {
            cmd.env_remove(key);
        }
        seal_std(&mut cmd);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    }
}

impl TestRepo {
    /// `create --branch NAME`; the worktree directory (in the default
    /// sessions dir of a repo named `repo`).
    pub fn create_branch(&self, branch: &str) -> PathBuf {
        self.ok(&["create", "--branch", branch]);
        let dir = self
            .base
            .join("repo-sessions")
            .join(branch.replace('/', "-"));
        assert!(dir.is_dir(), "{}", dir.display());
        dir
    }

    /// A string field of the session in `dir`, from `list --json`.
    pub fn session_field(&self, dir: &Path, field: &str) -> Option<String> {
        self.list_json()
            .iter()
            .find(|s| s["working_dir"] == dir.to_str().unwrap())
            .map(|s| s[field].as_str().unwrap().to_string())
    }

    /// Local branch names.
    pub fn branches(&self) -> Vec<String> {
        self.git(&["branch", "--list", "--format=%(refname:short)"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn has_branch(&self, name: &str) -> bool {
        self.branches().iter().any(|b| b == name)
    }
}

/// A repo whose `.gitignore` ignores `.env`, `*.local` and `node_modules/`,
/// with a `.env` that the config copies into each session (`envFiles`).
pub fn repo_with_ignored_env(compose: &str) -> TestRepo {
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", compose),
            (".gitignore", ".env\n*.local\nnode_modules/\n"),
            ("session.config.json", r#"{ "envFiles": [".env"] }"#),
        ],
    );
    repo.write(".env", "SECRET=1\n");
    repo
}

/// Wait for dev-prism processes started with [`TestRepo::spawn_in`]; each
/// must succeed. Their outputs, in order.
pub fn wait_ok(children: Vec<std::process::Child>) -> Vec<Output> {
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "dev-prism failed:\n{}\n{}",
                stdout(&out),
                stderr(&out)
            );
            out
        })
        .collect()
}

/// A std Command for `program` (e.g. `script`, or the dev-prism binary)
/// with the sealed test environment; stdio left as is.
pub fn sealed_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    seal_std(&mut cmd);
    cmd
}

/// Quote a word for `sh -c`.
pub fn sh_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A directory with an executable `docker` that runs `prelude` (shell)
/// and then the real docker; put it first on PATH with [`Shim::path_var`].
pub struct Shim {
    dir: tempfile::TempDir,
}

impl Shim {
    pub fn docker(prelude: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let out = std::process::Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap();
        let real = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            Path::new(&real).is_absolute(),
            "no docker on PATH: {real:?}"
        );
        let dir = tempfile::Builder::new()
            .prefix("dev-prism-shim-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("docker");
        std::fs::write(
            &path,
            format!("#!/bin/sh\n{prelude}\nexec {} \"$@\"\n", sh_word(&real)),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Shim { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_var(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap()
    }
}
