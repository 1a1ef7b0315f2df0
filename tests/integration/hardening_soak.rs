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

#[test]
fn soak_concurrent_commands_and_kills_leave_nothing_behind() {
    let secs = std::env::var("DEV_PRISM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let case = Case::new("soak", WEB, json!({}));
    let locks = case.repo.lock_dir();
    let sessions = case.sessions_dir();
    let cmd = |args: &[&str]| {
        let mut c = case.repo.std_cmd(case.root(), args);
        c.env("DEV_PRISM_LOCK_DIR", &locks);
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
    let deadline = Instant::now() + Duration::from_secs(secs);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("soak: {secs}s, {WORKERS} workers, seed {seed}");
    std::thread::scope(|scope| {
        for w in 0..WORKERS {
            let (tally, hung, sessions, cmd) = (tally.clone(), hung.clone(), &sessions, &cmd);
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
    println!("soak operations: {:#?}", tally.lock().unwrap());
    println!(
        "soak checked: {} containers, {} networks, {} volumes, {} worktrees, {} branches ({branches:?}), {} lock files ({lock_files:?}), {} session dirs, {} stray processes",
        docker_left.0,
        docker_left.1,
        docker_left.2,
        worktrees.len(),
        branches.len(),
        lock_files.len(),
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
    let hung = hung.lock().unwrap();
    assert!(hung.is_empty(), "commands hung:\n{}", hung.join("\n"));
    assert!(strays.is_empty(), "processes still running: {strays:?}");
    assert_eq!(docker_left, (0, 0, 0), "docker objects left\n{finals}");
    assert!(
        worktrees.is_empty(),
        "worktrees left: {worktrees:?}\n{finals}"
    );
    assert_eq!(
        branches,
        vec!["keep-copy".to_string(), "main".to_string()],
        "{finals}"
    );
    assert!(
        session_locks.is_empty(),
        "lock files left: {session_locks:?}"
    );
    assert!(
        dirs_left.is_empty(),
        "left in the sessions dir: {dirs_left:?}"
    );
    assert_eq!(case.repo.git(&["rev-parse", "keep-copy"]), kept_commit);
    assert_eq!(case.repo.git(&["rev-parse", "main"]), main_head);
}
