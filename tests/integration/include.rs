//! `.worktreeinclude` (SPEC §2): what it matches that git ignores in the
//! main checkout is copied into a new worktree; symlinks are never followed
//! out of the repository.

use crate::harness::*;
use std::os::unix::fs::symlink;
use std::path::Path;

const COMPOSE: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_signal: SIGKILL
    ports:
      - "8080"
"#;

const GITIGNORE: &str = "node_modules/\n*.local\n.env\nbuild/\nsecrets\n";

const INCLUDE: &str = "\
# dependencies, whole
node_modules/
# globs
*.local
.env
# a file inside an ignored directory, not the directory
build/keep.bin
# not ignored: never copied
notes/
secrets
";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn copies_what_is_included_and_ignored_and_never_follows_a_link_out() {
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", COMPOSE),
            (".gitignore", GITIGNORE),
            (".worktreeinclude", INCLUDE),
        ],
    );
    repo.write(
        "node_modules/pkg/lib/deep/index.js",
        "module.exports = 1;\n",
    );
    repo.write("node_modules/pkg/package.json", "{}\n");
    std::fs::create_dir_all(repo.root.join("node_modules/empty-dir")).unwrap();
    std::fs::create_dir_all(repo.root.join("node_modules/.bin")).unwrap();
    symlink(
        "../pkg/lib/deep/index.js",
        repo.root.join("node_modules/.bin/tool"),
    )
    .unwrap();
    repo.write("config/app.local", "LOCAL=1\n");
    repo.write(".env", "SECRET=1\n");
    repo.write("build/keep.bin", "keep\n");
    repo.write("build/skip.bin", "skip\n");
    repo.write("notes/todo.md", "untracked, not ignored\n");
    // links that lead out of the repository
    let outside = repo.base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("id_rsa"), "PRIVATE\n").unwrap();
    symlink(&outside, repo.root.join("node_modules/escape")).unwrap();
    symlink(outside.join("id_rsa"), repo.root.join("secrets")).unwrap();

    let out = repo.ok(&["create", "--branch", "inc"]);
    let wt = repo.base.join("repo-sessions/inc");
    assert_eq!(
        read(&wt.join("node_modules/pkg/lib/deep/index.js")),
        "module.exports = 1;\n"
    );
    assert_eq!(read(&wt.join("node_modules/pkg/package.json")), "{}\n");
    assert!(wt.join("node_modules/empty-dir").is_dir());
    assert_eq!(
        std::fs::read_link(wt.join("node_modules/.bin/tool")).unwrap(),
        Path::new("../pkg/lib/deep/index.js")
    );
    assert_eq!(read(&wt.join("config/app.local")), "LOCAL=1\n");
    assert_eq!(read(&wt.join(".env")), "SECRET=1\n");
    assert_eq!(read(&wt.join("build/keep.bin")), "keep\n");
    assert!(!wt.join("build/skip.bin").exists());
    assert!(!wt.join("notes").exists(), "not ignored: not copied");
    // the links out are neither followed nor copied, and named
    assert!(std::fs::symlink_metadata(wt.join("node_modules/escape")).is_err());
    assert!(std::fs::symlink_metadata(wt.join("secrets")).is_err());
    let err = stderr(&out);
    assert!(
        err.contains("symlinks that lead outside the repository")
            && err.contains("node_modules/escape")
            && err.contains("secrets"),
        "{err}"
    );
    // `.env` came with the files Compose itself reads (copied first, with
    // no `envFiles` configured); `.worktreeinclude` copied the other four.
    assert!(
        err.contains("Copied .worktreeinclude: 4 files, 1 symlink"),
        "{err}"
    );
    assert_eq!(read(&outside.join("id_rsa")), "PRIVATE\n");

    // ignored copies never stop a destroy
    repo.ok(&["destroy", wt.to_str().unwrap()]);
    assert!(!wt.exists());
}

#[test]
fn copies_git_does_not_ignore_in_the_worktree_are_recorded_as_dev_prisms() {
    // The committed .gitignore does not ignore `local.cfg`; the main
    // checkout's (uncommitted) one does: in the new worktree the copy is
    // an untracked file, which destroy must know is dev-prism's.
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", COMPOSE),
            (".gitignore", "*.tmp\n"),
            (".worktreeinclude", "local.cfg\n"),
        ],
    );
    repo.write(".gitignore", "*.tmp\nlocal.cfg\n");
    repo.write("local.cfg", "mine=1\n");
    let dir = repo.create_branch("rec");
    assert_eq!(read(&dir.join("local.cfg")), "mine=1\n");
    // untouched: dev-prism's own, no --force needed
    repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!dir.exists());

    // edited by the user: now it is work, and destroy refuses
    let dir = repo.create_branch("rec2");
    std::fs::write(dir.join("local.cfg"), "mine=2\n").unwrap();
    let out = repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("local.cfg"), "{}", stderr(&out));
    repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
}
