//! docker and docker compose calls: config, up, down, ps, inspect, logs, version.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::blockers;
use crate::compose;
use crate::inspect::{self, Container};
use crate::process::{Cmd, CmdError, Failure};
use crate::session::label;

/// Oldest Compose that understands `!override`.
pub const MIN_COMPOSE: (u32, u32, u32) = (2, 24, 4);

/// How long a question to the engine (ps, inspect, version, ls) may take:
/// `DEV_PRISM_DOCKER_TIMEOUT` seconds, default 15.
pub fn query_deadline() -> Duration {
    crate::process::seconds_from_env("DEV_PRISM_DOCKER_TIMEOUT", 15)
}

/// A docker CLI call with the query deadline.
pub fn docker() -> Cmd {
    Cmd::new("docker").deadline(query_deadline())
}

/// A compose project as dev-prism runs it: explicit files, name and profiles,
/// so nothing from the user's shell (`COMPOSE_FILE`, `COMPOSE_PROFILES`, an
/// exported `.env.session`) can redirect it to another project. Run in
/// `dir` (with `PWD` = `dir`, so `${PWD}` means the session directory) and
/// without `--project-directory`: Compose's project directory is the first
/// file's directory, as for plain `docker compose`.
#[derive(Debug, Clone)]
pub struct ComposeProject {
    pub dir: PathBuf,
    pub name: String,
    pub files: Vec<PathBuf>,
    pub profiles: Vec<String>,
}

impl ComposeProject {
    /// The compose project of a session: its files when they all still
    /// exist, else the project name alone (enough for start/stop/logs/down).
    pub fn for_session(id: &crate::session::Identity) -> ComposeProject {
        let files_ok = !id.compose_files.is_empty() && id.compose_files.iter().all(|f| f.is_file());
        let project = ComposeProject {
            dir: id.working_dir.clone(),
            name: id.project_name.clone(),
            files: id.compose_files.clone(),
            profiles: id.profiles.clone(),
        };
        if files_ok && id.working_dir.is_dir() {
            project
        } else {
            project.by_name()
        }
    }

    /// The same project addressed by name alone (Compose finds its
    /// containers, networks and volumes by label).
    pub fn by_name(&self) -> ComposeProject {
        ComposeProject {
            dir: std::env::temp_dir(),
            name: self.name.clone(),
            files: Vec::new(),
            profiles: self.profiles.clone(),
        }
    }

