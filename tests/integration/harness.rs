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
        let mut projects = self.projects();
        // Projects whose containers are gone (a test removed them, then
        // failed) still have networks and volumes: their names end with the
        // hash of a session directory of this test.
        let mut dirs = vec![self.root.clone()];
        if let Ok(entries) = std::fs::read_dir(&self.base) {
            for sessions in entries.flatten().filter(|e| e.path().is_dir()) {
                if let Ok(inner) = std::fs::read_dir(sessions.path()) {
                    dirs.extend(inner.flatten().map(|e| e.path()));
                }
            }
        }
        let suffixes: Vec<String> = dirs.iter().map(|d| format!("-{}", path_hash(d))).collect();
        let fmt = "{{.Label \"com.docker.compose.project\"}}";
        for kind in ["network", "volume"] {
            for name in docker(&[kind, "ls", "--format", fmt]).lines() {
                if suffixes.iter().any(|s| name.ends_with(s)) && !projects.iter().any(|p| p == name)
                {
                    projects.push(name.to_string());
                }
            }
        }
        for project in projects {
            cleanup_project(&project);
        }
    }
}

/// Remove everything of a compose project: containers, networks, volumes,
/// and the images built for it.
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
    for kind in ["network", "volume", "image"] {
        let ids = docker(&[kind, "ls", "-q", "--filter", &filter]);
        for id in ids.split_whitespace() {
            let force = if kind == "image" { "--force" } else { "--" };
            let _ = std::process::Command::new("docker")
                .args([kind, "rm", force, id])
                .output();
        }
    }
}

