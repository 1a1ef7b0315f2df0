//! Bad input gets one clear line and exit 1.

use crate::harness::*;

#[test]
fn create_outside_a_git_repository_says_what_to_do() {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
    let repo = TestRepo::new("services: {}\n");
    let out = repo.cmd_in(dir.path()).arg("create").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("not in a git repository") && err.contains("--in-place"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn create_without_a_compose_file_names_the_files_looked_for() {
    let repo = TestRepo::named("nocompose", &[("README", "x")]);
    let out = repo.cmd().arg("create").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no compose file") && err.contains("docker-compose.yml"),
        "{err}"
    );
    assert!(
        !repo.base.join("nocompose-sessions").exists()
            || std::fs::read_dir(repo.base.join("nocompose-sessions"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn info_without_a_session() {
    let repo = TestRepo::new("services: {}\n");
    let out = repo.cmd().arg("info").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no session found in"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let repo = TestRepo::new("services: {}\n");
    let out = repo
        .cmd()
        .args(["create", "--mode", "sideways"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