    pub fn cmd(&self) -> Cmd {
        let mut cmd = Cmd::new("docker")
            .deadline(Duration::from_secs(180))
            .cwd(&self.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
            .arg("compose")
            .arg("--project-name")
            .arg(&self.name);
        for f in &self.files {
            cmd = cmd.arg("--file").arg(f);
        }
        for p in &self.profiles {
            cmd = cmd.arg("--profile").arg(p);
        }
        cmd
    }

    /// `docker compose config --format json`: the resolved model.
    pub fn config_json(&self) -> Result<String, CmdError> {
        self.cmd()
            .args(["config", "--format", "json"])
            .deadline(Duration::from_secs(60))
            .output()
    }

    /// `config --format json --no-interpolate`: the model before
    /// interpolation, which still lists `env_file` entries (the interpolated
    /// model folds them into `environment`) and needs no variable set.
    pub fn config_json_uninterpolated(&self) -> Result<String, CmdError> {
        self.cmd()
            .args(["config", "--format", "json", "--no-interpolate"])
            .deadline(Duration::from_secs(60))
            .output()
    }

    /// `up -d`: progress goes to stderr.
    /// `up -d`, stopped after `deadline` (it blocks while dependencies with
    /// `condition: service_healthy` start) or on Ctrl-C. `Ok(false)` when it
    /// was stopped before it finished.
    pub fn up(&self, build: bool, deadline: Duration) -> Result<bool, CmdError> {
        let mut cmd = self.cmd().args(["up", "--detach"]).deadline(deadline);
        if build {
            cmd = cmd.arg("--build");
        }
        match cmd.output() {
            Ok(_) => Ok(true),
            Err(e) if e.timed_out() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `down -v --remove-orphans --rmi local`: containers, networks,
    /// volumes, and the images Compose built for the project (those of
    /// services without an `image:` name, and any image carrying the
    /// project's label, never one that was pulled or tagged by hand). An
    /// image still in use elsewhere stays, without failing `down`. Each
    /// container gets `stop_timeout` seconds to stop.
    pub fn down(&self, stop_timeout: u32) -> Result<(), CmdError> {
        self.cmd()
            .args(["down", "--volumes", "--remove-orphans", "--timeout"])
            .arg(stop_timeout.to_string())
            .args(["--rmi", "local"])
            .output()
            .map(|_| ())
    }

    /// Fill in [`compose::Project::main_names`] when a `network_mode` may
    /// name the project's own network by the name plain `docker compose`
    /// gives the project (only then: it costs a compose call). `main_dir`
    /// is the session directory's counterpart in the main checkout.
    pub fn learn_main_names(&self, project: &mut compose::Project, main_dir: Option<&Path>) {
        if blockers::needs_main_names(project) {
            project.main_names = self.main_names(main_dir);
        }
    }

    /// The names plain `docker compose` could give this project outside the
    /// session: `COMPOSE_PROJECT_NAME` of the environment, else the one
    /// Compose resolves without `-p` (the project's `.env`, `name:`), and
    /// the directory names (this one, the first file's, `main_dir`).
    fn main_names(&self, main_dir: Option<&Path>) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        if let Ok(name) = std::env::var("COMPOSE_PROJECT_NAME") {
            names.insert(name);
        }
        let mut cmd = Cmd::new("docker")
            .deadline(Duration::from_secs(60))
            .cwd(&self.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES")
            .arg("compose");
        for f in &self.files {
            cmd = cmd.arg("--file").arg(f);
        }
        if let Ok(json) = cmd.args(["config", "--format", "json"]).output() {
            if let Ok(resolved) = compose::parse_project(&json) {
                names.insert(resolved.name);
            }
        }
        let dirs = [
            Some(self.dir.as_path()),
            self.files.first().and_then(|f| f.parent()),
            main_dir,
        ];
        for dir in dirs.into_iter().flatten() {
            if let Some(base) = dir.file_name() {
                names.insert(blockers::normalize_project_name(&base.to_string_lossy()));
            }
        }
        names.retain(|n| !n.is_empty());
        names
    }
}

/// Remove the dangling images labelled with a compose project: builds of an
/// `image:` name shared with other projects that a later `up --build`
/// re-tagged. Best effort: an image still in use stays.
pub fn remove_dangling_images(project: &str) {
    let Ok(out) = docker()
        .args([
            "image",
            "ls",
            "--quiet",
            "--no-trunc",
            "--filter",
            "dangling=true",
        ])
        .arg("--filter")
        .arg(format!("label={}={project}", label::COMPOSE_PROJECT))
        .output()
    else {
        return;
    };
    let ids: Vec<&str> = out.split_whitespace().collect();
    if !ids.is_empty() {
        let _ = docker()
            .args(["image", "rm"])
            .args(&ids)
            .deadline(Duration::from_secs(120))
            .output_any();
    }
}

/// Whether the engine probes healthchecks every `start_interval` during
/// `start_period` (Engine 25+, API 1.44+). `None` when it cannot be told.
pub fn engine_has_start_interval() -> Option<bool> {
    let out = docker()
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .ok()?;
    let (major, minor) = out.trim().split_once('.')?;
    let version = (major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?);
    Some(version >= (1, 44))
}

/// A container's healthcheck state and its last probes (`None` when it has
/// no healthcheck or cannot be inspected).
pub fn health(id: &str) -> Option<inspect::Health> {
    let out = docker()
        .args(["container", "inspect", id])
        .output_any()
        .ok()?;
    inspect::parse_health(&out.stdout)
        .ok()?
        .into_iter()
        .find(|(cid, _)| cid == id || cid.starts_with(id))
        .and_then(|(_, health)| health)
}

/// Ids of every container with `label` (`k=v`), running or not.
pub fn ps_ids(filters: &[String]) -> Result<Vec<String>> {
    let mut cmd = docker().args(["ps", "--all", "--quiet", "--no-trunc"]);
    for f in filters {
        cmd = cmd.arg("--filter").arg(format!("label={f}"));
    }
    let out = cmd.output().map_err(engine_error)?;
    Ok(out.split_whitespace().map(str::to_string).collect())
}

/// One batched `docker container inspect` for all ids. A container that
/// vanished in between makes docker exit 1 with partial output: use it.
pub fn inspect(ids: &[String]) -> Result<Vec<Container>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = docker()
        .args(["container", "inspect"])
        .args(ids)
        .output_any()
        .map_err(engine_error)?;
    let containers = inspect::parse_inspect(&out.stdout)?;
    if !out.status.success() && containers.is_empty() && !out.stderr.contains("No such") {
        bail!("`docker container inspect` failed: {}", out.stderr.trim());
    }
    Ok(containers)
}

/// Every dev-prism container (one `ps`, one `inspect`).
pub fn managed_containers() -> Result<Vec<Container>> {
    let ids = ps_ids(&[format!("{}=true", label::MANAGED)])?;
    inspect(&ids)
}

/// Every container of a compose project.
pub fn project_containers(project: &str) -> Result<Vec<Container>> {
    let ids = ps_ids(&[format!("{}={project}", label::COMPOSE_PROJECT)])?;
    inspect(&ids)
}

/// Remove containers by id, with their anonymous volumes (`rm -f -v`).
pub fn remove_containers(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    docker()
        .args(["rm", "--force", "--volumes"])
        .args(ids)
        .deadline(Duration::from_secs(120))
        .output()
        .map_err(engine_error)?;
    Ok(())
}

/// The last lines of a container's log (stdout and stderr).
pub fn log_tail(id: &str, lines: usize) -> String {
    match docker()
        .args(["logs", "--tail", &lines.to_string()])
        .arg(id)
        .output_any()
    {
        Ok(out) => format!("{}{}", out.stdout, out.stderr),
        Err(_) => String::new(),
    }
}

/// The engine endpoint the docker CLI talks to, for messages.
pub fn endpoint() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(host) = var("DOCKER_HOST") {
        return host;
    }
    match var("DOCKER_CONTEXT") {
        Some(ctx) if ctx != "default" => format!("of docker context `{ctx}`"),
        _ => "unix:///var/run/docker.sock".to_string(),
    }
}

/// Turn "cannot connect" and "did not answer" into a message that names
/// the engine and says what to do.
pub fn engine_error(e: CmdError) -> anyhow::Error {
    if let Failure::TimedOut(d) = e.failure {
        let what = e
            .command_line
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        return anyhow::anyhow!(
            "the Docker engine at {} did not answer within {}s (`{what}`): check that it is running and responsive (`docker info`)",
            endpoint(),
            d.as_secs_f64().round()
        );
    }
    let connect = e.stderr.lines().find(|l| {
        l.contains("Cannot connect to the Docker daemon")
            || l.contains("error during connect")
            || l.contains("connect: connection refused")
            || l.contains("connect: no such file or directory")
    });
    match connect {
        Some(line) => anyhow::anyhow!(
            "the Docker engine is not reachable ({}): start it (e.g. `sudo systemctl start docker`, or open Docker Desktop) and try again",
            line.trim()
        ),
        None => e.into(),
    }
}

/// A failed compose call: when Compose itself is missing, v1 or too old
/// (checked only now, to keep the common path fast), say that instead.
pub fn compose_failure(e: CmdError) -> anyhow::Error {
    if e.interrupted() {
        return crate::interrupt::error("interrupted");
    }
    match require_compose() {
        Err(version) => version,
        Ok(_) => engine_error(e),
    }
}

/// Parse `docker compose version --short` (`2.29.7`, `v2.1.0`, `5.0.0`,
/// Debian's `2.26.1-4`).
pub fn parse_compose_version(s: &str) -> Option<(u32, u32, u32)> {
    let s = s.trim().trim_start_matches('v');
    let core = s.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The installed Compose version; an error saying what to install when it is
/// missing, v1 or older than 2.24.4.
pub fn require_compose() -> Result<(u32, u32, u32)> {
    let out = Cmd::new("docker")
        .args(["compose", "version", "--short"])
        .deadline(Duration::from_secs(30))
        .output_any();
    let out = out.map_err(anyhow::Error::from)?;
    if !out.status.success() {
        bail!(
            "the Docker Compose v2 plugin is not installed (`docker compose` failed): install it, version {}.{}.{} or newer",
            MIN_COMPOSE.0, MIN_COMPOSE.1, MIN_COMPOSE.2
        );
    }
    let text = out.stdout.trim().to_string();
    let v = parse_compose_version(&text)
        .with_context(|| format!("could not read the Compose version from `{text}`"))?;
    check_compose_version(v, &text)?;
    Ok(v)
}

pub fn check_compose_version(v: (u32, u32, u32), text: &str) -> Result<()> {
    if v.0 < 2 {
        bail!(
            "the installed Compose ({text}) is v1, which is end-of-life: install Compose v2 ({}.{}.{} or newer)",
            MIN_COMPOSE.0,
            MIN_COMPOSE.1,
            MIN_COMPOSE.2
        );
    }
    if v < MIN_COMPOSE {
        bail!(
            "the installed Compose ({text}) is too old: dev-prism needs {}.{}.{} or newer (for `!override`)",
            MIN_COMPOSE.0,
            MIN_COMPOSE.1,
            MIN_COMPOSE.2
        );
    }
    Ok(())
}

/// Host to put in URLs: `DEV_PRISM_HOST`, else the host of a `tcp://` or
/// `ssh://` engine endpoint (`DOCKER_HOST`, else the docker context in use);
/// `None` for a local engine. Worked out once per process; a
/// `docker context inspect` is only spent when a non-default context is
/// selected (`DOCKER_CONTEXT` or `currentContext` in the docker config).
pub fn url_host_from_env() -> Option<String> {
    static HOST: OnceLock<Option<String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let choice = endpoint_choice(
            var("DEV_PRISM_HOST"),
            var("DOCKER_HOST"),
            var("DOCKER_CONTEXT"),
            || {
                let dir = var("DOCKER_CONFIG")
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker")))?;
                let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
                current_context(&text)
            },
        );
        match choice {
            Endpoint::Host(host) => Some(host),
            Endpoint::Local => None,
            Endpoint::Context(name) => context_endpoint(&name).and_then(|e| endpoint_host(&e)),
        }
    })
    .clone()
}

