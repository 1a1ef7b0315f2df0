//! Output: the colour decision, tables, JSON, and stderr messages.

use comfy_table::{presets, ContentArrangement, Table};
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::ColorChoice;

static COLOR: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

/// Set the colour decision (see [`decide_color`]) and `--quiet` for the run.
pub fn init(color: bool, quiet: bool) {
    COLOR.store(color, Ordering::Relaxed);
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether to colour: `--color always|never`, else the environment
/// (`NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`), else whether stdout and stderr
/// are both terminals.
pub fn decide_color(choice: ColorChoice) -> bool {
    let env = std::env::var_os;
    color_wanted(
        choice,
        env("NO_COLOR").as_deref(),
        env("CLICOLOR_FORCE").as_deref(),
        env("CLICOLOR").as_deref(),
        // Tables go to stdout and progress to stderr: colour only when
        // both are terminals, so `list | less` gets plain text.
        || std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
    )
}

/// The colour rule, pure: an explicit `--color` wins; then `NO_COLOR` set
/// and non-empty (no-color.org) disables; then `CLICOLOR_FORCE` set and not
/// `0` forces; then `CLICOLOR=0` disables (bixense.com/clicolors); then a
/// terminal decides.
fn color_wanted(
    choice: ColorChoice,
    no_color: Option<&OsStr>,
    clicolor_force: Option<&OsStr>,
    clicolor: Option<&OsStr>,
    terminal: impl FnOnce() -> bool,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if no_color.is_some_and(|v| !v.is_empty()) => false,
        ColorChoice::Auto if clicolor_force.is_some_and(|v| v != "0") => true,
        ColorChoice::Auto if clicolor.is_some_and(|v| v == "0") => false,
        ColorChoice::Auto => terminal(),
    }
}

pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// `--quiet`: only errors and the answer.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn paint(code: &str, text: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn bold(text: &str) -> String {
    paint("1", text)
}

pub fn green(text: &str) -> String {
    paint("32", text)
}

pub fn yellow(text: &str) -> String {
    paint("33", text)
}

pub fn red(text: &str) -> String {
    paint("31", text)
}

/// Progress on stderr (silenced by `--quiet`).
pub fn progress(msg: &str) {
    if !quiet() {
        crate::progress::eprint_line(msg);
    }
}

/// A warning on stderr (silenced by `--quiet`).
pub fn warn(msg: &str) {
    if !quiet() {
        crate::progress::eprint_line(&format!("{} {msg}", yellow("warning:")));
    }
}

/// A line of a child's output without the ANSI "erase line" sequence
/// (`ESC[2K`) Compose puts before each log line even when its output is
/// not a terminal.
pub fn strip_erase_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const ERASE: &[u8] = b"\x1b[2K";
    if !line.windows(ERASE.len()).any(|w| w == ERASE) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i..].starts_with(ERASE) {
            i += ERASE.len();
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `text` cut to `width` columns keeping its end, at a `/` where one is
/// near (`…/feature-login`): for paths.
pub fn keep_end(text: &str, width: usize) -> String {
    if console::measure_text_width(text) <= width {
        return text.to_string();
    }
    let mut tail = String::new();
    for c in text.chars().rev() {
        let candidate = format!("{c}{tail}");
        if console::measure_text_width(&candidate) + 1 > width {
            break;
        }
        tail = candidate;
    }
    // Start at a `/` when that costs little, so the end is whole names.
    if let Some(pos) = tail.find('/') {
        if tail.len() - pos > 1 && pos * 4 <= tail.len() {
            tail = tail[pos..].to_string();
        }
    }
    format!("…{tail}")
}

/// `text` cut to `width` columns in the middle, keeping its first word
/// (up to a space or `/`, when short enough) and as much of its end as
/// fits: `session/…T12-30-45`, `postgres …localhost:54321`.
pub fn keep_both_ends(text: &str, width: usize) -> String {
    let w = console::measure_text_width;
    if w(text) <= width {
        return text.to_string();
    }
    if width < 4 {
        return console::truncate_str(text, width, "…").into_owned();
    }
    let head: String = match text.find([' ', '/']) {
        Some(i) if w(&text[..=i]) <= width / 2 => text[..=i].to_string(),
        _ => text.chars().take(width / 3).collect(),
    };
    let room = width - w(&head) - 1;
    let mut tail = String::new();
    for c in text.chars().rev() {
        let candidate = format!("{c}{tail}");
        if w(&candidate) > room {
            break;
        }
        tail = candidate;
    }
    format!("{head}…{tail}")
}

/// Write the answer to stdout. A closed pipe (`| head`) ends quietly.
/// Send every answer to stderr from now on: for a command whose stdout is
/// read by a program (a Claude Code hook prints only a path there, with
/// [`print_stdout`]), while it runs other commands' code paths.
pub fn answers_to_stderr() {
    ANSWERS_TO_STDERR.store(true, Ordering::Relaxed);
}

static ANSWERS_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Write the answer to stdout (to stderr after [`answers_to_stderr`]). A
/// closed pipe (`| head`) ends quietly.
pub fn print(text: &str) {
    if ANSWERS_TO_STDERR.load(Ordering::Relaxed) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        return;
    }
    print_stdout(text);
}

