//! `dev-prism env` and `dev-prism with-env`: the session environment for
//! scripts and agents.

use anyhow::{bail, Result};

use super::Ctx;
use crate::cli::{EnvArgs, WithEnvArgs};
use crate::docker;
use crate::envfile;
use crate::output;
use crate::process::{Cmd, Failure};
use crate::session::{Session, Status};

/// The session of `dir` with its env file refreshed; errors when it is stopped.
fn running_session(ctx: &Ctx, dir: Option<&std::path::Path>) -> Result<Session> {
    let dir = super::resolve_dir(ctx, dir)?;
    let s = super::require_session(&dir)?;
    if s.status() == Status::Stopped {
        bail!(
            "the session in {} is stopped, so it has no ports: run `dev-prism start` first",
            s.id.working_dir.display()
        );
    }
    super::refresh_env_file(&s)?;
    Ok(s)
}

pub fn run_env(ctx: &Ctx, args: EnvArgs) -> Result<i32> {
    let s = running_session(ctx, args.dir.as_deref())?;
    let env = s.env(docker::url_host_from_env().as_deref());
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = env
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        output::print_json(&map);
    } else {
        output::print(&envfile::render(&env));
    }
    Ok(0)
}

pub fn run_with_env(ctx: &Ctx, args: WithEnvArgs) -> Result<i32> {
    let s = running_session(ctx, args.dir.as_deref())?;
    let env = s.env(docker::url_host_from_env().as_deref());
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command given: dev-prism with-env -- CMD..."))?;
    // The command stays in the terminal's foreground; signals sent to
    // dev-prism alone (SIGTERM, SIGHUP) are passed on to it, and dev-prism
    // exits with its code.
    let mut cmd = Cmd::new(program).args(rest).no_deadline().foreground();
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let result = cmd.status_any();
    // Signals were passed on to the command: its exit code is the answer.
    crate::interrupt::acknowledge();
    match result {
        Ok(status) => Ok(crate::process::exit_code(status)),
        // Like a shell: 127 for a command that is not there, 126 for one
        // that cannot be run.
        Err(e) if e.not_found => {
            eprintln!("{} {e}", output::red("error:"));
            Ok(127)
        }
        Err(e) if matches!(&e.failure, Failure::Spawn(why) if why.contains("ermission denied")) => {
            eprintln!(
                "{} cannot run `{program}`: permission denied (is it executable?)",
                output::red("error:")
            );
            Ok(126)
        }
        Err(e) => Err(e.into()),
    }
}
