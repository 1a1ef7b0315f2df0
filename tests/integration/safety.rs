//! destroy checks git before touching anything (issue: safety, SPEC §9).

use crate::harness::*;
use std::path::Path;

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

#[test]
fn destroy_refuses_uncommitted_work_and_force_removes_it() {
    let repo = repo();
    let dir = repo.create_branch("dirty");
    assert!(
        dir.join("apps/web/.env.session").is_file(),
        "appEnv file written"
    );
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();

    let err = destroy_refused(&repo, &dir);
    assert!(
        err.contains("has 1 uncommitted or untracked file (notes.txt)"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    // nothing was touched: containers, worktree, files, branch
    assert_eq!(
        repo.session_field(&dir, "status").as_deref(),
        Some("running")
    );
    assert!(dir.join("notes.txt").is_file());
    assert!(dir.join(".env.session").is_file());
    assert!(dir.join("docker-compose.session.yml").is_file());
    assert!(repo.has_branch("dirty"));

    // a modified tracked file counts too
    std::fs::write(dir.join("compose.yaml"), format!("{COMPOSE}\n# edited\n")).unwrap();
    let err = destroy_refused(&repo, &dir);
    assert!(err.contains("2 uncommitted or untracked files"), "{err}");

    let project = repo.projects().remove(0);
    repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(!repo.has_branch("dirty"));
}

#[test]
fn unmerged_branch_is_kept_and_reported_force_deletes_it() {
    let repo = repo();
    let dir = repo.create_branch("feature/work");
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
    let dir = repo.create_branch("merged");
    std::fs::write(dir.join("m.txt"), "x").unwrap();
    git_in(&dir, &["add", "m.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "m"]);
    repo.git(&["branch", "keeper", "merged"]);
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!repo.has_branch("merged"));

    // --force removes uncommitted work and deletes an unmerged branch
    // dev-prism created
    let dir = repo.create_branch("forced");
    std::fs::write(dir.join("f.txt"), "x").unwrap();
    git_in(&dir, &["add", "f.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "f"]);
    std::fs::write(dir.join("scratch.txt"), "lost on purpose").unwrap();
    let out = repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    assert!(!stderr(&out).contains("ept branch"), "{}", stderr(&out));
    assert!(!dir.exists());
    assert!(!repo.has_branch("forced"));

    // the existing branch checked out again: not dev-prism's, kept even
    // with --force (its uncommitted work is removed)
    let dir = repo.create_branch("feature/work");
    assert_eq!(git_in(&dir, &["rev-parse", "HEAD"]).trim(), commit);
    std::fs::write(dir.join("scratch.txt"), "lost on purpose").unwrap();
    let out = repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("kept branch `feature/work`: it existed before the session"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists());
    assert_eq!(repo.git(&["rev-parse", "feature/work"]).trim(), commit);
}

#[test]
fn destroy_all_destroys_the_safe_sessions_and_lists_the_others() {
    let repo = repo();
    let safe = repo.create_branch("safe");
    let unsafe_dir = repo.create_branch("unsafe");
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
    assert!(!repo.has_branch("safe"));
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
    assert!(repo.has_branch("mine"));
    for p in &projects {
        assert_eq!(leftovers(p), (0, 0, 0));
    }
}

/// `destroy DIR` from the repository root, which must refuse (exit 1);
/// its stderr.
fn destroy_refused(repo: &TestRepo, dir: &Path) -> String {
    let out = repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

fn destroy_out(repo: &TestRepo, dir: &Path, args: &[&str]) -> std::process::Output {
    repo.cmd_in(dir)
        .env("GIT_CEILING_DIRECTORIES", &repo.base)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn destroy_all_outside_a_repository_refuses_without_g() {
    let repo = repo();
    let dir = repo.create_branch("kept");
    let outside = repo.base.join("not-a-repo");
    std::fs::create_dir_all(&outside).unwrap();

    let out = destroy_out(&repo, &outside, &["destroy", "--all", "-y"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "error: not in a git repository: pass -g to destroy every session on this engine"
    );
    assert_eq!(
        repo.session_field(&dir, "status").as_deref(),
        Some("running")
    );
    assert!(dir.is_dir());
}

#[test]
fn a_deleted_worktree_is_forgotten_by_its_own_repository_only() {
    let repo = repo();
    let other = TestRepo::named("other", &[("compose.yaml", COMPOSE)]);
    let dir = repo.create_branch("shared");
    other.git(&["branch", "shared"]);
    let project = repo.projects().remove(0);
    std::fs::remove_dir_all(&dir).unwrap();

    // destroyed from the other repository: that one's `shared` is not ours
    let out = other.ok(&["destroy", dir.to_str().unwrap()]);
    assert_eq!(leftovers(&project), (0, 0, 0), "{}", stderr(&out));
    assert!(other
        .git(&["branch", "--list", "--format=%(refname:short)"])
        .lines()
        .any(|b| b == "shared"));
    assert!(!repo.has_branch("shared"));
    assert!(!repo
        .git(&["worktree", "list", "--porcelain"])
        .contains(dir.to_str().unwrap()));
}

#[test]
fn a_deleted_worktree_without_its_repository_label_touches_no_branch() {
    let repo = repo();
    repo.git(&["branch", "gone"]);
    let dir = repo.base.join("repo-sessions").join("gone");
    // A session of an older dev-prism: no `dev-prism.git_dir` label.
    let project = format!("dev-prism-test-{}", std::process::id());
    let compose = format!(
        r#"services:
  web:
    image: {TEST_IMAGE}
    command: ["sleep", "300"]
    labels:
      dev-prism.managed: "true"
      dev-prism.working_dir: {dir:?}
      dev-prism.worktree: "true"
      dev-prism.branch: "gone"
      dev-prism.service: "web"
"#,
        dir = dir.to_str().unwrap()
    );
    let file = repo.base.join("old-session.yaml");
    std::fs::write(&file, compose).unwrap();
    let up = std::process::Command::new("docker")
        .args(["compose", "-p", &project, "-f", file.to_str().unwrap()])
        .args(["up", "-d"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let _guard = Guard(project.clone());

    let out = repo.ok(&["destroy", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("git worktree prune"), "{err}");
    assert!(err.contains("git branch -d -- gone"), "{err}");
    assert!(repo.has_branch("gone"));
    assert_eq!(leftovers(&project), (0, 0, 0));
}

/// Removes a compose project this test started itself.
struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        cleanup_project(&self.0);
    }
}

#[test]
fn destroy_keeps_a_branch_that_existed_before_the_session() {
    let repo = repo();
    repo.git(&["branch", "existing"]);
    let dir = repo.create_branch("existing");
    let out = repo.ok(&["destroy", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("kept branch `existing`: it existed before the session"),
        "{err}"
    );
    assert!(!dir.exists());
    assert!(repo.has_branch("existing"));
}

#[test]
fn in_place_destroy_removes_only_the_app_env_files_dev_prism_wrote() {
    let config = r#"{ "appEnv": {
        "apps/web": { "API_URL": "http://localhost:${WEB_PORT}" },
        "apps/api": { "X": "1" } } }"#;
    let repo = TestRepo::named(
        "repo",
        &[("compose.yaml", COMPOSE), ("session.config.json", config)],
    );
    repo.ok(&["create", "--in-place"]);
    let web = repo.root.join("apps/web/.env.session");
    let api = repo.root.join("apps/api/.env.session");
    assert!(web.is_file() && api.is_file());
    // the user replaced one with a file of their own
    std::fs::write(&api, "X=mine\n").unwrap();
    std::fs::write(repo.root.join("apps/web/.env"), "KEEP=1\n").unwrap();
    let project = repo.projects().remove(0);

    repo.ok(&["destroy"]);
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(!web.exists());
    assert!(!repo.root.join(".env.session").exists());
    assert_eq!(std::fs::read_to_string(&api).unwrap(), "X=mine\n");
    assert!(repo.root.join("apps/web/.env").is_file());
    assert!(repo.root.join("compose.yaml").is_file());
}

#[test]
fn destroy_ignores_gitignored_and_copied_files_but_not_untracked_ones() {
    let repo = repo_with_ignored_env(COMPOSE);
    let dir = repo.create_branch("ignored");
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).unwrap(),
        "SECRET=1\n"
    );
    std::fs::write(dir.join(".env"), "SECRET=2\n").unwrap();
    std::fs::write(dir.join("notes.local"), "ignored").unwrap();
    std::fs::write(dir.join("todo.txt"), "mine").unwrap();
    std::fs::create_dir_all(dir.join("node_modules/pkg")).unwrap();
    std::fs::write(dir.join("node_modules/pkg/index.js"), "x").unwrap();

    let err = destroy_refused(&repo, &dir);
    assert!(
        err.contains("has 1 uncommitted or untracked file (todo.txt)"),
        "{err}"
    );
    assert_eq!(
        repo.session_field(&dir, "status").as_deref(),
        Some("running")
    );
    assert!(dir.join("todo.txt").is_file());

    std::fs::remove_file(dir.join("todo.txt")).unwrap();
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    assert!(!repo.has_branch("ignored"));
}
