//! Pure: `docker container inspect` JSON -> typed containers, labels, ports
//! and healthcheck results.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One container as dev-prism sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub state: State,
    pub env: Vec<(String, String)>,
    pub image: String,
    /// Published ports, one per container port, sorted by port and protocol.
    pub ports: Vec<PublishedPort>,
    /// Host ports the container asks for (`HostConfig.PortBindings`), kept
    /// while it exists, also when it is stopped.
    pub bound_ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `created`, `running`, `restarting`, `exited`, `paused`, `dead`, `removing`.
    pub status: String,
    pub exit_code: i64,
    /// `starting`, `healthy` or `unhealthy` when the container has a healthcheck.
    pub health: Option<String>,
}

impl State {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

/// A container port and the host port Docker bound it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    /// The host port of the IPv4 binding (or the only binding).
    pub host_port: u16,
    /// Whether IPv4 and IPv6 got the same host port (engines before 27 may
    /// choose them independently); decides between `localhost` and `127.0.0.1`.
    pub families_agree: bool,
}

impl PublishedPort {
    pub fn is_udp(&self) -> bool {
        self.protocol == "udp"
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    config: RawConfig,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    network_settings: RawNetworkSettings,
    #[serde(default)]
    host_config: RawHostConfig,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawHostConfig {
    #[serde(default)]
    port_bindings: Option<BTreeMap<String, Option<Vec<RawBinding>>>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    image: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    #[serde(default)]
    status: String,
    #[serde(default)]
    exit_code: i64,
    #[serde(default)]
    health: Option<RawHealth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHealth {
    status: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    #[serde(default)]
    ports: Option<BTreeMap<String, Option<Vec<RawBinding>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBinding {
    #[serde(default)]
    host_ip: String,
    #[serde(default)]
    host_port: String,
}

/// A container's healthcheck state (`State.Health`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub failing_streak: u64,
    /// The last probes, oldest first (Docker keeps five).
    #[serde(default, deserialize_with = "null_vec")]
    pub log: Vec<Probe>,
}

/// One healthcheck run (`State.Health.Log[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    /// The test's exit code; -1 when it could not run or timed out.
    #[serde(default)]
    pub exit_code: i64,
    /// What the test printed (stdout and stderr), or Docker's reason
    /// (`Health check exceeded timeout (1s)`).
    #[serde(default)]
    pub output: String,
}

impl Health {
    /// The most recent probe.
    pub fn last_probe(&self) -> Option<&Probe> {
        self.log.last()
    }
}

fn null_vec<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The healthcheck state of each container in `docker container inspect`
/// output, by id (`None`: no healthcheck).
pub fn parse_health(json: &str) -> Result<Vec<(String, Option<Health>)>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Raw {
        id: String,
        #[serde(default)]
        state: Option<RawHealthState>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RawHealthState {
        #[serde(default)]
        health: Option<Health>,
    }
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<Raw> =
        serde_json::from_str(json).context("could not read the output of `docker inspect`")?;
    Ok(raw
        .into_iter()
        .map(|r| (r.id, r.state.and_then(|s| s.health)))
        .collect())
}

/// Parse `docker container inspect` output. Empty output (every id vanished)
/// is an empty list.
pub fn parse_inspect(json: &str) -> Result<Vec<Container>> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<RawContainer> =
        serde_json::from_str(json).context("could not read the output of `docker inspect`")?;
    Ok(raw.into_iter().map(container).collect())
}

fn container(raw: RawContainer) -> Container {
    let env = raw
        .config
        .env
        .unwrap_or_default()
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    let mut ports: Vec<PublishedPort> = raw
        .network_settings
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, bindings)| published_port(&key, &bindings?))
        .collect();
    ports.sort_by(|a, b| (a.container_port, &a.protocol).cmp(&(b.container_port, &b.protocol)));
    let mut bound_ports: Vec<u16> = raw
        .host_config
        .port_bindings
        .unwrap_or_default()
        .into_values()
        .flatten()
        .flatten()
        .filter_map(|b| b.host_port.parse().ok())
        .filter(|p| *p != 0)
        .collect();
    bound_ports.sort_unstable();
    bound_ports.dedup();
    Container {
        id: raw.id,
        name: raw.name.trim_start_matches('/').to_string(),
        labels: raw.config.labels.unwrap_or_default(),
        state: State {
            status: raw.state.status,
            exit_code: raw.state.exit_code,
            health: raw.state.health.map(|h| h.status),
        },
        env,
        image: raw.config.image,
        ports,
        bound_ports,
    }
}

