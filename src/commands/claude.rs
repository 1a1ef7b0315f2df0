//! `dev-prism claude`: install the agent integration in the main worktree
//! root: `.claude/skills/dev-prism/SKILL.md`, a marked `## Dev Sessions`
//! section in `CLAUDE.md` (and in `AGENTS.md` when the repository has one),
//! and the Claude Code `WorktreeCreate` / `WorktreeRemove` hooks in
//! `.claude/settings.json` (see `claude_settings`). Idempotent; `--force`
//! replaces the skill and the sections. The texts and the updates are pure
//! and tested.

use anyhow::{bail, Context, Result};
use std::path::Path;

use super::Ctx;
use crate::claude_settings;
use crate::cli::ClaudeArgs;
use crate::git;
use crate::output;
use crate::safefs;

pub const SKILL_PATH: &str = ".claude/skills/dev-prism/SKILL.md";
pub const CLAUDE_MD: &str = "CLAUDE.md";
pub const AGENTS_MD: &str = "AGENTS.md";
pub const START: &str = "<!-- dev-prism:start -->";
pub const END: &str = "<!-- dev-prism:end -->";

/// The Claude Code skill. Every `dev-prism <command>` in it is a real
/// command (checked by the integration tests against `dev-prism --help`).
pub const SKILL: &str = r#"---
name: dev-prism
description: Run this repository in isolated dev sessions with dev-prism; each session is its own git worktree and branch plus its own Docker Compose stack on host ports of its own, with the ports in .env.session. Use when you need a running stack (database, services) to develop or test against, need its ports or URLs, or need to stop or clean up sessions.
---

# dev-prism

With dev-prism, a session is a working directory (a git worktree on its
own branch, or an existing directory with `--in-place`) plus its own Docker
Compose project: the repository's compose file with every published port
moved to a free host port. Sessions run side by side without clashes.

## You may already be in one

When Claude Code started you with `claude --worktree NAME` (or gave you a
worktree of your own), that worktree is a session made by dev-prism, with
its stack running: `dev-prism info` shows it. Do not create another session
for it.

## Name the session: your shell may not stay in it

Commands act on the session of the current directory (or of a directory
inside it). Your shell may be moved back to the project directory between
commands, so do not rely on `cd`; name the session in each command:

- `dev-prism -C DIR info` runs any command as if started in DIR;
- `dev-prism env --json DIR`, `dev-prism with-env DIR -- CMD` and
  `dev-prism logs DIR` take it as an argument;
- DIR is the session directory, or the session's branch (`feat/login`), or
  its worktree directory name (`feat-login`); leave it out when the current
  directory is in the session;
- `dev-prism path NAME` prints the directory, for other tools:
  `git -C "$(dev-prism path feat/login)" status`.

## Which command when

| you want to | run |
|---|---|
| a new session: worktree, branch and stack | `dev-prism create --json --branch NAME` (`--base REF` to start from another commit); work in the `working_dir` it prints |
| a stack for an existing directory, no new worktree | `dev-prism create --in-place` |
| the directory of a session | `dev-prism path NAME` |
| the sessions of this repository | `dev-prism list --json` |
| status, containers and URLs of a session | `dev-prism info --json DIR` |
| its ports and URLs as data | `dev-prism env --json DIR` |
| run tests or a tool against it | `dev-prism with-env DIR -- npm test` |
| the logs of its stack or of one service | `dev-prism logs DIR web --no-follow -n 100` |
| free CPU and memory, keep the data | `dev-prism stop DIR`, later `dev-prism start DIR` |
| remove a session for good | `dev-prism destroy DIR` (ask the user first) |
| remove worktrees of stopped sessions | `dev-prism prune --dry-run`, then `dev-prism prune -y` (ask the user first) |
| find out why something does not start | `dev-prism doctor` |

## Ports and URLs

Each session has host ports of its own, on 127.0.0.1, kept across
`stop`/`start` (one another program took meanwhile moves, and `start` says
so). Never use the host ports written in the compose file; read them:

