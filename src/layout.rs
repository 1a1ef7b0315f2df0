//! Where things are: the base compose files of a directory, the sessions
//! directory, and worktree names.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Compose's own file names, in its lookup order.
pub const COMPOSE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The base compose files of `dir`, relative to it: the configured list, or
/// the first of Compose's names plus its `*.override.y(a)ml` (Compose skips
/// that file once `-f` is used, so dev-prism passes it itself).
pub fn compose_files(dir: &Path, configured: Option<&[String]>) -> Result<Vec<String>> {
    if let Some(files) = configured.filter(|f| !f.is_empty()) {
        for f in files {
            if !dir.join(f).is_file() {
                bail!(
                    "compose file `{f}` (from composeFiles in the config) not found in {}",
                    dir.display()
                );
            }
        }
        return Ok(files.to_vec());
    }
    let Some(base) = COMPOSE_NAMES.iter().find(|n| dir.join(n).is_file()) else {
        bail!(
            "no compose file in {}: looked for {}",
            dir.display(),
            COMPOSE_NAMES.join(", ")
        );
    };
    let stem = base.rsplit_once('.').map(|(s, _)| s).unwrap_or(base);
    let mut files = vec![base.to_string()];
    for ext in ["yaml", "yml"] {
        let over = format!("{stem}.override.{ext}");
        if dir.join(&over).is_file() {
            files.push(over);
            break;
        }
    }
    Ok(files)
}

/// Directory name of a branch's worktree: `/` becomes `-`.
pub fn worktree_dir_name(branch: &str) -> String {
    branch.replace('/', "-")
}

/// `name`, `name-2`, `name-3`, …
pub fn with_suffix(name: &str, n: usize) -> String {
    if n <= 1 {
        name.to_string()
    } else {
        format!("{name}-{n}")
    }
}

/// The sessions directory: config `sessionsDir` relative to the main
/// worktree root, else `../<projectName>-sessions`.
pub fn sessions_dir(main_root: &Path, configured: Option<&str>, project: &str) -> PathBuf {
    match configured {
        Some(dir) => main_root.join(dir),
        None => main_root
            .parent()
            .unwrap_or(main_root)
            .join(format!("{project}-sessions")),
    }
}

/// `base/rel`, or `base` itself when `rel` is empty (`Path::join("")` would
/// add a trailing slash).
pub fn join(base: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// Lexically clean a path (`a/./b/../c` -> `a/c`) without touching the disk.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_compose_file_and_its_override() {
        let d = tempfile::tempdir().unwrap();
        assert!(compose_files(d.path(), None)
            .unwrap_err()
            .to_string()
            .contains("compose.yaml, compose.yml"));
        std::fs::write(d.path().join("docker-compose.yml"), "").unwrap();
        assert_eq!(
            compose_files(d.path(), None).unwrap(),
            vec!["docker-compose.yml"]
        );
        std::fs::write(d.path().join("docker-compose.override.yml"), "").unwrap();
        assert_eq!(
            compose_files(d.path(), None).unwrap(),
            vec!["docker-compose.yml", "docker-compose.override.yml"]
        );
        std::fs::write(d.path().join("compose.yaml"), "").unwrap();
        assert_eq!(compose_files(d.path(), None).unwrap(), vec!["compose.yaml"]);
    }

    #[test]
    fn configured_files_must_exist() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yml"), "").unwrap();
        let cfg = vec!["a.yml".to_string(), "b.yml".to_string()];
        assert!(compose_files(d.path(), Some(&cfg))
            .unwrap_err()
            .to_string()
            .contains("`b.yml`"));
        assert_eq!(
            compose_files(d.path(), Some(&cfg[..1])).unwrap(),
            vec!["a.yml"]
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            worktree_dir_name("session/2026-02-06T12-30-45"),
            "session-2026-02-06T12-30-45"
        );
        assert_eq!(with_suffix("s", 1), "s");
        assert_eq!(with_suffix("s", 3), "s-3");
        assert_eq!(
            sessions_dir(Path::new("/home/me/app"), None, "app"),
            Path::new("/home/me/app-sessions")
        );
        assert_eq!(
            normalize(&sessions_dir(
                Path::new("/home/me/app"),
                Some("../s"),
                "app"
            )),
            Path::new("/home/me/s")
        );
    }
}
