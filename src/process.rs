//! The one place that starts child processes.
//!
//! Every git, docker and shell command goes through [`Cmd`], so `--verbose`
//! logging, "not installed" detection and error rendering are the same for all.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Print every command line to stderr before running it.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// A command to run: program, arguments, working directory and extra environment.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
}

/// A command that could not start, or ran and failed.
#[derive(Debug)]
pub struct CmdError {
    pub command_line: String,
    /// `None` when the program could not be started or was killed by a signal.
    pub exit_code: Option<i32>,
    pub stderr: String,
    pub not_found: bool,
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.not_found {
            return write!(f, "{}", self.stderr.trim());
        }
        match self.exit_code {
            Some(code) => write!(f, "`{}` failed with exit code {code}", self.command_line)?,
            None => write!(f, "`{}` was interrupted", self.command_line)?,
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

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            env_remove: Vec::new(),
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

    /// The command line as a user would type it (for logs and errors).
    pub fn command_line(&self) -> String {
        let mut line = self.program.clone();
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(&arg.to_string_lossy()));
        }
        line
    }

    fn build(&self) -> Result<Command, CmdError> {
        let path = which::which(&self.program).map_err(|_| CmdError {
            command_line: self.command_line(),
            exit_code: None,
            stderr: format!(
                "`{}` is not installed or not on PATH; install it and try again",
                self.program
            ),
            not_found: true,
        })?;
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
        }
        for key in &self.env_remove {
            cmd.env_remove(key);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Ok(cmd)
    }

    fn spawn_error(&self, e: std::io::Error) -> CmdError {
        CmdError {
            command_line: self.command_line(),
            exit_code: None,
            stderr: format!("could not start `{}`: {e}", self.program),
            not_found: e.kind() == std::io::ErrorKind::NotFound,
        }
    }

    /// Run with output captured; a non-zero exit is an error carrying stderr.
    pub fn output(self) -> Result<String, CmdError> {
        let out = self.output_any()?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failure(out.status, out.stderr))
        }
    }

    /// Run with output captured and return it whatever the exit code
    /// (e.g. `docker inspect` prints what it found even when one id is gone).
    pub fn output_any(&self) -> Result<Output, CmdError> {
        let mut cmd = self.build()?;
        cmd.stdin(Stdio::null());
        let out = cmd.output().map_err(|e| self.spawn_error(e))?;
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run with stdout sent to our stderr (progress output of compose, setup
    /// commands) so that stdout keeps only the answer.
    pub fn status_to_stderr(self) -> Result<(), CmdError> {
        let mut cmd = self.build()?;
        cmd.stdin(Stdio::null());
        use std::os::fd::AsFd;
        let fd = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| self.spawn_error(e))?;
        cmd.stdout(fd);
        let status = cmd.status().map_err(|e| self.spawn_error(e))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure(status, String::new()))
        }
    }

    /// Run with all stdio inherited and return the exit status, whatever it is.
    pub fn status_any(&self) -> Result<ExitStatus, CmdError> {
        let mut cmd = self.build()?;
        cmd.status().map_err(|e| self.spawn_error(e))
    }

    /// Like [`Cmd::output`], but the child is killed when `deadline` passes
    /// or Ctrl-C/SIGTERM arrives: then `Ok(None)`.
    pub fn output_within(self, deadline: std::time::Duration) -> Result<Option<String>, CmdError> {
        use std::io::Read;
        let mut cmd = self.build()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        // Drain both pipes on threads so a chatty child never blocks on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| self.spawn_error(e))? {
                break Some(status);
            }
            if start.elapsed() >= deadline || crate::interrupt::interrupted() {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        match status {
            None => Ok(None),
            Some(status) if status.success() => Ok(Some(stdout)),
            Some(status) => Err(self.failure(status, stderr)),
        }
    }

    /// Run with all stdio inherited until it ends or Ctrl-C/SIGTERM arrives;
    /// then stop it. For following logs: the interrupt ends only the child.
    pub fn run_until_interrupted(&self) -> Result<Option<ExitStatus>, CmdError> {
        let mut cmd = self.build()?;
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        loop {
            if let Some(status) = child.try_wait().map_err(|e| self.spawn_error(e))? {
                return Ok(Some(status));
            }
            if crate::interrupt::interrupted() {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn failure(&self, status: ExitStatus, stderr: String) -> CmdError {
        CmdError {
            command_line: self.command_line(),
            exit_code: status.code(),
            stderr,
            not_found: false,
        }
    }
}

/// Captured output of a finished command.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
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
}