- `dev-prism env --json DIR` prints the session environment as one JSON
  object: `SESSION_DIR`, `COMPOSE_PROJECT_NAME`, `COMPOSE_FILE`, one
  `<SERVICE>_PORT` per service with a published port (service name
  upper-cased, other characters replaced by `_`; a service with several
  ports also gets `<SERVICE>_PORT_<container port>`), and `DATABASE_URL`
  when there is a postgres service. Example:
  `dev-prism env --json feat/login | jq -r .WEB_PORT`.
- `dev-prism with-env DIR -- CMD` runs CMD with these variables set and
  exits with CMD's exit code. Plain Compose on the session:
  `dev-prism with-env DIR -- docker compose ps`.
- `.env.session` in the session directory holds the same variables as
  dotenv lines (`set -a; . ./.env.session; set +a` loads them in a shell).
  Never give it to Compose's `--env-file` option: that replaces the
  project's own `.env`.
- `dev-prism info --json DIR` and `dev-prism list --json` list
  `ports[].address` for each service (a URL where the port speaks HTTP).
- A stopped session's services are down: `dev-prism env` fails until
  `dev-prism start DIR`.

## Removing sessions: ask first

- Always confirm with the user before `dev-prism destroy`,
  `dev-prism destroy --all` or `dev-prism prune`: they remove containers,
  volumes (database data), worktrees and branches.
- `dev-prism destroy` checks git before touching anything: it refuses a
  worktree with uncommitted or untracked files (exit 1, the message names
  them) unless `--force`, and it keeps a branch whose commits are on no
  other branch and not pushed (it says so). Commit or push the work rather
  than reaching for `--force`, and never pass `--force` without the user's
  explicit consent: with it the changes and the branch are lost.
- Without a terminal (as for an agent), `dev-prism destroy --all` and
  `dev-prism prune` stop and ask for `-y`; add `-y` only after the user
  agreed.
- A session made with `--in-place` never has its directory removed.

## New worktrees get only what is committed

Commit `.claude/` (this skill, and the worktree hooks in
`.claude/settings.json`) and `CLAUDE.md`, so that every new worktree and
agent has them.
"#;

/// The `CLAUDE.md` (and `AGENTS.md`) section, markers included (no trailing
/// newline, so the bytes after the end marker are kept as they are).
pub const SECTION: &str = r#"<!-- dev-prism:start -->
## Dev Sessions

This repository runs its development stack with dev-prism: each session is a
git worktree and branch with its own Docker Compose stack on free host
ports. Details: `.claude/skills/dev-prism/SKILL.md`.

- Started with `claude --worktree NAME`? Your worktree already is a session
  with a running stack: `dev-prism info` shows it.
- A new session: `dev-prism create --json --branch NAME`; work in the
  `working_dir` it prints. `dev-prism path NAME` prints a session's
  directory (NAME: its branch or worktree directory name).
- Your shell may not stay in another directory: name the session instead of
  using `cd` (`dev-prism -C DIR info`, `dev-prism env --json DIR`,
  `dev-prism with-env DIR -- CMD`, `dev-prism logs DIR`); DIR may be the
  session's branch or worktree directory name.
- Read ports and URLs with `dev-prism env --json`; never use the ports
  written in the compose file.
- Ask the user before `dev-prism destroy` or `dev-prism prune`; never pass
  `--force` without their consent.
- Commit `.claude/` and this file, so that new worktrees have them.
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
        // The original tool's unmarked section is replaced, not doubled.
        if let Some((from, to)) = original_section(text) {
            let rest = &text[to..];
            let sep = if rest.is_empty() { "" } else { "\n" };
            // `rest` starts at the next heading: one blank line before it.
            return Ok(Update::Write(format!(
                "{}{section}\n{sep}{rest}",
                &text[..from]
            )));
        }
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
        bail!("it has `{START}` but no `{END}` after it: add the end marker or remove the start marker, then run again");
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

/// The byte range of the original dev-prism's `## Dev Sessions` section
/// (written without markers): from its heading to the next heading of the
/// same or a higher level (or the end).
fn original_section(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut from = None;
    for line in text.split_inclusive('\n') {
        let heading = line.trim_end();
        match from {
            None if heading == "## Dev Sessions" => from = Some(offset),
            Some(start) if heading.starts_with("# ") || heading.starts_with("## ") => {
                return Some((start, offset));
            }
            _ => {}
        }
        offset += line.len();
    }
    from.map(|start| (start, text.len()))
}

