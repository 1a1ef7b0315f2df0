//! Output: the colour decision, tables, JSON, and stderr messages.

use comfy_table::{presets, ContentArrangement, Table};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::ColorChoice;

static COLOR: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

/// Decide colour once: `--color`, then `NO_COLOR`, then whether stderr is a TTY.
pub fn init(choice: ColorChoice, quiet: bool) {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        // Tables go to stdout and progress to stderr: colour only when
        // both are terminals, so `list | less` gets plain text.
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
                && std::io::stdout().is_terminal()
        }
    };
    COLOR.store(on, Ordering::Relaxed);
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
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
    if !QUIET.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr(), "{msg}");
    }
}

/// A warning on stderr (always shown).
pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{} {msg}", yellow("warning:"));
}

/// Write the answer to stdout. A closed pipe (`| head`) ends quietly.
pub fn print(text: &str) {
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
