//! The session model: names, labels, port variables, status and the session
//! environment, built from containers. No I/O.

use crate::inspect::{Container, PublishedPort};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod label {
    pub const MANAGED: &str = "dev-prism.managed";
    pub const WORKING_DIR: &str = "dev-prism.working_dir";
    pub const SESSION_ID: &str = "dev-prism.session_id";
    pub const CREATED_AT: &str = "dev-prism.created_at";
    pub const SERVICE: &str = "dev-prism.service";
    pub const INTERNAL_PORT: &str = "dev-prism.internal_port";
    pub const BRANCH: &str = "dev-prism.branch";
    pub const WORKTREE: &str = "dev-prism.worktree";
    pub const MODE: &str = "dev-prism.mode";
    pub const PROFILES: &str = "dev-prism.profiles";
    /// JSON array of the absolute compose files (base files + override).
    pub const COMPOSE_FILES: &str = "dev-prism.compose_files";
    /// `true` when dev-prism created the branch (so `destroy` may delete it).
    pub const BRANCH_CREATED: &str = "dev-prism.branch_created";
    /// The repository's common git dir (to clean up after a deleted worktree).
    pub const GIT_DIR: &str = "dev-prism.git_dir";
    /// Comma list of the services the session started (to notice removed ones).
    pub const SERVICES: &str = "dev-prism.services";
    /// Name of the session env file when it is not `.env.session`.
    pub const ENV_FILE: &str = "dev-prism.env_file";
    /// JSON of the config's `appEnv` (templates), so commands that do not
    /// run repository code can heal and remove the appEnv files.
    pub const APP_ENV: &str = "dev-prism.app_env";
    /// JSON list of the config's `envFiles` (their `DATABASE_URL` is healed).
    pub const ENV_FILES: &str = "dev-prism.env_files";
    /// The config's `portRange`, for ports that move at `start`.
    pub const PORT_RANGE: &str = "dev-prism.port_range";
    /// JSON list of the config's `hooks.preDestroy` at create time: what
    /// `destroy` runs, without evaluating the repository's config.
    pub const PRE_DESTROY: &str = "dev-prism.pre_destroy";
    pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
    pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
    pub const COMPOSE_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
}

/// Name of the generated override file in the session directory.
pub const OVERRIDE_FILE: &str = "docker-compose.session.yml";
/// Name of the generated env file in the session directory.
pub const ENV_FILE: &str = ".env.session";

/// Everything that identifies a session, as stored in its container labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub working_dir: PathBuf,
    pub project_name: String,
    pub branch: Option<String>,
    /// dev-prism created the worktree (so `destroy` may remove it).
    pub worktree: bool,
    /// dev-prism created the branch (so `destroy` may delete it). Sessions
    /// of older versions have no label: then it follows `worktree`.
    pub branch_created: bool,
    /// The repository's common git dir, when in git.
    pub git_dir: Option<PathBuf>,
    pub mode: String,
    pub profiles: Vec<String>,
    pub created_at: String,
    pub compose_files: Vec<PathBuf>,
    /// Services the session started; empty for sessions of older tools.
    pub services: Vec<String>,
    /// Name of the session env file (`.env.session` unless configured).
    pub env_file: String,
    /// The config's `appEnv` at create time: `{dir: {VAR: template}}`.
    pub app_env: BTreeMap<String, BTreeMap<String, String>>,
    /// The config's `envFiles` at create time.
    pub env_files: Vec<String>,
    /// Made by the original TypeScript dev-prism (no `dev-prism.worktree`
    /// label): whether it made a worktree is read from git.
    pub legacy: bool,
    /// The config's `portRange` at create time.
    pub port_range: Option<String>,
    /// The config's `hooks.preDestroy` at create time.
    pub pre_destroy: Vec<String>,
}

