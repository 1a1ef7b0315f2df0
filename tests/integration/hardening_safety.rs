//! Hardening (issue 9), "Data loss / security" and "Stranded": nothing of
//! the user's is truncated, overwritten, deleted or written through a
//! symlink; what dev-prism makes is either finished or left findable.

use crate::hardening::*;
use crate::harness::*;
use serde_json::json;
use std::os::unix::fs::symlink;
use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"))
}

// --- Data loss / security ----------------------------------------------------

/// Defect: "envFiles copy through a symlinked directory truncates the
/// source". The repository commits `config` as a symlink to a shared
/// directory; `config/.env` in the new worktree is the very same file as the
/// source in the main checkout.
#[test]
fn env_files_copy_through_a_symlinked_dir_keeps_the_source() {
    let case = Case::new("envsymlink", WEB, json!({ "envFiles": ["config/.env"] }));
    let shared = case.repo.base.join("shared-config");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join(".env"), "SECRET=keep-me\n").unwrap();
    symlink(&shared, case.root().join("config")).unwrap();
    case.repo.git(&["add", "config"]);
    case.repo.git(&["commit", "-q", "-m", "shared config"]);

    let out = case
        .repo
        .cmd()
        .args(["create", "--branch", "sym"])
        .output()
        .unwrap();
    assert_eq!(
        read(&shared.join(".env")),
        "SECRET=keep-me\n",
        "the source was changed:\n{}",
        stderr(&out)
    );
    if out.status.success() {
        case.repo
            .ok(&["destroy", case.session_dir("sym").to_str().unwrap()]);
    } else {
        // refused for this reason, not another
        assert!(stderr(&out).contains("config/.env"), "{}", stderr(&out));
    }
    assert_eq!(read(&shared.join(".env")), "SECRET=keep-me\n");
    case.assert_clean();
}

