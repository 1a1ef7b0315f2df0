//! The `list` table, pure: one row per session that fits the terminal.
//!
//! - The session you are in (the current directory is inside its working
//!   directory) is marked with `*`.
//! - Directories are shown relative to the current directory where that
//!   is shorter (`.`, `../myapp-sessions/feat-x`), else from `~`, else in
//!   full.
//! - Each published port is one line of the URLS cell (`web
//!   http://localhost:32768`); three or more consecutive container ports
//!   of one service (a compose range such as `4510-4512`) collapse to one
//!   line.
//! - When the table is wider than the terminal, the widest of the
//!   DIRECTORY, URLS, BRANCH and GIT cells are shortened, one column at a
//!   time, with `…` (a path keeps its end), never wrapped; if that is not
//!   enough, AGE and then GIT are left out.

use std::path::{Component, Path, PathBuf};

use crate::gitstate::GitState;
use crate::session::{SessionPort, Status};

/// One session as the table shows it.
pub struct Row {
    pub current: bool,
    pub status: Status,
    pub dir: PathBuf,
    pub branch: Option<String>,
    /// `None`: not in git (or the directory is gone).
    pub git: Option<GitState>,
    pub ports: Vec<SessionPort>,
    pub age: String,
}

/// The width to fit: `COLUMNS` when set, else the terminal's when stdout
/// is one; `None` (no limit) into a pipe or a file.
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
}

/// [`short_path`] with the user's home directory.
pub fn label(path: &Path, cwd: &Path) -> String {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    short_path(path, cwd, home.as_deref())
}

/// `path` for people: relative to `cwd` when inside it or at most two
/// levels up (`../myapp-sessions/x`); else the shorter of `~/…` and the
/// absolute path.
pub fn short_path(path: &Path, cwd: &Path, home: Option<&Path>) -> String {
    if let Ok(rel) = path.strip_prefix(cwd) {
        return if rel.as_os_str().is_empty() {
            ".".into()
        } else {
            rel.display().to_string()
        };
    }
    if let Some(rel) = relative(path, cwd).filter(|r| {
        r.components()
            .filter(|c| matches!(c, Component::ParentDir))
            .count()
            <= 2
    }) {
        return rel.display().to_string();
    }
    let mut candidates = vec![path.display().to_string()];
    if let Some(home) = home.filter(|h| h.components().count() > 1) {
        if let Ok(rel) = path.strip_prefix(home) {
            candidates.push(format!("~/{}", rel.display()));
        }
    }
    candidates
        .into_iter()
        .min_by_key(|c| c.chars().count())
        .unwrap_or_default()
}

/// `path` relative to `from` with `..`, when they share more than `/`.
fn relative(path: &Path, from: &Path) -> Option<PathBuf> {
    let a: Vec<Component> = path.components().collect();
    let b: Vec<Component> = from.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c);
    }
    Some(out)
}

/// The lines of the URLS cell: `service address`, a run of three or more
/// consecutive container ports of one service and scheme on one line
/// (`localstack localhost:32768-32770 (4510-4512)`).
pub fn port_lines(ports: &[SessionPort]) -> Vec<String> {
    let mut sorted: Vec<&SessionPort> = ports.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.service, &a.protocol, a.container_port).cmp(&(
            &b.service,
            &b.protocol,
            b.container_port,
        ))
    });
    let prefix = |p: &SessionPort| -> String {
        let suffix = format!(":{}", p.host_port);
        p.address
            .strip_suffix(&suffix)
            .unwrap_or(&p.address)
            .to_string()
    };
    let mut lines = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut j = i + 1;
        while j < sorted.len() {
            let (prev, next) = (sorted[j - 1], sorted[j]);
            let same = next.service == first.service
                && next.protocol == first.protocol
                && prefix(next) == prefix(first)
                && u32::from(next.container_port) == u32::from(prev.container_port) + 1;
            if !same {
                break;
            }
            j += 1;
        }
        if j - i >= 3 {
            let run = &sorted[i..j];
            let hosts: Vec<u16> = run.iter().map(|p| p.host_port).collect();
            let consecutive = hosts
                .windows(2)
                .all(|w| u32::from(w[1]) == u32::from(w[0]) + 1);
            let host_text = if consecutive {
                format!("{}-{}", hosts[0], hosts[hosts.len() - 1])
            } else {
                hosts
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            lines.push(format!(
                "{} {}:{host_text} ({}-{})",
                first.service,
                prefix(first),
                first.container_port,
                run[run.len() - 1].container_port
            ));
            i = j;
        } else {
            lines.push(format!("{} {}", first.service, first.address));
            i += 1;
        }
    }
    lines
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shrink {
    Never,
    /// Keep the end (`…/feat-x`).
    Path,
    /// The git state: `2 changed ↑3` becomes `2M ↑3`, then is cut.
    Git,
    /// A `service address` line: first without the scheme
    /// (`db localhost:32769`), then its first word and its end
    /// (`db …host:32769`).
    Url,
}

