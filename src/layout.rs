//! Where things are: Compose's picture of a directory (its compose files,
//! profiles and project directory), the sessions directory, worktree names.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Compose's own file names, in its lookup order.
pub const COMPOSE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// What plain `docker compose` would run in a directory: its compose
/// files, profiles and project directory (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// The base compose files, absolute, in order.
    pub files: Vec<PathBuf>,
    /// Where the list came from, for `doctor`.
    pub source: String,
    /// `COMPOSE_PROFILES` from the directory's `.env`.
    pub profiles: Vec<String>,
    /// Compose's project directory: the first file's directory.
    pub project_dir: PathBuf,
}

/// Compose's picture of `dir`: `composeFiles` from the config, else
/// `COMPOSE_FILE` from the directory's `.env` (split on
/// `COMPOSE_PATH_SEPARATOR`), else Compose's own names with the matching
/// override file, else — zero config — the one other compose file there (a
/// development-named one among several).
pub fn picture(dir: &Path, configured: Option<&[String]>, reserved: &[&str]) -> Result<Picture> {
    let dotenv = std::fs::read_to_string(dir.join(".env"))
        .map(|t| crate::envfile::parse(&t))
        .unwrap_or_default();
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let (rel, source) = choose_files(&names, &dotenv, configured, reserved)
        .map_err(|e| anyhow::anyhow!("{} in {}", e, dir.display()))?;
    let files: Vec<PathBuf> = rel.iter().map(|f| normalize(&dir.join(f))).collect();
    for (f, abs) in rel.iter().zip(&files) {
        if !abs.is_file() {
            bail!(
                "compose file `{f}` ({source}) not found in {}",
                dir.display()
            );
        }
    }
    let profiles = get(&dotenv, "COMPOSE_PROFILES")
        .map(|p| split_list(p, ','))
        .unwrap_or_default();
    let project_dir = files
        .first()
        .and_then(|f| f.parent())
        .map_or_else(|| dir.to_path_buf(), Path::to_path_buf);
    Ok(Picture {
        files,
        source,
        profiles,
        project_dir,
    })
}

