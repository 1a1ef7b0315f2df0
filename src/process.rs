//! The one place that starts child processes.
//!
//! Every git, docker, node and shell command goes through [`Cmd`], so
//! `--verbose` logging, deadlines, signals and error rendering are the same
//! for all:
//! - every child runs in its own process group (a Ctrl-C at the terminal
//!   reaches dev-prism only) unless it is a foreground command (`with-env`);
//! - every child has a deadline unless it runs for as long as the user
//!   wants (setup commands, `logs --follow`, `with-env`); when it passes,
//!   the whole process group is killed and the error says so;
//! - when a signal arrives, an interruptible child's group gets that signal
//!   (then SIGKILL after a grace period); an uninterruptible one (`git
//!   worktree add/remove`) is left to finish, so nothing is left half-done.

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Print every command line to stderr before running it.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether `--verbose` is on.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Seconds from an environment variable, else `default`.
pub fn seconds_from_env(var: &str, default: u64) -> Duration {
    let secs = std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .unwrap_or(default as f64);
    Duration::from_secs_f64(secs)
}

/// A command to run: program, arguments, working directory, environment,
/// and how it may be stopped.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    deadline: Option<Duration>,
    interruptible: bool,
    foreground: bool,
}

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It ran and exited with this code.
    Exit(i32),
    /// It was killed by this signal (not by dev-prism).
    Signal(i32),
    /// Its deadline passed; dev-prism killed it.
    TimedOut(Duration),
    /// A signal arrived and dev-prism stopped it.
    Interrupted,
    /// The program is not installed or not on PATH.
    NotFound,
    /// The working directory does not exist.
    NoDirectory(PathBuf),
    /// It could not be started for another reason.
    Spawn(String),
}

/// A command that could not start, or ran and failed.
#[derive(Debug)]
pub struct CmdError {
    pub command_line: String,
    pub program: String,
    pub failure: Failure,
    /// `Some(code)` when it ran and exited with a code.
    pub exit_code: Option<i32>,
    pub stderr: String,
    pub not_found: bool,
}

impl CmdError {
    pub fn timed_out(&self) -> bool {
        matches!(self.failure, Failure::TimedOut(_))
    }

    pub fn interrupted(&self) -> bool {
        self.failure == Failure::Interrupted
    }

    /// The lines of stderr that say what went wrong: lines with `error`
    /// (Compose prints progress lines first, the error last), else all.
    pub fn error_lines(&self) -> Vec<&str> {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let errors: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("error") || l.starts_with("fatal") || l.contains("cannot connect")
            })
            .collect();
        if errors.is_empty() {
            lines
        } else {
            errors
        }
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::NotFound => {
                return write!(
                    f,
                    "`{}` is not installed or not on PATH; install it and try again",
                    self.program
                )
            }
            Failure::NoDirectory(dir) => {
                return write!(f, "{} does not exist", dir.display());
            }
            Failure::Spawn(e) => return write!(f, "could not start `{}`: {e}", self.program),
            Failure::Exit(code) => {
                write!(f, "`{}` failed with exit code {code}", self.command_line)?
            }
            Failure::Signal(sig) => {
                write!(f, "`{}` was killed by signal {sig}", self.command_line)?
            }
            Failure::TimedOut(d) => write!(
                f,
                "`{}` did not finish within {}s and was stopped",
                self.command_line,
                d.as_secs_f64().round()
            )?,
            Failure::Interrupted => write!(f, "`{}` was interrupted", self.command_line)?,
        }
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            for line in stderr.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for CmdError {}

/// Captured output of a finished command.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Where a child's stdout and stderr go.
#[derive(Clone, Copy)]
enum Stdio3 {
    /// Both captured.
    Capture,
    /// stdout to our stderr, stderr inherited (progress of compose, setup).
    ToStderr,
    /// Everything inherited (logs, with-env).
    Inherit,
    /// stdout piped through a line filter to our stdout (logs into a
    /// file or a pipe); stderr inherited.
    Filter(LineFilter),
}