impl Identity {
    /// Labels for one service's containers.
    pub fn labels(&self, service: &str, internal_port: Option<u16>) -> Vec<(String, String)> {
        let dir = self.working_dir.to_string_lossy().into_owned();
        let files: Vec<String> = self
            .compose_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let mut labels = vec![
            (label::MANAGED, "true".to_string()),
            (label::WORKING_DIR, dir.clone()),
            (label::SESSION_ID, dir),
            (label::CREATED_AT, self.created_at.clone()),
            (label::SERVICE, service.to_string()),
            (label::BRANCH, self.branch.clone().unwrap_or_default()),
            (label::WORKTREE, self.worktree.to_string()),
            (label::BRANCH_CREATED, self.branch_created.to_string()),
            (
                label::GIT_DIR,
                self.git_dir
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            (label::MODE, self.mode.clone()),
            (label::PROFILES, self.profiles.join(",")),
            (
                label::COMPOSE_FILES,
                serde_json::to_string(&files).unwrap_or_default(),
            ),
            (label::SERVICES, self.services.join(",")),
        ];
        if self.env_file != ENV_FILE {
            labels.push((label::ENV_FILE, self.env_file.clone()));
        }
        if !self.app_env.is_empty() {
            labels.push((
                label::APP_ENV,
                serde_json::to_string(&self.app_env).unwrap_or_default(),
            ));
        }
        if let Some(range) = &self.port_range {
            labels.push((label::PORT_RANGE, range.clone()));
        }
        if !self.env_files.is_empty() {
            labels.push((
                label::ENV_FILES,
                serde_json::to_string(&self.env_files).unwrap_or_default(),
            ));
        }
        if !self.pre_destroy.is_empty() {
            labels.push((
                label::PRE_DESTROY,
                serde_json::to_string(&self.pre_destroy).unwrap_or_default(),
            ));
        }
        if let Some(port) = internal_port {
            labels.insert(5, (label::INTERNAL_PORT, port.to_string()));
        }
        labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// A session found in Docker: its identity and its containers.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Identity,
    pub containers: Vec<Container>,
}

/// Running state of a session as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Stopped,
    Partial { running: usize, total: usize },
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Running => write!(f, "running"),
            Status::Stopped => write!(f, "stopped"),
            Status::Partial { running, total } => write!(f, "partial {running}/{total}"),
        }
    }
}

/// A published port of a session, with its variable names and URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionPort {
    pub service: String,
    pub container_port: u16,
    pub protocol: String,
    pub host_port: u16,
    pub host: String,
    /// `http://` for every TCP port (the first release's meaning; kept for
    /// scripts that read it).
    pub url: String,
    /// What to type to reach it: a scheme only where it is known (see
    /// `urls`): `http://localhost:32768`, `postgresql://localhost:32769`,
    /// `localhost:32770`.
    pub address: String,
}

/// Group containers into sessions by their `working_dir` label, sorted by path.
pub fn group_sessions(containers: Vec<Container>) -> Vec<Session> {
    let mut by_dir: BTreeMap<String, Vec<Container>> = BTreeMap::new();
    for c in containers {
        if c.labels.get(label::MANAGED).map(String::as_str) != Some("true") {
            continue;
        }
        if c.labels.get(label::COMPOSE_ONEOFF).map(String::as_str) == Some("True") {
            continue; // `compose run` containers are not part of the session
        }
        let Some(dir) = c.labels.get(label::WORKING_DIR).cloned() else {
            continue;
        };
        by_dir.entry(dir).or_default().push(c);
    }
    by_dir
        .into_iter()
        .map(|(dir, mut containers)| {
            containers.sort_by(|a, b| service_of(a).cmp(service_of(b)).then(a.name.cmp(&b.name)));
            Session {
                id: identity_from_labels(&dir, &containers),
                containers,
            }
        })
        .collect()
}

/// The compose service a container runs.
pub fn service_of(c: &Container) -> &str {
    c.labels
        .get(label::COMPOSE_SERVICE)
        .or_else(|| c.labels.get(label::SERVICE))
        .map(String::as_str)
        .unwrap_or(&c.name)
}

