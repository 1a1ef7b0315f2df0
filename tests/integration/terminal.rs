//! The terminal surface: completion scripts run in real bash, zsh and fish;
//! examples in every `--help`; colour of clap's own messages (`--color`,
//! `NO_COLOR`, `CLICOLOR_FORCE`); `--quiet`.

use crate::harness::*;
use assert_cmd::Command;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary in a scratch directory, with no colour variables from the
/// caller's environment.
fn bin(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dev-prism").unwrap();
    cmd.current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    bin(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

// ---------------------------------------------------------------- completion

/// Fail (not skip) when a shell the tests drive is missing.
fn require_shell(shell: &str) {
    let found = std::process::Command::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{shell} is not installed: run `scripts/test-env.sh` (it installs bash, zsh and fish on Debian), or install it"
    );
}

/// `dev-prism completions SHELL` written to `dir/name`.
fn write_script(dir: &Path, shell: &str, name: &str) -> PathBuf {
    let out = bin(dir).args(["completions", shell]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// What bash does on Tab: find the function `complete -p dev-prism`
/// registered, set COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT for the line
/// (words split on blanks; the test lines have no quotes), call it as
/// `fn dev-prism CUR PREV`, print COMPREPLY one per line.
const BASH_DRIVER: &str = r#"
set -u
source "$1" || exit 90
line=$2
spec=$(complete -p dev-prism) || { echo "no completion registered for dev-prism" >&2; exit 91; }
fn=$(sed -E 's/.* -F ([^ ]+) .*/\1/' <<<"$spec")
read -ra COMP_WORDS <<<"$line"
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE=$line
COMP_POINT=${#line}
COMPREPLY=()
"$fn" dev-prism "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// Real zsh completion: an interactive `zsh -f` in a pseudo-terminal (zpty)
/// runs compinit with the script's directory on fpath, the line is typed
/// with a Tab, and a `compadd` wrapper records every candidate zsh offers.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 90
dir=$1 out=$2 line=$3
: >$out
zpty z zsh -f -i
zpty -w z "PS1=''; RPS1=''; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "(( \$+functions[_dev-prism] )) || print -r -- '<<no _dev-prism>>' >>${(q)out}"
zpty -w z "zstyle ':completion:*' list-prompt ''; zstyle ':completion:*' menu no"
zpty -w z "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi; local -a m; builtin compadd -O m \"\$@\"; (( \$#m )) && print -rl -- \$m >>${(q)out}; builtin compadd \"\$@\"; }"
zpty -w z "_record_tab() { zle complete-word; print -r -- '<<done>>' >>${(q)out}; }; zle -N _record_tab; bindkey '^I' _record_tab"
zpty -n -w z "$line"$'\t'
for i in {1..200}; do
  grep -q '<<done>>' $out && break
  sleep 0.05
done
zpty -d z
grep -q '<<done>>' $out || { echo "zsh did not finish completing" >&2; exit 92; }
grep -v '<<done>>' $out
"#;

/// The candidates `shell` offers for `line` (the cursor at its end).
fn complete(shell: &str, dir: &Path, line: &str) -> BTreeSet<String> {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = std::process::Command::new(shell);
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("ZDOTDIR");
    match shell {
        "bash" => {
            let script = dir.join("dev-prism.bash");
            cmd.args(["--norc", "--noprofile", "-c", BASH_DRIVER, "bash"])
                .arg(&script)
                .arg(line);
        }
        "zsh" => {
            let out = dir.join(format!("zsh-{}.out", line.len()));
            cmd.args(["-f", "-c", ZSH_DRIVER, "zsh"])
                .arg(dir.join("zfunc"))
                .arg(&out)
                .arg(line);
        }
        "fish" => {
            cmd.args([
                "--no-config",
                "-c",
                "source $argv[1]; or exit 90; complete -C $argv[2]",
            ])
            .arg(dir.join("dev-prism.fish"))
            .arg(line);
        }
        _ => unreachable!(),
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{shell} completing {line:?} failed ({}):\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    // fish prints `candidate<TAB>description`.
    stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The same questions to every shell: subcommand names, flags and values
/// after a subcommand (hyphenated ones included), global flags before it.
fn check_shell(shell: &str) {
    require_shell(shell);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    match shell {
        "bash" => write_script(dir, "bash", "dev-prism.bash"),
        "zsh" => {
            std::fs::create_dir_all(dir.join("zfunc")).unwrap();
            write_script(dir, "zsh", "zfunc/_dev-prism")
        }
        _ => write_script(dir, "fish", "dev-prism.fish"),
    };
    let exact: [(&str, &[&str]); 9] = [
        ("dev-prism st", &["start", "stop", "stop-all"]),
        ("dev-prism -q st", &["start", "stop", "stop-all"]),
        ("dev-prism --color ", &["auto", "always", "never"]),
        ("dev-prism create --br", &["--branch"]),
        ("dev-prism create --mode ", &["docker", "native"]),
        (
            "dev-prism -C . create --w",
            &["--wait-timeout", "--without"],
        ),
        ("dev-prism stop-all --g", &["--global"]),
        ("dev-prism prune --dr", &["--dry-run"]),
        ("dev-prism list --color ", &["auto", "always", "never"]),
    ];
    for (line, want) in exact {
        assert_eq!(complete(shell, dir, line), set(want), "{shell}: {line:?}");
    }
    let some: [(&str, &[&str]); 2] = [
        (
            "dev-prism ",
            &["create", "list", "stop-all", "with-env", "completions"],
        ),
        ("dev-prism completions ", &["bash", "zsh", "fish"]),
    ];
    for (line, want) in some {
        let got = complete(shell, dir, line);
        assert!(got.is_superset(&set(want)), "{shell}: {line:?}: {got:?}");
    }
}

#[test]
fn bash_completes_commands_flags_and_values() {
    check_shell("bash");
}

#[test]
fn zsh_completes_commands_flags_and_values() {
    check_shell("zsh");
}

#[test]
fn fish_completes_commands_flags_and_values() {
    check_shell("fish");
}

// ------------------------------------------------------------------ examples

/// Flags (`-x`, `--long`) listed in a help text's option sections.
fn flags_of(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in help.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        let head = line.split("  ").next().unwrap_or("");
        for part in head.split([',', ' ', '=']) {
            if part.starts_with('-') && part.len() > 1 {
                flags.insert(part.to_string());
            }
        }
    }
    flags
}

/// Subcommand names from the "Commands:" section of `dev-prism --help`.
fn subcommands(help: &str) -> Vec<String> {
    help.split_once("Commands:")
        .unwrap()
        .1
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_subcommand_help_has_examples_of_real_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let top = run(tmp.path(), &[], &["--help"]);
    assert!(top.status.success());
    let top = stdout(&top);
    let subs = subcommands(&top);
    assert!(subs.len() >= 14, "{subs:?}");
    let global = flags_of(top.split_once("Global Options:").unwrap().1);
    assert!(
        global.contains("-C") && global.contains("--color"),
        "{global:?}"
    );
    for sub in &subs {
        let out = run(tmp.path(), &[], &[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help: {}", stderr(&out));
        let help = stdout(&out);
        let (options, examples) = help
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("`dev-prism {sub} --help` has no Examples:\n{help}"));
        let flags = flags_of(options);
        let mut ran_it = false;
        for line in examples.lines() {
            // Each `dev-prism …` command of the line, up to a pipe,
            // redirection or comment.
            for part in line.split("&&") {
                let part = part.split(['|', ';', '>', '#']).next().unwrap();
                let words: Vec<&str> = part.split_whitespace().collect();
                if words.first() != Some(&"dev-prism") {
                    continue;
                }
                // Global options may come before the subcommand.
                let mut rest = words[1..].iter();
                let named = loop {
                    match rest.next() {
                        Some(&"-C") => {
                            rest.next();
                        }
                        Some(w) if w.starts_with('-') => {
                            assert!(global.contains(*w), "{sub}: {line:?}: {w} is not global")
                        }
                        Some(w) => break *w,
                        None => panic!("{sub}: {line:?} names no subcommand"),
                    }
                };
                assert!(
                    subs.iter().any(|s| s == named),
                    "{sub}: {line:?}: `{named}` is not a subcommand"
                );
                if named != sub {
                    continue;
                }
                ran_it = true;
                for w in rest.take_while(|w| **w != "--") {
                    if w.starts_with('-') {
                        let flag = w.split('=').next().unwrap();
                        assert!(
                            flags.contains(flag),
                            "{sub}: {line:?}: {flag} is not a flag of {sub} ({flags:?})"
                        );
                    }
                }
            }
        }
        assert!(
            ran_it,
            "{sub}: no example runs `dev-prism {sub}`:\n{examples}"
        );
    }
}

// -------------------------------------------------------------------- colour

const ESC: char = '\x1b';

fn usage_error(env: &[(&str, &str)], args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), env, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("nosuchcmd") || err.contains("sideways"),
        "{err}"
    );
    err
}

#[test]
fn color_governs_clap_messages() {
    let plain = |env: &[(&str, &str)], args: &[&str]| {
        let err = usage_error(env, args);
        assert!(!err.contains(ESC), "{env:?} {args:?}: {err:?}");
    };
    let coloured = |env: &[(&str, &str)], args: &[&str]| {
        let err = usage_error(env, args);
        assert!(err.contains(ESC), "{env:?} {args:?}: {err:?}");
    };
    // Not a terminal and nothing set: plain.
    plain(&[], &["nosuchcmd"]);
    plain(&[], &["--color", "never", "nosuchcmd"]);
    coloured(&[], &["--color", "always", "nosuchcmd"]);
    coloured(&[], &["--color=always", "nosuchcmd"]);
    // A global flag after the subcommand, and an error inside it.
    coloured(&[], &["create", "--mode", "sideways", "--color", "always"]);
    // NO_COLOR (set, non-empty) disables; CLICOLOR_FORCE forces off a TTY.
    plain(&[("NO_COLOR", "1")], &["nosuchcmd"]);
    coloured(&[("NO_COLOR", "")], &["--color", "always", "nosuchcmd"]);
    coloured(&[("CLICOLOR_FORCE", "1")], &["nosuchcmd"]);
    plain(&[("CLICOLOR_FORCE", "0")], &["nosuchcmd"]);
    plain(
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
        &["nosuchcmd"],
    );
    // An explicit --color beats both variables.
    coloured(&[("NO_COLOR", "1")], &["--color", "always", "nosuchcmd"]);
    plain(
        &[("CLICOLOR_FORCE", "1")],
        &["--color", "never", "nosuchcmd"],
    );

    // Help (stdout) follows the same rule.
    let tmp = tempfile::tempdir().unwrap();
    let help = |env: &[(&str, &str)], args: &[&str]| {
        let out = run(tmp.path(), env, args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(help(&[], &["--color", "always", "create", "--help"]).contains(ESC));
    assert!(!help(&[], &["create", "--help"]).contains(ESC));
    assert!(help(&[("CLICOLOR_FORCE", "1")], &["list", "--help"]).contains(ESC));
    assert!(!help(
        &[("CLICOLOR_FORCE", "1")],
        &["list", "--help", "--color=never"]
    )
    .contains(ESC));
}

#[test]
fn clicolor_force_colours_our_own_output_too() {
    // `doctor` outside a repository: it runs, and its `ok git` is green.
    let tmp = tempfile::tempdir().unwrap();
    let forced = stdout(&run(tmp.path(), &[("CLICOLOR_FORCE", "1")], &["doctor"]));
    assert!(forced.contains("\x1b[32mok"), "{forced:?}");
    let both = stdout(&run(
        tmp.path(),
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        &["doctor"],
    ));
    assert!(!both.contains(ESC), "{both:?}");
    assert!(both.contains("ok   git"), "{both:?}");
}

// --------------------------------------------------------------------- quiet

#[test]
fn quiet_prints_only_the_answer_no_warnings() {
    let repo = TestRepo::named(
        "quiet",
        &[
            ("compose.yaml", WEB_SERVICE),
            ("session.config.json", r#"{ "noSuchKey": 1 }"#),
        ],
    );
    // Without -q the config warning is on stderr.
    let loud = repo.cmd().arg("doctor").output().unwrap();
    assert!(
        stderr(&loud).contains("warning:") && stderr(&loud).contains("noSuchKey"),
        "{}",
        stderr(&loud)
    );
    for args in [&["-q", "doctor"][..], &["doctor", "--quiet"][..]] {
        let out = repo.cmd().args(args).output().unwrap();
        assert_eq!(stderr(&out), "", "{args:?}");
        let answer = stdout(&out);
        assert!(
            answer.contains("compose file") && answer.contains("warn config"),
            "{args:?}: {answer}"
        );
        assert_eq!(out.status.code(), loud.status.code(), "{args:?}");
    }
}