struct Col {
    header: &'static str,
    shrink: Shrink,
}

const COLS: [Col; 7] = [
    Col {
        header: "",
        shrink: Shrink::Never,
    },
    Col {
        header: "STATUS",
        shrink: Shrink::Never,
    },
    Col {
        header: "DIRECTORY",
        shrink: Shrink::Path,
    },
    Col {
        header: "BRANCH",
        shrink: Shrink::Path,
    },
    Col {
        header: "GIT",
        shrink: Shrink::Git,
    },
    Col {
        header: "URLS",
        shrink: Shrink::Url,
    },
    Col {
        header: "AGE",
        shrink: Shrink::Never,
    },
];

const GAP: usize = 2;

fn width_of(s: &str) -> usize {
    console::measure_text_width(s)
}

/// `text` in `width` columns.
fn cut(text: &str, width: usize, shrink: Shrink) -> String {
    match shrink {
        Shrink::Never => text.to_string(),
        Shrink::Path => crate::output::keep_end(text, width),
        Shrink::Git => {
            let compact = text.replace(" changed", "M");
            crate::output::keep_both_ends(
                if width_of(text) <= width {
                    text
                } else {
                    &compact
                },
                width,
            )
        }
        Shrink::Url => {
            if width_of(text) <= width {
                return text.to_string();
            }
            let bare = match text.split_once("://") {
                Some((head, rest)) => match head.rsplit_once(' ') {
                    Some((service, _scheme)) => format!("{service} {rest}"),
                    None => rest.to_string(),
                },
                None => text.to_string(),
            };
            crate::output::keep_both_ends(&bare, width)
        }
    }
}

const MARKER: usize = 0;
const DIRECTORY: usize = 2;
const BRANCH: usize = 3;
const GIT: usize = 4;
const URLS: usize = 5;
const AGE: usize = 6;

