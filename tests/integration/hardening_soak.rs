//! Hardening (issue 9): a short soak. Concurrent `create`, `destroy`,
//! `prune -y`, `stop` and `start` on one repository, some of them
//! interrupted (Ctrl-C to their process group) or killed (SIGKILL); then one
//! `prune -y` and one `destroy --all -y --force` must leave nothing: no
//! worktree, no branch but the user's, no container, network, volume or
//! lock file, and no user commit lost.
//!
//! Duration: `DEV_PRISM_SOAK_SECS` (default 35); `scripts/soak.sh` runs it
//! longer.

use crate::hardening::*;
use crate::harness::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEFAULT_SECS: u64 = 35;
const WORKERS: usize = 3;
const MAX_SESSIONS: usize = 6;

/// xorshift64*: enough randomness for picking operations, no crate needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What happened to the operations, by `op outcome`.
type Tally = Arc<Mutex<BTreeMap<String, usize>>>;

fn session_dirs(sessions: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(sessions)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Every `*.lock` file below `dir`, relative to it.
fn files_named_lock(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "lock") {
                found.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
            }
        }
    }
    found
}

#[test]
fn soak_concurrent_commands_and_kills_leave_nothing_behind() {
    let secs = std::env::var("DEV_PRISM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let case = Case::new("soak", WEB, json!({}));
    let locks = case.repo.lock_dir();
    // The soak's own temp dir too: no lock file may be left there either.
    let tmp = case.repo.base.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let sessions = case.sessions_dir();
    let cmd = |args: &[&str]| {
        let mut c = case.repo.std_cmd(case.root(), args);
        c.env("DEV_PRISM_LOCK_DIR", &locks).env("TMPDIR", &tmp);
        c
    };

    // A user commit on a session branch, merged into another branch first.
    let out = cmd(&["create", "--branch", "soak-keep"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let keep = case.session_dir("soak-keep");
    std::fs::write(keep.join("work.txt"), "user work\n").unwrap();
    git_in(&keep, &["add", "work.txt"]);
    git_in(&keep, &["commit", "-q", "-m", "user work"]);
    case.repo.git(&["branch", "keep-copy", "soak-keep"]);
    let kept_commit = case.repo.git(&["rev-parse", "keep-copy"]);
    let main_head = case.repo.git(&["rev-parse", "main"]);

    let tally: Tally = Arc::new(Mutex::new(BTreeMap::new()));
    let hung: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    // Commands that Ctrl-C ended without catching it (SPEC: every command
    // catches SIGINT and exits 130).
    let died_of_sigint: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("soak: {secs}s, {WORKERS} workers, seed {seed}");
    std::thread::scope(|scope| {
        for w in 0..WORKERS {
            let (tally, hung, died, sessions, cmd) = (
                tally.clone(),
                hung.clone(),
                died_of_sigint.clone(),
                &sessions,
                &cmd,
            );
            scope.spawn(move || {
                let mut rng = Rng::new(seed.wrapping_add(w as u64 * 0x9e37_79b9));
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    let dirs = session_dirs(sessions);
                    let pick = |rng: &mut Rng| {
                        dirs[rng.below(dirs.len() as u64) as usize]
                            .to_string_lossy()
                            .into_owned()
                    };
                    // Keep a handful of sessions alive: the point is the
                    // races, and the final cleanup stays short.
                    let choice = match dirs.len() {
                        0 => 0,
                        n if n >= MAX_SESSIONS => 4 + rng.below(6),
                        _ => rng.below(10),
                    };
                    let args: Vec<String> = match choice {
                        0..=3 => vec!["create".into(), "--branch".into(), format!("soak-{w}-{n}")],
                        4 | 5 => vec!["destroy".into(), pick(&mut rng)],
                        6 => vec!["prune".into(), "-y".into()],
                        7 => vec!["stop".into(), pick(&mut rng)],
                        _ => vec!["start".into(), pick(&mut rng)],
                    };
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    let child = spawn_group(cmd(&refs));
                    let fate = rng.below(8);
                    let delay = Duration::from_millis(rng.below(3000));
                    let signalled = match fate {
                        0 | 1 => Some("INT"),
                        2 => Some("KILL"),
                        _ => None,
                    };
                    let mut child = child;
                    if let Some(sig) = signalled {
                        let start = Instant::now();
                        while start.elapsed() < delay && child.running() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if child.running() {
                            match sig {
                                "INT" => signal_group(child.pid(), "INT"),
                                _ => signal_pid(child.pid(), "KILL"),
                            }
                        }
                    }
                    let r = child.wait_bounded(Duration::from_secs(180));
                    if r.timed_out {
                        hung.lock()
                            .unwrap()
                            .push(format!("{refs:?}:\n{}", r.stderr));
                    }
                    if signalled == Some("INT") && r.code().is_none() {
                        died.lock()
                            .unwrap()
                            .push(format!("{refs:?} ({:?}):\n{}", r.status, r.stderr));
                    }
                    let outcome = match (signalled, r.code()) {
                        (_, Some(0)) => "ok".to_string(),
                        (Some(sig), code) => format!("{sig} -> {code:?}"),
                        (None, code) => format!("failed {code:?}"),
                    };
                    *tally
                        .lock()
                        .unwrap()
                        .entry(format!("{} {outcome}", refs[0]))
                        .or_default() += 1;
                }
            });
        }
    });
    let soak_end = Instant::now();
    // What killed commands started (compose, git) finishes on its own.
    let strays = wait_for_no_processes_under(&case.repo.base, Duration::from_secs(120));

    let settle = soak_end.elapsed();
    let prune = cmd(&["prune", "-y"]).output().unwrap();
    let destroy = cmd(&["destroy", "--all", "-y", "--force"])
        .output()
        .unwrap();

    println!(
        "soak: strays settled in {:?}, final prune + destroy --all took {:?}",
        settle,
        soak_end.elapsed() - settle
    );
    let docker_left = prefix_leftovers(&case.prefix);
    let worktrees = case.repo.linked_worktrees();
    let branches = case.repo.branches();
    let lock_files: Vec<String> = std::fs::read_dir(&locks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let session_locks: Vec<&String> = lock_files
        .iter()
        .filter(|n| !n.starts_with("repo-"))
        .collect();
    let dirs_left = session_dirs(&sessions);
    let tmp_locks = files_named_lock(&tmp);
    println!("soak operations: {:#?}", tally.lock().unwrap());
    println!(
        "soak checked: {} containers, {} networks, {} volumes, {} worktrees, {} branches ({branches:?}), {} lock files ({lock_files:?}), {} lock files in its TMPDIR ({tmp_locks:?}), {} session dirs, {} stray processes",
        docker_left.0,
        docker_left.1,
        docker_left.2,
        worktrees.len(),
        branches.len(),
        lock_files.len(),
        tmp_locks.len(),
        dirs_left.len(),
        strays.len()
    );
    let finals = format!(
        "final prune ({}):\n{}\nfinal destroy --all ({}):\n{}",
        prune.status,
        stderr(&prune),
        destroy.status,
        stderr(&destroy)
    );
    // Every problem at once: a soak failure is hard to reproduce.
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let hung = hung.lock().unwrap();
    check(
        hung.is_empty(),
        format!("commands hung:\n{}", hung.join("\n")),
    );
    let died = died_of_sigint.lock().unwrap();
    check(
        died.is_empty(),
        format!(
            "commands killed by Ctrl-C instead of catching it:\n{}",
            died.join("\n")
        ),
    );
    check(
        strays.is_empty(),
        format!("processes still running: {strays:?}"),
    );
    check(
        docker_left == (0, 0, 0),
        format!("containers, networks, volumes left: {docker_left:?}"),
    );
    check(
        worktrees.is_empty(),
        format!("worktrees left: {worktrees:?}"),
    );
    check(
        branches == ["keep-copy", "main"],
        format!("branches left: {branches:?}"),
    );
    check(
        session_locks.is_empty() && tmp_locks.is_empty(),
        format!("lock files left: {session_locks:?} {tmp_locks:?}"),
    );
    check(
        dirs_left.is_empty(),
        format!("left in the sessions dir: {dirs_left:?}"),
    );
    check(
        case.repo.git(&["rev-parse", "keep-copy"]) == kept_commit,
        "the merged session commit is lost".to_string(),
    );
    check(
        case.repo.git(&["rev-parse", "main"]) == main_head,
        "main moved".to_string(),
    );
    assert!(
        problems.is_empty(),
        "soak left problems:\n- {}\n{finals}",
        problems.join("\n- ")
    );
}
