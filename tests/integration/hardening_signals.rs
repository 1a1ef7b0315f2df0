//! Hardening (issue 9), "Hangs" and the "Stranded" defects that need a
//! signal: every command ends in bounded time (a wedged engine, a config
//! that never finishes), signals are honoured, and an interrupted git step
//! strands nothing.
//!
//! dev-prism runs in its own process group here ([`spawn_group`]), so a
//! terminal's Ctrl-C can be imitated by signalling the whole group, and a
//! hung run can be killed with everything it started.

use crate::hardening::*;
use crate::harness::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A `post-checkout` hook (real git runs it inside `git worktree add`) that
/// touches `<base>/hook-started`, sleeps `secs`, then touches
/// `<base>/hook-done`: a slow checkout to interrupt.
fn slow_post_checkout_hook(case: &Case, secs: u32) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let started = case.repo.base.join("hook-started");
    let done = case.repo.base.join("hook-done");
    let hook = case.root().join(".git/hooks/post-checkout");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ntouch {}\nsleep {secs}\ntouch {}\n",
            sh_word(started.to_str().unwrap()),
            sh_word(done.to_str().unwrap())
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (started, done)
}

/// Kills a process (by the pid its script wrote to a file) and a process
/// group when dropped: a command dev-prism should have stopped must not
/// outlive the test.
struct KillOnDrop {
    pid_file: PathBuf,
    group: u32,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            if let Ok(pid) = pid.trim().parse::<u32>() {
                signal_pid(pid, "KILL");
            }
        }
        signal_group(self.group, "KILL");
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

// --- Stranded by a signal --------------------------------------------------------

/// Defect: "branch left after Ctrl-C in `worktree add`". Ctrl-C in a
/// terminal signals the whole foreground process group, git included.
#[test]
fn ctrl_c_during_git_worktree_add_leaves_no_branch_and_no_worktree() {
    let case = Case::new("ctrlcadd", WEB, json!({}));
    let (started, _) = slow_post_checkout_hook(&case, 3);
    let child = spawn_group(
        case.repo
            .std_cmd(case.root(), &["create", "--branch", "feat/int"]),
    );
    assert!(
        wait_for_file(&started, Duration::from_secs(60)),
        "git worktree add never ran:\n{}",
        child.stderr_so_far()
    );
    signal_group(child.pid(), "INT");
    let r = child.wait_bounded(Duration::from_secs(90));
    wait_for_no_processes_under(&case.repo.base, Duration::from_secs(30));
    assert!(!r.timed_out, "{}", r.stderr);
    assert!(
        !case.repo.has_branch("feat/int"),
        "branch left:\n{}",
        r.stderr
    );
    case.assert_clean();
    assert_eq!(r.code(), Some(130), "{}", r.stderr);
}

/// Defect: "SIGKILL between `worktree add` and the override file leaves an
/// invisible worktree+branch". Whatever a killed create leaves, `prune -y`
/// finds and cleans.
#[test]
fn sigkill_after_git_worktree_add_leaves_nothing_prune_does_not_clean() {
    let case = Case::new("killadd", WEB, json!({}));
    let (started, _) = slow_post_checkout_hook(&case, 2);
    let child = spawn_group(
        case.repo
            .std_cmd(case.root(), &["create", "--branch", "feat/kill"]),
    );
    assert!(
        wait_for_file(&started, Duration::from_secs(60)),
        "git worktree add never ran:\n{}",
        child.stderr_so_far()
    );
    signal_pid(child.pid(), "KILL");
    let r = child.wait_bounded(Duration::from_secs(30));
    // git finishes on its own after dev-prism is gone
    let strays = wait_for_no_processes_under(&case.repo.base, Duration::from_secs(30));
    assert!(strays.is_empty(), "{strays:?}");
    let left = case.repo.linked_worktrees();
    let out = case.repo.cmd().args(["prune", "-y"]).output().unwrap();
    assert!(
        out.status.success(),
        "prune failed (left by the killed create: {left:?}):\n{}\n{}",
        stderr(&out),
        r.stderr
    );
    assert!(
        case.repo.linked_worktrees().is_empty(),
        "prune did not find what the killed create left ({left:?}):\n{}",
        stderr(&out)
    );
    case.assert_clean();
}