fn identity_from_labels(dir: &str, containers: &[Container]) -> Identity {
    // Take each label from the first container that has it.
    let get = |key: &str| -> Option<String> {
        containers
            .iter()
            .find_map(|c| c.labels.get(key).filter(|v| !v.is_empty()).cloned())
    };
    let compose_files = match get(label::COMPOSE_FILES) {
        Some(json) => serde_json::from_str::<Vec<String>>(&json).unwrap_or_default(),
        // sessions of the original TypeScript tool: Compose's own (comma-joined) label
        None => get(label::COMPOSE_CONFIG_FILES)
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
    };
    Identity {
        working_dir: PathBuf::from(dir),
        project_name: get(label::COMPOSE_PROJECT).unwrap_or_default(),
        branch: get(label::BRANCH),
        worktree: get(label::WORKTREE).as_deref() == Some("true"),
        branch_created: match get(label::BRANCH_CREATED) {
            Some(v) => v == "true",
            None => get(label::WORKTREE).as_deref() == Some("true"),
        },
        git_dir: get(label::GIT_DIR).map(PathBuf::from),
        mode: get(label::MODE).unwrap_or_else(|| "docker".to_string()),
        profiles: split_list(get(label::PROFILES)),
        created_at: containers
            .iter()
            .filter_map(|c| c.labels.get(label::CREATED_AT))
            .min()
            .cloned()
            .unwrap_or_default(),
        compose_files: compose_files.into_iter().map(PathBuf::from).collect(),
        services: split_list(get(label::SERVICES)),
        env_file: get(label::ENV_FILE).unwrap_or_else(|| ENV_FILE.to_string()),
        app_env: get(label::APP_ENV)
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        env_files: get(label::ENV_FILES)
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        legacy: get(label::WORKTREE).is_none(),
        port_range: get(label::PORT_RANGE),
        pre_destroy: get(label::PRE_DESTROY)
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
    }
}

