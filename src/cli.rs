//! The command line: global options and one Args struct per command.

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, ValueHint};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "dev-prism",
    version,
    about = "Isolated dev sessions of one repository: a git worktree and a Docker Compose stack on ports of its own each",
    long_about = "Run many isolated development sessions of one repository side by side.\n\n\
        Each session gets its own git worktree and branch (or uses the current directory with \
        --in-place), its own Docker Compose project started from your compose file with every \
        published port moved to a free host port of its own (on loopback, kept across restarts), \
        and a .env.session file with the ports. Container labels, the override file and a record \
        in git's admin dir are the only records of a session.",
    after_long_help = "Examples:\n  \
        dev-prism create                 # new worktree + branch, stack on ports of its own\n  \
        dev-prism create --in-place      # a session in the current directory\n  \
        dev-prism list                   # sessions of this repository\n  \
        dev-prism env --json             # ports of the session you are in, for scripts\n  \
        dev-prism destroy --all -y       # remove every session of this repository"
)]
pub struct Cli {
    /// Run as if dev-prism was started in DIR
    #[arg(
        short = 'C',
        global = true,
        value_name = "DIR",
        value_hint = ValueHint::DirPath,
        help_heading = "Global Options"
    )]
    pub chdir: Option<PathBuf>,

    /// Print every git and docker command line before running it (to stderr)
    #[arg(short, long, global = true, help_heading = "Global Options")]
    pub verbose: bool,

    /// Print only errors and the answer (no progress, no warnings)
    #[arg(short, long, global = true, help_heading = "Global Options")]
    pub quiet: bool,

    /// When to use colours (auto: honours NO_COLOR and CLICOLOR_FORCE,
    /// else only on a terminal)
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, help_heading = "Global Options")]
    pub color: ColorChoice,

    /// Answer yes to every confirmation prompt
    #[arg(
        short = 'y',
        long = "yes",
        global = true,
        help_heading = "Global Options"
    )]
    pub yes: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Parse the command line. Usage errors, `--help` and `--version` are
/// printed by clap, in colour when `color`, and exit (2 for usage errors).
pub fn parse(args: Vec<OsString>, color: bool) -> Cli {
    let mut cmd = Cli::command().color(if color {
        clap::ColorChoice::Always
    } else {
        clap::ColorChoice::Never
    });
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let parsed = cmd
        .try_get_matches_from_mut(args)
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    match parsed {
        Ok(cli) => cli,
        Err(e) => match with_env_without_dashes(&words, e.kind()) {
            Some(words) => {
                let sub = cmd
                    .find_subcommand_mut("with-env")
                    .map(|c| c.clone().bin_name("dev-prism with-env"));
                let msg = format!(
                    "the command to run goes after `--`: `dev-prism with-env {}-- {}`",
                    words.0, words.1
                );
                match sub {
                    Some(mut sub) => sub.error(ErrorKind::MissingRequiredArgument, msg).exit(),
                    None => e.format(&mut cmd).exit(),
                }
            }
            None => e.format(&mut cmd).exit(),
        },
    }
}

/// `dev-prism with-env npm test` (no `--`): clap sees `npm` as DIR and
/// `test` as one argument too many, or misses CMD. Returns the DIR part
/// (empty or `DIR `) and the command words to show in the hint.
fn with_env_without_dashes(args: &[String], kind: ErrorKind) -> Option<(String, String)> {
    if !matches!(
        kind,
        ErrorKind::MissingRequiredArgument | ErrorKind::UnknownArgument | ErrorKind::TooManyValues
    ) {
        return None;
    }
    let at = args.iter().position(|a| a == "with-env")?;
    let rest = &args[at + 1..];
    if rest.iter().any(|a| a == "--") {
        return None;
    }
    let words: Vec<&String> = rest.iter().filter(|w| !w.starts_with('-')).collect();
    // A first word that is a directory is probably the session's.
    let (dir, cmd) = match words.split_first() {
        Some((first, tail)) if !tail.is_empty() && std::path::Path::new(first).is_dir() => {
            (format!("{first} "), tail.to_vec())
        }
        _ => (String::new(), words),
    };
    let cmd = if cmd.is_empty() {
        "CMD...".to_string()
    } else {
        cmd.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(" ")
    };
    Some((dir, cmd))
}

