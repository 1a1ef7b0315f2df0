//! Hardening (issue 9): the shared fixture of the hardening tests, and the
//! defects of the "Messages" group plus "no repository code outside create
//! and start". The other groups live in `hardening_safety` (data loss,
//! security, stranded state), `hardening_signals` (hangs and signals) and
//! `hardening_soak`.
//!
//! Each test names the defect it covers and asserts what the design contract
//! (notes/hardening-design.md) promises a user; messages are matched on short
//! fragments only.

use crate::harness::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One web server on a random host port with a named volume; stops within a
/// second (busybox httpd ignores SIGTERM).
pub const WEB: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    ports:
      - "8080"
    volumes:
      - data:/data
volumes:
  data:
"#;

/// [`WEB`] plus a one-shot migration that fails: `create` starts the stack,
/// sees the failure and rolls back.
pub const WEB_AND_FAILING_MIGRATION: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    ports:
      - "8080"
    volumes:
      - data:/data
  migrate:
    image: dev-prism-test/busybox:latest
    command: ["sh", "-c", "echo migration boom; exit 3"]
volumes:
  data:
"#;

/// A compose project prefix unique to this test run (`projectName`), so
/// what a test leaves in Docker can be counted even when its containers are
/// gone.
pub fn prefix_for(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}

/// A test repository whose sessions all carry the project prefix
/// `prefix_for(tag)`; everything of that prefix is removed from Docker when
/// it is dropped, even when the test fails.
pub struct Case {
    pub repo: TestRepo,
    pub prefix: String,
    _guard: PrefixGuard,
}

impl Case {
    /// A repo `<tag>` with `compose.yaml` and a `session.config.json` made of
    /// `config` plus `projectName`.
    pub fn new(tag: &str, compose: &str, config: serde_json::Value) -> Case {
        Self::with_files(tag, compose, config, &[])
    }

    /// [`Case::new`] with more committed files.
    pub fn with_files(
        tag: &str,
        compose: &str,
        mut config: serde_json::Value,
        files: &[(&str, &str)],
    ) -> Case {
        let prefix = prefix_for(tag);
        config["projectName"] = json!(prefix);
        let config = serde_json::to_string_pretty(&config).unwrap();
        let mut all = vec![("compose.yaml", compose), ("session.config.json", &config)];
        all.extend_from_slice(files);
        Self::raw(tag, &all)
    }

    /// A repo `<tag>` with exactly these files committed (the caller sets
    /// `projectName` to `prefix_for(tag)` in its config).
    pub fn raw(tag: &str, files: &[(&str, &str)]) -> Case {
        let prefix = prefix_for(tag);
        Case {
            repo: TestRepo::named(tag, files),
            _guard: PrefixGuard(prefix.clone()),
            prefix,
        }
    }

    pub fn root(&self) -> &Path {
        &self.repo.root
    }

