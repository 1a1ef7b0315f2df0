//! `dev-prism claude`: the skill file and the CLAUDE.md section.

use crate::harness::*;

const START: &str = "<!-- dev-prism:start -->";
const END: &str = "<!-- dev-prism:end -->";
const SKILL: &str = ".claude/skills/dev-prism/SKILL.md";

fn read(repo: &TestRepo, path: &str) -> String {
    std::fs::read_to_string(repo.root.join(path)).unwrap()
}

/// The text between the markers, markers included.
fn section(text: &str) -> &str {
    let start = text.find(START).unwrap();
    let end = text.find(END).unwrap() + END.len();
    &text[start..end]
}

#[test]
fn installs_skill_and_section_idempotently() {
    let repo = TestRepo::new("services: {}\n");
    let before = "# My project\r\n\r\nUse tabs.\r\n";
    repo.write("CLAUDE.md", before);
    // run from a linked worktree: the files land in the main worktree root
    let wt = repo.base.join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "wt", wt.to_str().unwrap()]);
    repo.ok_in(&wt, &["claude"]);
    assert!(!wt.join(SKILL).exists());

    let skill = read(&repo, SKILL);
    let front: Vec<&str> = skill.split("---\n").nth(1).unwrap().lines().collect();
    assert!(skill.starts_with("---\n"), "{skill}");
    assert_eq!(front[0], "name: dev-prism");
    assert!(front[1].starts_with("description: ") && front[1].len() > 60);
    assert_eq!(front.len(), 2);
    assert!(skill.contains(".env.session") && skill.contains("dev-prism env --json"));

    let once = read(&repo, "CLAUDE.md");
    assert!(once.starts_with(before), "the rest is kept byte for byte");
    assert_eq!(once.matches(START).count(), 1);
    assert_eq!(once.matches(END).count(), 1);
    assert!(section(&once).contains("## Dev Sessions"));

    // twice: nothing changes
    let out = repo.ok(&["claude"]);
    assert_eq!(read(&repo, "CLAUDE.md"), once);
    assert_eq!(read(&repo, SKILL), skill);
    assert!(stderr(&out).contains("up to date"), "{}", stderr(&out));

    // edited by hand: left alone (and said so) unless --force
    let edited_skill = "---\nname: dev-prism\ndescription: mine\n---\nmine\n";
    repo.write(SKILL, edited_skill);
    let edited = once.replace("## Dev Sessions", "## Dev Sessions (edited)") + "after\n";
    repo.write("CLAUDE.md", &edited);
    let out = repo.ok(&["claude"]);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(read(&repo, SKILL), edited_skill);
    assert_eq!(read(&repo, "CLAUDE.md"), edited);

    repo.ok(&["claude", "--force"]);
    assert_eq!(read(&repo, SKILL), skill);
    assert_eq!(read(&repo, "CLAUDE.md"), format!("{once}after\n"));
}

#[test]
fn creates_claude_md_when_missing() {
    let repo = TestRepo::new("services: {}\n");
    repo.ok(&["claude"]);
    let text = read(&repo, "CLAUDE.md");
    assert!(text.starts_with(START) && text.ends_with(&format!("{END}\n")));
}

