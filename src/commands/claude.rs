//! `dev-prism claude`: install the agent integration in the main worktree
//! root: `.claude/skills/dev-prism/SKILL.md` and a marked `## Dev Sessions`
//! section in `CLAUDE.md`. Idempotent; `--force` replaces both. The texts and
//! the section update are pure and tested below.

use anyhow::{bail, Context, Result};
use std::path::Path;

use super::Ctx;
use crate::cli::ClaudeArgs;
use crate::git;
use crate::output;
use crate::safefs;

pub const SKILL_PATH: &str = ".claude/skills/dev-prism/SKILL.md";
pub const CLAUDE_MD: &str = "CLAUDE.md";
pub const START: &str = "<!-- dev-prism:start -->";
pub const END: &str = "<!-- dev-prism:end -->";

/// The Claude Code skill. Every `dev-prism <command>` in it is a real
/// command (checked by the integration tests against `dev-prism --help`).
pub const SKILL: &str = r#"---
name: dev-prism
description: Run this repository in isolated dev sessions with dev-prism; each session is its own git worktree and branch plus its own Docker Compose stack on random host ports, with the ports in .env.session. Use when you need a running stack (database, services) to develop or test against, need its ports or URLs, or need to stop or clean up sessions.
---

# dev-prism

With dev-prism, a session is a working directory (a new git worktree on its
own branch, or the current directory with `--in-place`) plus its own Docker
Compose project, started from the repository's compose file with every
published port moved to a random free host port chosen by Docker. Several
sessions run side by side without port or name clashes.

Commands act on the session of the current directory (also from a
subdirectory of it). Pass the session directory as an argument, or `-C DIR`,
to act on another one.

## Which command when

| you want to | run |
|---|---|
| a new isolated session: worktree, branch and stack | `dev-prism create` (`--branch NAME`, `--base REF`) |
| a stack for the directory you are in, no new worktree | `dev-prism create --in-place` |
| the sessions of this repository | `dev-prism list` (`--json` for data) |
| status, containers and URLs of your session | `dev-prism info` (`--json` for data) |
| the ports and URLs as data | `dev-prism env --json` |
| run tests or a tool against the session | `dev-prism with-env -- npm test` |
| the logs of the stack or of one service | `dev-prism logs web --no-follow -n 100` |
| free CPU and memory, keep the data | `dev-prism stop`, later `dev-prism start` |
| stop every running session | `dev-prism stop-all` |
| remove a session for good | `dev-prism destroy` (ask the user first) |
| remove worktrees of stopped sessions | `dev-prism prune --dry-run`, then `dev-prism prune` (ask the user first) |
| find out why something does not start | `dev-prism doctor` |

`dev-prism create` prints the session directory: work (edit, commit, run
tests) inside it.

## Ports and URLs

Ports are chosen by Docker and change every time the session restarts.
Never use the host ports written in the compose file; read them:

- `dev-prism env --json` prints the session environment as a JSON object:
  `SESSION_DIR`, `COMPOSE_PROJECT_NAME`, `COMPOSE_FILE`, one `<SERVICE>_PORT`
  per service with a published port (service name upper-cased, other
  characters replaced by `_`; a service with several ports also gets
  `<SERVICE>_PORT_<container port>`), and `DATABASE_URL` when there is a
  postgres service. Example: `dev-prism env --json | jq -r .WEB_PORT`.
- `.env.session` in the session directory holds the same variables as
  dotenv lines (`set -a; . ./.env.session; set +a` loads them in a shell).
  `dev-prism info` rewrites it when it is missing or stale.
- `dev-prism with-env -- CMD` runs CMD with these variables set and exits
  with CMD's exit code.
- `dev-prism info --json` and `dev-prism list --json` list `ports[].url`
  for each service.
- A stopped session has no ports: `dev-prism stop` deletes `.env.session`
  and `dev-prism env` fails until `dev-prism start` (which finds the new
  ports and rewrites the file).
- Plain compose on the session: `docker compose --env-file .env.session ps`.

## Removing sessions: ask first

