//! What a DIR argument means: a path (an existing one always wins), or the
//! name of a session — its branch, or the name of its worktree directory
//! (`feat/x`, `feat-x`). Names are looked up in container labels and git's
//! admin records only: no repository code runs.

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Ctx;
use crate::ownership::{self, Admin};
use crate::session::Session;

/// A session as a name lookup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The session directory.
    pub dir: PathBuf,
    pub branch: Option<String>,
    /// The worktree it lives in, when dev-prism's records know it.
    pub worktree: Option<PathBuf>,
}

impl Named {
    /// `/s/feat-x (branch feat/x)`, for the list of an ambiguous name.
    fn describe(&self) -> String {
        match &self.branch {
            Some(b) if !b.is_empty() => format!("{} (branch {b})", self.dir.display()),
            _ => self.dir.display().to_string(),
        }
    }
}

/// Pure: the sessions `word` names — by branch, by the name of the session
/// directory or of its worktree — or whose directory is `as_path` (a
/// session whose directory was deleted). Each session once.
pub fn matching<'a>(candidates: &'a [Named], word: &str, as_path: &Path) -> Vec<&'a Named> {
    let name_is = |p: &Path| p.file_name().is_some_and(|n| n == word);
    let mut out: Vec<&Named> = candidates
        .iter()
        .filter(|c| {
            c.dir == as_path
                || c.branch.as_deref() == Some(word)
                || name_is(&c.dir)
                || c.worktree.as_deref().is_some_and(name_is)
        })
        .collect();
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out.dedup_by(|a, b| a.dir == b.dir);
    out
}

/// Resolve a DIR argument: `None` is the current directory; an existing
/// path is itself (canonical); anything else is looked up as a session
/// name. An ambiguous name is an error listing the candidates. A word that
/// names nothing is returned as a path, for the caller's "no session" error.
pub fn resolve_dir(ctx: &Ctx, dir: Option<&Path>) -> Result<PathBuf> {
    let Some(dir) = dir else {
        return Ok(ctx.cwd.clone());
    };
    let joined = ctx.cwd.join(dir);
    if let Ok(existing) = std::fs::canonicalize(&joined) {
        return Ok(existing);
    }
    let as_path = crate::layout::normalize(&joined);
    let word = dir.to_string_lossy();
    if word.is_empty() {
        return Ok(as_path);
    }
    match lookup(ctx, &word, &as_path)?.as_slice() {
        [] => Ok(as_path),
        [one] => Ok(one.dir.clone()),
        many => bail!(
            "`{word}` names {} sessions: pass one of their directories instead\n  {}",
            many.len(),
            many.iter()
                .map(|n| n.describe())
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
}

/// Whether `word` (not a directory) names a session of the scope of the
/// current directory.
pub fn names_a_session(ctx: &Ctx, word: &str) -> Result<bool> {
    let as_path = crate::layout::normalize(&ctx.cwd.join(word));
    Ok(!lookup(ctx, word, &as_path)?.is_empty())
}

/// The sessions of the current repository (every session on the engine
/// outside one) that `word` names.
fn lookup(ctx: &Ctx, word: &str, as_path: &Path) -> Result<Vec<Named>> {
    let (sessions, _) = super::sessions_in_scope(&ctx.cwd, false)?;
    let candidates = named(&sessions);
    Ok(matching(&candidates, word, as_path)
        .into_iter()
        .cloned()
        .collect())
}

/// Sessions with the worktree each lives in (from git's admin records of
/// their repositories: file reads, no process).
fn named(sessions: &[Session]) -> Vec<Named> {
    let mut admins: BTreeMap<PathBuf, Vec<Admin>> = BTreeMap::new();
    sessions
        .iter()
        .map(|s| {
            let worktree = s.id.git_dir.as_ref().and_then(|g| {
                admins
                    .entry(g.clone())
                    .or_insert_with(|| ownership::admins(g))
                    .iter()
                    .filter(|a| s.id.working_dir.starts_with(&a.worktree))
                    .max_by_key(|a| a.worktree.as_os_str().len())
                    .map(|a| a.worktree.clone())
            });
            Named {
                dir: s.id.working_dir.clone(),
                branch: s.id.branch.clone().filter(|b| !b.is_empty()),
                worktree,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(dir: &str, branch: Option<&str>, worktree: Option<&str>) -> Named {
        Named {
            dir: dir.into(),
            branch: branch.map(Into::into),
            worktree: worktree.map(Into::into),
        }
    }

    #[test]
    fn a_name_is_a_branch_or_a_directory_name() {
        let all = vec![
            n("/s/feat-x", Some("feat/x"), Some("/s/feat-x")),
            n("/s/mono/services/api", Some("mono"), Some("/s/mono")),
            n("/home/me/app", Some("main"), None),
        ];
        let dirs = |word: &str| -> Vec<String> {
            matching(&all, word, Path::new("/nowhere"))
                .iter()
                .map(|m| m.dir.display().to_string())
                .collect()
        };
        assert_eq!(dirs("feat/x"), ["/s/feat-x"]);
        assert_eq!(dirs("feat-x"), ["/s/feat-x"]);
        assert_eq!(dirs("mono"), ["/s/mono/services/api"]);
        assert_eq!(dirs("api"), ["/s/mono/services/api"]);
        assert_eq!(dirs("main"), ["/home/me/app"]);
        assert_eq!(dirs("app"), ["/home/me/app"]);
        assert!(dirs("feat").is_empty());
        // a deleted session directory, by its path
        assert_eq!(
            matching(&all, "../s/feat-x", Path::new("/s/feat-x")).len(),
            1
        );
    }

    #[test]
    fn one_session_matched_twice_counts_once_two_sessions_are_ambiguous() {
        let all = vec![
            n("/s/x", Some("x"), Some("/s/x")),
            n("/t/x", Some("other"), Some("/t/x")),
            n("/s/x", Some("x"), Some("/s/x")),
        ];
        let found = matching(&all, "x", Path::new("/nowhere"));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].describe(), "/s/x (branch x)");
    }
}
