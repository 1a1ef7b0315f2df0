//! Integration tests: perf (issue 6). Not timed: discovery must start the
//! same, small number of docker processes however many sessions exist.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const COMPOSE: &str = WEB_SERVICE;

/// A directory holding a `docker` shim that logs one line per call to
/// `calls.log` and then execs the real docker (absolute path baked in).
/// Only top-level calls made by dev-prism are counted: the docker CLI runs
/// its plugins (compose) by absolute path, not through PATH.
struct DockerShim {
    dir: tempfile::TempDir,
}

impl DockerShim {
    fn new() -> Self {
        let out = std::process::Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap();
        let real = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && Path::new(&real).is_absolute(),
            "cannot find the real docker on PATH: {real:?}"
        );
        let dir = tempfile::Builder::new()
            .prefix("dev-prism-shim-")
            .tempdir()
            .unwrap();
        let shim = DockerShim { dir };
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
            sh_quote(&shim.log().display().to_string()),
            sh_quote(&real)
        );
        let path = shim.dir.path().join("docker");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        shim
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    /// PATH with the shim first.
    fn path_var(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap()
    }

    /// Run dev-prism `args` in `dir` with the shim on PATH (must succeed);
    /// returns its stdout and the docker command lines it started.
    fn run(&self, repo: &TestRepo, dir: &Path, args: &[&str]) -> (String, Vec<String>) {
        let _ = std::fs::remove_file(self.log());
        let out = repo
            .cmd_in(dir)
            .env("PATH", self.path_var())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dev-prism {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        let calls = std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        (stdout(&out), calls)
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The docker calls of `list --json -g` and `info --json` in `first`'s
/// session; also checks that `list` shows every session of `repos`.
fn discovery_calls(
    shim: &DockerShim,
    first: &TestRepo,
    repos: &[&TestRepo],
) -> (Vec<String>, Vec<String>) {
    let (out, list) = shim.run(first, &first.root, &["list", "--json", "-g"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    for repo in repos {
        assert!(
            listed
                .iter()
                .any(|s| s["working_dir"].as_str() == Some(repo.root.to_str().unwrap())),
            "session {} missing from list -g",
            repo.root.display()
        );
    }
    let (out, info) = shim.run(first, &first.root, &["info", "--json"]);
    let info_json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        info_json["working_dir"].as_str(),
        first.root.to_str(),
        "{out}"
    );
    (list, info)
}

#[test]
fn list_and_info_start_a_constant_number_of_docker_processes() {
    let shim = DockerShim::new();
    let first = TestRepo::new(COMPOSE);
    first.ok(&["create", "--in-place"]);

    let (list1, info1) = discovery_calls(&shim, &first, &[&first]);
    assert_eq!(
        list1.len(),
        2,
        "list should run one `docker ps` and one `docker container inspect`: {list1:#?}"
    );
    assert!(list1[0].starts_with("ps "), "{list1:#?}");
    assert!(list1[1].starts_with("container inspect "), "{list1:#?}");
    assert!(
        !info1.is_empty() && info1.len() <= 2,
        "info should run at most 2 docker commands: {info1:#?}"
    );

    // Two more sessions, each in its own repository, created concurrently.
    let others = [TestRepo::new(COMPOSE), TestRepo::new(COMPOSE)];
    let children: Vec<_> = others
        .iter()
        .map(|r| r.spawn_in(&r.root, &["create", "--in-place"]))
        .collect();
    wait_ok(children);

    let (list3, info3) = discovery_calls(&shim, &first, &[&first, &others[0], &others[1]]);
    assert_eq!(
        list3.len(),
        list1.len(),
        "list: docker calls grew with the number of sessions:\n1 session: {list1:#?}\n3 sessions: {list3:#?}"
    );
    assert_eq!(
        info3.len(),
        info1.len(),
        "info: docker calls grew with the number of sessions:\n1 session: {info1:#?}\n3 sessions: {info3:#?}"
    );
    // One batched inspect naming at least the three sessions' containers.
    assert!(
        list3[1].split_whitespace().count() >= 2 + 3,
        "inspect is not batched: {list3:#?}"
    );
}
