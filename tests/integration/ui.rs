//! The terminal UI (issue 11): live progress in a real pseudo-terminal at
//! 80 columns, plain progress lines elsewhere, nothing with `-q`; a `list`
//! that fits, marks the current session and shows git state; bulk commands
//! at once; `logs -n all` without Compose's erase-line codes; `with-env`
//! usage and exit codes.

use crate::harness::*;
use crate::lifecycle::wait_timeout;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A database whose healthcheck passes after ~3 s, and a web server.
const SLOW_DB: &str = r#"
services:
  database:
    image: dev-prism-test/busybox:latest
    stop_signal: SIGKILL
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec httpd -f -p 5432 -h /www"]
    ports: ["5432"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 60
  web:
    image: dev-prism-test/busybox:latest
    stop_signal: SIGKILL
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["8080"]
"#;

/// Plain text of terminal output: escape sequences removed, split into the
/// pieces the terminal would show (on `\n` and `\r`).
fn screen_lines(raw: &str) -> Vec<String> {
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            text.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters up to a final byte in @..~
            Some('[') => {
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \
            Some(']') => {
                while let Some(f) = chars.next() {
                    if f == '\x07' || (f == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    text.split(['\n', '\r'])
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Run dev-prism `args` in `dir` inside a pseudo-terminal of 80 columns
/// (util-linux `script`); `input` is typed after a delay. Exit code and
/// everything the terminal received.
fn in_pty(dir: &Path, args: &[&str], input: Option<(Duration, &str)>) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("dev-prism");
    let words: Vec<String> = args.iter().map(|a| sh_word(a)).collect();
    let line = format!(
        "stty cols 80 rows 40; exec {} {}",
        sh_word(&bin.to_string_lossy()),
        words.join(" ")
    );
    let mut child = sealed_command("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env_remove("COLUMNS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs the pseudo-terminal tests: apt-get install util-linux");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let mut stdin = child.stdin.take().unwrap();
    let typist = input.map(|(delay, text)| {
        let text = text.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = stdin.write_all(text.as_bytes());
            stdin
        })
    });
    let status = wait_timeout(&mut child, Duration::from_secs(180));
    drop(typist.map(|t| t.join()));
    let out = reader.join().unwrap();
    (status.code().unwrap_or(-1), out)
}

/// indicatif pads each line of a frame to the terminal's width and lets
/// the terminal wrap to the next: cut every frame into 80-column rows;
/// they must be whole progress lines (a longer line would leave a row
/// that continues it before the next line), then whatever follows.
fn assert_frames_fit(lines: &[String]) {
    for frame in lines.iter().filter(|l| l.starts_with(SYMBOLS)) {
        let chars: Vec<char> = frame.chars().collect();
        let rows: Vec<String> = chars.chunks(80).map(|r| r.iter().collect()).collect();
        let progress = rows.iter().take_while(|r| r.starts_with(SYMBOLS)).count();
        assert!(
            rows[progress..].iter().all(|r| !r.contains(SYMBOLS)),
            "a progress line wider than 80 columns:\n{}",
            rows.join("\n")
        );
    }
}

/// What starts a progress line: a spinner frame, done or failed.
const SYMBOLS: &[char] = &[
    '⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏', '✓', '✗', '·',
];

fn widest(lines: &[String]) -> usize {
    lines.iter().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn live_progress_list_and_bulk_in_a_terminal_at_80_columns() {
    let repo = TestRepo::named("ptyrepo", &[("compose.yaml", SLOW_DB)]);

    // create: one updating line per service, with its state and time.
    let (code, raw) = in_pty(&repo.root, &["create", "--branch", "feat/pty"], None);
    let lines = screen_lines(&raw);
    assert_eq!(code, 0, "{raw}");
    let waiting = lines
        .iter()
        .find(|l| l.contains("database  waiting for health"))
        .unwrap_or_else(|| panic!("no waiting line:\n{}", lines.join("\n")));
    assert!(
        waiting.trim_end().ends_with('s') && waiting.contains('.'),
        "elapsed time on the line: {waiting:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("database  healthy")),
        "{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l.contains("web       running")),
        "{}",
        lines.join("\n")
    );
    assert!(raw.contains("\x1b["), "live lines are redrawn in place");
    assert_frames_fit(&lines);
    let dir = repo.base.join("ptyrepo-sessions/feat-pty");
    assert!(dir.is_dir());

    // A second session with a long branch name, made without a terminal.
    let long = "feature/a-branch-name-far-too-long-to-fit-in-eighty-columns-of-table";
    repo.ok(&["create", "--branch", long]);

    // list from inside the first session: no wider than 80, `*` on it.
    let (code, raw) = in_pty(&dir.join("."), &["list"], None);
    let lines = screen_lines(&raw);
    assert_eq!(code, 0, "{raw}");
    assert!(widest(&lines) <= 80, "{}", lines.join("\n"));
    let marked: Vec<&String> = lines.iter().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 1, "{}", lines.join("\n"));
    assert!(
        marked[0].contains("running") && marked[0].contains("feat/pty"),
        "{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("of-table") && l.contains('…') && !l.contains(long)),
        "the long branch is cut, not wrapped:\n{}",
        lines.join("\n")
    );
    // Each session is one row plus one line per extra port: 1 header + 2×2.
    assert_eq!(lines.len(), 5, "{}", lines.join("\n"));

    // Declining the prompt removes nothing and says so.
    let (code, raw) = in_pty(
        &repo.root,
        &["destroy", "--all"],
        Some((Duration::from_secs(4), "n")),
    );
    let text = screen_lines(&raw).join("\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Destroy 2 sessions?"), "{text}");
    assert!(
        text.contains("2 worktrees and 2 branches"),
        "the prompt names worktrees and branches: {text}"
    );
    assert!(text.contains("Cancelled: nothing was removed."), "{text}");
    assert_eq!(repo.list_json().len(), 2);

    // destroy --all: one result line per session, then a summary.
    let (code, raw) = in_pty(&repo.root, &["destroy", "--all", "-y"], None);
    let lines = screen_lines(&raw);
    assert_eq!(code, 0, "{raw}");
    assert_frames_fit(&lines);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("feat-pty") && l.contains("destroyed")),
        "{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l.ends_with("Destroyed 2 sessions.")),
        "{}",
        lines.join("\n")
    );
    assert!(repo.list_json().is_empty());
}

#[test]
fn plain_progress_lines_off_a_terminal_and_none_with_quiet() {
    let repo = TestRepo::named("plainrepo", &[("compose.yaml", SLOW_DB)]);
    let out = repo.ok(&["create", "--in-place", "--json"]);
    let err = stderr(&out);
    assert!(!err.contains('\x1b'), "no escape codes: {err:?}");
    // One line per change of state, with the time: the database waits,
    // then is healthy; the web server is running.
    let waiting: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("waiting for health"))
        .collect();
    assert_eq!(waiting.len(), 1, "{err}");
    assert!(
        waiting[0].starts_with("database  waiting for health  "),
        "{err}"
    );
    assert!(waiting[0].ends_with('s'), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("database  healthy  "))
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("web       running  ")),
        "{err}"
    );
    // --json on stdout is untouched: the schema-2 object.
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], 2);
    assert_eq!(json["is_current"], true);

    // -q: not a byte on stderr, whatever happens.
    for args in [&["-q", "stop"][..], &["-q", "start"], &["stop", "--quiet"]] {
        let out = repo.ok(args);
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    let out = repo.ok(&["start"]);
    let err = stderr(&out);
    assert!(err.lines().any(|l| l.starts_with("database  ")), "{err}");
    let out = repo.ok(&["-q", "destroy"]);
    assert_eq!(stderr(&out), "");
}

