//! The record of what dev-prism made (issue 9): sessions of the first
//! release, which have no marker in git's admin dir, get one on first sight
//! and keep working; and the generated file names a repository already
//! tracks are refused, naming the config key that moves them.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The marker of the worktree at `top` (from git's admin dir), if any.
fn marker_of(repo: &TestRepo, top: &Path) -> Option<(PathBuf, Value)> {
    let admin = repo.root.join(".git/worktrees");
    std::fs::read_dir(admin).ok()?.flatten().find_map(|e| {
        let gitdir = std::fs::read_to_string(e.path().join("gitdir")).ok()?;
        if Path::new(gitdir.trim()).parent()? != top {
            return None;
        }
        let path = e.path().join("dev-prism.json");
        let text = std::fs::read_to_string(&path).ok()?;
        Some((path, serde_json::from_str(&text).unwrap()))
    })
}

#[test]
fn a_first_release_session_gets_its_record_on_first_sight_and_is_destroyed_whole() {
    let repo = TestRepo::new(WEB_SERVICE);
    let dir = repo.create_branch("old-one");
    // What the first release left: the same labels, no record.
    let (path, made) = marker_of(&repo, &dir).expect("create writes the record");
    assert_eq!(made["state"], "ready");
    assert_eq!(made["branch_created"], true);
    std::fs::remove_file(&path).unwrap();
    assert!(marker_of(&repo, &dir).is_none());

    // `list` sees the session and records it from its labels.
    assert_eq!(repo.list_json().len(), 1);
    let (_, migrated) = marker_of(&repo, &dir).expect("the record is written on first sight");
    assert_eq!(migrated["migrated"], true);
    assert_eq!(migrated["branch"], "old-one");
    assert_eq!(migrated["branch_created"], true);

    // With the record, destroy takes the worktree and the branch it made.
    let project = repo.session_field(&dir, "project_name").unwrap();
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    assert!(!repo.has_branch("old-one"));
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(repo.linked_worktrees().is_empty());
}

#[test]
fn a_tracked_generated_name_is_refused_and_override_file_moves_it() {
    // A repository that tracks its own docker-compose.session.yml.
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", WEB_SERVICE),
            ("docker-compose.session.yml", "services: {}\n"),
        ],
    );
    let out = repo.cmd().args(["create", "--in-place"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("docker-compose.session.yml"), "{err}");
    assert!(
        err.contains("tracked") || err.contains("not written by dev-prism"),
        "{err}"
    );
    assert!(err.contains("overrideFile"), "{err}");
    assert_eq!(
        std::fs::read_to_string(repo.root.join("docker-compose.session.yml")).unwrap(),
        "services: {}\n",
        "the repository's file is untouched"
    );
    assert!(repo.projects().is_empty(), "nothing was started");

    // Moved with `overrideFile`: the session runs, the tracked file stays.
    repo.write(
        "session.config.json",
        r#"{"overrideFile": "dev-prism.session.yml"}"#,
    );
    repo.ok(&["create", "--in-place"]);
    assert!(repo.root.join("dev-prism.session.yml").is_file());
    let env = read_env(&repo.root.join(".env.session"));
    assert!(env_get(&env, "COMPOSE_FILE")
        .unwrap()
        .ends_with("/dev-prism.session.yml"));
    let port: u16 = env_get(&env, "WEB_PORT").unwrap().parse().unwrap();
    assert!(http_get(port).contains("dev-prism test page"));
    assert_eq!(
        std::fs::read_to_string(repo.root.join("docker-compose.session.yml")).unwrap(),
        "services: {}\n"
    );
    repo.ok(&["destroy"]);
    assert!(!repo.root.join("dev-prism.session.yml").exists());
    assert!(repo.root.join("docker-compose.session.yml").is_file());
}