/// Rewrites one line of a child's stdout (the line ends with its `\n`).
pub type LineFilter = fn(&[u8]) -> std::borrow::Cow<'_, [u8]>;

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            deadline: Some(Duration::from_secs(120)),
            interruptible: true,
            foreground: false,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Run in `dir`; `PWD` is set to it too (shells and Compose's `${PWD}`
    /// read the variable, not the real working directory).
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Kill the command (its whole process group) after `d`.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// No deadline: the command runs as long as the user wants.
    pub fn no_deadline(mut self) -> Self {
        self.deadline = None;
        self
    }

    /// Let the command finish even when a signal arrives (git steps that
    /// must not be left half-done); the caller checks for the signal after.
    pub fn uninterruptible(mut self) -> Self {
        self.interruptible = false;
        self
    }

    /// Keep the command in dev-prism's process group (the terminal's
    /// foreground), for commands the user interacts with.
    pub fn foreground(mut self) -> Self {
        self.foreground = true;
        self
    }

    /// The command line as a user would type it (for logs and errors).
    pub fn command_line(&self) -> String {
        let mut line = self.program.clone();
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(&arg.to_string_lossy()));
        }
        line
    }

    fn error(&self, failure: Failure, _stdout: String, stderr: String) -> CmdError {
        CmdError {
            command_line: self.command_line(),
            program: self.program.clone(),
            exit_code: match failure {
                Failure::Exit(c) => Some(c),
                _ => None,
            },
            not_found: failure == Failure::NotFound,
            failure,
            stderr,
        }
    }

    fn build(&self) -> Result<Command, CmdError> {
        let path = match which::which(&self.program) {
            Ok(path) => path,
            // A path that exists but is not executable (`./script.sh`
            // without its x bit): start it anyway, so the system's own
            // error (permission denied) is reported, not "not installed".
            Err(_) if self.program.contains('/') && Path::new(&self.program).exists() => {
                PathBuf::from(&self.program)
            }
            Err(_) => return Err(self.error(Failure::NotFound, String::new(), String::new())),
        };
        if let Some(dir) = &self.cwd {
            if !dir.is_dir() {
                return Err(self.error(
                    Failure::NoDirectory(dir.clone()),
                    String::new(),
                    String::new(),
                ));
            }
        }
        if VERBOSE.load(Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            let _ = match &self.cwd {
                Some(dir) => writeln!(err, "+ (cd {}) {}", dir.display(), self.command_line()),
                None => writeln!(err, "+ {}", self.command_line()),
            };
        }
        let mut cmd = Command::new(path);
        cmd.args(&self.args);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
            cmd.env("PWD", dir);
        }
        for key in &self.env_remove {
            cmd.env_remove(key);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if !self.foreground {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        Ok(cmd)
    }

    /// Start, wait within the deadline and signals, collect.
    fn run(&self, stdio: Stdio3) -> Result<Output, CmdError> {
        let mut cmd = self.build()?;
        match stdio {
            Stdio3::Capture => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
            Stdio3::ToStderr => {
                use std::os::fd::AsFd;
                let fd = std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| self.error(Failure::Spawn(e.to_string()), "".into(), "".into()))?;
                cmd.stdin(Stdio::null()).stdout(fd);
            }
            Stdio3::Inherit => {}
            Stdio3::Filter(_) => {
                cmd.stdin(Stdio::null()).stdout(Stdio::piped());
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            let failure = if e.kind() == std::io::ErrorKind::NotFound {
                Failure::NotFound
            } else {
                Failure::Spawn(e.to_string())
            };
            self.error(failure, String::new(), String::new())
        })?;
        let out = match stdio {
            Stdio3::Filter(filter) => pump(child.stdout.take(), filter),
            _ => drain(child.stdout.take()),
        };
        let err = drain(child.stderr.take());
        if self.foreground {
            crate::interrupt::forward_to(child.id());
        }
        let waited = self.wait(&mut child);
        if self.foreground {
            crate::interrupt::forward_to(0);
        }
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        match waited {
            Ok(status) => Ok(Output {
                status,
                stdout,
                stderr,
            }),
            Err(failure) => Err(self.error(failure, stdout, stderr)),
        }
    }

    /// Wait for the child: until it ends, its deadline passes, or (when
    /// interruptible) a signal arrives. Polls with a short back-off (at
    /// most 5 ms apart in the first second), so a fast command costs
    /// little more than its own time.
    fn wait(&self, child: &mut Child) -> Result<ExitStatus, Failure> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(500);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(e) => return Err(Failure::Spawn(e.to_string())),
            }
            if let Some(d) = self.deadline {
                if start.elapsed() >= d {
                    self.stop(child, rustix::process::Signal::TERM, Duration::from_secs(2));
                    return Err(Failure::TimedOut(d));
                }
            }
            if self.interruptible && !self.foreground && crate::interrupt::pending() {
                if let Some(sig) = crate::interrupt::signal() {
                    let signal = rustix::process::Signal::from_named_raw(sig)
                        .unwrap_or(rustix::process::Signal::TERM);
                    self.stop(child, signal, Duration::from_secs(5));
                    return Err(Failure::Interrupted);
                }
            }
            std::thread::sleep(pause);
            // Short commands (git, docker ps/inspect: 2-50 ms) are noticed
            // within 5 ms of ending; long ones are checked less often.
            let cap = if start.elapsed() < Duration::from_secs(1) {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(50)
            };
            pause = (pause * 2).min(cap);
        }
    }

    /// Send `signal` to the child's process group, wait up to `grace`,
    /// then kill the group.
    fn stop(&self, child: &mut Child, signal: rustix::process::Signal, grace: Duration) {
        let pid = rustix::process::Pid::from_child(child);
        let group = !self.foreground;
        let send = |sig| {
            let _ = if group {
                rustix::process::kill_process_group(pid, sig)
            } else {
                rustix::process::kill_process(pid, sig)
            };
        };
        send(signal);
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                // The leader is gone; make sure the rest of its group is too.
                if group {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        send(rustix::process::Signal::KILL);
        let _ = child.wait();
    }

    fn result(&self, out: Output) -> Result<String, CmdError> {
        if out.status.success() {
            return Ok(out.stdout);
        }
        use std::os::unix::process::ExitStatusExt;
        let failure = match (out.status.code(), out.status.signal()) {
            (Some(code), _) => Failure::Exit(code),
            (None, Some(sig)) => Failure::Signal(sig),
            (None, None) => Failure::Exit(1),
        };
        Err(self.error(failure, out.stdout, out.stderr))
    }

    /// Run with output captured; a non-zero exit is an error carrying stderr.
    pub fn output(self) -> Result<String, CmdError> {
        let out = self.run(Stdio3::Capture)?;
        self.result(out)
    }

    /// Run with output captured and return it whatever the exit code
    /// (e.g. `docker inspect` prints what it found even when one id is gone).
    pub fn output_any(&self) -> Result<Output, CmdError> {
        self.run(Stdio3::Capture)
    }

    /// Run with stdout sent to our stderr (progress output of compose, setup
    /// commands) so that stdout keeps only the answer.
    pub fn status_to_stderr(self) -> Result<(), CmdError> {
        let out = self.run(Stdio3::ToStderr)?;
        self.result(out).map(|_| ())
    }

    /// Run with all stdio inherited and return the exit status, whatever it is.
    pub fn status_any(&self) -> Result<ExitStatus, CmdError> {
        self.run(Stdio3::Inherit).map(|o| o.status)
    }

    /// Run with stdout passed line by line through `filter` to our stdout
    /// (stderr inherited); the exit status, whatever it is, and whether
    /// our stdout was closed meanwhile (`| head`).
    pub fn status_filtered(&self, filter: LineFilter) -> Result<(ExitStatus, bool), CmdError> {
        self.run(Stdio3::Filter(filter))
            .map(|o| (o.status, o.stdout == PIPE_CLOSED))
    }
}