/// Whether the engine runs on this machine (a unix socket, a local
/// context): its published ports can be probed here. Worked out once.
pub fn engine_is_local() -> bool {
    static LOCAL: OnceLock<bool> = OnceLock::new();
    *LOCAL.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let choice = endpoint_choice(None, var("DOCKER_HOST"), var("DOCKER_CONTEXT"), || {
            let dir = var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker")))?;
            current_context(&std::fs::read_to_string(dir.join("config.json")).ok()?)
        });
        match choice {
            Endpoint::Local => true,
            Endpoint::Host(_) => false,
            Endpoint::Context(name) => {
                context_endpoint(&name).is_none_or(|e| endpoint_host(&e).is_none())
            }
        }
    })
}

/// Where the URL host comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A known host (`DEV_PRISM_HOST`, or a remote `DOCKER_HOST`).
    Host(String),
    /// The local engine.
    Local,
    /// The endpoint of this docker context decides.
    Context(String),
}

/// Pure: the docker CLI's precedence (`DOCKER_HOST` beats `DOCKER_CONTEXT`
/// beats the config's `currentContext`), after `DEV_PRISM_HOST`. The config
/// is only read when nothing before it decides.
pub fn endpoint_choice(
    dev_prism_host: Option<String>,
    docker_host: Option<String>,
    docker_context: Option<String>,
    config_context: impl FnOnce() -> Option<String>,
) -> Endpoint {
    if let Some(host) = dev_prism_host {
        return Endpoint::Host(host);
    }
    if let Some(endpoint) = docker_host {
        return endpoint_host(&endpoint).map_or(Endpoint::Local, Endpoint::Host);
    }
    match docker_context.or_else(config_context) {
        Some(name) if name != "default" && !name.starts_with('-') => Endpoint::Context(name),
        _ => Endpoint::Local,
    }
}