/// Defect: "generated files written through symlinks (incl. `list`'s
/// self-heal)". A symlink planted at `.env.session` or
/// `docker-compose.session.yml` is refused by `create`; a `.env.session`
/// replaced by a symlink is not written through by the commands that
/// regenerate it (`list`, `info`, `env`).
#[test]
fn generated_files_are_never_written_through_a_symlink() {
    let case = Case::new("gensymlink", WEB, json!({}));
    let victim = case.repo.base.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    for name in [".env.session", "docker-compose.session.yml"] {
        let link = case.root().join(name);
        symlink(&victim, &link).unwrap();
        let out = case
            .repo
            .cmd()
            .args(["create", "--in-place"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(
            read(&victim),
            "precious\n",
            "{name}: written through:\n{err}"
        );
        assert_eq!(out.status.code(), Some(1), "{name}: refused:\n{err}");
        assert!(err.contains(name), "{name}: the file is named:\n{err}");
        assert_eq!(prefix_leftovers(&case.prefix), (0, 0, 0), "{name}");
        let _ = std::fs::remove_file(&link);
    }

    case.repo.ok(&["create", "--in-place"]);
    let env = case.root().join(".env.session");
    for args in [&["list"][..], &["info"][..], &["env"][..]] {
        std::fs::remove_file(&env).unwrap();
        symlink(&victim, &env).unwrap();
        let out = case.repo.cmd().args(args).output().unwrap();
        assert_eq!(
            read(&victim),
            "precious\n",
            "{args:?} wrote through the symlink:\n{}",
            stderr(&out)
        );
    }
    let _ = std::fs::remove_file(&env);
    case.repo.ok(&["destroy"]);
    case.assert_clean();
}

/// Defect: "`appEnv` path checked only lexically". The repository commits
/// `apps` as a symlink to a directory outside it; appEnv `apps/web` would
/// write there.
#[test]
fn app_env_path_through_a_symlinked_dir_is_refused() {
    let case = Case::new(
        "appenvsymlink",
        WEB,
        json!({ "appEnv": { "apps/web": { "API_URL": "http://localhost:${WEB_PORT}" } } }),
    );
    let outside = case.repo.base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    symlink(&outside, case.root().join("apps")).unwrap();
    case.repo.git(&["add", "apps"]);
    case.repo.git(&["commit", "-q", "-m", "apps elsewhere"]);

    let out = case
        .repo
        .cmd()
        .args(["create", "--branch", "web"])
        .output()
        .unwrap();
    let err = stderr(&out);
    let written: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(written.is_empty(), "written outside: {written:?}\n{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("symlink"), "{err}");
    case.assert_clean();
}

/// Defect: "appEnv keys not validated (newline injection)".
#[test]
fn app_env_keys_must_be_variable_names() {
    let case = Case::new("appenvkeys", WEB, json!({}));
    for key in ["API_URL\nINJECTED", "A=B", "1ST", "X Y"] {
        let config = json!({
            "projectName": case.prefix,
            "appEnv": { "apps/web": { key: "x" } },
        });
        case.repo.write(
            "session.config.json",
            &serde_json::to_string(&config).unwrap(),
        );
        let out = case
            .repo
            .cmd()
            .args(["create", "--in-place"])
            .output()
            .unwrap();
        let err = stderr(&out);
        let written = read(&case.root().join("apps/web/.env.session"));
        if out.status.success() {
            case.repo.ok(&["destroy"]);
        }
        assert_eq!(
            out.status.code(),
            Some(1),
            "key {key:?} accepted:\n{written}"
        );
        assert!(err.contains("appEnv"), "{key:?}: {err}");
        assert_eq!(prefix_leftovers(&case.prefix), (0, 0, 0), "{key:?}");
    }
    case.assert_clean();
}

/// Defect: "lock file planted as a symlink gets truncated". A symlink at the
/// session's lock path (in `DEV_PRISM_LOCK_DIR`; also at the lock path the
/// first release used under `$TMPDIR`) is refused and its target untouched.
#[test]
fn a_lock_file_planted_as_a_symlink_is_refused_and_its_target_kept() {
    let case = Case::new("locksymlink", WEB, json!({}));
    let locks = case.repo.lock_dir();
    let tmp = case.repo.base.join("tmp");
    std::fs::create_dir_all(tmp.join("dev-prism-locks")).unwrap();
    let victim = case.repo.base.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let hash = path_hash(case.root());
    symlink(&victim, locks.join(format!("{hash}.lock"))).unwrap();
    symlink(
        &victim,
        tmp.join("dev-prism-locks")
            .join(format!("dev-prism-{hash}.lock")),
    )
    .unwrap();

    let out = case
        .repo
        .cmd()
        .env("DEV_PRISM_LOCK_DIR", &locks)
        .env("TMPDIR", &tmp)
        .args(["create", "--in-place"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        read(&victim),
        "precious\n",
        "the target was truncated:\n{err}"
    );
    assert_eq!(out.status.code(), Some(1), "refused:\n{err}");
    assert!(err.contains("lock"), "{err}");
    assert_eq!(prefix_leftovers(&case.prefix), (0, 0, 0));
    case.assert_clean();
}

/// Defect: "`prune --force` trusts labels in a tracked override file and
/// deletes a branch dev-prism never made". The repository commits a
/// `docker-compose.session.yml` with dev-prism labels; the user adds a
/// worktree by hand in the sessions directory.
#[test]
fn prune_does_not_trust_labels_in_a_tracked_override_file() {
    let tracked = "# Generated by dev-prism — do not edit\n\
        services:\n  web:\n    labels:\n\
        \x20     \"dev-prism.managed\": \"true\"\n\
        \x20     \"dev-prism.worktree\": \"true\"\n\
        \x20     \"dev-prism.branch\": \"feature/mine\"\n\
        \x20     \"dev-prism.branch_created\": \"true\"\n";
    let case = Case::with_files(
        "trackedoverride",
        WEB,
        json!({}),
        &[("docker-compose.session.yml", tracked)],
    );
    let dir = case.session_dir("feature/mine");
    case.repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature/mine",
        dir.to_str().unwrap(),
    ]);
    std::fs::write(dir.join("mine.txt"), "my work\n").unwrap();
    git_in(&dir, &["add", "mine.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "my work"]);
    let commit = git_in(&dir, &["rev-parse", "HEAD"]);

    for args in [&["prune", "-y", "--force"][..], &["prune", "-y"][..]] {
        let out = case.repo.cmd().args(args).output().unwrap();
        let err = stderr(&out);
        assert!(
            dir.join("mine.txt").is_file(),
            "{args:?} removed it:\n{err}"
        );
        assert!(
            dir.join("docker-compose.session.yml").is_file(),
            "{args:?}: {err}"
        );
        assert!(case.repo.has_branch("feature/mine"), "{args:?}: {err}");
        assert_eq!(case.repo.git(&["rev-parse", "feature/mine"]), commit);
    }
}

/// Defect: "the user's own `notes/.env.session` deleted". dev-prism's
/// exclude entries are anchored, so the file still shows in `git status`
/// and counts as work for `destroy`.
#[test]
fn a_users_own_env_session_in_a_subfolder_is_never_hidden_or_deleted() {
    let case = Case::new("notesenv", WEB, json!({}));
    let dir = case.create("notes");
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/.env.session"), "my notes\n").unwrap();

    let out = case
        .repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        read(&dir.join("notes/.env.session")),
        "my notes\n",
        "deleted:\n{err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("notes/.env.session"), "{err}");
    case.assert_running(&dir);

    // visible to git, in the session and in the main checkout
    let status = git_in(&dir, &["status", "--porcelain", "--untracked-files=all"]);
    assert!(status.contains("notes/.env.session"), "{status}");
    case.repo.write("notes/.env.session", "main notes\n");
    let status = case
        .repo
        .git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(status.contains("notes/.env.session"), "{status}");
    std::fs::remove_file(case.root().join("notes/.env.session")).unwrap();

    std::fs::remove_file(dir.join("notes/.env.session")).unwrap();
    case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    case.assert_clean();
}

/// Defect: "a hand-written `apps/web/.env.session` overwritten". `create`
/// refuses (naming the file) whether it is untracked in place or tracked in
/// the new worktree; `start` does not overwrite one the user put there
/// later.
#[test]
fn a_hand_written_app_env_file_is_never_overwritten() {
    let case = Case::new(
        "appenvmine",
        WEB,
        json!({ "appEnv": { "apps/web": { "API_URL": "http://localhost:${WEB_PORT}" } } }),
    );
    let mine = case.root().join("apps/web/.env.session");
    case.repo
        .write("apps/web/.env.session", "API_URL=http://mine\n");

    // untracked, in place
    let out = case
        .repo
        .cmd()
        .args(["create", "--in-place"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(read(&mine), "API_URL=http://mine\n", "overwritten:\n{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("apps/web/.env.session"), "{err}");
    assert_eq!(prefix_leftovers(&case.prefix), (0, 0, 0));

    // tracked, in a new worktree
    case.repo.git(&["add", "-f", "apps/web/.env.session"]);
    case.repo.git(&["commit", "-q", "-m", "my app env"]);
    let out = case
        .repo
        .cmd()
        .args(["create", "--branch", "tracked"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("apps/web/.env.session"), "{err}");
    case.assert_clean();

    // written by the user after create: start leaves it alone
    case.repo.git(&["rm", "-q", "apps/web/.env.session"]);
    case.repo.git(&["commit", "-q", "-m", "no app env"]);
    case.repo.ok(&["create", "--in-place"]);
    case.repo.ok(&["stop"]);
    case.repo
        .write("apps/web/.env.session", "API_URL=http://mine\n");
    let out = case.repo.cmd().arg("start").output().unwrap();
    assert_eq!(
        read(&mine),
        "API_URL=http://mine\n",
        "start overwrote it:\n{}",
        stderr(&out)
    );
    case.repo.ok(&["destroy"]);
    assert_eq!(read(&mine), "API_URL=http://mine\n", "destroy removed it");
    std::fs::remove_file(&mine).unwrap();
    case.assert_clean();
}

/// Defect: "`prune` removes a session still being created". `compose up`
/// is slow (a `docker` shim sleeps before it); `prune -y` runs meanwhile.
#[test]
fn prune_skips_a_session_still_being_created() {
    let case = Case::new("prunecreating", WEB, json!({}));
    let shim = Shim::new(&[(
        "docker",
        "case \" $* \" in *' up '*) touch \"$SHIM_DIR/up-started\"; sleep 8;; esac",
    )]);
    let mut cmd = case
        .repo
        .std_cmd(case.root(), &["create", "--branch", "slow"]);
    cmd.env("PATH", shim.path_var());
    let child = spawn_group(cmd);
    assert!(
        wait_for_file(
            &shim.dir().join("up-started"),
            std::time::Duration::from_secs(60)
        ),
        "create never reached `up`:\n{}",
        child.stderr_so_far()
    );
    let dir = case.session_dir("slow");
    let prune = case.repo.cmd().args(["prune", "-y"]).output().unwrap();
    assert!(
        dir.join("compose.yaml").is_file(),
        "prune removed the worktree being created:\n{}",
        stderr(&prune)
    );
    let r = child.wait_bounded(std::time::Duration::from_secs(180));
    assert_eq!(
        r.code(),
        Some(0),
        "create failed:\n{}\nprune said:\n{}",
        r.stderr,
        stderr(&prune)
    );
    case.assert_running(&dir);
    case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    case.assert_clean();
}

// --- Stranded ------------------------------------------------------------------

/// Defect: "rollback removes the worktree although `down` failed (orphan
/// containers/network)". `compose down` fails (a `docker` shim); the
/// session must stay findable, and the message names the command that
/// finishes.
#[test]
fn rollback_keeps_the_worktree_when_compose_down_fails() {
    let case = Case::new("rbdownfails", WEB_AND_FAILING_MIGRATION, json!({}));
    let shim = Shim::new(&[(
        "docker",
        "case \" $* \" in *' down '*) echo 'simulated: compose down failed' >&2; exit 1;; esac",
    )]);
    let out = case.run_with_path(&shim.path_var(), &["create", "--branch", "rb"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("migration boom"),
        "failed for another reason:\n{err}"
    );
    let dir = case.session_dir("rb");
    let (c, n, v) = prefix_leftovers(&case.prefix);
    if c + n + v > 0 {
        assert!(
            dir.is_dir(),
            "containers/network/volume left ({c}, {n}, {v}) but the worktree removed:\n{err}"
        );
        assert!(case.repo.has_branch("rb"), "{err}");
        assert!(
            err.contains("dev-prism destroy") || err.contains("dev-prism prune"),
            "says how to finish:\n{err}"
        );
        assert!(case.listed(&dir).is_some(), "list finds what is left");
    }
    // the suggested command finishes it
    if err.contains("dev-prism prune") {
        case.repo.ok(&["prune", "-y"]);
    } else if dir.exists() {
        case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    }
    case.assert_clean();
}

/// Defect: "`destroy` removes containers and volumes and then git refuses:
/// submodule". Git's rules are checked before anything is touched.
#[test]
fn destroy_of_a_worktree_with_a_submodule_refuses_before_touching_containers() {
    let case = Case::new("destroysubmodule", WEB, json!({}));
    let lib = case.repo.base.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    git_in(&lib, &["init", "-q", "-b", "main"]);
    std::fs::write(lib.join("lib.txt"), "lib\n").unwrap();
    git_in(&lib, &["add", "lib.txt"]);
    git_in(&lib, &["commit", "-q", "-m", "lib"]);
    let dir = case.create("sub");
    git_in(
        &dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "--quiet",
            "add",
            lib.to_str().unwrap(),
            "lib",
        ],
    );
    git_in(&dir, &["commit", "-q", "-m", "add lib"]);

    let out = case
        .repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    case.assert_running(&dir);
    assert_eq!(prefix_leftovers(&case.prefix).2, 1, "the volume is kept");
    assert!(err.contains("submodule"), "{err}");
    assert!(dir.join("lib/lib.txt").is_file());

    case.repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    case.assert_clean();
}

/// Defect: "`destroy` removes containers and volumes and then git refuses:
/// non-ignored `envFiles` copy". The copy dev-prism made (unchanged) is not
/// the user's work: destroy removes the whole session.
#[test]
fn destroy_of_a_session_with_a_non_ignored_env_files_copy_removes_it_all() {
    let case = Case::new("destroycopy", WEB, json!({ "envFiles": [".env.local"] }));
    case.repo.write(".env.local", "SECRET=1\n"); // untracked, not ignored
    let dir = case.create("copy");
    assert_eq!(read(&dir.join(".env.local")), "SECRET=1\n");
    let out = case
        .repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!dir.exists(), "{err}");
    assert_eq!(read(&case.root().join(".env.local")), "SECRET=1\n");
    std::fs::remove_file(case.root().join(".env.local")).unwrap();
    case.assert_clean();
}

/// Defect: "`destroy` removes containers and volumes and then git refuses:
/// tracked+edited `envFiles` file". A tracked destination is not
/// overwritten by the copy (so the session is clean); edited by the user in
/// the session it is work, and destroy refuses before touching anything.
#[test]
fn destroy_with_a_tracked_env_files_file_never_half_destroys() {
    let case = Case::with_files(
        "destroytracked",
        WEB,
        json!({ "envFiles": [".env"] }),
        &[(".env", "A=committed\n")],
    );
    case.repo.write(".env", "A=local-edit\n"); // uncommitted edit in main
    let dir = case.create("tracked");
    assert_eq!(
        read(&dir.join(".env")),
        "A=committed\n",
        "a tracked destination is not overwritten"
    );
    case.repo.ok(&["destroy", dir.to_str().unwrap()]);
    assert!(!dir.exists());
    assert_eq!(read(&case.root().join(".env")), "A=local-edit\n");

    let dir = case.create("edited");
    std::fs::write(dir.join(".env"), "A=mine\n").unwrap();
    let out = case
        .repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    case.assert_running(&dir);
    assert!(err.contains(".env"), "{err}");
    assert_eq!(read(&dir.join(".env")), "A=mine\n");
    case.repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    case.repo.git(&["checkout", "-q", "--", ".env"]);
    case.assert_clean();
}

/// Defect: "`destroy` removes containers and volumes and then git refuses:
/// tracked generated name". A tracked `docs/.env.session` the user edited
/// in the session is work, not a generated file.
#[test]
fn destroy_counts_an_edited_tracked_file_with_a_generated_name_as_work() {
    let case = Case::with_files(
        "destroygenname",
        WEB,
        json!({}),
        &[("docs/.env.session", "DOC=1\n")],
    );
    let dir = case.create("docs");
    std::fs::write(dir.join("docs/.env.session"), "DOC=2\n").unwrap();
    let out = case
        .repo
        .cmd()
        .args(["destroy", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    case.assert_running(&dir);
    assert!(err.contains("docs/.env.session"), "{err}");
    assert_eq!(read(&dir.join("docs/.env.session")), "DOC=2\n");
    case.repo.ok(&["destroy", "--force", dir.to_str().unwrap()]);
    case.assert_clean();
}

/// Defect: "`create --branch @` leaves `refs/heads/@`".
#[test]
fn create_branch_at_sign_is_refused_and_makes_nothing() {
    let case = Case::new("atbranch", WEB, json!({}));
    let out = case
        .repo
        .cmd()
        .args(["create", "--branch", "@"])
        .output()
        .unwrap();
    let err = stderr(&out);
    let refs = case.repo.git(&["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("refs/heads/@"), "{refs}\n{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("invalid branch name"), "{err}");
    case.assert_clean();
}

/// Defect: "empty `<repo>-sessions` folder and lock files never removed".
#[test]
fn the_empty_sessions_dir_and_lock_files_are_removed() {
    let case = Case::new("emptydir", WEB, json!({}));
    let locks = case.repo.lock_dir();
    let run = |args: &[&str]| {
        let out = case
            .repo
            .cmd()
            .env("DEV_PRISM_LOCK_DIR", &locks)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    let session_locks = || -> Vec<String> {
        std::fs::read_dir(&locks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("repo-"))
            .collect()
    };
    run(&["create", "--branch", "a"]);
    run(&["destroy", case.session_dir("a").to_str().unwrap()]);
    assert!(
        !case.sessions_dir().exists(),
        "destroy left the empty sessions dir"
    );
    assert_eq!(session_locks(), Vec::<String>::new(), "after destroy");

    run(&["create", "--branch", "b"]);
    run(&["stop", case.session_dir("b").to_str().unwrap()]);
    run(&["prune", "-y"]);
    assert!(
        !case.sessions_dir().exists(),
        "prune left the empty sessions dir"
    );
    assert_eq!(session_locks(), Vec::<String>::new(), "after prune");

    run(&["create", "--in-place"]);
    run(&["destroy"]);
    assert_eq!(session_locks(), Vec::<String>::new(), "after in-place");
    case.assert_clean();
}
