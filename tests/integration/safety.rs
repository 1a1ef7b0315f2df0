//! destroy checks git before touching anything (issue: safety, SPEC §9).

use crate::harness::*;
use std::path::{Path, PathBuf};

const COMPOSE: &str = WEB_SERVICE;

/// `appEnv` makes create write `apps/web/.env.session`, a generated file
/// that must not count as work.
const CONFIG: &str =
    r#"{ "appEnv": { "apps/web": { "API_URL": "http://localhost:${WEB_PORT}" } } }"#;

fn repo() -> TestRepo {
    TestRepo::named(
        "repo",
        &[("compose.yaml", COMPOSE), ("session.config.json", CONFIG)],
    )
}

/// `create --branch NAME`; the worktree directory.
fn create(repo: &TestRepo, branch: &str) -> PathBuf {
    repo.ok(&["create", "--branch", branch]);
    let dir = repo
        .base
        .join("repo-sessions")
        .join(branch.replace('/', "-"));
    assert!(dir.is_dir(), "{}", dir.display());
    dir
}

fn status_of(repo: &TestRepo, dir: &Path) -> Option<String> {
    repo.list_json()
        .iter()
        .find(|s| s["working_dir"] == dir.to_str().unwrap())
        .map(|s| s["status"].as_str().unwrap().to_string())
}

fn branches(repo: &TestRepo) -> String {
    repo.git(&["branch", "--list", "--format=%(refname:short)"])
}

#[test]
fn destroy_refuses_uncommitted_work_and_force_removes_it() {
    let repo = repo();
    let dir = create(&repo, "dirty");
    assert!(
        dir.join("apps/web/.env.session").is_file(),
        "appEnv file written"
    );
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();

    let out = repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("has 1 uncommitted or untracked file (notes.txt)"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    // nothing was touched: containers, worktree, files, branch
    assert_eq!(status_of(&repo, &dir).as_deref(), Some("running"));
    assert!(dir.join("notes.txt").is_file());
    assert!(dir.join(".env.session").is_file());
    assert!(dir.join("docker-compose.session.yml").is_file());
    assert!(branches(&repo).lines().any(|b| b == "dirty"));

    // a modified tracked file counts too
    std::fs::write(dir.join("compose.yaml"), format!("{COMPOSE}\n# edited\n")).unwrap();
    let out = repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("2 uncommitted or untracked files"),
        "{}",
        stderr(&out)
    );

    let project = repo.projects().remove(0);
    repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(!branches(&repo).lines().any(|b| b == "dirty"));
}

#[test]
fn unmerged_branch_is_kept_and_reported_force_deletes_it() {
    let repo = repo();
    let dir = create(&repo, "feature/work");
    std::fs::write(dir.join("work.txt"), "committed work").unwrap();
    git_in(&dir, &["add", "work.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "work"]);
    let commit = git_in(&dir, &["rev-parse", "HEAD"]).trim().to_string();
    let project = repo.projects().remove(0);

    // generated files (appEnv included) do not stop the worktree removal
    let out = repo.ok(&["destroy", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("kept branch `feature/work`: 1 commit is on no other branch"),
        "{err}"
    );
    assert!(!dir.exists(), "the worktree is removed");
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert_eq!(repo.git(&["rev-parse", "feature/work"]).trim(), commit);

    // a branch whose commits another branch holds is deleted
    let dir = create(&repo, "merged");
    std::fs::write(dir.join("m.txt"), "x").unwrap();
    git_in(&dir, &["add", "m.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "m"]);
    repo.git(&["branch", "keeper", "merged"]);
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!branches(&repo).lines().any(|b| b == "merged"));

    // --force: the existing branch checked out again, with uncommitted work
    let dir = create(&repo, "feature/work");
    assert_eq!(git_in(&dir, &["rev-parse", "HEAD"]).trim(), commit);
    std::fs::write(dir.join("scratch.txt"), "lost on purpose").unwrap();
    let out = repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    assert!(!stderr(&out).contains("kept branch"), "{}", stderr(&out));
    assert!(!dir.exists());
    assert!(!branches(&repo).lines().any(|b| b == "feature/work"));
}

#[test]
fn destroy_all_destroys_the_safe_sessions_and_lists_the_others() {
    let repo = repo();
    let safe = create(&repo, "safe");
    let unsafe_dir = create(&repo, "unsafe");
    std::fs::write(unsafe_dir.join("draft.md"), "wip").unwrap();
    std::fs::write(unsafe_dir.join("draft2.md"), "wip").unwrap();

    let out = repo
        .cmd()
        .args(["destroy", "--all", "-y"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("1 of 2 sessions not destroyed"), "{err}");
    assert!(
        err.contains(&format!(
            "{} has 2 uncommitted or untracked files",
            unsafe_dir.display()
        )),
        "{err}"
    );
    assert!(!safe.exists());
    assert!(!branches(&repo).lines().any(|b| b == "safe"));
    assert!(unsafe_dir.join("draft.md").is_file());
    let left = repo.list_json();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["working_dir"], unsafe_dir.to_str().unwrap());
    assert_eq!(left[0]["status"], "running");
}

#[test]
fn in_place_sessions_never_lose_their_directory() {
    let repo = repo();
    // one in the main worktree, one in a worktree the user made
    let wt = repo.base.join("my-worktree");
    repo.git(&["worktree", "add", "-q", "-b", "mine", wt.to_str().unwrap()]);
    repo.ok(&["create", "--in-place"]);
    repo.ok_in(&wt, &["create", "--in-place"]);
    for dir in [&repo.root, &wt] {
        std::fs::write(dir.join("untracked.txt"), "keep me").unwrap();
    }
    let projects = repo.projects();
    assert_eq!(projects.len(), 2);

    repo.ok_in(&wt, &["destroy"]);
    repo.ok(&["destroy", "--all", "-y"]);
    for dir in [&repo.root, &wt] {
        assert!(dir.join("untracked.txt").is_file(), "{}", dir.display());
        assert!(dir.join("compose.yaml").is_file());
    }
    assert!(repo
        .git(&["worktree", "list", "--porcelain"])
        .contains(wt.to_str().unwrap()));
    assert!(branches(&repo).lines().any(|b| b == "mine"));
    for p in &projects {
        assert_eq!(leftovers(p), (0, 0, 0));
    }
}