    /// `<base>/<prefix>-sessions`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.repo.base.join(format!("{}-sessions", self.prefix))
    }

    /// The worktree directory of a session branch.
    pub fn session_dir(&self, branch: &str) -> PathBuf {
        self.sessions_dir().join(branch.replace('/', "-"))
    }

    /// `create --branch BRANCH` (must succeed); the session directory.
    pub fn create(&self, branch: &str) -> PathBuf {
        self.repo.ok(&["create", "--branch", branch]);
        let dir = self.session_dir(branch);
        assert!(dir.is_dir(), "{}", dir.display());
        dir
    }

    /// The `list --json` entry of the session in `dir`.
    pub fn listed(&self, dir: &Path) -> Option<serde_json::Value> {
        self.repo
            .list_json()
            .into_iter()
            .find(|s| s["working_dir"] == dir.to_str().unwrap())
    }

    /// The session in `dir` is listed with all its containers running.
    pub fn assert_running(&self, dir: &Path) {
        let s = self.listed(dir);
        assert_eq!(
            s.as_ref().map(|s| s["status"].clone()),
            Some(json!("running")),
            "the session in {} should still be running: {s:?}",
            dir.display()
        );
    }

    /// Nothing of this test's sessions is left: no container, network or
    /// volume of its prefix, no linked worktree, no branch but `main`, an
    /// empty (or no) sessions directory.
    pub fn assert_clean(&self) {
        assert_eq!(
            prefix_leftovers(&self.prefix),
            (0, 0, 0),
            "containers, networks, volumes of {} left",
            self.prefix
        );
        let worktrees = self.repo.linked_worktrees();
        assert!(worktrees.is_empty(), "worktrees left: {worktrees:?}");
        assert_eq!(self.repo.branches(), vec!["main".to_string()]);
        let left: Vec<PathBuf> = std::fs::read_dir(self.sessions_dir())
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in the sessions dir: {left:?}");
    }

    /// dev-prism `args` in the repo root with `PATH` set to `path`.
    pub fn run_with_path(&self, path: &std::ffi::OsStr, args: &[&str]) -> std::process::Output {
        self.repo
            .cmd()
            .env("PATH", path)
            .args(args)
            .output()
            .unwrap()
    }
}

/// The `error:` lines of a stderr.
fn error_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("error:")).collect()
}

// --- Messages -------------------------------------------------------------