fn split_list(value: Option<String>) -> Vec<String> {
    value
        .map(|p| {
            p.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Session {
    /// Services the session started whose container is gone (removed by hand).
    pub fn missing_services(&self) -> Vec<String> {
        self.id
            .services
            .iter()
            .filter(|svc| {
                !self
                    .containers
                    .iter()
                    .any(|c| service_of(c) == svc.as_str())
            })
            .cloned()
            .collect()
    }

    pub fn status(&self) -> Status {
        let total = self.containers.len() + self.missing_services().len();
        let running = self
            .containers
            .iter()
            .filter(|c| c.state.is_running())
            .count();
        if running == 0 {
            return Status::Stopped;
        }
        // One-shot services (migrations, init jobs) that finished with 0 while
        // the rest runs are not "down".
        let done = self
            .containers
            .iter()
            .filter(|c| c.state.status == "exited" && c.state.exit_code == 0)
            .count();
        if running + done == total {
            Status::Running
        } else {
            Status::Partial {
                running,
                total: total - done,
            }
        }
    }

    /// Published ports, by service name then container port.
    pub fn ports(&self, host_override: Option<&str>) -> Vec<SessionPort> {
        let mut ports = Vec::new();
        for c in &self.containers {
            for p in &c.ports {
                let host = host_override
                    .map(str::to_string)
                    .unwrap_or_else(|| local_host(p).to_string());
                let scheme = if p.is_udp() { "udp" } else { "http" };
                let service = service_of(c);
                let postgres = is_postgres(service, &c.image, &c.env);
                let kind =
                    crate::urls::kind(service, &c.image, postgres, p.container_port, &p.protocol);
                ports.push(SessionPort {
                    service: service.to_string(),
                    container_port: p.container_port,
                    protocol: p.protocol.clone(),
                    host_port: p.host_port,
                    url: format!("{scheme}://{}:{}", url_host(&host), p.host_port),
                    address: crate::urls::address(kind, &url_host(&host), p.host_port),
                    host,
                });
            }
        }
        ports.sort_by(|a, b| {
            (&a.service, a.container_port, &a.protocol).cmp(&(
                &b.service,
                b.container_port,
                &b.protocol,
            ))
        });
        ports.dedup_by(|a, b| {
            a.service == b.service
                && a.container_port == b.container_port
                && a.protocol == b.protocol
        });
        ports
    }

    /// The session environment: the contract for `.env.session`, `env` and `with-env`.
    pub fn env(&self, host_override: Option<&str>) -> Vec<(String, String)> {
        let dir = self.id.working_dir.to_string_lossy().into_owned();
        let mut env = vec![
            ("SESSION_DIR".to_string(), dir),
            (
                "COMPOSE_PROJECT_NAME".to_string(),
                self.id.project_name.clone(),
            ),
        ];
        if !self.id.compose_files.is_empty() {
            let files: Vec<String> = self
                .id
                .compose_files
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            // A path holding `:` needs another separator (Compose reads
            // `COMPOSE_PATH_SEPARATOR`).
            let sep = [':', ';', '|', ',']
                .into_iter()
                .find(|c| files.iter().all(|f| !f.contains(*c)))
                .unwrap_or(':');
            if sep != ':' {
                env.push(("COMPOSE_PATH_SEPARATOR".to_string(), sep.to_string()));
            }
            env.push(("COMPOSE_FILE".to_string(), files.join(&sep.to_string())));
        }
        if !self.id.profiles.is_empty() {
            env.push(("COMPOSE_PROFILES".to_string(), self.id.profiles.join(",")));
        }
        let ports = self.ports(host_override);
        let mut by_service: BTreeMap<&str, Vec<&SessionPort>> = BTreeMap::new();
        for p in &ports {
            by_service.entry(&p.service).or_default().push(p);
        }
        for (service, sports) in &by_service {
            let base = port_var(service);
            let first = self.first_port(service, sports);
            env.push((base.clone(), first.host_port.to_string()));
            if sports.len() > 1 {
                for p in sports {
                    let suffix = if p.protocol == "udp" { "_UDP" } else { "" };
                    env.push((
                        format!("{base}_{}{suffix}", p.container_port),
                        p.host_port.to_string(),
                    ));
                }
            }
        }
        if let Some(url) = self.database_url(&ports) {
            env.push(("DATABASE_URL".to_string(), url));
        }
        env
    }

    /// The service's first published port: the one named in its
    /// `internal_port` label (TCP before UDP), else the lowest TCP port.
    fn first_port<'a>(&self, service: &str, ports: &[&'a SessionPort]) -> &'a SessionPort {
        let wanted: Option<u16> = self
            .containers
            .iter()
            .filter(|c| service_of(c) == service)
            .find_map(|c| c.labels.get(label::INTERNAL_PORT)?.parse().ok());
        let tcp_first = |p: &&&SessionPort| p.protocol != "udp";
        wanted
            .and_then(|w| {
                ports
                    .iter()
                    .filter(|p| p.container_port == w)
                    .find(tcp_first)
                    .or_else(|| ports.iter().find(|p| p.container_port == w))
            })
            .or_else(|| ports.iter().find(tcp_first))
            .unwrap_or(&ports[0])
    }

    /// `postgresql://user:password@host:port/db` for the session's postgres
    /// service, from that container's `POSTGRES_*` environment.
    fn database_url(&self, ports: &[SessionPort]) -> Option<String> {
        let pg = self
            .containers
            .iter()
            .find(|c| is_postgres(service_of(c), &c.image, &c.env))?;
        let service = service_of(pg);
        let sports: Vec<&SessionPort> = ports
            .iter()
            .filter(|p| p.service == service && p.protocol == "tcp")
            .collect();
        let port = sports
            .iter()
            .find(|p| p.container_port == 5432)
            .or_else(|| sports.first())?;
        let var = |k: &str| {
            pg.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let user = var("POSTGRES_USER").unwrap_or_else(|| "postgres".to_string());
        let password = var("POSTGRES_PASSWORD").unwrap_or_else(|| "postgres".to_string());
        let db = var("POSTGRES_DB").unwrap_or_else(|| user.clone());
        Some(format!(
            "postgresql://{}:{}@{}:{}/{}",
            percent_encode(&user),
            percent_encode(&password),
            url_host(&port.host),
            port.host_port,
            percent_encode(&db)
        ))
    }
}

/// Is this the session's postgres service? By image (`postgres*`,
/// `postgis*`), or by name (`postgres`, `db`) when the container also has
/// `POSTGRES_*` settings — a MySQL service named `db` is not postgres.
pub fn is_postgres(service: &str, image: &str, env: &[(String, String)]) -> bool {
    let repo = image.split([':', '@']).next().unwrap_or(image);
    let by_image = repo
        .split('/')
        .any(|part| part.starts_with("postgres") || part.starts_with("postgis"));
    let by_name = (service == "postgres" || service == "db")
        && env.iter().any(|(k, _)| k.starts_with("POSTGRES_"));
    by_image || by_name
}

/// Host for a local engine: `localhost` when IPv4 and IPv6 agree on the port
/// (or there is only IPv4), else the IPv4 loopback.
fn local_host(p: &PublishedPort) -> &'static str {
    if p.host_ip.contains(':') && p.host_ip != "::" {
        return "::1";
    }
    if p.families_agree && p.host_ip != "127.0.0.1" {
        "localhost"
    } else {
        "127.0.0.1"
    }
}

fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<SERVICE>_PORT`: service name upper-cased, non-alphanumerics -> `_`.
pub fn port_var(service: &str) -> String {
    let mut s: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s.push_str("_PORT");
    s
}

/// Compose project name: `<prefix>-<8 hex of a stable hash of the path>`,
/// normalised to Compose's rule `[a-z0-9][a-z0-9_-]*`.
pub fn project_name(prefix: &str, working_dir: &Path) -> String {
    let mut name: String = prefix
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_start_matches(['-', '_']).to_string();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_end_matches('-');
    let hash = format!(
        "{:08x}",
        fnv1a32(working_dir.as_os_str().as_encoded_bytes())
    );
    if name.is_empty() {
        format!("session-{hash}")
    } else {
        format!("{name}-{hash}")
    }
}

/// FNV-1a, 32 bits: tiny, stable across runs, platforms and Rust versions.
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Is `dir` the session's working dir or inside it?
pub fn contains(session_dir: &Path, dir: &Path) -> bool {
    dir.starts_with(session_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::State;

    fn container(
        service: &str,
        labels: &[(&str, &str)],
        ports: &[(u16, &str, u16, bool)],
    ) -> Container {
        let mut l: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.insert(label::MANAGED.into(), "true".into());
        l.insert(label::COMPOSE_SERVICE.into(), service.into());
        l.entry(label::WORKING_DIR.into()).or_insert("/w/s1".into());
        l.entry(label::COMPOSE_PROJECT.into())
            .or_insert("app-1234abcd".into());
        Container {
            id: format!("id-{service}"),
            name: format!("app-{service}-1"),
            labels: l,
            state: State {
                status: "running".into(),
                exit_code: 0,
                health: None,
            },
            env: vec![],
            image: "busybox".into(),
            ports: ports
                .iter()
                .map(|&(cp, proto, hp, agree)| PublishedPort {
                    container_port: cp,
                    protocol: proto.into(),
                    host_ip: "0.0.0.0".into(),
                    host_port: hp,
                    families_agree: agree,
                })
                .collect(),
            bound_ports: vec![],
        }
    }

    #[test]
    fn project_name_is_stable_and_normalised() {
        let a = project_name("My App!", Path::new("/home/me/my app"));
        assert_eq!(a, project_name("My App!", Path::new("/home/me/my app")));
        assert!(a.starts_with("my-app-"), "{a}");
        assert_eq!(a.len(), "my-app-".len() + 8);
        assert_ne!(a, project_name("My App!", Path::new("/home/me/other")));
        // fixed value: must never change between releases
        assert_eq!(project_name("app", Path::new("/tmp/x")), "app-ff28930c");
        assert_eq!(
            project_name("__Ünï", Path::new("/x")).split('-').next(),
            Some("n")
        );
        assert!(project_name("...", Path::new("/x")).starts_with("session-"));
        let re_ok = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        for p in ["My.Repo", "-x", "日本", "a b c", "UPPER_case"] {
            let n = project_name(p, Path::new("/p"));
            assert!(re_ok(&n), "{p} -> {n}");
        }
    }

    #[test]
    fn port_variable_names() {
        assert_eq!(port_var("postgres"), "POSTGRES_PORT");
        assert_eq!(port_var("my-web.app"), "MY_WEB_APP_PORT");
        assert_eq!(port_var("9svc"), "_9SVC_PORT");
    }

    #[test]
    fn env_has_port_vars_for_single_and_multi_port_services() {
        let s = group_sessions(vec![
            container(
                "web",
                &[(label::INTERNAL_PORT, "80")],
                &[(80, "tcp", 32770, true)],
            ),
            container(
                "dns",
                &[(label::INTERNAL_PORT, "53")],
                &[
                    (53, "udp", 32771, true),
                    (53, "tcp", 32772, true),
                    (8053, "tcp", 32773, true),
                ],
            ),
        ])
        .remove(0);
        let env = s.env(None);
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("SESSION_DIR"), Some("/w/s1"));
        assert_eq!(get("COMPOSE_PROJECT_NAME"), Some("app-1234abcd"));
        assert_eq!(get("WEB_PORT"), Some("32770"));
        assert_eq!(get("WEB_PORT_80"), None);
        assert_eq!(get("DNS_PORT"), Some("32772"));
        assert_eq!(get("DNS_PORT_53"), Some("32772"));
        assert_eq!(get("DNS_PORT_53_UDP"), Some("32771"));
        assert_eq!(get("DNS_PORT_8053"), Some("32773"));
        assert_eq!(get("DATABASE_URL"), None);
    }

    #[test]
    fn database_url_from_postgres_env() {
        let mut pg = container("db", &[], &[(5432, "tcp", 40000, true)]);
        pg.env = vec![
            ("POSTGRES_USER".into(), "app user".into()),
            ("POSTGRES_PASSWORD".into(), "p@ss".into()),
        ];
        let s = group_sessions(vec![pg]).remove(0);
        let env = s.env(None);
        assert!(env.contains(&(
            "DATABASE_URL".into(),
            "postgresql://app%20user:p%40ss@localhost:40000/app%20user".into()
        )));
        let remote = s.env(Some("10.1.2.3"));
        assert!(remote
            .iter()
            .any(|(k, v)| k == "DATABASE_URL" && v.contains("@10.1.2.3:40000/")));
    }

    #[test]
    fn postgres_detection() {
        let pg_env = vec![("POSTGRES_PASSWORD".to_string(), "x".to_string())];
        assert!(is_postgres("postgres", "my/own-image", &pg_env));
        assert!(is_postgres("db", "busybox", &pg_env));
        assert!(!is_postgres(
            "db",
            "mysql:8",
            &[("MYSQL_ROOT_PASSWORD".into(), "x".into())]
        ));
        assert!(is_postgres("database", "postgres:16-alpine", &[]));
        assert!(is_postgres(
            "database",
            "docker.io/library/postgres:16",
            &[]
        ));
        assert!(is_postgres("geo", "postgis/postgis:16-3.4", &[]));
        assert!(!is_postgres("redis", "redis:7", &[]));
    }

    #[test]
    fn host_is_127_when_families_disagree() {
        let s = group_sessions(vec![container(
            "web",
            &[],
            &[(80, "tcp", 32769, false), (81, "tcp", 32770, true)],
        )])
        .remove(0);
        let ports = s.ports(None);
        assert_eq!(ports[0].url, "http://127.0.0.1:32769");
        assert_eq!(ports[1].url, "http://localhost:32770");
    }

    #[test]
    fn a_removed_container_makes_the_session_partial() {
        let labels = [(label::SERVICES, "db,web")];
        let s = group_sessions(vec![container("db", &labels, &[])]).remove(0);
        assert_eq!(s.missing_services(), vec!["web"]);
        assert_eq!(
            s.status(),
            Status::Partial {
                running: 1,
                total: 2
            }
        );
        let both = group_sessions(vec![
            container("db", &labels, &[]),
            container("web", &labels, &[]),
        ])
        .remove(0);
        assert_eq!(both.status(), Status::Running);
    }

    #[test]
    fn status_running_stopped_partial() {
        let mut a = container("a", &[], &[]);
        let mut b = container("b", &[], &[]);
        let migrate = {
            let mut m = container("migrate", &[], &[]);
            m.state = State {
                status: "exited".into(),
                exit_code: 0,
                health: None,
            };
            m
        };
        let s = group_sessions(vec![a.clone(), b.clone(), migrate.clone()]).remove(0);
        assert_eq!(s.status(), Status::Running);
        b.state = State {
            status: "exited".into(),
            exit_code: 137,
            health: None,
        };
        let s = group_sessions(vec![a.clone(), b.clone(), migrate.clone()]).remove(0);
        assert_eq!(
            s.status(),
            Status::Partial {
                running: 1,
                total: 2
            }
        );
        assert_eq!(s.status().to_string(), "partial 1/2");
        a.state = b.state.clone();
        let s = group_sessions(vec![a, b, migrate]).remove(0);
        assert_eq!(s.status(), Status::Stopped);
    }

    #[test]
    fn groups_by_working_dir_and_reads_identity() {
        let files = r#"["/w/s 2/compose.yaml","/w/s 2/docker-compose.session.yml"]"#;
        let labels = [
            (label::WORKING_DIR, "/w/s 2"),
            (label::BRANCH, "session/x"),
            (label::WORKTREE, "true"),
            (label::MODE, "native"),
            (label::PROFILES, "a,b"),
            (label::COMPOSE_FILES, files),
        ];
        let sessions = group_sessions(vec![
            container("web", &labels, &[]),
            container("db", &labels, &[]),
            container("web", &[], &[]),
        ]);
        assert_eq!(sessions.len(), 2);
        let s = sessions
            .iter()
            .find(|s| s.id.working_dir == Path::new("/w/s 2"))
            .unwrap();
        assert_eq!(s.id.working_dir, Path::new("/w/s 2"));
        assert_eq!(s.id.branch.as_deref(), Some("session/x"));
        assert!(s.id.worktree);
        assert_eq!(s.id.mode, "native");
        assert_eq!(s.id.profiles, vec!["a", "b"]);
        assert_eq!(s.containers.len(), 2);
        let env = s.env(None);
        assert!(env.contains(&(
            "COMPOSE_FILE".into(),
            "/w/s 2/compose.yaml:/w/s 2/docker-compose.session.yml".into()
        )));
        assert!(env.contains(&("COMPOSE_PROFILES".into(), "a,b".into())));
    }

    #[test]
    fn a_path_with_a_colon_gets_another_separator() {
        let files = r#"["/w/a:b/compose.yaml","/w/a:b/docker-compose.session.yml"]"#;
        let labels = [
            (label::WORKING_DIR, "/w/a:b"),
            (label::COMPOSE_FILES, files),
        ];
        let s = group_sessions(vec![container("web", &labels, &[])]).remove(0);
        let env = s.env(None);
        assert!(env.contains(&("COMPOSE_PATH_SEPARATOR".into(), ";".into())));
        assert!(env.contains(&(
            "COMPOSE_FILE".into(),
            "/w/a:b/compose.yaml;/w/a:b/docker-compose.session.yml".into()
        )));
    }

    #[test]
    fn labels_round_trip_through_identity() {
        let id = Identity {
            working_dir: PathBuf::from("/tmp/a, \"b\" #c=ü"),
            project_name: "app-1".into(),
            branch: Some("session/2026".into()),
            worktree: true,
            branch_created: false,
            git_dir: Some(PathBuf::from("/tmp/a, \"b\" #c=ü/.git")),
            mode: "docker".into(),
            profiles: vec!["apps".into()],
            created_at: "2026-11-21T12:00:00Z".into(),
            compose_files: vec![PathBuf::from("/tmp/a, \"b\" #c=ü/compose.yaml")],
            services: vec!["db".into(), "web".into()],
            env_file: ".env.dev-prism".into(),
            app_env: [(
                "apps/web".to_string(),
                [(
                    "API_URL".to_string(),
                    "http://localhost:${API_PORT}".to_string(),
                )]
                .into(),
            )]
            .into(),
            env_files: vec![".env".into()],
            legacy: false,
            port_range: Some("40000-40999".into()),
            pre_destroy: vec!["echo 'bye, \"db\"' && sleep 1".into()],
        };
        let mut labels: Vec<(&str, &str)> = Vec::new();
        let owned = id.labels("web", Some(80));
        for (k, v) in &owned {
            labels.push((k, v));
        }
        labels.push((label::COMPOSE_PROJECT, "app-1"));
        let s = group_sessions(vec![container("web", &labels, &[])]).remove(0);
        assert_eq!(s.id, id);
    }
}