/// Images whose repository starts with `prefix`, as `repo:tag`.
pub fn images_named(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Images a test tagged or made under names of its own; removed when
/// dropped, also when the test fails.
pub struct ImagesNamed(pub String);

impl Drop for ImagesNamed {
    fn drop(&mut self) {
        for image in images_named(&self.0) {
            let _ = std::process::Command::new("docker")
                .args(["image", "rm", "--force", &image])
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

// ---------------------------------------------------------------------------
// Helpers of the hardening tests (issue 9): fault-injecting shims, commands
// bounded in time and run in their own process group, a wedged engine,
// cleanup by project-name prefix.

/// FNV-1a 32-bit of a path's bytes as 8 hex digits: the hash that ends a
/// session's compose project name and names its lock file.
pub fn path_hash(path: &Path) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for &b in path.as_os_str().as_encoded_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// A std Command for `program` (e.g. `script`, or the dev-prism binary)
/// with the sealed test environment; stdio left as is.
pub fn sealed_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    seal_std(&mut cmd);
    cmd
}

/// Quote a word for `sh`.
pub fn sh_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The absolute path of a program on PATH.
pub fn real_program(program: &str) -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.is_absolute(),
        "cannot find the real {program} on PATH: {path:?}"
    );
    path
}

/// A directory of `sh` scripts standing in for `git` or `docker`: each runs
/// its body (which may use `$REAL`, the real program, and `$SHIM_DIR`) and
/// then `exec "$REAL" "$@"`. Put first on PATH to inject a fault.
pub struct Shim {
    dir: tempfile::TempDir,
}

impl Shim {
    /// `programs`: (name, body) pairs, e.g.
    /// `("docker", "case \" $* \" in *' down '*) exit 1;; esac")`.
    pub fn new(programs: &[(&str, &str)]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("dev-prism-shim-")
            .tempdir()
            .unwrap();
        for (program, body) in programs {
            let real = real_program(program);
            let script = format!(
                "#!/bin/sh\nREAL={}\nSHIM_DIR={}\n{body}\nexec \"$REAL\" \"$@\"\n",
                sh_word(&real.display().to_string()),
                sh_word(&dir.path().display().to_string()),
            );
            let path = dir.path().join(program);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Shim { dir }
    }

    /// A `docker` that runs `prelude` first.
    pub fn docker(prelude: &str) -> Self {
        Shim::new(&[("docker", prelude)])
    }

    /// Where the scripts live (and may leave marker files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// PATH with the shims first.
    pub fn path_var(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap()
    }
}

impl TestRepo {
    /// The dev-prism binary as a std Command in `dir`, sealed like
    /// [`TestRepo::cmd_in`], output captured (for spawning and signals).
    pub fn std_cmd(&self, dir: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dev-prism"));
        cmd.current_dir(dir).args(args);
        seal_std(&mut cmd);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// A lock dir for `DEV_PRISM_LOCK_DIR` inside the test's temp dir (0700).
    pub fn lock_dir(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.base.join("locks");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    /// Linked worktrees (every `git worktree list` entry but the main one).
    pub fn linked_worktrees(&self) -> Vec<String> {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .skip(1)
            .map(str::to_string)
            .collect()
    }
}

/// A command that ran in its own process group with a time limit.
pub struct Bounded {
    pub status: std::process::ExitStatus,
    #[allow(dead_code)] // for tests that read the answer
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The limit passed and the process group was killed.
    pub timed_out: bool,
}

impl Bounded {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// A child started in its own process group, with its output collected on
/// threads (so a grandchild holding a pipe cannot block the test).
pub struct GroupChild {
    pub child: std::process::Child,
    pub started: std::time::Instant,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    err: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Spawn `cmd` as the leader of a new process group (as a shell does for a
/// foreground job, so a terminal's Ctrl-C can be imitated with
/// [`signal_group`]).
pub fn spawn_group(mut cmd: std::process::Command) -> GroupChild {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let handle = std::thread::spawn(move || {
            if let Some(mut p) = pipe {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = p.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            }
        });
        (buf, handle)
    };
    let (out, h1) = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let (err, h2) = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    GroupChild {
        child,
        started: std::time::Instant::now(),
        out,
        err,
        readers: vec![h1, h2],
    }
}

impl GroupChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// What it wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Wait until it ends, at most `limit` from its start; past the limit its
    /// whole process group is killed (`timed_out`).
    pub fn wait_bounded(mut self, limit: Duration) -> Bounded {
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > limit {
                timed_out = true;
                signal_group(self.child.id(), "KILL");
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let elapsed = self.started.elapsed();
        // A child in another process group may still hold a pipe: do not
        // wait for it for long.
        let readers_done = std::time::Instant::now();
        while self.readers.iter().any(|h| !h.is_finished())
            && readers_done.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stdout = String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned();
        Bounded {
            status,
            stdout,
            stderr,
            elapsed,
            timed_out,
        }
    }
}

impl Drop for GroupChild {
    /// A test that fails before waiting must not leave dev-prism running
    /// (it could make containers after the cleanup): kill its group.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal_group(self.child.id(), "KILL");
            let _ = self.child.wait();
        }
    }
}

/// Run `cmd` in its own process group; kill the group after `limit`.
pub fn run_bounded(cmd: std::process::Command, limit: Duration) -> Bounded {
    spawn_group(cmd).wait_bounded(limit)
}

/// `kill -SIG PID` (PID only).
pub fn signal_pid(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// `kill -SIG -- -PGID`: every process of a group, like a terminal's Ctrl-C.
pub fn signal_group(pgid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), "--", &format!("-{pgid}")])
        .status();
}

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
}

/// Poll until `path` exists; false after `limit`.
pub fn wait_for_file(path: &Path, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while !path.exists() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Processes (other than this test binary) whose command line or working
/// directory mentions `base`: children a killed dev-prism left running.
pub fn processes_under(base: &Path) -> Vec<(u32, String)> {
    let me = std::process::id();
    let needle = base.to_string_lossy().into_owned();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || !alive(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if cmdline.contains(&needle) || cwd.starts_with(&needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Wait (at most `limit`) until no process works under `base`; what is
/// still running then.
pub fn wait_for_no_processes_under(base: &Path, limit: Duration) -> Vec<(u32, String)> {
    let start = std::time::Instant::now();
    loop {
        let left = processes_under(base);
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A Docker endpoint that accepts connections and never answers: a Unix
/// socket served by a thread that holds every connection open.
pub struct WedgedEngine {
    dir: tempfile::TempDir,
}

impl WedgedEngine {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dev-prism-wedged-")
            .tempdir()
            .unwrap();
        let listener =
            std::os::unix::net::UnixListener::bind(dir.path().join("docker.sock")).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => held.push(s),
                    Err(_) => break,
                }
            }
        });
        WedgedEngine { dir }
    }

    /// `unix:///…/docker.sock`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }
}

impl Default for WedgedEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// Containers, networks and volumes whose compose project starts with
/// `prefix-`.
pub fn prefix_leftovers(prefix: &str) -> (usize, usize, usize) {
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

/// Removes every container, network and volume whose compose project starts
/// with `prefix-` when dropped (also projects whose containers are gone, or
/// that live outside the test's temp dir).
pub struct PrefixGuard(pub String);

impl Drop for PrefixGuard {
    fn drop(&mut self) {
        let fmt = "{{.Label \"com.docker.compose.project\"}}";
        let mut projects: Vec<String> = ["ps -a", "network ls", "volume ls"]
            .iter()
            .flat_map(|kind| {
                let mut args: Vec<&str> = kind.split(' ').collect();
                args.extend(["--format", fmt]);
                docker(&args)
                    .lines()
                    .filter(|l| l.starts_with(&format!("{}-", self.0)))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        projects.sort();
        projects.dedup();
        for p in projects {
            cleanup_project(&p);
        }
    }
}

/// The unix socket of the engine under test: the path of a `unix://`
/// `DOCKER_HOST` (scripts/test.sh points it at the second engine), else the
/// default socket.
pub fn docker_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// The major version of the engine under test (`20` for Debian bookworm's
/// 20.10, `28` for the second engine of scripts/test.sh), for expectations
/// that differ between engine generations, e.g. Engine < 27 may publish a
/// random port on IPv4 and IPv6 with different host ports.
#[allow(dead_code)]
pub fn engine_major() -> u32 {
    static MAJOR: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MAJOR.get_or_init(|| {
        let version = docker(&["version", "--format", "{{.Server.Version}}"]);
        version
            .trim()
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the engine version from {version:?}"))
    })
}