/// The `--color` value of a command line, read before clap parses it so that
/// clap's own messages follow it too. The last one counts; nothing after `--`
/// does (it belongs to `with-env`'s command); a value clap will reject counts
/// as not given.
pub fn color_flag<S: AsRef<OsStr>>(args: &[S]) -> Option<ColorChoice> {
    let mut found = None;
    let mut words = args.iter().skip(1).map(|a| a.as_ref().to_str());
    while let Some(word) = words.next() {
        let value = match word {
            Some("--") => break,
            Some("--color") => words.next().flatten(),
            Some(w) => w.strip_prefix("--color="),
            None => None,
        };
        if let Some(choice) = value.and_then(|v| ColorChoice::from_str(v, false).ok()) {
            found = Some(choice);
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Start every service, app profiles included
    Docker,
    /// Start the infrastructure only; run the apps yourself
    Native,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Docker => "docker",
            Mode::Native => "native",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a session: worktree, compose stack on ports of its own, .env.session
    #[command(after_long_help = "Examples:\n  \
        dev-prism create\n  \
        dev-prism create --branch feature/login --base main\n  \
        dev-prism create --in-place --wait-timeout 300")]
    Create(CreateArgs),
    /// List sessions with status, directory, branch and URLs
    #[command(
        after_long_help = "Examples:\n  dev-prism list\n  dev-prism list --json | jq '.[].ports'\n  dev-prism list --global"
    )]
    List(ListArgs),
    /// Show one session: status, containers, ports and env file
    #[command(
        after_long_help = "Examples:\n  dev-prism info\n  dev-prism info ../myapp-sessions/session-2026-02-06T12-30-45 --json"
    )]
    Info(InfoArgs),
    /// Print the session environment (dotenv or JSON)
    #[command(
        after_long_help = "Examples:\n  dev-prism env\n  dev-prism env --json | jq -r .APP_PORT"
    )]
    Env(EnvArgs),
    /// Run a command with the session environment
    #[command(
        after_long_help = "Examples:\n  dev-prism with-env -- npm test\n  dev-prism with-env ../s1 -- psql \"$DATABASE_URL\""
    )]
    WithEnv(WithEnvArgs),
    /// Start a stopped session again, on the ports it had
    #[command(after_long_help = "Examples:\n  \
        dev-prism start                                # the session you are in\n  \
        dev-prism start ../myapp-sessions/feature-login\n  \
        dev-prism start && dev-prism env --json        # the new ports")]
    Start(StartArgs),
    /// Stop a session's containers (data volumes are kept)
    #[command(after_long_help = "Examples:\n  \
        dev-prism stop                                 # the session you are in\n  \
        dev-prism stop ../myapp-sessions/feature-login\n  \
        dev-prism stop --timeout 0                     # kill the containers at once")]
    Stop(StopArgs),
    /// Stop every running session
    #[command(after_long_help = "Examples:\n  \
        dev-prism stop-all             # running sessions of this repository\n  \
        dev-prism stop-all --global    # every running session on this Docker engine\n  \
        dev-prism stop-all --timeout 2 # give each container 2 s before it is killed")]
    StopAll(StopAllArgs),
    /// Stream a session's compose logs
    #[command(
        after_long_help = "Examples:\n  dev-prism logs\n  dev-prism logs web -n 100\n  dev-prism logs -n all --no-follow > session.log\n  dev-prism logs ../myapp-sessions/session-2026-02-06T12-30-45 db --no-follow"
    )]
    Logs(LogsArgs),
    /// Remove a session: containers, networks, volumes, generated files, worktree
    #[command(
        after_long_help = "Examples:\n  dev-prism destroy\n  dev-prism destroy ../myapp-sessions/session-2026-02-06T12-30-45\n  dev-prism destroy --all -y              # 4 sessions at a time\n  dev-prism destroy --timeout 1           # containers get 1 s to stop"
    )]
    Destroy(DestroyArgs),
    /// Remove session worktrees that have no running containers
    #[command(after_long_help = "Examples:\n  \
        dev-prism prune --dry-run      # only list what would be removed\n  \
        dev-prism prune                # list, then ask (on a terminal)\n  \
        dev-prism prune -y             # remove without asking (scripts)")]
    Prune(PruneArgs),
    /// Set up Claude Code: skill, CLAUDE.md section, worktree hooks
    #[command(
        after_long_help = "Writes .claude/skills/dev-prism/SKILL.md, a Dev Sessions section in \
        CLAUDE.md (and AGENTS.md when there is one) and the WorktreeCreate/WorktreeRemove hooks in \
        .claude/settings.json, so that `claude --worktree NAME` gets a session of its own. \
        Commit .claude/ and CLAUDE.md.\n\n\
        Examples:\n  \
        dev-prism claude               # add what is missing; keeps your edits\n  \
        dev-prism claude --force       # replace SKILL.md and the Dev Sessions sections"
    )]
    Claude(ClaudeArgs),
    /// Print a session's directory (by branch or worktree directory name)
    #[command(after_long_help = "Examples:\n  \
        cd \"$(dev-prism path feat/login)\"      # by branch\n  \
        dev-prism path feat-login                # by worktree directory name\n  \
        dev-prism path                           # the session you are in")]
    Path(PathArgs),
    /// Claude Code worktree hooks (run by Claude Code; `dev-prism claude` installs them)
    #[command(
        after_long_help = "Claude Code runs these with a JSON payload on stdin; \
        `dev-prism claude` writes them into .claude/settings.json.\n\n\
        worktree-create reads {\"name\" (or \"worktree_name\"), \"cwd\", \"base_path\"?, \"source_ref\"?}, \
        makes a session (worktree on branch NAME, stack, copied files, setup) and prints only \
        the worktree's path on stdout. worktree-remove reads {\"worktree_path\"} and destroys \
        that session; it keeps a worktree with uncommitted work (and says why on stderr) and \
        still exits 0.\n\n\
        Examples:\n  \
        dev-prism hook worktree-create    # stdin: {\"name\": \"feat-x\", \"cwd\": \"/home/me/app\"}\n  \
        dev-prism hook worktree-remove    # stdin: {\"worktree_path\": \"/home/me/app-sessions/feat-x\"}"
    )]
    Hook(HookArgs),
    /// Check that git, docker, Compose and the config are usable
    #[command(after_long_help = "Examples:\n  \
        dev-prism doctor\n  \
        dev-prism -C services/api doctor    # the config of a monorepo subfolder")]
    Doctor,
    /// Print a shell completion script
    #[command(after_long_help = "Examples:\n  \
        dev-prism completions bash > ~/.local/share/bash-completion/completions/dev-prism\n  \
        dev-prism completions zsh > ~/.zfunc/_dev-prism      # with fpath+=(~/.zfunc) before compinit\n  \
        dev-prism completions fish > ~/.config/fish/completions/dev-prism.fish")]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Branch for the new worktree (an existing branch is checked out)
    #[arg(long, short = 'b', value_name = "BRANCH", conflicts_with = "in_place")]
    pub branch: Option<String>,
    /// Start point of the new branch
    #[arg(
        long,
        value_name = "REF",
        default_value = "HEAD",
        conflicts_with = "in_place"
    )]
    pub base: String,
    /// docker: start app profiles too; native: infrastructure only
    #[arg(short, long, value_enum, default_value_t = Mode::Docker)]
    pub mode: Mode,
    /// App profiles not to start in docker mode (comma-separated)
    #[arg(short = 'W', long, value_delimiter = ',', value_name = "APPS")]
    pub without: Vec<String>,
    /// Use the current directory instead of a new worktree
    #[arg(long)]
    pub in_place: bool,
    /// Follow the logs after creating (Ctrl-C stops following; services keep running)
    #[arg(long)]
    pub no_detach: bool,
    /// Skip the setup commands of the config
    #[arg(long)]
    pub no_setup: bool,
    /// Seconds to wait for the services to be ready
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub wait_timeout: u64,
    /// Print the new session as JSON (the `list --json` object)
    #[arg(long)]
    pub json: bool,
    /// Where the worktree goes when the config sets no `sessionsDir` (not
    /// an option: the Claude Code hook passes its `base_path` here).
    #[arg(skip)]
    pub sessions_dir: Option<PathBuf>,
    /// What a failing setup or postStart command leaves (not an option:
    /// the Claude Code hook removes the session then).
    #[arg(skip)]
    pub failure_note: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Every session on this Docker engine, not only this repository's
    #[arg(short, long)]
    pub global: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON (see the README for the schema)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Session directory or a directory inside it, or a session's branch or
    /// worktree directory name (default: current directory)
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Session directory or a directory inside it, or a session's branch or
    /// worktree directory name (default: current directory)
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Print a JSON object instead of dotenv lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WithEnvArgs {
    /// Session directory or a directory inside it, or a session's branch or
    /// worktree directory name (default: current directory)
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Session directory, or a directory inside it (default: current directory)
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Print the session as JSON (the `list --json` object), plus `moved`:
    /// the ports that had to move
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// Session directory or a directory inside it, or a session's branch or
    /// worktree directory name (default: current directory)
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

#[derive(Debug, Args)]
pub struct StopAllArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// Seconds each container gets to stop before it is killed (compose's
    /// --timeout; default: stop_grace_period or 10 for stop, 5 for destroy)
    #[arg(long, short = 't', value_name = "SECONDS")]
    pub timeout: Option<u32>,
}