/// Defect: "Ctrl-C inside `git worktree remove` strands the directory". A
/// slow `git worktree remove` (a `git` shim sleeps before it) gets the
/// group's Ctrl-C: either git still finishes the removal, or what is left
/// stays a session that `destroy` finishes.
#[test]
fn ctrl_c_during_git_worktree_remove_strands_no_directory() {
    let case = Case::new("ctrlcremove", WEB, json!({}));
    let dir = case.create("feat/removing");
    let shim = Shim::new(&[(
        "git",
        "case \"$*\" in *'worktree remove'*) touch \"$SHIM_DIR/remove-started\"; sleep 3;; esac",
    )]);
    let mut cmd = case
        .repo
        .std_cmd(case.root(), &["destroy", dir.to_str().unwrap()]);
    cmd.env("PATH", shim.path_var());
    let child = spawn_group(cmd);
    assert!(
        wait_for_file(&shim.dir().join("remove-started"), Duration::from_secs(60)),
        "destroy never reached `git worktree remove`:\n{}",
        child.stderr_so_far()
    );
    signal_group(child.pid(), "INT");
    let r = child.wait_bounded(Duration::from_secs(60));
    wait_for_no_processes_under(&case.repo.base, Duration::from_secs(30));
    assert!(!r.timed_out, "{}", r.stderr);
    if dir.exists() {
        let out = case
            .repo
            .cmd()
            .args(["destroy", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the directory is stranded: the interrupted destroy said\n{}\nand destroy now says\n{}",
            r.stderr,
            stderr(&out)
        );
    }
    assert!(!dir.exists(), "{}", r.stderr);
    if case.repo.has_branch("feat/removing") {
        assert!(
            r.stderr.contains("feat/removing"),
            "branch `feat/removing` left without a word:\n{}",
            r.stderr
        );
        case.repo.git(&["branch", "-D", "feat/removing"]);
    }
    case.assert_clean();
    assert_eq!(r.code(), Some(130), "{}", r.stderr);
}

// --- Hangs ---------------------------------------------------------------------

/// Defect: "never-ending `.mjs` hangs create/doctor/prune". create gives up
/// after `DEV_PRISM_CONFIG_TIMEOUT` naming the file; doctor and prune never
/// evaluate it.
#[test]
fn a_never_ending_mjs_config_does_not_hang_create_doctor_or_prune() {
    let prefix = prefix_for("mjsforever");
    let config = format!(
        "await new Promise((resolve) => setTimeout(resolve, 60000));\n\
         export default {{ projectName: '{prefix}' }};\n"
    );
    let case = Case::raw(
        "mjsforever",
        &[("compose.yaml", WEB), ("session.config.mjs", &config)],
    );
    let run = |args: &[&str]| {
        let mut cmd = case.repo.std_cmd(case.root(), args);
        cmd.env("DEV_PRISM_CONFIG_TIMEOUT", "3");
        let r = run_bounded(cmd, Duration::from_secs(30));
        assert!(
            !r.timed_out,
            "`dev-prism {}` hung on the config:\n{}",
            args.join(" "),
            r.stderr
        );
        r
    };
    let r = run(&["create", "--branch", "x"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("session.config.mjs"), "{}", r.stderr);
    case.assert_clean();
    run(&["doctor"]);
    let r = run(&["prune", "-y"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    case.assert_clean();
}

/// Defect: "wedged engine hangs list/create/destroy". The engine accepts
/// connections and never answers: each command fails within its deadline
/// with one clear line.
#[test]
fn a_wedged_engine_does_not_hang_list_create_or_destroy() {
    let case = Case::new("wedged", WEB, json!({}));
    let engine = WedgedEngine::new();
    let gone = case.session_dir("w");
    for args in [
        &["list"][..],
        &["create", "--branch", "w"][..],
        &["destroy", gone.to_str().unwrap()][..],
    ] {
        let mut cmd = case.repo.std_cmd(case.root(), args);
        cmd.env("DOCKER_HOST", engine.docker_host())
            .env("DEV_PRISM_DOCKER_TIMEOUT", "3");
        let r = run_bounded(cmd, Duration::from_secs(20));
        assert!(
            !r.timed_out,
            "`dev-prism {}` hung on a wedged engine:\n{}",
            args.join(" "),
            r.stderr
        );
        assert_eq!(r.code(), Some(1), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("did not answer"),
            "{args:?}: {}",
            r.stderr
        );
    }
    case.assert_clean();
}

/// Defect: "rollback ignores SIGTERM" on a wedged engine. create fails (a
/// migration exits 3); its rollback's `compose down` meets a wedged engine
/// (a `docker` shim points it there); SIGTERM ends dev-prism, and what is
/// left stays findable.
#[test]
fn sigterm_stops_a_rollback_stuck_on_a_wedged_engine() {
    let case = Case::new("wedgedrollback", WEB_AND_FAILING_MIGRATION, json!({}));
    let engine = WedgedEngine::new();
    let shim = Shim::new(&[(
        "docker",
        &format!(
            "case \" $* \" in *' down '*) touch \"$SHIM_DIR/down-started\"; DOCKER_HOST={}; export DOCKER_HOST;; esac",
            sh_word(&engine.docker_host())
        ),
    )]);
    let mut cmd = case
        .repo
        .std_cmd(case.root(), &["create", "--branch", "rb"]);
    cmd.env("PATH", shim.path_var())
        .env("DEV_PRISM_DOCKER_TIMEOUT", "5");
    let child = spawn_group(cmd);
    assert!(
        wait_for_file(&shim.dir().join("down-started"), Duration::from_secs(120)),
        "create never rolled back:\n{}",
        child.stderr_so_far()
    );
    std::thread::sleep(Duration::from_millis(500));
    signal_pid(child.pid(), "TERM");
    let limit = child.started.elapsed() + Duration::from_secs(30);
    let r = child.wait_bounded(limit);
    assert!(
        !r.timed_out,
        "SIGTERM did not stop the rollback:\n{}",
        tail(&r.stderr)
    );
    assert_eq!(r.code(), Some(143), "{}", r.stderr);
    wait_for_no_processes_under(&case.repo.base, Duration::from_secs(30));
    let dir = case.session_dir("rb");
    if prefix_leftovers(&case.prefix).0 > 0 {
        assert!(
            r.stderr.contains("dev-prism destroy") || r.stderr.contains("dev-prism prune"),
            "says what is left and how to finish:\n{}",
            r.stderr
        );
        assert!(case.listed(&dir).is_some(), "list finds what is left");
    }
    if dir.exists() {
        case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    }
    let _ = case.repo.cmd().args(["prune", "-y"]).output().unwrap();
    case.assert_clean();
}

/// Defect: "setup ignores SIGTERM". The running setup command is stopped,
/// the next one never runs, the session is left running and the message
/// says so.
#[test]
fn sigterm_during_setup_stops_it_and_leaves_the_session_running() {
    let prefix = prefix_for("setupterm");
    let case = Case::raw("setupterm", &[("compose.yaml", WEB)]);
    let mark = |name: &str| case.repo.base.join(name);
    let q = |p: &Path| sh_word(p.to_str().unwrap());
    let config = json!({
        "projectName": prefix,
        "setup": [
            format!("touch {}; sleep 20; touch {}", q(&mark("setup-started")), q(&mark("first-done"))),
            format!("touch {}", q(&mark("second-ran"))),
        ],
    });
    case.repo.write(
        "session.config.json",
        &serde_json::to_string_pretty(&config).unwrap(),
    );
    case.repo.git(&["add", "session.config.json"]);
    case.repo.git(&["commit", "-q", "-m", "setup"]);

    let child = spawn_group(
        case.repo
            .std_cmd(case.root(), &["create", "--branch", "setup"]),
    );
    assert!(
        wait_for_file(&mark("setup-started"), Duration::from_secs(120)),
        "setup never started:\n{}",
        child.stderr_so_far()
    );
    signal_pid(child.pid(), "TERM");
    let limit = child.started.elapsed() + Duration::from_secs(15);
    let r = child.wait_bounded(limit);
    assert!(!r.timed_out, "SIGTERM did not stop setup:\n{}", r.stderr);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !mark("first-done").exists(),
        "the setup command kept running"
    );
    assert!(!mark("second-ran").exists(), "the next setup command ran");
    assert_eq!(r.code(), Some(143), "{}", r.stderr);
    assert!(r.stderr.contains("running"), "{}", r.stderr);
    let dir = case.session_dir("setup");
    case.assert_running(&dir);
    case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    case.assert_clean();
}

/// Defect: "with-env orphans its child". SIGTERM and SIGHUP are passed on to
/// CMD; dev-prism waits for it and exits with its code (128+signal when it
/// was killed), leaving nothing running.
#[test]
fn with_env_passes_sigterm_and_sighup_on_to_its_command() {
    let case = Case::new("withenvsig", WEB, json!({}));
    case.repo.ok(&["create", "--in-place"]);
    let base = case.repo.base.clone();
    let run = |tag: &str, script: &str, sig: &str| -> (Bounded, KillOnDrop) {
        let ready = base.join(format!("{tag}-ready"));
        let child = spawn_group(
            case.repo
                .std_cmd(case.root(), &["with-env", "--", "sh", "-c", script]),
        );
        let guard = KillOnDrop {
            pid_file: base.join(format!("{tag}-pid")),
            group: child.pid(),
        };
        assert!(
            wait_for_file(&ready, Duration::from_secs(30)),
            "{tag}: the command never started:\n{}",
            child.stderr_so_far()
        );
        signal_pid(child.pid(), sig);
        let limit = child.started.elapsed() + Duration::from_secs(15);
        (child.wait_bounded(limit), guard)
    };
    let q = |name: &str| sh_word(base.join(name).to_str().unwrap());

    for sig in ["TERM", "HUP"] {
        let tag = format!("trap{sig}");
        let script = format!(
            "echo $$ > {pid}; trap 'echo got > {trapped}; exit 7' TERM HUP; touch {ready}; while :; do sleep 0.1; done",
            pid = q(&format!("{tag}-pid")),
            trapped = q(&format!("{tag}-trapped")),
            ready = q(&format!("{tag}-ready")),
        );
        let (r, _guard) = run(&tag, &script, sig);
        assert!(!r.timed_out, "{sig}: {}", r.stderr);
        assert!(
            wait_for_file(&base.join(format!("{tag}-trapped")), Duration::from_secs(3)),
            "SIG{sig} was not passed on to the command (status {:?}):\n{}",
            r.status,
            r.stderr
        );
        assert_eq!(r.code(), Some(7), "SIG{sig}: {}", r.stderr);
    }

    // a command that does not catch it is ended by it: 128+15
    let script = format!(
        "echo $$ > {pid}; touch {ready}; exec sleep 30",
        pid = q("plain-pid"),
        ready = q("plain-ready"),
    );
    let (r, _guard) = run("plain", &script, "TERM");
    let pid: u32 = std::fs::read_to_string(base.join("plain-pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!alive(pid), "the command outlived dev-prism (orphaned)");
    assert_eq!(r.code(), Some(143), "{:?}: {}", r.status, r.stderr);
    case.repo.ok(&["destroy"]);
    case.assert_clean();
}