/// A service that publishes a range of three ports, and a web server.
const RANGE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    stop_signal: SIGKILL
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["8080"]
  stack:
    image: dev-prism-test/busybox:latest
    stop_signal: SIGKILL
    command: ["sleep", "3600"]
    ports: ["4510-4512:4510-4512"]
"#;

#[test]
fn list_shows_git_state_ranges_and_the_current_session() {
    let repo = TestRepo::new(RANGE);
    let dir = repo.create_branch("feat/git");
    // One commit on the branch and one untracked file.
    std::fs::write(dir.join("done.txt"), "x").unwrap();
    git_in(&dir, &["add", "done.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "work"]);
    std::fs::write(dir.join("notes.txt"), "y").unwrap();

    // JSON: still an array (scripts index it), each object with schema 2.
    let json = repo.list_json();
    assert_eq!(json.len(), 1);
    let s = &json[0];
    assert_eq!(s["schema"], 2);
    assert_eq!(s["is_current"], false, "listed from the main checkout");
    assert_eq!(s["git"]["uncommitted"], 1, "{s}");
    assert_eq!(s["git"]["ahead"], 1, "{s}");
    assert!(s["git"]["upstream"].is_null());
    assert!(s["git"]["base"].as_str().unwrap().len() >= 40);
    let ports = s["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 4, "every port of the range is in the JSON");
    let web = ports.iter().find(|p| p["service"] == "web").unwrap();
    assert!(web["address"].as_str().unwrap().starts_with("http://"));
    let stack = ports.iter().find(|p| p["service"] == "stack").unwrap();
    assert!(
        !stack["address"].as_str().unwrap().contains("://"),
        "an unknown port gets no scheme: {stack}"
    );
    assert!(
        stack["url"].as_str().unwrap().starts_with("http://"),
        "url keeps its first-release meaning"
    );
    let inside = repo.cmd_in(&dir).args(["list", "--json"]).output().unwrap();
    let inside: Value = serde_json::from_slice(&inside.stdout).unwrap();
    assert_eq!(inside[0]["is_current"], true);

    // The table: the range on one line, the git state in words.
    let out = repo.ok_in(&dir, &["list"]);
    let table = stdout(&out);
    let range: Vec<&str> = table.lines().filter(|l| l.contains("stack ")).collect();
    assert_eq!(range.len(), 1, "{table}");
    assert!(range[0].contains("(4510-4512)"), "{table}");
    assert!(table.contains("1 changed ↑1"), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with('*'), "{table}");
    // COLUMNS is honoured without a terminal; nothing is wrapped.
    let narrow = repo
        .cmd_in(&dir)
        .arg("list")
        .env("COLUMNS", "60")
        .output()
        .unwrap();
    let narrow = stdout(&narrow);
    for l in narrow.lines() {
        assert!(l.chars().count() <= 60, "{l:?}\n{narrow}");
    }
    assert_eq!(narrow.lines().count(), table.lines().count(), "{narrow}");
    repo.ok(&["destroy", "--force", &dir.to_string_lossy()]);
}

/// A service that prints 60 numbered lines and keeps running.
const CHATTY: &str = r#"
services:
  talk:
    image: dev-prism-test/busybox:latest
    stop_signal: SIGKILL
    command: ["sh", "-c", "i=1; while [ $$i -le 60 ]; do echo line $$i; i=$$((i+1)); done; exec sleep 3600"]
"#;

#[test]
fn logs_all_lines_clean_and_with_env_usage() {
    // Without a session: `with-env` without `--` is a usage error that
    // says where the command goes.
    let repo = TestRepo::named("logsrepo", &[("compose.yaml", CHATTY)]);
    let out = repo
        .cmd()
        .args(["with-env", "npm", "test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("goes after `--`") && err.contains("`dev-prism with-env -- npm test`"),
        "{err}"
    );

    repo.ok(&["create", "--in-place"]);
    // -n all: every line; into a pipe, without ESC[2K.
    let start = Instant::now();
    let all = loop {
        let out = repo.ok(&["logs", "-n", "all", "--no-follow"]);
        let text = stdout(&out);
        if text.contains("line 60") || start.elapsed() > Duration::from_secs(20) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!all.contains('\x1b'), "{all:?}");
    assert_eq!(
        all.lines().filter(|l| l.contains("| line ")).count(),
        60,
        "{all}"
    );
    let some = stdout(&repo.ok(&["logs", "--no-follow"]));
    assert_eq!(some.lines().count(), 50, "default -n 50: {some}");
    let bad = repo.cmd().args(["logs", "-n", "lots"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("not a number of lines or `all`"));

    // with-env on a file that is not executable: 126, like a shell.
    repo.write("script.sh", "#!/bin/sh\necho hi\n");
    let out = repo
        .cmd()
        .args(["with-env", "--", "./script.sh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    repo.ok(&["destroy"]);
}

/// A web server that ignores SIGTERM (busybox httpd as PID 1): every stop
/// waits out its grace period unless told otherwise.
const STUBBORN: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 4s
    ports: ["8080"]
"#;

/// `[start, end]` of every `docker compose … down` call in the shim's log.
fn down_intervals(log: &Path) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut open = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let (pid, what, t) = (w[0], w[1], w[2].parse::<f64>().unwrap());
        match what {
            "start" => {
                open.insert(pid.to_string(), t);
            }
            _ => {
                if let Some(s) = open.remove(pid) {
                    out.push((s, t));
                }
            }
        }
    }
    out
}

#[test]
fn bulk_commands_work_on_sessions_at_once_and_report_each() {
    let repo = TestRepo::named("bulkrepo", &[("compose.yaml", STUBBORN)]);
    let dirs: Vec<_> = ["b1", "b2", "b3"]
        .iter()
        .map(|b| repo.base.join("bulkrepo-sessions").join(b))
        .collect();
    let children = ["b1", "b2", "b3"]
        .iter()
        .map(|b| repo.spawn_in(&repo.root, &["create", "--branch", b]))
        .collect();
    wait_ok(children);

    // stop --timeout 0: no grace period (4 s otherwise).
    let t = Instant::now();
    repo.ok_in(&dirs[0], &["stop", "--timeout", "0"]);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    repo.ok_in(&dirs[0], &["start"]);

    // stop-all: one result line per session and a summary.
    let out = repo.ok(&["stop-all", "-t", "0"]);
    let err = stderr(&out);
    for b in ["b1", "b2", "b3"] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bulkrepo-sessions/{b}")) && l.contains("stopped")),
            "{err}"
        );
    }
    assert!(err.contains("Stopped 3 sessions."), "{err}");
    assert!(repo.list_json().iter().all(|s| s["status"] == "stopped"));

    // destroy --all: refuses the session with work in it, destroys the
    // others side by side (their `compose down` calls overlap), exits 1.
    std::fs::write(dirs[2].join("wip.txt"), "unsaved").unwrap();
    for d in &dirs[..2] {
        repo.ok_in(d, &["start"]);
    }
    let shim = Shim::docker(
        "case \"$*\" in *' down '*) echo \"$$ start $(date +%s.%N)\" >> \"$SHIM_LOG\"; \"$REAL_DOCKER\" \"$@\"; rc=$?; echo \"$$ end $(date +%s.%N)\" >> \"$SHIM_LOG\"; exit $rc;; esac",
    );
    let log = shim.dir().join("calls.log");
    let real = String::from_utf8_lossy(
        &std::process::Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    let out = repo
        .cmd()
        .args(["destroy", "--all", "-y", "--timeout", "3"])
        .env("PATH", shim.path_var())
        .env("SHIM_LOG", &log)
        .env("REAL_DOCKER", &real)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Destroyed 2 of 3 sessions; 1 refused."),
        "{err}"
    );
    assert!(err.contains("1 of 3 sessions not destroyed"), "{err}");
    assert!(err.contains("wip.txt"), "the refusal names the file: {err}");
    for b in ["b1", "b2"] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("bulkrepo-sessions/{b}")) && l.contains("destroyed")),
            "{err}"
        );
    }
    assert!(!dirs[0].exists() && !dirs[1].exists() && dirs[2].exists());
    let downs = down_intervals(&log);
    assert!(downs.len() >= 2, "{downs:?}");
    let overlap = downs
        .iter()
        .any(|a| downs.iter().any(|b| a != b && a.0 < b.1 && b.0 < a.1));
    assert!(overlap, "the two destroys ran at the same time: {downs:?}");
    // Each waited for its stubborn container (--timeout 3 reached compose).
    assert!(
        downs.iter().all(|(s, e)| e - s >= 2.5),
        "stop timeout passed on: {downs:?}"
    );
    let json = repo.list_json();
    assert_eq!(json.len(), 1);
    repo.ok(&["destroy", "--force", "-t", "0", &dirs[2].to_string_lossy()]);
}