/// What gives way, in order, when the table is too wide: each stage
/// shortens its columns (the widest first) down to their floors, or
/// leaves a column out.
enum Stage {
    Shrink(&'static [(usize, usize)]),
    Drop(usize),
}

const STAGES: [Stage; 8] = [
    Stage::Shrink(&[(DIRECTORY, 20), (BRANCH, 16)]),
    Stage::Drop(AGE),
    Stage::Shrink(&[(GIT, 7)]),
    Stage::Shrink(&[(URLS, 30)]),
    Stage::Shrink(&[(DIRECTORY, 12), (BRANCH, 12)]),
    Stage::Shrink(&[(URLS, 22)]),
    Stage::Drop(GIT),
    Stage::Shrink(&[(DIRECTORY, 6), (BRANCH, 6), (URLS, 12)]),
];

/// Column widths that fit `limit` (and which columns are shown).
fn layout(
    cells: &[Vec<Vec<String>>],
    shown: &[bool],
    limit: Option<usize>,
) -> (Vec<usize>, Vec<bool>) {
    let mut widths: Vec<usize> = (0..COLS.len())
        .map(|i| {
            cells
                .iter()
                .flat_map(|row| row[i].iter())
                .map(|l| width_of(l))
                .chain([width_of(COLS[i].header)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut shown = shown.to_vec();
    let Some(limit) = limit else {
        return (widths, shown);
    };
    let total = |w: &[usize], shown: &[bool]| -> usize {
        let n = shown.iter().filter(|s| **s).count();
        (0..COLS.len())
            .filter(|i| shown[*i])
            .map(|i| w[i])
            .sum::<usize>()
            + GAP * n.saturating_sub(1)
    };
    for stage in &STAGES {
        if total(&widths, &shown) <= limit {
            break;
        }
        match stage {
            Stage::Drop(i) => shown[*i] = false,
            Stage::Shrink(cols) => {
                while total(&widths, &shown) > limit {
                    let widest = cols
                        .iter()
                        .filter(|(i, floor)| {
                            shown[*i] && widths[*i] > (*floor).max(width_of(COLS[*i].header))
                        })
                        .max_by_key(|(i, _)| widths[*i]);
                    match widest {
                        Some((i, _)) => widths[*i] -= 1,
                        None => break,
                    }
                }
            }
        }
    }
    (widths, shown)
}

/// After cutting, a column may need less than it was given (`2M ↑3` in
/// a GIT column sized for `2 changed ↑3`): hand the room back to the
/// columns that were cut, URLS first.
fn reclaim(
    cells: &[Vec<Vec<String>>],
    widths: Vec<usize>,
    shown: &[bool],
    limit: Option<usize>,
) -> Vec<usize> {
    let Some(limit) = limit else { return widths };
    let measure = |i: usize, w: usize| -> usize {
        cells
            .iter()
            .flat_map(|row| row[i].iter())
            .map(|l| width_of(&cut(l, w, COLS[i].shrink)))
            .chain([width_of(COLS[i].header)])
            .max()
            .unwrap_or(0)
    };
    let mut used: Vec<usize> = (0..COLS.len()).map(|i| measure(i, widths[i])).collect();
    let n = shown.iter().filter(|s| **s).count();
    let total = (0..COLS.len())
        .filter(|i| shown[*i])
        .map(|i| used[i])
        .sum::<usize>()
        + GAP * n.saturating_sub(1);
    let mut slack = limit.saturating_sub(total);
    for i in [URLS, DIRECTORY, BRANCH, GIT] {
        if !shown[i] || slack == 0 {
            continue;
        }
        let natural = measure(i, usize::MAX);
        let give = natural.saturating_sub(used[i]).min(slack);
        used[i] += give;
        slack -= give;
    }
    used
}

/// Render the table. `limit`: the terminal width (`None`: no limit, as
/// into a pipe). `paint` colours the status words.
pub fn render(
    rows: &[Row],
    cwd: &Path,
    home: Option<&Path>,
    limit: Option<usize>,
    paint: &dyn Fn(Status, &str) -> String,
    bold: &dyn Fn(&str) -> String,
) -> String {
    let cells: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|r| {
            let urls = port_lines(&r.ports);
            vec![
                vec![if r.current { "*".into() } else { String::new() }],
                vec![r.status.to_string()],
                vec![short_path(&r.dir, cwd, home)],
                vec![r.branch.clone().unwrap_or_else(|| "-".into())],
                vec![r.git.as_ref().map_or_else(|| "-".into(), GitState::short)],
                if urls.is_empty() {
                    vec!["-".into()]
                } else {
                    urls
                },
                vec![r.age.clone()],
            ]
        })
        .collect();
    let mut shown = vec![true; COLS.len()];
    shown[MARKER] = rows.iter().any(|r| r.current);
    let (widths, shown) = layout(&cells, &shown, limit);
    let widths = reclaim(&cells, widths, &shown, limit);
    let last_shown = (0..COLS.len()).rev().find(|i| shown[*i]).unwrap_or(0);

    let mut out = String::new();
    let mut line = |parts: Vec<(usize, String, String)>| {
        // (column, plain text, painted text)
        let mut text = String::new();
        for (n, (i, plain, painted)) in parts.into_iter().enumerate() {
            if n > 0 {
                text.push_str(&" ".repeat(GAP));
            }
            text.push_str(&painted);
            if i != last_shown {
                text.push_str(&" ".repeat(widths[i].saturating_sub(width_of(&plain))));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(
        (0..COLS.len())
            .filter(|i| shown[*i])
            .map(|i| (i, COLS[i].header.to_string(), bold(COLS[i].header)))
            .collect(),
    );
    for (r, row) in rows.iter().zip(&cells) {
        let height = row.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            let parts = (0..COLS.len())
                .filter(|i| shown[*i])
                .map(|i| {
                    let plain = row[i]
                        .get(k)
                        .map(|t| cut(t, widths[i], COLS[i].shrink))
                        .unwrap_or_default();
                    let painted = match i {
                        1 if k == 0 => paint(r.status, &plain),
                        0 if k == 0 && r.current => bold(&plain),
                        _ => plain.clone(),
                    };
                    (i, plain, painted)
                })
                .collect();
            line(parts);
        }
    }
    out
}

/// What `create` prints: where the session is and its URLs.
pub fn print_summary(s: &crate::session::Session, cwd: &std::path::Path, host: Option<&str>) {
    crate::output::progress(&format!(
        "{} session {}",
        crate::output::green("Created"),
        crate::output::bold(&super::display_path(&s.id.working_dir, cwd))
    ));
    let mut text = format!("directory: {}\n", s.id.working_dir.display());
    if let Some(b) = &s.id.branch {
        text.push_str(&format!("branch:    {b}\n"));
    }
    text.push_str(&format!("project:   {}\n", s.id.project_name));
    let rows: Vec<Vec<String>> = s
        .ports(host)
        .into_iter()
        .map(|p| {
            vec![
                p.service.clone(),
                format!("{}/{}", p.container_port, p.protocol),
                p.address,
            ]
        })
        .collect();
    if !rows.is_empty() {
        text.push('\n');
        text.push_str(&crate::output::table(&["SERVICE", "PORT", "URL"], rows));
    }
    crate::output::print(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(service: &str, cp: u16, hp: u16, address: &str) -> SessionPort {
        SessionPort {
            service: service.into(),
            container_port: cp,
            protocol: "tcp".into(),
            host_port: hp,
            host: "localhost".into(),
            url: format!("http://localhost:{hp}"),
            address: address.replace("PORT", &hp.to_string()),
        }
    }

    #[test]
    fn paths_relative_to_where_you_are() {
        let cwd = Path::new("/home/me/myapp");
        let home = Some(Path::new("/home/me"));
        assert_eq!(short_path(Path::new("/home/me/myapp"), cwd, home), ".");
        assert_eq!(
            short_path(Path::new("/home/me/myapp/svc"), cwd, home),
            "svc"
        );
        assert_eq!(
            short_path(Path::new("/home/me/myapp-sessions/feat-x"), cwd, home),
            "../myapp-sessions/feat-x"
        );
        assert_eq!(
            short_path(Path::new("/srv/x"), Path::new("/home/me/a/b/c"), home),
            "/srv/x"
        );
        assert_eq!(
            short_path(
                Path::new("/home/me/other/proj-sessions/s1"),
                Path::new("/home/me/myapp/deep/er"),
                home
            ),
            "~/other/proj-sessions/s1"
        );
    }

    #[test]
    fn ranges_collapse_to_one_line() {
        let ports = vec![
            port("web", 8080, 32768, "http://localhost:PORT"),
            port("stack", 4510, 40001, "localhost:PORT"),
            port("stack", 4511, 40002, "localhost:PORT"),
            port("stack", 4512, 40003, "localhost:PORT"),
            port("odd", 7000, 41000, "localhost:PORT"),
            port("odd", 7001, 41005, "localhost:PORT"),
            port("odd", 7002, 41001, "localhost:PORT"),
            port("two", 9000, 42000, "http://localhost:PORT"),
            port("two", 9001, 42001, "http://localhost:PORT"),
        ];
        assert_eq!(
            port_lines(&ports),
            vec![
                "odd localhost:41000,41005,41001 (7000-7002)",
                "stack localhost:40001-40003 (4510-4512)",
                "two http://localhost:42000",
                "two http://localhost:42001",
                "web http://localhost:32768",
            ]
        );
    }

    fn row(current: bool, dir: &str, branch: &str) -> Row {
        Row {
            current,
            status: Status::Running,
            dir: PathBuf::from(dir),
            branch: Some(branch.into()),
            git: Some(GitState {
                uncommitted: 2,
                ahead: Some(3),
                ..GitState::default()
            }),
            ports: vec![
                port("web", 8080, 32768, "http://localhost:PORT"),
                port("db", 5432, 32769, "postgresql://localhost:PORT"),
            ],
            age: "5m".into(),
        }
    }

    fn plain(_: Status, s: &str) -> String {
        s.to_string()
    }

    fn same(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn fits_80_columns_without_wrapping() {
        let rows = vec![
            row(
                true,
                "/home/me/projects/a-rather-long-project-name-sessions/session-2026-02-06T12-30-45",
                "session/2026-02-06T12-30-45",
            ),
            row(false, "/home/me/projects/app", "main"),
        ];
        let cwd = Path::new(
            "/home/me/projects/a-rather-long-project-name-sessions/session-2026-02-06T12-30-45/src",
        );
        let wide = render(&rows, cwd, None, None, &plain, &same);
        assert!(wide.lines().any(|l| l.chars().count() > 80), "{wide}");
        let text = render(&rows, cwd, None, Some(80), &plain, &same);
        for l in text.lines() {
            assert!(
                l.chars().count() <= 80,
                "{} > 80: {l:?}\n{text}",
                l.chars().count()
            );
        }
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("   STATUS"), "{text}");
        assert!(lines[1].starts_with("*  running"), "{text}");
        // Terse git state and cut paths make room for whole URLs.
        assert!(lines[1].contains("2M ↑3"), "{text}");
        assert!(
            lines[1].contains("db postgresql://localhost:32769"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("      ") && lines[2].contains("web "),
            "{text}"
        );
        assert!(lines[3].starts_with("   running"), "{text}");
        // Every session keeps one line per port: nothing wrapped.
        assert_eq!(lines.len(), 5, "{text}");
        // Narrower still: AGE and GIT go before anything wraps.
        let narrow = render(&rows, cwd, None, Some(60), &plain, &same);
        assert!(!narrow.lines().next().unwrap().contains("AGE"), "{narrow}");
        // A URL that does not fit loses its scheme before anything else.
        let narrower = render(&rows, cwd, None, Some(70), &plain, &same);
        assert!(narrower.contains("db localhost:32769"), "{narrower}");
        for l in narrow.lines() {
            assert!(l.chars().count() <= 60, "{l:?}");
        }
    }

    #[test]
    fn no_marker_column_when_outside_every_session() {
        let rows = vec![row(false, "/x/a", "main")];
        let text = render(&rows, Path::new("/y"), None, None, &plain, &same);
        assert!(text.starts_with("STATUS"), "{text}");
    }
}