/// Write to stdout, whatever [`answers_to_stderr`] said.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Pretty JSON to stdout, with a trailing newline.
pub fn print_json<T: serde::Serialize>(value: &T) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    print(&format!("{text}\n"));
}

/// A borderless table of rows under a header.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| bold(h)).collect::<Vec<_>>());
    for row in rows {
        t.add_row(row);
    }
    let text = t.to_string();
    // comfy-table pads every cell; trailing blanks are noise in a terminal.
    let mut out: String = text
        .lines()
        .map(|l| l.trim_end().strip_prefix(' ').unwrap_or(l.trim_end()))
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_rule() {
        use ColorChoice::{Always, Auto, Never};
        let s = |v: &'static str| Some(OsStr::new(v));
        let tty = || true;
        let pipe = || false;
        // An explicit choice beats every variable.
        assert!(color_wanted(Always, s("1"), None, s("0"), pipe));
        assert!(!color_wanted(Never, None, s("1"), None, tty));
        // Auto: a terminal decides when nothing is set.
        assert!(color_wanted(Auto, None, None, None, tty));
        assert!(!color_wanted(Auto, None, None, None, pipe));
        // NO_COLOR set and non-empty disables, even on a terminal and
        // against CLICOLOR_FORCE; empty is as if unset.
        assert!(!color_wanted(Auto, s("1"), None, None, tty));
        assert!(!color_wanted(Auto, s("1"), s("1"), None, pipe));
        assert!(color_wanted(Auto, s(""), None, None, tty));
        // CLICOLOR_FORCE not 0 forces colour on a pipe; 0 does not.
        assert!(color_wanted(Auto, None, s("1"), None, pipe));
        assert!(color_wanted(Auto, s(""), s("yes"), s("0"), pipe));
        assert!(!color_wanted(Auto, None, s("0"), None, pipe));
        // CLICOLOR=0 disables on a terminal; other values leave it to the TTY.
        assert!(!color_wanted(Auto, None, None, s("0"), tty));
        assert!(color_wanted(Auto, None, None, s("1"), tty));
        assert!(!color_wanted(Auto, None, None, s("1"), pipe));
    }

    #[test]
    fn erase_line_is_stripped_and_nothing_else() {
        assert_eq!(
            &*strip_erase_line(b"\x1b[2Kweb-1  | hello\n"),
            b"web-1  | hello\n"
        );
        assert_eq!(
            &*strip_erase_line(b"\x1b[36mweb\x1b[0m \x1b[2K|\x1b[2K x\n"),
            b"\x1b[36mweb\x1b[0m | x\n"
        );
        assert!(matches!(
            strip_erase_line(b"plain\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn cuts_keep_what_tells_things_apart() {
        assert_eq!(keep_end("../sessions/feature-login", 16), "…/feature-login");
        assert_eq!(keep_end("abcdefghijkl", 5), "…ijkl");
        assert_eq!(keep_end("short", 10), "short");
        assert_eq!(
            keep_both_ends("session/2026-02-06T12-30-45", 18),
            "session/…T12-30-45"
        );
        assert_eq!(
            keep_both_ends("postgres postgresql://localhost:54321", 26),
            "postgres …/localhost:54321"
        );
        for width in 4..30 {
            let cut = keep_both_ends("session/2026-02-06T12-30-45", width);
            assert!(console::measure_text_width(&cut) <= width, "{width}: {cut}");
        }
    }

    #[test]
    fn table_has_header_and_rows_without_trailing_blanks() {
        let t = table(
            &["SERVICE", "URL"],
            vec![
                vec!["web".into(), "http://localhost:32768".into()],
                vec!["postgres".into(), "http://localhost:32769".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("SERVICE"));
        assert!(lines[1].starts_with("web "));
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }
}