/// `"5432/tcp"` plus its bindings -> the port to use (IPv4 first).
fn published_port(key: &str, bindings: &[RawBinding]) -> Option<PublishedPort> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    let container_port: u16 = port.parse().ok()?;
    let parsed: Vec<(&str, u16)> = bindings
        .iter()
        .filter_map(|b| Some((b.host_ip.as_str(), b.host_port.parse::<u16>().ok()?)))
        .filter(|(_, p)| *p != 0)
        .collect();
    let is_v6 = |ip: &str| ip.contains(':');
    let (host_ip, host_port) = parsed
        .iter()
        .find(|(ip, _)| !is_v6(ip))
        .or_else(|| parsed.first())
        .copied()?;
    let families_agree = parsed
        .iter()
        .filter(|(ip, _)| is_v6(ip))
        .all(|(_, p)| *p == host_port);
    Some(PublishedPort {
        container_port,
        protocol: protocol.to_string(),
        host_ip: host_ip.to_string(),
        host_port,
        families_agree,
    })
}

/// A container of `service` in `status` (exit `code`, `health`), with no
/// labels but the compose service: for the unit tests of the modules that
/// judge containers.
#[cfg(test)]
pub fn test_container(service: &str, status: &str, code: i64, health: Option<&str>) -> Container {
    Container {
        id: service.into(),
        name: service.into(),
        labels: [(
            "com.docker.compose.service".to_string(),
            service.to_string(),
        )]
        .into(),
        state: State {
            status: status.into(),
            exit_code: code,
            health: health.map(str::to_string),
        },
        env: vec![],
        image: String::new(),
        ports: vec![],
        bound_ports: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from Docker Engine 20.10.24: a running container with
    /// `-p 80 -p 127.0.0.1::81 -p 53/udp`, one that exited with code 3, and
    /// one whose healthcheck fails.
    const ENGINE_20: &str = include_str!("testdata/inspect-engine-20.10.json");

    #[test]
    fn reads_labels_state_env_from_real_output() {
        let cs = parse_inspect(ENGINE_20).unwrap();
        assert_eq!(cs.len(), 3);
        let c = &cs[0];
        assert_eq!(c.name, "cap1");
        assert_eq!(c.labels["dev-prism.working_dir"], "/tmp/a b");
        assert!(c.state.is_running());
        assert_eq!(c.state.health, None);
        assert!(c.env.contains(&("POSTGRES_USER".into(), "me".into())));
        assert_eq!(c.image, "dev-prism-test/busybox:latest");
    }

    #[test]
    fn engine_20_ipv4_and_ipv6_ports_differ_and_ipv4_wins() {
        let cs = parse_inspect(ENGINE_20).unwrap();
        let ports = &cs[0].ports;
        assert_eq!(ports.len(), 3);
        // 53/udp: both families got 32768
        assert_eq!(ports[0].container_port, 53);
        assert!(ports[0].is_udp());
        assert_eq!(ports[0].host_port, 32768);
        assert!(ports[0].families_agree);
        // 80/tcp: IPv4 32769, IPv6 32768 (moby#42442)
        assert_eq!(ports[1].container_port, 80);
        assert_eq!(ports[1].host_ip, "0.0.0.0");
        assert_eq!(ports[1].host_port, 32769);
        assert!(!ports[1].families_agree);
        // 81/tcp on loopback only
        assert_eq!(ports[2].host_ip, "127.0.0.1");
        assert_eq!(ports[2].host_port, 32768);
        assert!(ports[2].families_agree);
    }

    #[test]
    fn stopped_container_has_exit_code_and_no_ports() {
        let cs = parse_inspect(ENGINE_20).unwrap();
        let c = &cs[1];
        assert_eq!(c.state.status, "exited");
        assert_eq!(c.state.exit_code, 3);
        assert!(c.ports.is_empty());
    }

    #[test]
    fn health_status_is_read() {
        let cs = parse_inspect(ENGINE_20).unwrap();
        assert_eq!(cs[2].state.health.as_deref(), Some("unhealthy"));
    }

    #[test]
    fn engine_27_single_port_and_podman_empty_ip() {
        let json = r#"[{"Id":"abc","Name":"/x","Config":{"Labels":null,"Env":null,"Image":"i"},
            "State":{"Status":"running","ExitCode":0},
            "NetworkSettings":{"Ports":{
              "5432/tcp":[{"HostIp":"0.0.0.0","HostPort":"49154"},{"HostIp":"::","HostPort":"49154"}],
              "6379/tcp":[{"HostIp":"","HostPort":"40000"}],
              "9000/tcp":null}}}]"#;
        let cs = parse_inspect(json).unwrap();
        let ports = &cs[0].ports;
        assert_eq!(ports.len(), 2);
        assert_eq!((ports[0].host_port, ports[0].families_agree), (49154, true));
        assert_eq!((ports[1].host_port, ports[1].host_ip.as_str()), (40000, ""));
        assert!(cs[0].labels.is_empty());
    }

    #[test]
    fn ipv6_only_binding_is_used_when_nothing_else() {
        let json = r#"[{"Id":"abc","NetworkSettings":{"Ports":{
              "7000/tcp":[{"HostIp":"::1","HostPort":"41000"}]}}}]"#;
        let cs = parse_inspect(json).unwrap();
        assert_eq!(cs[0].ports[0].host_ip, "::1");
        assert_eq!(cs[0].ports[0].host_port, 41000);
    }

    /// Captured from Docker Engine 20.10.24 (`docker run --health-cmd …`
    /// of the test image): a healthcheck printing two lines and exiting 2,
    /// one that times out after 1 s, one (interval 5m) that has not run yet.
    const HEALTH_20: &str = include_str!("testdata/inspect-health-engine-20.10.json");

    #[test]
    fn healthcheck_log_is_read_from_real_output() {
        let all = parse_health(HEALTH_20).unwrap();
        assert_eq!(all.len(), 3);
        let failing = all[0].1.as_ref().unwrap();
        assert_eq!(all[0].0.len(), 64, "the full id");
        assert_eq!(failing.status, "unhealthy");
        assert_eq!(failing.log.len(), 5, "Docker keeps the last five");
        let last = failing.last_probe().unwrap();
        assert_eq!(last.exit_code, 2);
        assert!(last
            .output
            .contains("probe: connection refused on 127.0.0.1:5432\n"));
        assert!(last.output.contains("pg_isready: no response\n"));
        assert!(last.end > last.start);

        let timed_out = all[1].1.as_ref().unwrap().last_probe().unwrap();
        assert_eq!(timed_out.exit_code, -1);
        assert_eq!(timed_out.output, "Health check exceeded timeout (1s)");

        let fresh = all[2].1.as_ref().unwrap();
        assert_eq!(fresh.status, "starting");
        assert!(fresh.last_probe().is_none());
        // the same containers through the general parser
        let cs = parse_inspect(HEALTH_20).unwrap();
        assert_eq!(cs[0].state.health.as_deref(), Some("unhealthy"));
        assert_eq!(cs[2].state.health.as_deref(), Some("starting"));
    }

    #[test]
    fn no_healthcheck_no_health() {
        let all = parse_health(ENGINE_20).unwrap();
        assert_eq!(all[0].1, None);
        assert_eq!(all[2].1.as_ref().unwrap().log.len(), 2);
        let null_log = parse_health(
            r#"[{"Id": "x", "State": {"Health": {"Status": "starting", "Log": null}}}]"#,
        )
        .unwrap();
        assert!(null_log[0].1.as_ref().unwrap().log.is_empty());
        assert!(parse_health("").unwrap().is_empty());
    }

    #[test]
    fn empty_output_is_no_containers() {
        assert!(parse_inspect("").unwrap().is_empty());
        assert!(parse_inspect("[]\n").unwrap().is_empty());
        assert!(parse_inspect("not json").is_err());
    }
}
