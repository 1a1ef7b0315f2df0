//! Progress of commands that wait: one line per service (`create`, `start`,
//! `stop`, `destroy`) or per session (`stop-all`, `destroy --all`,
//! `prune`), with its state and the time since the command began it:
//!
//! ```text
//! ⠙ database  waiting for health  6.2s
//! ✓ web       running  0.8s
//! ```
//!
//! Three ways to show it, decided once ([`Mode::detect`]):
//! - **live** on a terminal (stderr is a TTY): the lines update in place,
//!   drawn with indicatif;
//! - **plain** when stderr is not a terminal (a log, CI, an agent), or with
//!   `--verbose` (whose command lines would tear live lines apart): one
//!   line per change of state, no spinner, no escape codes;
//! - **off** with `--quiet`.
//!
//! Everything goes to stderr, so `--json` and tables on stdout are never
//! touched. The states come from the containers the readiness loop (or the
//! watcher here, while a compose command runs) already polls; the mapping
//! from a container to words is the pure [`container_step`].

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::inspect::Container;
use crate::output;
use crate::session::service_of;

/// How a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Still changing (a spinner on a terminal).
    Active,
    /// Reached what the command wanted.
    Done,
    /// Will not get there.
    Failed,
}

/// A row's state: words and how it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    pub kind: Kind,
}

impl Step {
    pub fn active(text: impl Into<String>) -> Step {
        Step {
            text: text.into(),
            kind: Kind::Active,
        }
    }

    pub fn done(text: impl Into<String>) -> Step {
        Step {
            text: text.into(),
            kind: Kind::Done,
        }
    }

    pub fn failed(text: impl Into<String>) -> Step {
        Step {
            text: text.into(),
            kind: Kind::Failed,
        }
    }
}

/// What the command does to the containers (decides the words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `create`, `start`: wait until running (and healthy).
    Up,
    /// `stop`: wait until stopped.
    Stop,
    /// `destroy`: wait until removed.
    Down,
}

/// Pure: the words for one service's container (`None`: it has none yet,
/// or none any more) while `op` runs.
pub fn container_step(op: Op, c: Option<&Container>) -> Step {
    let Some(c) = c else {
        return match op {
            Op::Up => Step::active("pending"),
            Op::Stop => Step::done("stopped"),
            Op::Down => Step::done("removed"),
        };
    };
    let st = &c.state;
    match op {
        Op::Stop | Op::Down => match st.status.as_str() {
            "running" | "restarting" | "paused" => Step::active("stopping"),
            "removing" => Step::active("removing"),
            _ if op == Op::Stop => Step::done("stopped"),
            _ => Step::active("removing"),
        },
        Op::Up => match (st.status.as_str(), st.health.as_deref()) {
            ("running", Some("starting")) => Step::active("waiting for health"),
            ("running", Some("healthy")) => Step::done("healthy"),
            ("running", Some("unhealthy")) => Step::failed("unhealthy"),
            ("running", _) => Step::done("running"),
            ("exited", _) if st.exit_code == 0 => Step::done("finished"),
            ("exited", _) => Step::failed(format!("exited with code {}", st.exit_code)),
            ("dead", _) => Step::failed("dead"),
            ("restarting", _) if st.exit_code != 0 => {
                Step::failed(format!("restarting (exit code {})", st.exit_code))
            }
            ("created", _) => Step::active("created"),
            (other, _) => Step::active(other.to_string()),
        },
    }
}

/// Pure: the step of a service from all its containers (replicas): a
/// failure wins, then anything still changing, then done.
pub fn service_step(op: Op, containers: &[&Container]) -> Step {
    let steps: Vec<Step> = if containers.is_empty() {
        vec![container_step(op, None)]
    } else {
        containers
            .iter()
            .map(|c| container_step(op, Some(c)))
            .collect()
    };
    let pick = |k: Kind| steps.iter().find(|s| s.kind == k).cloned();
    pick(Kind::Failed)
        .or_else(|| pick(Kind::Active))
        .or_else(|| steps.first().cloned())
        .unwrap_or_else(|| container_step(op, None))
}

/// How progress is shown for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Plain,
    Live,
}