- Always confirm with the user before `dev-prism destroy`,
  `dev-prism destroy --all` or `dev-prism prune`: they remove containers,
  volumes (database data), worktrees and branches.
- `dev-prism destroy` checks git before touching anything: it refuses a
  worktree with uncommitted or untracked files (exit 1, the message names
  how many) unless `--force`, and it keeps a branch whose commits are on no
  other branch and not pushed (it says so). Commit or push the work rather
  than reaching for `--force`, and never pass `--force` without the user's
  explicit consent: with it the changes and the branch are lost.
- `dev-prism destroy --all` destroys the sessions that are safe, lists the
  ones it kept and exits 1.
- `dev-prism prune` makes the same checks; `dev-prism prune --dry-run` only
  lists what it would remove.
- Without a terminal (as for an agent), `dev-prism destroy --all` and
  `dev-prism prune` stop and ask for `-y`; add `-y` only after the user
  agreed.
- A session made with `--in-place` never has its directory removed.
"#;

/// The `CLAUDE.md` section, markers included (no trailing newline, so the
/// bytes after the end marker are kept as they are).
pub const SECTION: &str = r#"<!-- dev-prism:start -->
## Dev Sessions

This repository runs its development stack with dev-prism: each session is a
git worktree and branch with its own Docker Compose stack on random host
ports. Details: `.claude/skills/dev-prism/SKILL.md`.

- Start one with `dev-prism create` (new worktree and branch; work in the
  directory it prints) or `dev-prism create --in-place` (this directory).
- Read ports and URLs from `.env.session` or `dev-prism env --json`; never
  use the ports written in the compose file. `dev-prism with-env -- CMD`
  runs CMD with them.
- See sessions with `dev-prism list` and `dev-prism info`.
- Ask the user before `dev-prism destroy` or `dev-prism prune`. `destroy`
  refuses uncommitted work unless `--force`; do not pass `--force` without
  the user's consent.
<!-- dev-prism:end -->"#;

/// What to do with `CLAUDE.md`.
#[derive(Debug, PartialEq, Eq)]
pub enum Update {
    /// Write this text (the section added or replaced).
    Write(String),
    /// Leave the file alone: the section exists (identical or not).
    Keep { identical: bool },
}

/// Add the section to `existing` (or a new file), or replace it with
/// `force`. Everything outside the markers is kept byte for byte.
pub fn update_claude_md(existing: Option<&str>, section: &str, force: bool) -> Result<Update> {
    let Some(text) = existing else {
        return Ok(Update::Write(format!("{section}\n")));
    };
    let Some(start) = text.find(START) else {
        let sep = if text.is_empty() || text.ends_with("\n\n") {
            ""
        } else if text.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        return Ok(Update::Write(format!("{text}{sep}{section}\n")));
    };
    let Some(len) = text[start..].find(END) else {
        bail!("{CLAUDE_MD} has `{START}` but no `{END}` after it: add the end marker or remove the start marker, then run again");
    };
    let end = start + len + END.len();
    let identical = &text[start..end] == section;
    if identical || !force {
        return Ok(Update::Keep { identical });
    }
    Ok(Update::Write(format!(
        "{}{section}{}",
        &text[..start],
        &text[end..]
    )))
}

pub fn run(ctx: &Ctx, args: ClaudeArgs) -> Result<i32> {
    let root = match git::discover(&ctx.cwd)? {
        Some(repo) => repo.main_root,
        None => ctx.cwd.clone(),
    };
    install_skill(&root, args.force)?;
    install_section(&root, args.force)?;
    Ok(0)
}

/// Write a file of the repository (`rel` below `root`) through the
/// safe-write rules. A symlinked `CLAUDE.md -> AGENTS.md` is written
/// through, but only to a regular file inside the repository.
fn write(root: &Path, rel: &str, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let rel = Path::new(rel);
    safefs::check_dirs(root, rel)?;
    let mut path = root.join(rel);
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        let target = std::fs::canonicalize(&path)
            .with_context(|| format!("could not follow the symlink {}", path.display()))?;
        let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        if !target.starts_with(&real_root) || !target.is_file() {
            bail!(
                "{} is a symlink to {}, outside the repository or not a file: not written",
                path.display(),
                target.display()
            );
        }
        path = target;
    }
    let mode = std::fs::symlink_metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    safefs::create_dirs(root, rel)?;
    safefs::write_file(&path, text.as_bytes(), mode)
}

