//! The user's own commands (`setup`, and the lifecycle hooks): run in
//! order with `sh -c` in the session directory and the session environment,
//! output to stderr. The first failure stops the rest; a signal stops the
//! running command (its whole process group) and the rest.

use anyhow::{bail, Result};
use std::path::Path;
use std::time::Duration;

use crate::interrupt;
use crate::output;
use crate::process::{Cmd, Failure};

/// Run `commands` (`what` names them in messages: `setup`, `postStart`).
/// `left` is the sentence for the state a failure leaves, e.g. "the session
/// is left running in DIR".
pub fn run(
    what: &str,
    commands: &[String],
    dir: &Path,
    env: &[(String, String)],
    left: &str,
) -> Result<()> {
    run_within(what, commands, dir, env, left, None)
}

/// [`run`], each command stopped (its whole process group) when it runs
/// longer than `deadline`.
pub fn run_within(
    what: &str,
    commands: &[String],
    dir: &Path,
    env: &[(String, String)],
    left: &str,
    deadline: Option<Duration>,
) -> Result<()> {
    for command in commands {
        output::progress(&format!("{} {command}", output::bold(&format!("{what}:"))));
        let mut cmd = Cmd::new("sh").arg("-c").arg(command).cwd(dir);
        cmd = match deadline {
            Some(d) => cmd.deadline(d),
            None => cmd.no_deadline(),
        };
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        match cmd.status_to_stderr() {
            Ok(()) => {}
            Err(e) if e.interrupted() => {
                let sig = interrupt::signal().unwrap_or(2);
                return Err(interrupt::error(format!(
                    "interrupted ({}) during {what} command `{command}`: the remaining {what} commands did not run; {left}",
                    interrupt::name(sig)
                )));
            }
            Err(e) => {
                let code = match e.failure {
                    Failure::Exit(c) => format!("exit code {c}"),
                    Failure::Signal(s) => format!("signal {s}"),
                    Failure::TimedOut(d) => format!(
                        "it did not finish within {}s and was stopped",
                        d.as_secs_f64().round()
                    ),
                    _ => e.to_string(),
                };
                bail!("{what} command `{command}` failed ({code}); {left}");
            }
        }
        interrupt::check()?;
    }
    Ok(())
}