/// Defect: "a vanished session dir reads as 'could not start `git`'". The
/// session directory disappears while `destroy` runs (here: during
/// `compose down`, as another process deletes it).
#[test]
fn a_session_dir_that_vanishes_during_destroy_is_not_could_not_start_git() {
    let case = Case::new("vanish", WEB, json!({}));
    let dir = case.create("gone");
    let shim = Shim::new(&[(
        "docker",
        &format!(
            "case \" $* \" in *' down '*) rm -rf {};; esac",
            sh_word(dir.to_str().unwrap())
        ),
    )]);
    let out = case.run_with_path(&shim.path_var(), &["destroy", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!err.contains("could not start"), "{err}");
    if !out.status.success() {
        assert!(err.contains("does not exist"), "{err}");
    }
    // What is left stays findable: prune finishes it.
    let _ = case.repo.cmd().args(["prune", "-y"]).output().unwrap();
    case.assert_clean();
}

/// Defect: two `destroy` of one session race; the loser runs git in the
/// directory the winner just removed ("could not start `git`").
#[test]
fn two_destroys_of_one_session_both_end_clean() {
    let case = Case::new("twodestroy", WEB, json!({}));
    let dir = case.create("twice");
    // A slow `down`, so both are past their lookup before either removes.
    let shim = Shim::new(&[("docker", "case \" $* \" in *' down '*) sleep 2;; esac")]);
    let children: Vec<GroupChild> = (0..2)
        .map(|_| {
            let mut cmd = case
                .repo
                .std_cmd(case.root(), &["destroy", dir.to_str().unwrap()]);
            cmd.env("PATH", shim.path_var());
            spawn_group(cmd)
        })
        .collect();
    let results: Vec<Bounded> = children
        .into_iter()
        .map(|c| c.wait_bounded(Duration::from_secs(120)))
        .collect();
    for r in &results {
        assert!(!r.timed_out, "destroy hung:\n{}", r.stderr);
        assert!(!r.stderr.contains("could not start"), "{}", r.stderr);
        assert_eq!(r.code(), Some(0), "{}", r.stderr);
    }
    assert!(
        results
            .iter()
            .any(|r| r.stderr.contains("already destroyed")),
        "the loser says the session was already destroyed:\n{}\n---\n{}",
        results[0].stderr,
        results[1].stderr
    );
    case.assert_clean();
}

/// Defect: "`.mjs` that logs or never resolves reads as a JSON syntax
/// error".
#[test]
fn an_mjs_config_that_logs_or_never_resolves_is_not_a_json_error() {
    let prefix = prefix_for("mjslog");
    let logs = format!(
        "console.log('hello from the config');\nexport default {{ projectName: '{prefix}' }};\n"
    );
    let case = Case::raw(
        "mjslog",
        &[("compose.yaml", WEB), ("session.config.mjs", &logs)],
    );
    let out = case
        .repo
        .cmd()
        .args(["create", "--in-place"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "a config that logs still loads:\n{err}"
    );
    let project = case.repo.list_json()[0]["project_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(project.starts_with(&prefix), "{project}");
    case.repo.ok(&["destroy"]);

    // A top-level await that never settles: node exits with nothing printed.
    case.repo.write(
        "session.config.mjs",
        &format!("await new Promise(() => {{}});\nexport default {{ projectName: '{prefix}' }};\n"),
    );
    let r = run_bounded(
        case.repo.std_cmd(case.root(), &["create", "--in-place"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("did not produce a config"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("JSON"), "{}", r.stderr);
    assert_eq!(prefix_leftovers(&prefix), (0, 0, 0));
}

/// Defect: "a thrown `.mjs` error dumps the whole `node -e` script".
#[test]
fn a_throwing_mjs_config_is_one_line_without_the_node_script() {
    let case = Case::raw(
        "mjsthrow",
        &[
            ("compose.yaml", WEB),
            (
                "session.config.mjs",
                "throw new Error('config boom');\nexport default {};\n",
            ),
        ],
    );
    let r = run_bounded(
        case.repo.std_cmd(case.root(), &["create", "--branch", "x"]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    let errors = error_lines(&r.stderr);
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(errors[0].contains("config boom"), "{}", r.stderr);
    for script in ["pathToFileURL", "node -e", "import("] {
        assert!(!r.stderr.contains(script), "{}", r.stderr);
    }
    case.assert_clean();
}

/// Defect: "a bare repo / inside `.git` says 'not in a git repository'".
#[test]
fn a_bare_repository_or_the_git_dir_is_named_as_such() {
    let case = Case::new("bare", WEB, json!({}));
    let bare = case.repo.base.join("bare.git");
    git_in(
        &case.repo.base,
        &[
            "clone",
            "-q",
            "--bare",
            case.root().to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let git_dir = case.root().join(".git");
    for (dir, expect) in [(&bare, "bare"), (&git_dir, ".git")] {
        for args in [&["create"][..], &["prune", "-y"][..]] {
            let out = case.repo.cmd_in(dir).args(args).output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?} in {dir:?}: {err}");
            assert!(
                !err.contains("not in a git repository"),
                "{args:?} in {dir:?}: {err}"
            );
            assert!(
                err.to_lowercase().contains(expect),
                "{args:?} in {dir:?}: expected `{expect}` in: {err}"
            );
        }
    }
    case.assert_clean();
}

/// Defect: "a too-long branch name is retried as a lock collision for 13 s".
#[test]
fn a_too_long_branch_name_fails_at_once() {
    let case = Case::new("longbranch", WEB, json!({}));
    let branch = "x".repeat(300);
    let r = run_bounded(
        case.repo
            .std_cmd(case.root(), &["create", "--branch", &branch]),
        Duration::from_secs(60),
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("File name too long"), "{}", r.stderr);
    assert!(
        r.elapsed < Duration::from_secs(8),
        "took {:?}: retried as a lock collision?",
        r.elapsed
    );
    case.assert_clean();
}

/// Defect: "engine lost during `up` shows compose's first progress line
/// instead of the error". The engine goes away after Compose made the
/// network (a `docker` shim plays Compose's output for `up`).
#[test]
fn engine_lost_during_up_shows_the_engine_error() {
    let case = Case::new("enginelost", WEB, json!({}));
    let shim = Shim::new(&[(
        "docker",
        "case \" $* \" in *' up '*)\n\
         printf ' Network x_default  Creating\\n Network x_default  Created\\n Container x-web-1  Creating\\n' >&2\n\
         echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\n\
         exit 1;;\nesac",
    )]);
    let out = case.run_with_path(&shim.path_var(), &["create", "--branch", "lost"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors = error_lines(&err).join("\n");
    assert!(
        errors.contains("Cannot connect to the Docker daemon"),
        "the error names the engine error:\n{err}"
    );
    assert!(
        !errors.contains("Creating"),
        "not compose's progress line:\n{err}"
    );
    case.assert_clean();
}

/// Defect: "`-C FILE` is accepted".
#[test]
fn dash_c_with_a_file_is_refused() {
    let case = Case::new("dashc", WEB, json!({}));
    for args in [
        &["-C", "compose.yaml", "list"][..],
        &["-C", "compose.yaml", "create"][..],
    ] {
        let out = case.repo.cmd().args(args).output().unwrap();
        let err = stderr(&out);
        assert!(
            matches!(out.status.code(), Some(1) | Some(2)),
            "{args:?}: {err}"
        );
        assert!(err.contains("is not a directory"), "{args:?}: {err}");
    }
    case.assert_clean();
}

/// Defect: "the kept-branch hint prints `git branch -D <name>` unquoted".
#[test]
fn the_kept_branch_hint_quotes_the_branch() {
    let case = Case::new("hint", WEB, json!({}));
    let branch = "feat/$x";
    let dir = case.create(branch);
    std::fs::write(dir.join("work.txt"), "work").unwrap();
    git_in(&dir, &["add", "work.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "work"]);
    let out = case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("git branch -D 'feat/$x'"), "{err}");
    assert!(case.repo.has_branch(branch), "the branch is kept");
    case.repo.git(&["branch", "-D", "--", branch]);
    case.assert_clean();
}

// --- No repository code outside create and start -----------------------------

/// Issue 9: "No repository code outside create and start". A
/// `session.config.mjs` with a side effect: `doctor`, `prune`, `destroy`,
/// `stop`, `stop-all`, `list`, `info` and `env` never evaluate it (what they
/// need was recorded at create time).
#[test]
fn no_repository_code_runs_outside_create_and_start() {
    let prefix = prefix_for("norepocode");
    let case = Case::raw("norepocode", &[("compose.yaml", WEB)]);
    let log = case.repo.base.join("evaluations.log");
    let config = format!(
        "import {{ appendFileSync }} from 'node:fs';\n\
         appendFileSync({log:?}, 'evaluated\\n');\n\
         export default {{\n\
           projectName: '{prefix}',\n\
           appEnv: {{ 'apps/web': {{ API_URL: 'http://localhost:${{WEB_PORT}}' }} }},\n\
         }};\n",
        log = log.to_str().unwrap()
    );
    case.repo.write("session.config.mjs", &config);
    case.repo.git(&["add", "session.config.mjs"]);
    case.repo.git(&["commit", "-q", "-m", "mjs config"]);

    let a = case.create("a");
    let b = case.create("b");
    assert!(a.join("apps/web/.env.session").is_file(), "appEnv written");
    let count = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let after_create = count();
    assert!(after_create >= 2, "create evaluates the config");
    let (a_str, b_str) = (a.to_str().unwrap(), b.to_str().unwrap());
    for args in [
        &["list"][..],
        &["list", "--json"][..],
        &["info", a_str][..],
        &["env", a_str][..],
        &["doctor"][..],
        &["stop", a_str][..],
        &["stop-all"][..],
        &["destroy", b_str][..],
        &["prune", "-y"][..],
    ] {
        let out = case.repo.cmd().args(args).output().unwrap();
        assert_eq!(
            count(),
            after_create,
            "`dev-prism {}` evaluated session.config.mjs:\n{}",
            args.join(" "),
            stderr(&out)
        );
        if args[0] != "doctor" {
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        }
        if args[0] == "stop" {
            assert!(
                !a.join("apps/web/.env.session").exists(),
                "stop removes the appEnv file (its ports are gone)"
            );
        }
    }
    case.assert_clean();
}