/// What [`pump`] returns when our stdout was closed under it.
const PIPE_CLOSED: &str = "closed";

/// Copy a child's stdout to ours line by line through `filter`, on a
/// thread. When our stdout is closed, stop reading: the child then gets
/// EPIPE/SIGPIPE on its next write and ends.
fn pump<R: Read + Send + 'static>(
    pipe: Option<R>,
    filter: LineFilter,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let Some(p) = pipe else {
            return String::new();
        };
        let mut reader = std::io::BufReader::new(p);
        let mut line = Vec::new();
        let stdout = std::io::stdout();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return String::new(),
                Ok(_) => {}
            }
            let mut out = stdout.lock();
            if out
                .write_all(&filter(&line))
                .and_then(|_| out.flush())
                .is_err()
            {
                return PIPE_CLOSED.to_string();
            }
        }
    })
}

/// Read a pipe to the end on a thread, so a chatty child never blocks on a
/// full pipe.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The exit code to pass on: the child's, or 128+signal when it was killed.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(1))
}

/// Quote a word for display in a POSIX shell command line.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("compose"), "compose");
        assert_eq!(
            shell_quote("label=dev-prism.managed=true"),
            "label=dev-prism.managed=true"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("feat/$x"), "'feat/$x'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn missing_program_is_reported_as_not_installed() {
        let err = Cmd::new("dev-prism-no-such-program").output().unwrap_err();
        assert!(err.not_found);
        assert!(err.to_string().contains("not installed"), "{err}");
    }

    #[test]
    fn failure_carries_exit_code_and_stderr() {
        let err = Cmd::new("sh")
            .args(["-c", "echo oops >&2; exit 3"])
            .output()
            .unwrap_err();
        assert_eq!(err.exit_code, Some(3));
        assert!(err.to_string().contains("oops"));
    }

    #[test]
    fn a_missing_directory_is_named_not_a_missing_program() {
        let err = Cmd::new("sh")
            .arg("-c")
            .arg("true")
            .cwd(Path::new("/nonexistent/dev-prism/dir"))
            .output()
            .unwrap_err();
        assert!(!err.not_found);
        assert_eq!(err.to_string(), "/nonexistent/dev-prism/dir does not exist");
    }

    #[test]
    fn deadline_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("survived");
        let start = Instant::now();
        // The grandchild would write the file after 2 s if it survived.
        let err = Cmd::new("sh")
            .arg("-c")
            .arg(format!("(sleep 2; touch '{}') & sleep 30", flag.display()))
            .deadline(Duration::from_millis(300))
            .output()
            .unwrap_err();
        assert!(err.timed_out(), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!flag.exists(), "a grandchild outlived the deadline");
    }

    #[test]
    fn pwd_is_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let out = Cmd::new("sh")
            .args(["-c", "printf %s \"$PWD\""])
            .cwd(dir.path())
            .output()
            .unwrap();
        assert_eq!(out, dir.path().to_string_lossy());
    }

    #[test]
    fn error_lines_prefer_the_error_over_progress() {
        let e = Cmd::new("x").error(
            Failure::Exit(1),
            String::new(),
            " Network p_default  Creating\n Container p-web-1  Creating\nError response from daemon: boom\n"
                .into(),
        );
        assert_eq!(e.error_lines(), vec!["Error response from daemon: boom"]);
    }
}