fn install_skill(root: &Path, force: bool) -> Result<()> {
    let path = root.join(SKILL_PATH);
    if path.exists() {
        let same = std::fs::read_to_string(&path).is_ok_and(|t| t == SKILL);
        if same {
            output::progress(&format!("{} is up to date", path.display()));
            return Ok(());
        }
        if !force {
            output::progress(&format!(
                "{} exists: left as it is (--force replaces it)",
                path.display()
            ));
            return Ok(());
        }
    }
    write(root, SKILL_PATH, SKILL)?;
    output::progress(&format!("Wrote {}", path.display()));
    Ok(())
}

fn install_section(root: &Path, force: bool) -> Result<()> {
    let path = root.join(CLAUDE_MD);
    let existing =
        match std::fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!("{} is not UTF-8 text: not changed", path.display())
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => bail!("could not read {}: {e}", path.display()),
        };
    match update_claude_md(existing.as_deref(), SECTION, force)? {
        Update::Write(text) => {
            write(root, CLAUDE_MD, &text)?;
            let what = if existing.is_none() {
                "Wrote"
            } else {
                "Updated the Dev Sessions section of"
            };
            output::progress(&format!("{what} {}", path.display()));
        }
        Update::Keep { identical: true } => {
            output::progress(&format!(
                "{} Dev Sessions section is up to date",
                path.display()
            ));
        }
        Update::Keep { identical: false } => {
            output::progress(&format!(
                "{} already has a Dev Sessions section: left as it is (--force replaces it)",
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(u: Update) -> String {
        match u {
            Update::Write(t) => t,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn new_file_gets_the_section() {
        let t = written(update_claude_md(None, SECTION, false).unwrap());
        assert!(t.starts_with(START));
        assert!(t.ends_with(&format!("{END}\n")));
        assert!(t.contains("## Dev Sessions"));
    }

    #[test]
    fn appends_keeping_the_rest_byte_for_byte() {
        for (before, sep) in [
            ("# Project\n\nRules.\n", "\n"),
            ("# Project", "\n\n"),
            ("# P\n\n", ""),
            ("", ""),
        ] {
            let t = written(update_claude_md(Some(before), SECTION, false).unwrap());
            assert_eq!(t, format!("{before}{sep}{SECTION}\n"));
        }
    }

    #[test]
    fn idempotent_and_force_replaces_only_the_section() {
        let before = "# Project\r\n\r\nKeep me.\r\n";
        let once = written(update_claude_md(Some(before), SECTION, false).unwrap());
        assert_eq!(
            update_claude_md(Some(&once), SECTION, false).unwrap(),
            Update::Keep { identical: true }
        );
        let old = once.replace("## Dev Sessions", "## Dev Sessions (old)") + "tail\n";
        assert_eq!(
            update_claude_md(Some(&old), SECTION, false).unwrap(),
            Update::Keep { identical: false }
        );
        let forced = written(update_claude_md(Some(&old), SECTION, true).unwrap());
        assert_eq!(forced, format!("{once}tail\n"));
        assert_eq!(forced.matches(START).count(), 1);
    }

    #[test]
    fn missing_end_marker_is_an_error() {
        let err = update_claude_md(Some(&format!("x\n{START}\n")), SECTION, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains(END), "{err}");
    }

    #[test]
    fn skill_has_frontmatter() {
        assert!(SKILL.starts_with("---\nname: dev-prism\ndescription: "));
        let front = SKILL.split("---").nth(1).unwrap();
        assert_eq!(front.lines().filter(|l| !l.is_empty()).count(), 2);
        assert!(SECTION.starts_with(START) && SECTION.ends_with(END));
    }
}
