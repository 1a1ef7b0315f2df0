//! Exit codes on signals (issue 11): 130 on Ctrl-C (SIGINT), 143 on
//! SIGTERM, for each command family that can be caught in the middle of
//! its work: start/stop, logs, list/destroy (create: `reliability.rs`).

use crate::harness::*;
use crate::lifecycle::{send_signal, wait_timeout};
use std::path::Path;
use std::time::{Duration, Instant};

/// Healthy while /tmp/block is absent; busybox httpd as PID 1 ignores
/// SIGTERM, so a stop waits its grace period (10 s by default).
const BLOCKABLE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["8080"]
    healthcheck:
      test: ["CMD", "sh", "-c", "test ! -f /tmp/block"]
      interval: 1s
      start_period: 120s
"#;

/// dev-prism `args` in `dir`, signalled with `sig` once `ready` says it
/// is in the middle of its work; its exit status code and stderr.
fn signalled(
    dir: &Path,
    args: &[&str],
    sig: &str,
    env: &[(&str, &std::ffi::OsStr)],
    ready: impl Fn() -> bool,
) -> (Option<i32>, String) {
    let mut cmd = sealed_command(assert_cmd::cargo::cargo_bin("dev-prism"));
    cmd.current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "dev-prism {args:?} ended before it could be signalled"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    send_signal(child.id(), sig);
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().unwrap();
    (status.code(), stderr(&out))
}

/// The state of the session's web container.
fn web_state(repo: &TestRepo) -> (String, Option<String>) {
    let json = repo.list_json();
    let c = &json[0]["containers"][0];
    (
        c["state"].as_str().unwrap_or("").to_string(),
        c["health"].as_str().map(str::to_string),
    )
}

#[test]
fn start_and_stop_exit_130_and_143() {
    let repo = TestRepo::named("sigstart", &[("compose.yaml", BLOCKABLE)]);
    repo.ok(&["create", "--in-place"]);
    // Block the healthcheck: after a restart the service stays "starting".
    let project = repo.list_json()[0]["project_name"]
        .as_str()
        .unwrap()
        .to_string();
    docker(&["exec", &format!("{project}-web-1"), "touch", "/tmp/block"]);
    repo.ok(&["stop", "-t", "0"]);

    // start waits for health: Ctrl-C there is 130.
    let (code, err) = signalled(&repo.root, &["start"], "INT", &[], || {
        web_state(&repo) == ("running".into(), Some("starting".into()))
    });
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");

    // stop waits out the grace period of a server that ignores SIGTERM:
    // SIGTERM there is 143.
    let (code, err) = signalled(&repo.root, &["stop"], "TERM", &[], || {
        std::thread::sleep(Duration::from_millis(1500));
        true
    });
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    repo.ok(&["destroy", "-t", "0"]);
}

#[test]
fn logs_exit_130_and_143() {
    let repo = TestRepo::named("siglogs", &[("compose.yaml", WEB_SERVICE)]);
    repo.ok(&["create", "--in-place"]);
    for (sig, want) in [("INT", 130), ("TERM", 143)] {
        let t = Instant::now();
        let (code, err) = signalled(&repo.root, &["logs"], sig, &[], || {
            t.elapsed() > Duration::from_millis(1500)
        });
        assert_eq!(code, Some(want), "{sig}: {err}");
    }
    assert_eq!(
        repo.list_json()[0]["status"],
        "running",
        "services keep running"
    );
    repo.ok(&["destroy", "-t", "0"]);
}

#[test]
fn list_and_destroy_exit_130_and_143() {
    let repo = TestRepo::named("siglist", &[("compose.yaml", WEB_SERVICE)]);
    repo.ok(&["create", "--in-place"]);
    // An engine slow to answer `docker ps`: list is waiting on it.
    let shim = Shim::docker("case \"$1\" in ps) touch \"$SHIM_DIR/asked\"; sleep 10;; esac");
    let asked = shim.dir().join("asked");
    let env = [
        ("PATH", shim.path_var()),
        ("SHIM_DIR", shim.dir().as_os_str().to_owned()),
    ];
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    for (sig, want) in [("INT", 130), ("TERM", 143)] {
        let _ = std::fs::remove_file(&asked);
        let (code, err) = signalled(&repo.root, &["list"], sig, &env, || asked.exists());
        assert_eq!(code, Some(want), "{sig}: {err}");
        assert_eq!(
            err.trim(),
            format!(
                "error: interrupted ({})",
                if sig == "INT" { "Ctrl-C" } else { "SIGTERM" }
            )
        );
    }
    // destroy waits for a server that ignores SIGTERM (5 s): SIGTERM then
    // is 143, and the session is still there to destroy.
    let (code, err) = signalled(&repo.root, &["destroy"], "TERM", &[], || {
        std::thread::sleep(Duration::from_millis(1500));
        true
    });
    assert_eq!(code, Some(143), "{err}");
    assert!(!repo.list_json().is_empty(), "still findable: {err}");
    repo.ok(&["destroy", "-t", "0"]);
    assert!(repo.list_json().is_empty());
}