/// `-n`: a number of lines, or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    All,
    Lines(usize),
}

impl std::fmt::Display for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tail::All => f.write_str("all"),
            Tail::Lines(n) => write!(f, "{n}"),
        }
    }
}

fn parse_tail(s: &str) -> Result<Tail, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(Tail::All);
    }
    s.parse::<usize>()
        .map(Tail::Lines)
        .map_err(|_| format!("`{s}` is not a number of lines or `all`"))
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Session directory or a directory inside it, or a session's branch or
    /// worktree directory name (default: current directory); a first word
    /// that is a service of the current session, or names no directory or
    /// session, is a service
    pub dir: Option<PathBuf>,
    /// Only these services
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Lines of history to show (a number, or `all`)
    #[arg(short = 'n', long, default_value = "50", value_parser = parse_tail, value_name = "N|all")]
    pub tail: Tail,
    /// Print the logs and exit instead of following them
    #[arg(long)]
    pub no_follow: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Session directory or a directory inside it, or a session's branch or
    /// worktree directory name (default: current directory)
    #[arg(conflicts_with = "all", value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Every session of this repository (all sessions with --global)
    #[arg(short, long)]
    pub all: bool,
    /// With --all: every session on this Docker engine
    #[arg(short, long, requires = "all")]
    pub global: bool,
    /// Remove even with uncommitted changes or unmerged commits
    #[arg(short, long)]
    pub force: bool,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Remove even with uncommitted changes or unmerged commits
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ClaudeArgs {
    /// Replace SKILL.md and the Dev Sessions sections when they differ
    /// (the hooks of settings.json are only ever added)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// A session's branch or worktree directory name, or a directory in
    /// it (default: the current directory)
    pub name: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// The Claude Code hook event
    #[arg(value_enum)]
    pub event: HookEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookEvent {
    /// `WorktreeCreate`: make a session, print its worktree's path
    WorktreeCreate,
    /// `WorktreeRemove`: destroy the session of `worktree_path`
    WorktreeRemove,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn without_is_comma_separated() {
        let cli = Cli::try_parse_from(["dev-prism", "create", "--without", "web,worker"]).unwrap();
        let Command::Create(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.without, vec!["web", "worker"]);
    }

    #[test]
    fn with_env_takes_command_after_dashes() {
        let cli =
            Cli::try_parse_from(["dev-prism", "with-env", "--", "sh", "-c", "exit 3"]).unwrap();
        let Command::WithEnv(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.command, vec!["sh", "-c", "exit 3"]);
        assert!(args.dir.is_none());
    }

    #[test]
    fn color_flag_is_read_like_clap_reads_it() {
        let flag = |line: &str| color_flag(&line.split(' ').collect::<Vec<_>>());
        assert_eq!(flag("dev-prism list"), None);
        assert_eq!(flag("dev-prism --color never x"), Some(ColorChoice::Never));
        assert_eq!(flag("dev-prism --color=always"), Some(ColorChoice::Always));
        assert_eq!(
            flag("dev-prism list --color always --color=auto"),
            Some(ColorChoice::Auto)
        );
        assert_eq!(flag("dev-prism --color sometimes"), None);
        assert_eq!(flag("dev-prism --color"), None);
        assert_eq!(
            flag("dev-prism with-env --color never -- ls --color always"),
            Some(ColorChoice::Never)
        );
        assert_eq!(flag("dev-prism with-env -- ls --color=always"), None);
        // Whenever clap accepts a line, both read the same value.
        for line in [
            "dev-prism --color never list",
            "dev-prism list --color=always --json",
            "dev-prism -C /tmp --color always doctor",
            "dev-prism with-env --color never -- ls --color=always",
            "dev-prism logs web --color always -n 5",
        ] {
            let words: Vec<&str> = line.split(' ').collect();
            let cli = Cli::try_parse_from(&words).unwrap();
            assert_eq!(color_flag(&words), Some(cli.color), "{line}");
        }
    }

    /// Shell-like words of one command: quotes grouped, a `#` comment cut.
    fn shell_words(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        let mut in_word = false;
        for c in text.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, '#') if !in_word => break,
                (None, c) if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    /// The `dev-prism …` commands of a help text's "Examples:" section.
    fn examples(help: &str) -> Vec<Vec<String>> {
        let Some((_, section)) = help.split_once("Examples:") else {
            return Vec::new();
        };
        section
            .lines()
            .flat_map(|line| line.split("&&"))
            .flat_map(|part| part.split(['|', ';', '>']).next())
            .map(shell_words)
            .filter(|w| w.first().is_some_and(|w| w == "dev-prism"))
            .collect()
    }

    #[test]
    fn every_command_has_examples_that_parse() {
        let root = Cli::command();
        let mut helps = vec![("dev-prism".to_string(), root.clone())];
        for sub in root.get_subcommands() {
            helps.push((sub.get_name().to_string(), sub.clone()));
        }
        for (name, cmd) in helps {
            let help = cmd
                .get_after_long_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let found = examples(&help);
            assert!(!found.is_empty(), "{name} has no examples:\n{help}");
            if name != "dev-prism" {
                assert!(
                    found.iter().any(|w| w.contains(&name)),
                    "{name}: no example runs it"
                );
            }
            for words in found {
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("{name}: example {words:?} does not parse: {e}");
                }
            }
        }
    }

    #[test]
    fn example_words_are_split_like_a_shell() {
        assert_eq!(
            shell_words("dev-prism with-env ../s1 -- psql \"$DATABASE_URL\" # x"),
            [
                "dev-prism",
                "with-env",
                "../s1",
                "--",
                "psql",
                "$DATABASE_URL"
            ]
        );
        assert_eq!(
            examples("Examples:\n  dev-prism list --json | jq '.[]'\n  dev-prism stop && dev-prism start\n"),
            [
                vec!["dev-prism", "list", "--json"],
                vec!["dev-prism", "stop"],
                vec!["dev-prism", "start"]
            ]
        );
    }

    #[test]
    fn short_flags_of_the_original_tool() {
        let cli =
            Cli::try_parse_from(["dev-prism", "create", "-m", "native", "-W", "a,b"]).unwrap();
        let Command::Create(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.mode, Mode::Native);
        assert_eq!(args.without, vec!["a", "b"]);
        let cli = Cli::try_parse_from(["dev-prism", "destroy", "-a", "-f"]).unwrap();
        let Command::Destroy(args) = cli.command else {
            panic!()
        };
        assert!(args.all && args.force);
        assert!(Cli::try_parse_from(["dev-prism", "prune", "-f"]).is_ok());
    }

    #[test]
    fn branch_conflicts_with_in_place() {
        assert!(
            Cli::try_parse_from(["dev-prism", "create", "--in-place", "--branch", "x"]).is_err()
        );
    }
}
