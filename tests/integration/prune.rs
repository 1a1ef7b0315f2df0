//! prune: session worktrees without running containers (issue: safety).

use crate::harness::*;

const COMPOSE: &str = WEB_WITH_VOLUME;

/// Removes a compose project the harness cannot find any more (its
/// containers were deleted by hand, its network and volume remain).
struct ProjectGuard(String);

impl Drop for ProjectGuard {
    fn drop(&mut self) {
        cleanup_project(&self.0);
    }
}

#[test]
fn prunes_stopped_and_orphaned_worktrees_not_running_ones() {
    let repo = TestRepo::new(COMPOSE);
    let stopped = repo.create_branch("stopped");
    let orphan = repo.create_branch("orphan");
    let running = repo.create_branch("running");
    let (p_stopped, p_orphan, p_running) = (
        repo.session_field(&stopped, "project_name").unwrap(),
        repo.session_field(&orphan, "project_name").unwrap(),
        repo.session_field(&running, "project_name").unwrap(),
    );
    let _guard = ProjectGuard(p_orphan.clone());
    repo.ok(&["stop", stopped.to_str().unwrap()]);
    // the orphan's containers are removed by hand: no labels left, its
    // network and volume remain
    let ids = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={p_orphan}"),
    ]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.split_whitespace());
    docker(&rm);
    assert_eq!(leftovers(&p_orphan), (0, 1, 1));
    // a worktree outside the sessions dir is never a candidate
    let outside = repo.base.join("elsewhere");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "elsewhere",
        outside.to_str().unwrap(),
    ]);

    // --dry-run lists and removes nothing
    let out = repo.ok(&["prune", "--dry-run"]);
    let list = stdout(&out);
    assert!(list.contains(stopped.to_str().unwrap()), "{list}");
    assert!(list.contains(orphan.to_str().unwrap()), "{list}");
    assert!(!list.contains(running.to_str().unwrap()), "{list}");
    assert!(!list.contains(outside.to_str().unwrap()), "{list}");
    let listed: Vec<&str> = list
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        vec![orphan.to_str().unwrap(), stopped.to_str().unwrap()],
        "never the main worktree: {list}"
    );
    assert!(stopped.is_dir() && orphan.is_dir());
    assert_eq!(leftovers(&p_stopped), (1, 1, 1));

    // no terminal and no -y: list, say how to confirm, exit 1, never hang
    let out = repo.cmd().arg("prune").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains(orphan.to_str().unwrap()));
    assert!(stderr(&out).contains("-y"), "{}", stderr(&out));
    assert!(stopped.is_dir() && orphan.is_dir());

    let out = repo.ok(&["prune", "-y"]);
    assert!(
        stderr(&out).contains("Pruned 2 worktrees"),
        "{}",
        stderr(&out)
    );
    for (dir, project) in [(&stopped, &p_stopped), (&orphan, &p_orphan)] {
        assert!(!dir.exists(), "{}", dir.display());
        assert_eq!(leftovers(project), (0, 0, 0), "{project}");
    }
    let left = repo.branches();
    assert!(!left.contains(&"stopped".to_string()), "{left:?}");
    assert!(!left.contains(&"orphan".to_string()), "{left:?}");
    assert!(left.contains(&"running".to_string()));
    assert!(left.contains(&"elsewhere".to_string()));
    assert!(running.is_dir() && outside.is_dir());
    assert_eq!(leftovers(&p_running).0, 1);
    let json = repo.list_json();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["status"], "running");

    // nothing left to prune is not an error
    let out = repo.ok(&["prune", "-y"]);
    assert!(
        stderr(&out).contains("Nothing to prune"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prune_keeps_uncommitted_work_and_unmerged_branches() {
    let repo = TestRepo::new(COMPOSE);
    let dirty = repo.create_branch("dirty");
    let ahead = repo.create_branch("ahead");
    let p_dirty = repo.session_field(&dirty, "project_name").unwrap();
    std::fs::write(dirty.join("draft.txt"), "wip").unwrap();
    std::fs::write(ahead.join("done.txt"), "done").unwrap();
    git_in(&ahead, &["add", "done.txt"]);
    git_in(&ahead, &["commit", "-q", "-m", "done"]);
    repo.ok(&["stop-all"]);

    let out = repo.cmd().args(["prune", "-y"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{} has 1 uncommitted or untracked file (draft.txt)",
            dirty.display()
        )),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(err.contains("kept branch `ahead`"), "{err}");
    // the dirty one is untouched: worktree, file, stopped containers
    assert!(dirty.join("draft.txt").is_file());
    assert_eq!(leftovers(&p_dirty).0, 1);
    // the other worktree is gone, its branch (with its commit) stays
    assert!(!ahead.exists());
    assert!(repo.has_branch("ahead"));

    let out = repo.ok(&["prune", "-y", "--force"]);
    assert!(!dirty.exists(), "{}", stderr(&out));
    assert_eq!(leftovers(&p_dirty), (0, 0, 0));
    assert!(!repo.has_branch("dirty"));
}

/// Remove a session's containers by hand (its network and volume remain).
fn remove_containers(project: &str) {
    let ids = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.split_whitespace());
    docker(&rm);
}

#[test]
fn prune_only_touches_worktrees_dev_prism_made() {
    let repo = TestRepo::named(
        "repo",
        &[("compose.yaml", COMPOSE), ("sub/compose.yaml", COMPOSE)],
    );
    let sessions = repo.base.join("repo-sessions");
    let stopped = repo.create_branch("stopped");
    // an existing branch checked out in a session: the worktree goes, the
    // branch stays
    repo.git(&["branch", "existing"]);
    let existing = repo.create_branch("existing");
    repo.ok(&["stop-all"]);
    // a session made in a subfolder, its containers removed by hand: the
    // override file in `sub/` is the trace
    repo.ok_in(&repo.root.join("sub"), &["create", "--branch", "subdir"]);
    let subdir = sessions.join("subdir");
    let p_subdir = repo
        .session_field(&subdir.join("sub"), "project_name")
        .unwrap();
    let _g1 = ProjectGuard(p_subdir.clone());
    remove_containers(&p_subdir);
    // worktrees the user added by hand: one plain, one that held an
    // in-place session whose containers are gone
    let by_hand = sessions.join("by-hand");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "by-hand",
        by_hand.to_str().unwrap(),
    ]);
    std::fs::write(by_hand.join("compose.yaml"), "# edited\n").unwrap();
    git_in(&by_hand, &["commit", "-q", "-am", "mine"]);
    let in_place = sessions.join("in-place");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "in-place",
        in_place.to_str().unwrap(),
    ]);
    repo.ok_in(&in_place, &["create", "--in-place"]);
    let p_in_place = repo.session_field(&in_place, "project_name").unwrap();
    let _g2 = ProjectGuard(p_in_place.clone());
    remove_containers(&p_in_place);

    let out = repo.ok(&["prune", "--dry-run"]);
    let list = stdout(&out);
    assert!(!list.contains(by_hand.to_str().unwrap()), "{list}");
    assert!(!list.contains(in_place.to_str().unwrap()), "{list}");

    let out = repo.ok(&["prune", "-y"]);
    let err = stderr(&out);
    assert!(err.contains("Pruned 3 worktrees"), "{err}");
    assert!(
        err.contains("kept branch `existing`: it existed before the session"),
        "{err}"
    );
    for dir in [&stopped, &existing, &subdir] {
        assert!(!dir.exists(), "{}", dir.display());
    }
    assert_eq!(leftovers(&p_subdir), (0, 0, 0));
    assert!(by_hand.join("compose.yaml").is_file());
    assert!(in_place.join("compose.yaml").is_file());
    let left = repo.branches();
    for b in ["existing", "by-hand", "in-place"] {
        assert!(left.contains(&b.to_string()), "{b}: {left:?}");
    }
    for b in ["stopped", "subdir"] {
        assert!(!left.contains(&b.to_string()), "{b}: {left:?}");
    }
}

#[test]
fn prune_ignores_gitignored_and_copied_files_but_not_untracked_ones() {
    let repo = repo_with_ignored_env(COMPOSE);
    let dir = repo.create_branch("ignored");
    let project = repo.session_field(&dir, "project_name").unwrap();
    repo.ok(&["stop-all"]);
    std::fs::write(dir.join(".env"), "SECRET=2\n").unwrap();
    std::fs::write(dir.join("notes.local"), "ignored").unwrap();
    std::fs::write(dir.join("todo.txt"), "mine").unwrap();
    std::fs::create_dir_all(dir.join("node_modules/pkg")).unwrap();
    std::fs::write(dir.join("node_modules/pkg/index.js"), "x").unwrap();

    let out = repo.cmd().args(["prune", "-y"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{} has 1 uncommitted or untracked file (todo.txt)",
            dir.display()
        )),
        "{err}"
    );
    assert!(dir.join("todo.txt").is_file());
    assert_eq!(leftovers(&project).0, 1);

    std::fs::remove_file(dir.join("todo.txt")).unwrap();
    repo.ok(&["prune", "-y"]);
    assert!(!dir.exists());
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(!repo.has_branch("ignored"));
}