/// The commands of `dev-prism --help`.
fn commands(repo: &TestRepo) -> Vec<String> {
    let help = stdout(&repo.ok(&["--help"]));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Global options that take a value, skipped before the command word.
const GLOBAL_WITH_VALUE: [&str; 2] = ["-C", "--color"];

/// The command word of `dev-prism …` text (global options skipped), and
/// the words after it.
fn command_words(rest: &str) -> (Option<String>, Vec<String>) {
    let mut words = rest.split_whitespace().map(str::to_string);
    while let Some(w) = words.next() {
        if GLOBAL_WITH_VALUE.contains(&w.as_str()) {
            words.next();
        } else if !w.starts_with('-') {
            return (Some(w), words.collect());
        }
    }
    (None, Vec::new())
}

#[test]
fn every_command_and_flag_mentioned_exists() {
    let repo = TestRepo::new("services: {}\n");
    repo.write("AGENTS.md", "# Agents\n");
    repo.ok(&["claude"]);
    let commands = commands(&repo);
    assert!(commands.contains(&"prune".to_string()), "{commands:?}");
    assert!(commands.contains(&"path".to_string()), "{commands:?}");
    assert!(commands.contains(&"hook".to_string()), "{commands:?}");
    let settings = read(&repo, ".claude/settings.json");
    let text = format!(
        "{}\n{}\n{}\n{}",
        read(&repo, SKILL),
        read(&repo, "CLAUDE.md"),
        read(&repo, "AGENTS.md"),
        settings
    );
    assert!(
        !text.contains("--env-file .env.session"),
        "a generated text recommends --env-file .env.session"
    );
    // the same section in AGENTS.md as in CLAUDE.md
    assert_eq!(
        section(&read(&repo, "AGENTS.md")),
        section(&read(&repo, "CLAUDE.md"))
    );

    // every `dev-prism <word>` in the prose is a command
    let mut seen = Vec::new();
    for (i, _) in text.match_indices("dev-prism ") {
        let rest: String = text[i + "dev-prism ".len()..]
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let (Some(word), _) = command_words(&rest) else {
            continue;
        };
        let word: String = word
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if word.is_empty() {
            continue; // prose such as "dev-prism (…)", not a command
        }
        assert!(
            commands.contains(&word),
            "`dev-prism {word}` is not a command of `dev-prism --help`: {commands:?}"
        );
        seen.push(word);
    }
    for needed in [
        "create", "env", "destroy", "prune", "list", "with-env", "path", "logs", "info", "hook",
    ] {
        assert!(seen.iter().any(|w| w == needed), "{needed} not mentioned");
    }

    // every option in a `dev-prism <command> ...` code span exists
    for span in text.split('`').skip(1).step_by(2) {
        let Some(rest) = span.strip_prefix("dev-prism ") else {
            continue;
        };
        let rest = rest.split('|').next().unwrap();
        let rest = rest.split(" -- ").next().unwrap();
        let (Some(command), words) = command_words(rest) else {
            panic!("`{span}` names no command");
        };
        let help = stdout(&repo.ok(&[&command, "--help"]));
        let flags = rest
            .split_whitespace()
            .filter(|w| w.starts_with('-'))
            .chain(
                words
                    .iter()
                    .map(String::as_str)
                    .filter(|w| w.starts_with('-')),
            );
        for flag in flags {
            assert!(
                help.split(|c: char| c.is_whitespace() || ",=[]".contains(c))
                    .any(|t| t == flag),
                "`{span}`: {flag} is not an option of `dev-prism {command}`"
            );
        }
    }
}

#[test]
fn readme_never_recommends_env_file_with_the_session_file() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    assert!(!readme.contains("--env-file .env.session"));
    assert!(readme.contains("## Using it with Claude Code"));
}

#[test]
fn settings_json_gains_the_hooks_once_and_keeps_the_rest() {
    let repo = TestRepo::new("services: {}\n");
    // What `JSON.stringify(x, null, 2)` writes, with a hook of the user's.
    let user = r#"{
  "permissions": {
    "allow": [
      "Bash(npm test:*)"
    ]
  },
  "hooks": {
    "PostToolUse": [
      {
        "matcher": "Edit",
        "hooks": [
          {
            "type": "command",
            "command": "npx prettier --write"
          }
        ]
      }
    ]
  },
  "env": {"FOO": "bar"}
}
"#;
    repo.write(".claude/settings.json", user);
    let out = repo.ok(&["claude"]);
    assert!(
        stderr(&out).contains("Added the WorktreeCreate and WorktreeRemove hooks"),
        "{}",
        stderr(&out)
    );
    let once = read(&repo, ".claude/settings.json");
    let v: serde_json::Value = serde_json::from_str(&once).unwrap();
    let mut want: serde_json::Value = serde_json::from_str(user).unwrap();
    for (event, command) in [
        ("WorktreeCreate", "dev-prism hook worktree-create"),
        ("WorktreeRemove", "dev-prism hook worktree-remove"),
    ] {
        want["hooks"][event] =
            serde_json::json!([{"hooks": [{"type": "command", "command": command}]}]);
    }
    assert_eq!(v, want, "{once}");
    // the user's bytes are all still there, in order
    assert!(
        once.starts_with(&user[..user.find("    ]\n  },").unwrap()]),
        "{once}"
    );
    assert!(
        once.ends_with("  \"env\": {\"FOO\": \"bar\"}\n}\n"),
        "{once}"
    );

    let out = repo.ok(&["claude"]);
    assert_eq!(read(&repo, ".claude/settings.json"), once, "no duplicates");
    assert!(
        stderr(&out).contains("worktree hooks are up to date"),
        "{}",
        stderr(&out)
    );
    repo.ok(&["claude", "--force"]);
    assert_eq!(read(&repo, ".claude/settings.json"), once);

    // invalid JSON: an error, and the file is left alone
    repo.write(".claude/settings.json", "{\"hooks\": ");
    let out = repo.cmd().arg("claude").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("settings.json"), "{}", stderr(&out));
    assert_eq!(read(&repo, ".claude/settings.json"), "{\"hooks\": ");
}