/// The profiles a session starts: the `.env`'s `COMPOSE_PROFILES` plus, in
/// docker mode, the config's apps not left out with `--without`; in native
/// mode no app profile at all.
pub fn session_profiles(
    dotenv: &[String],
    apps: &[String],
    docker_mode: bool,
    without: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let wanted = dotenv.iter().chain(if docker_mode { apps } else { &[] });
    for p in wanted {
        let app = apps.contains(p);
        let skip = without.contains(p) || (app && !docker_mode);
        if !skip && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn split_list(value: &str, sep: char) -> Vec<String> {
    value
        .split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Pure: which compose files (relative to the directory, or absolute) and
/// why. `names` are the files in the directory, `dotenv` its `.env`,
/// `reserved` the names dev-prism generates (never a base file).
pub fn choose_files(
    names: &[String],
    dotenv: &[(String, String)],
    configured: Option<&[String]>,
    reserved: &[&str],
) -> std::result::Result<(Vec<String>, String), String> {
    if let Some(files) = configured.filter(|f| !f.is_empty()) {
        return Ok((files.to_vec(), "composeFiles in the config".into()));
    }
    if let Some(list) = get(dotenv, "COMPOSE_FILE") {
        let sep = get(dotenv, "COMPOSE_PATH_SEPARATOR")
            .and_then(|s| s.chars().next())
            .unwrap_or(':');
        return Ok((split_list(list, sep), "COMPOSE_FILE in .env".into()));
    }
    let has = |n: &str| names.iter().any(|x| x == n);
    if let Some(base) = COMPOSE_NAMES.iter().find(|n| has(n)) {
        let stem = base.rsplit_once('.').map_or(*base, |(s, _)| s);
        let mut files = vec![base.to_string()];
        if let Some(over) = ["yaml", "yml"]
            .iter()
            .map(|ext| format!("{stem}.override.{ext}"))
            .find(|o| has(o))
        {
            files.push(over);
        }
        return Ok((files, "Compose's own file names".into()));
    }
    let mut candidates: Vec<&String> = names
        .iter()
        .filter(|n| n.contains("compose") && (n.ends_with(".yml") || n.ends_with(".yaml")))
        .filter(|n| !n.contains(".override.") && !reserved.contains(&n.as_str()))
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [] => Err(format!(
            "no compose file: looked for {} (or set composeFiles in session.config.json)",
            COMPOSE_NAMES.join(", ")
        )),
        [one] => Ok((
            vec![one.to_string()],
            format!("the only compose file, {one}"),
        )),
        several => {
            let dev: Vec<&&String> = several.iter().filter(|n| is_development(n)).collect();
            match dev.as_slice() {
                [one] => Ok((
                    vec![one.to_string()],
                    format!("the development compose file among {}", listing(several)),
                )),
                _ => Err(format!(
                    "several compose files and none is clearly the development one ({}): set composeFiles in session.config.json, e.g. {{\"composeFiles\": [\"{}\"]}}",
                    listing(several),
                    several[0]
                )),
            }
        }
    }
}

fn listing(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name meaning development: a `dev`, `local` or `development` part.
fn is_development(name: &str) -> bool {
    name.split(['.', '-', '_'])
        .any(|part| matches!(part, "dev" | "local" | "development"))
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

    fn names_of(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const RESERVED: [&str; 1] = ["docker-compose.session.yml"];

    fn choose(
        names: &[&str],
        dotenv: &[(&str, &str)],
        cfg: Option<&[String]>,
    ) -> Result<Vec<String>, String> {
        choose_files(&names_of(names), &env(dotenv), cfg, &RESERVED).map(|(f, _)| f)
    }

    #[test]
    fn compose_lookup_order_and_override() {
        assert_eq!(
            choose(&["docker-compose.yml"], &[], None).unwrap(),
            ["docker-compose.yml"]
        );
        assert_eq!(
            choose(
                &["docker-compose.yml", "docker-compose.override.yml"],
                &[],
                None
            )
            .unwrap(),
            ["docker-compose.yml", "docker-compose.override.yml"]
        );
        assert_eq!(
            choose(
                &["compose.yaml", "docker-compose.yml", "compose.override.yml"],
                &[],
                None
            )
            .unwrap(),
            ["compose.yaml", "compose.override.yml"]
        );
        let err = choose(&["README.md"], &[], None).unwrap_err();
        assert!(err.contains("compose.yaml, compose.yml"), "{err}");
    }

    #[test]
    fn compose_file_from_dotenv_and_config() {
        let dotenv = [("COMPOSE_FILE", "docker/base.yml:docker/dev.yml")];
        assert_eq!(
            choose(&["compose.yaml"], &dotenv, None).unwrap(),
            ["docker/base.yml", "docker/dev.yml"]
        );
        let sep = [
            ("COMPOSE_PATH_SEPARATOR", ";"),
            ("COMPOSE_FILE", "a.yml;b.yml"),
        ];
        assert_eq!(choose(&[], &sep, None).unwrap(), ["a.yml", "b.yml"]);
        let cfg = vec!["x.yml".to_string()];
        assert_eq!(
            choose(&["compose.yaml"], &dotenv, Some(&cfg)).unwrap(),
            ["x.yml"]
        );
    }

    #[test]
    fn zero_config_picks_the_lone_or_development_file() {
        assert_eq!(
            choose(
                &["docker-compose.dev.yml", "docker-compose.session.yml"],
                &[],
                None
            )
            .unwrap(),
            ["docker-compose.dev.yml"]
        );
        assert_eq!(
            choose(
                &[
                    "docker-compose.prod.yml",
                    "docker-compose.local.yaml",
                    "compose-ci.yml"
                ],
                &[],
                None
            )
            .unwrap(),
            ["docker-compose.local.yaml"]
        );
        let err = choose(
            &["docker-compose.prod.yml", "docker-compose.ci.yml"],
            &[],
            None,
        )
        .unwrap_err();
        assert!(
            err.contains("docker-compose.ci.yml, docker-compose.prod.yml")
                && err.contains("composeFiles"),
            "{err}"
        );
        assert!(choose(
            &["docker-compose.dev.yml", "compose.development.yml"],
            &[],
            None
        )
        .is_err());
        assert!(!is_development("devtools-compose.yml"));
    }

    #[test]
    fn profiles_of_a_session() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let dotenv = v(&["tools", "web"]);
        let apps = v(&["web", "worker"]);
        assert_eq!(
            session_profiles(&dotenv, &apps, true, &[]),
            v(&["tools", "web", "worker"])
        );
        assert_eq!(
            session_profiles(&dotenv, &apps, true, &v(&["web"])),
            v(&["tools", "worker"])
        );
        assert_eq!(session_profiles(&dotenv, &apps, false, &[]), v(&["tools"]));
    }

    #[test]
    fn picture_reads_dotenv_profiles_and_project_dir() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("docker")).unwrap();
        std::fs::write(d.path().join("docker/compose.yml"), "").unwrap();
        std::fs::write(
            d.path().join(".env"),
            "COMPOSE_FILE=docker/compose.yml\nCOMPOSE_PROFILES=web, worker\n",
        )
        .unwrap();
        let p = picture(d.path(), None, &RESERVED).unwrap();
        assert_eq!(p.files, vec![d.path().join("docker/compose.yml")]);
        assert_eq!(p.profiles, vec!["web", "worker"]);
        assert_eq!(p.project_dir, d.path().join("docker"));
        std::fs::write(d.path().join(".env"), "COMPOSE_FILE=missing.yml\n").unwrap();
        let err = picture(d.path(), None, &RESERVED).unwrap_err().to_string();
        assert!(
            err.contains("`missing.yml` (COMPOSE_FILE in .env) not found"),
            "{err}"
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