pub fn run(ctx: &Ctx, args: ClaudeArgs) -> Result<i32> {
    let root = match git::discover(&ctx.cwd)? {
        Some(repo) => repo.main_root,
        None => ctx.cwd.clone(),
    };
    install_skill(&root, args.force)?;
    install_section(&root, CLAUDE_MD, args.force)?;
    let agents = root.join(AGENTS_MD);
    if agents.is_file() && !safefs::same_file(&agents, &root.join(CLAUDE_MD)) {
        install_section(&root, AGENTS_MD, args.force)?;
    }
    install_settings(&root)?;
    output::progress(
        "Commit .claude/ and CLAUDE.md so that new worktrees have them; then `claude --worktree NAME` gives each agent a session of its own.",
    );
    Ok(0)
}

/// Merge the worktree hooks into `.claude/settings.json`.
fn install_settings(root: &Path) -> Result<()> {
    let path = root.join(claude_settings::PATH);
    let existing = read_text(&path)?;
    let merged = claude_settings::merge(existing.as_deref())?;
    for w in &merged.warnings {
        output::warn(w);
    }
    match merged.text {
        Some(text) => {
            write(root, claude_settings::PATH, &text)?;
            output::progress(&format!(
                "Added the {} hook{} to {}",
                merged.added.join(" and "),
                if merged.added.len() == 1 { "" } else { "s" },
                path.display()
            ));
        }
        None if merged.warnings.is_empty() => {
            output::progress(&format!("{} worktree hooks are up to date", path.display()));
        }
        None => {}
    }
    Ok(())
}

/// A text file's content, `None` when it does not exist.
fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!("{} is not UTF-8 text: not changed", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => bail!("could not read {}: {e}", path.display()),
    }
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

fn install_section(root: &Path, file: &str, force: bool) -> Result<()> {
    let path = root.join(file);
    let existing = read_text(&path)?;
    let update = update_claude_md(existing.as_deref(), SECTION, force)
        .with_context(|| format!("{} was not changed", path.display()))?;
    match update {
        Update::Write(text) => {
            write(root, file, &text)?;
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
    fn the_original_tools_section_is_replaced_not_doubled() {
        let before = "# Project\n\n## Dev Sessions\n\nUse `dev-prism create` and read\n.env.session.\n\n## Testing\n\nRun the tests.\n";
        let t = written(update_claude_md(Some(before), SECTION, false).unwrap());
        assert_eq!(t.matches("## Dev Sessions").count(), 1, "{t}");
        assert_eq!(
            t,
            format!("# Project\n\n{SECTION}\n\n## Testing\n\nRun the tests.\n")
        );
        let at_end = "# P\n\n## Dev Sessions\nold text\n";
        let t = written(update_claude_md(Some(at_end), SECTION, false).unwrap());
        assert_eq!(t, format!("# P\n\n{SECTION}\n"));
        assert_eq!(
            update_claude_md(Some(&t), SECTION, false).unwrap(),
            Update::Keep { identical: true }
        );
    }

    #[test]
    fn missing_end_marker_is_an_error() {
        let err = update_claude_md(Some(&format!("x\n{START}\n")), SECTION, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains(END), "{err}");
    }

    #[test]
    fn texts_teach_names_and_never_env_file_with_the_session_file() {
        for text in [SKILL, SECTION] {
            assert!(!text.contains("--env-file .env.session"), "{text}");
            for needed in ["dev-prism path", "-C DIR", "env --json", "with-env DIR --"] {
                assert!(text.contains(needed), "{needed} missing");
            }
            assert!(text.contains("Commit `.claude/`"));
        }
    }

    #[test]
    fn skill_has_frontmatter() {
        assert!(SKILL.starts_with("---\nname: dev-prism\ndescription: "));
        let front = SKILL.split("---").nth(1).unwrap();
        assert_eq!(front.lines().filter(|l| !l.is_empty()).count(), 2);
        assert!(SECTION.starts_with(START) && SECTION.ends_with(END));
    }
}