/// `currentContext` of a docker CLI `config.json`.
pub fn current_context(config_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config_json).ok()?;
    v.get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The docker endpoint of a context (`unix://…`, `tcp://h:2376`, `ssh://u@h`).
fn context_endpoint(name: &str) -> Option<String> {
    let out = docker()
        .args([
            "context",
            "inspect",
            "--format",
            "{{.Endpoints.docker.Host}}",
        ])
        .arg(name)
        .output()
        .ok()?;
    Some(out.trim().to_string()).filter(|e| !e.is_empty())
}

/// `tcp://1.2.3.4:2376` -> `1.2.3.4`, `ssh://me@box` -> `box`; local sockets -> `None`.
pub fn endpoint_host(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .strip_prefix("tcp://")
        .or_else(|| endpoint.strip_prefix("ssh://"))?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?.to_string()
    } else {
        host_port.split(':').next()?.to_string()
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_versions() {
        assert_eq!(parse_compose_version("2.29.7\n"), Some((2, 29, 7)));
        assert_eq!(parse_compose_version("v2.1.0"), Some((2, 1, 0)));
        assert_eq!(parse_compose_version("5.0.0"), Some((5, 0, 0)));
        assert_eq!(parse_compose_version("2.26.1-4"), Some((2, 26, 1)));
        assert_eq!(parse_compose_version("1.29.2"), Some((1, 29, 2)));
        assert_eq!(parse_compose_version("junk"), None);
        assert!(check_compose_version((2, 24, 4), "2.24.4").is_ok());
        assert!(check_compose_version((5, 0, 0), "5.0.0").is_ok());
        let old = check_compose_version((2, 24, 3), "2.24.3")
            .unwrap_err()
            .to_string();
        assert!(old.contains("2.24.3") && old.contains("2.24.4"), "{old}");
        assert!(check_compose_version((1, 29, 2), "1.29.2")
            .unwrap_err()
            .to_string()
            .contains("v1"));
    }

    #[test]
    fn endpoint_hosts() {
        assert_eq!(
            endpoint_host("tcp://10.0.0.5:2376").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            endpoint_host("ssh://me@build-box").as_deref(),
            Some("build-box")
        );
        assert_eq!(
            endpoint_host("ssh://me@build-box:2222").as_deref(),
            Some("build-box")
        );
        assert_eq!(
            endpoint_host("tcp://[fd00::1]:2375").as_deref(),
            Some("fd00::1")
        );
        assert_eq!(endpoint_host("unix:///var/run/docker.sock"), None);
        assert_eq!(endpoint_host("npipe:////./pipe/docker_engine"), None);
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn endpoint_precedence() {
        let unread = || -> Option<String> { panic!("config read needlessly") };
        assert_eq!(
            endpoint_choice(s("box"), s("tcp://10.0.0.5:2376"), s("ctx"), unread),
            Endpoint::Host("box".into())
        );
        assert_eq!(
            endpoint_choice(None, s("tcp://10.0.0.5:2376"), s("ctx"), unread),
            Endpoint::Host("10.0.0.5".into())
        );
        // a local DOCKER_HOST beats any context
        assert_eq!(
            endpoint_choice(None, s("unix:///var/run/docker.sock"), s("ctx"), unread),
            Endpoint::Local
        );
        assert_eq!(
            endpoint_choice(None, None, s("ctx"), unread),
            Endpoint::Context("ctx".into())
        );
        assert_eq!(
            endpoint_choice(None, None, s("default"), unread),
            Endpoint::Local
        );
        assert_eq!(
            endpoint_choice(None, None, None, || s("remote")),
            Endpoint::Context("remote".into())
        );
        assert_eq!(
            endpoint_choice(None, None, None, || s("default")),
            Endpoint::Local
        );
        assert_eq!(endpoint_choice(None, None, None, || None), Endpoint::Local);
    }

    #[test]
    fn current_context_of_docker_config() {
        assert_eq!(
            current_context(r#"{"auths": {}, "currentContext": "remote"}"#).as_deref(),
            Some("remote")
        );
        assert_eq!(current_context(r#"{"auths": {}}"#), None);
        assert_eq!(current_context(r#"{"currentContext": ""}"#), None);
        assert_eq!(current_context("not json"), None);
    }
}