impl Mode {
    /// `--quiet`: off; stderr a terminal (not `TERM=dumb`) and no
    /// `--verbose`: live; otherwise plain lines.
    pub fn detect() -> Mode {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        choose(
            output::quiet(),
            std::io::stderr().is_terminal() && !dumb,
            crate::process::verbose(),
        )
    }
}

/// Pure: the mode rule.
fn choose(quiet: bool, terminal: bool, verbose: bool) -> Mode {
    match (quiet, terminal && !verbose) {
        (true, _) => Mode::Off,
        (false, true) => Mode::Live,
        (false, false) => Mode::Plain,
    }
}

/// The live display in use, so that warnings printed meanwhile go above
/// the lines instead of through them.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Print to stderr without tearing the live lines (if any).
pub fn eprint_line(line: &str) {
    let active = ACTIVE.lock().ok().and_then(|a| a.clone());
    match active {
        Some(multi) => {
            let _ = multi.suspend(|| writeln!(std::io::stderr(), "{line}"));
        }
        None => {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

struct Row {
    label: String,
    step: Step,
    /// When the row's step last changed (plain mode prints the time since
    /// the start; this only decides what changed).
    bar: Option<ProgressBar>,
}

/// One progress display: rows by label.
pub struct Progress {
    mode: Mode,
    /// Plain mode: print only rows that are done or failed (one result
    /// line per session of a bulk command).
    results_only: bool,
    start: Instant,
    width: usize,
    label_width: usize,
    multi: Option<MultiProgress>,
    rows: Mutex<Vec<Row>>,
    finished: AtomicBool,
}

/// Seconds with one decimal: `6.2s`.
fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A label cut to `width` columns, keeping its end (`…/feature-login`).
fn fit_label(label: &str, width: usize) -> String {
    output::keep_end(label, width)
}

impl Progress {
    /// One row per service (`create`, `start`, `stop`, `destroy`).
    pub fn services(labels: &[String]) -> Progress {
        Progress::new(labels, false, Mode::detect())
    }

    /// One row per session of a bulk command: in plain mode only the
    /// result of each is printed.
    pub fn sessions(labels: &[String]) -> Progress {
        Progress::new(labels, true, Mode::detect())
    }

    fn new(labels: &[String], results_only: bool, mode: Mode) -> Progress {
        let width = console::Term::stderr()
            .size_checked()
            .map_or(80, |(_, cols)| usize::from(cols));
        let longest = labels
            .iter()
            .map(|l| console::measure_text_width(l))
            .max()
            .unwrap_or(0);
        // Room for the symbol, the state and the time on one line.
        let label_width = longest.min(width.saturating_sub(32).max(12));
        let multi = (mode == Mode::Live).then(|| {
            let m = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            if let Ok(mut a) = ACTIVE.lock() {
                *a = Some(m.clone());
            }
            m
        });
        let p = Progress {
            mode,
            results_only,
            start: Instant::now(),
            width,
            label_width,
            multi,
            rows: Mutex::new(Vec::new()),
            finished: AtomicBool::new(false),
        };
        for l in labels {
            p.add_row(l, None);
        }
        p
    }

    fn styles(&self) -> (ProgressStyle, ProgressStyle, ProgressStyle) {
        let colour = output::color();
        let (spin, ok, bad) = if colour {
            ("{spinner:.cyan}", output::green("✓"), output::red("✗"))
        } else {
            ("{spinner}", "✓".to_string(), "✗".to_string())
        };
        let elapsed = |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", secs(s.elapsed()));
        };
        let make = |head: &str, live_time: bool| {
            let template = if live_time {
                format!("{head} {{prefix}}  {{msg}}  {{t}}")
            } else {
                format!("{head} {{prefix}}  {{msg}}")
            };
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("t", elapsed)
                .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "])
        };
        (make(spin, true), make(&ok, false), make(&bad, false))
    }

    fn padded(&self, label: &str) -> String {
        let fitted = fit_label(label, self.label_width);
        let pad = self
            .label_width
            .saturating_sub(console::measure_text_width(&fitted));
        format!("{fitted}{}", " ".repeat(pad))
    }

    /// The state words cut to what is left of the line.
    fn fitted_text(&self, text: &str) -> String {
        let room = self.width.saturating_sub(self.label_width + 12).max(10);
        console::truncate_str(text, room, "…").into_owned()
    }

    fn add_row(&self, label: &str, step: Option<Step>) {
        let step = step.unwrap_or_else(|| Step::active("pending"));
        let bar = self.multi.as_ref().map(|m| {
            // Styled before it is added, so its first frame is already right.
            let bar = ProgressBar::new_spinner()
                .with_style(self.styles().0)
                .with_prefix(self.padded(label))
                .with_message(self.fitted_text(&step.text));
            m.add(bar)
        });
        let row = Row {
            label: label.to_string(),
            step: step.clone(),
            bar,
        };
        self.draw(&row, true);
        if let Ok(mut rows) = self.rows.lock() {
            rows.push(row);
        }
    }

    /// Show `row` (its step just changed, or it is new).
    fn draw(&self, row: &Row, new: bool) {
        match self.mode {
            Mode::Off => {}
            Mode::Live => {
                let Some(bar) = &row.bar else { return };
                let (active, done, failed) = self.styles();
                let text = self.fitted_text(&row.step.text);
                match row.step.kind {
                    Kind::Active => {
                        bar.set_style(active);
                        bar.set_message(text);
                        bar.enable_steady_tick(Duration::from_millis(100));
                    }
                    Kind::Done | Kind::Failed => {
                        bar.disable_steady_tick();
                        bar.set_style(if row.step.kind == Kind::Done {
                            done
                        } else {
                            failed
                        });
                        bar.set_message(format!("{text}  {}", secs(self.start.elapsed())));
                    }
                }
            }
            Mode::Plain => {
                // A new row that is only pending says nothing yet.
                if new && row.step.kind == Kind::Active && row.step.text == "pending" {
                    return;
                }
                if self.results_only && row.step.kind == Kind::Active {
                    return;
                }
                eprint_line(&format!(
                    "{}  {}  {}",
                    self.padded(&row.label),
                    row.step.text,
                    secs(self.start.elapsed())
                ));
            }
        }
    }

    /// Set the step of the row `label` (added when new); drawn only when it
    /// changed.
    pub fn set(&self, label: &str, step: Step) {
        let Ok(mut rows) = self.rows.lock() else {
            return;
        };
        match rows.iter_mut().find(|r| r.label == label) {
            Some(row) if row.step == step => {}
            Some(row) => {
                row.step = step;
                self.draw(row, false);
            }
            None => {
                drop(rows);
                self.add_row(label, Some(step));
            }
        }
    }

    /// Update every service row from the containers of the project.
    pub fn observe(&self, op: Op, containers: &[Container]) {
        if self.mode == Mode::Off {
            return;
        }
        let mut labels: Vec<String> = self
            .rows
            .lock()
            .map(|rows| rows.iter().map(|r| r.label.clone()).collect())
            .unwrap_or_default();
        for c in containers {
            let s = service_of(c).to_string();
            if !labels.contains(&s) {
                labels.push(s);
            }
        }
        for label in labels {
            let mine: Vec<&Container> = containers
                .iter()
                .filter(|c| service_of(c) == label)
                .collect();
            self.set(&label, service_step(op, &mine));
        }
    }

    /// Mark every row still changing with `step` (the command reached its
    /// goal: what is left stands as `step` says).
    pub fn settle(&self, step: Step) {
        let labels: Vec<String> = self
            .rows
            .lock()
            .map(|rows| {
                rows.iter()
                    .filter(|r| r.step.kind == Kind::Active)
                    .map(|r| r.label.clone())
                    .collect()
            })
            .unwrap_or_default();
        for l in labels {
            self.set(&l, step.clone());
        }
    }

    /// Run `work` while a watcher polls the project's containers and feeds
    /// the rows (after a second: a quick command starts no extra process).
    pub fn watch<R>(&self, project: &str, op: Op, work: impl FnOnce() -> R) -> R {
        if self.mode == Mode::Off {
            return work();
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut wait = Duration::from_secs(1);
                loop {
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if let Ok(containers) = crate::ready::session_containers(project) {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        self.observe(op, &containers);
                    }
                    wait = Duration::from_millis(400);
                }
            });
            let r = work();
            stop.store(true, Ordering::SeqCst);
            r
        })
    }

    /// End the display: lines stay on the screen as they are.
    pub fn finish(&self) {
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(rows) = self.rows.lock() {
            for row in rows.iter() {
                if let Some(bar) = &row.bar {
                    if row.step.kind == Kind::Active {
                        // Stopped part-way (an error follows): freeze it.
                        bar.disable_steady_tick();
                        let (_, _, failed) = self.styles();
                        bar.set_style(failed.tick_strings(&["·", "·"]));
                        bar.set_message(format!(
                            "{}  {}",
                            self.fitted_text(&row.step.text),
                            secs(self.start.elapsed())
                        ));
                    }
                    bar.finish();
                }
            }
        }
        if self.multi.is_some() {
            if let Ok(mut a) = ACTIVE.lock() {
                *a = None;
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The services of a session, for its rows: those with a container and
/// those it started whose container is gone.
pub fn service_labels(s: &crate::session::Session) -> Vec<String> {
    let mut v: Vec<String> = s
        .containers
        .iter()
        .map(|c| service_of(c).to_string())
        .chain(s.id.services.iter().cloned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The result row of one item of a bulk command: `done` (e.g. `stopped`),
/// or `failed: <first line of the error>`.
pub fn result_step<T>(r: &anyhow::Result<T>, done: &str) -> Step {
    match r {
        Ok(_) => Step::done(done),
        Err(e) => {
            let text = format!("{e:#}");
            Step::failed(format!("failed: {}", text.lines().next().unwrap_or("")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(service: &str, status: &str, code: i64, health: Option<&str>) -> Container {
        crate::inspect::test_container(service, status, code, health)
    }

    #[test]
    fn words_while_starting() {
        let up = |status, code, health| container_step(Op::Up, Some(&c("s", status, code, health)));
        assert_eq!(container_step(Op::Up, None), Step::active("pending"));
        assert_eq!(up("created", 0, None), Step::active("created"));
        assert_eq!(
            up("running", 0, Some("starting")),
            Step::active("waiting for health")
        );
        assert_eq!(up("running", 0, Some("healthy")), Step::done("healthy"));
        assert_eq!(up("running", 0, None), Step::done("running"));
        assert_eq!(up("exited", 0, None), Step::done("finished"));
        assert_eq!(up("exited", 3, None), Step::failed("exited with code 3"));
        assert_eq!(up("running", 0, Some("unhealthy")).kind, Kind::Failed);
        assert_eq!(up("restarting", 1, None).kind, Kind::Failed);
    }

    #[test]
    fn words_while_stopping_and_removing() {
        let running = c("s", "running", 0, None);
        let exited = c("s", "exited", 137, None);
        assert_eq!(
            container_step(Op::Stop, Some(&running)),
            Step::active("stopping")
        );
        assert_eq!(
            container_step(Op::Stop, Some(&exited)),
            Step::done("stopped")
        );
        assert_eq!(
            container_step(Op::Down, Some(&exited)),
            Step::active("removing")
        );
        assert_eq!(container_step(Op::Down, None), Step::done("removed"));
    }

    #[test]
    fn replicas_report_the_least_advanced() {
        let a = c("s", "running", 0, None);
        let b = c("s", "running", 0, Some("starting"));
        let f = c("s", "exited", 2, None);
        assert_eq!(service_step(Op::Up, &[&a, &b]).text, "waiting for health");
        assert_eq!(service_step(Op::Up, &[&a, &b, &f]).kind, Kind::Failed);
        assert_eq!(service_step(Op::Up, &[&a]).text, "running");
        assert_eq!(service_step(Op::Up, &[]).text, "pending");
    }

    #[test]
    fn mode_rule() {
        assert_eq!(choose(true, true, false), Mode::Off);
        assert_eq!(choose(false, true, false), Mode::Live);
        assert_eq!(choose(false, true, true), Mode::Plain);
        assert_eq!(choose(false, false, false), Mode::Plain);
    }

    #[test]
    fn labels_keep_their_end() {
        assert_eq!(fit_label("web", 10), "web");
        assert_eq!(
            fit_label("../repo-sessions/feature-login", 16),
            "…/feature-login"
        );
        assert_eq!(
            console::measure_text_width(&fit_label("abcdefghijkl", 5)),
            5
        );
    }
}
