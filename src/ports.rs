//! A session's host ports: first free ports nobody chose by hand, then
//! kept (sticky) — and published on loopback unless the compose file or
//! `bindAddress` says otherwise.
//!
//! The record of a session's ports is its override file: every port entry
//! carries the host port it was given (`published:`), so `stop`/`start`,
//! `docker restart` and an engine restart bring the containers back on the
//! same ports. On a local engine `create` probes free ports just before the
//! first `up` (never one another session holds, stopped or not); on a remote
//! engine Docker chooses and the chosen ports are written back. A port
//! taken meanwhile moves alone at `start`, and the move is reported.

use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use crate::compose::Port;
use crate::inspect::Container;

/// The host address for ports whose compose entry names none: the
/// configured `bindAddress`, else loopback for a local engine and all
/// interfaces for a remote one (where loopback would be useless). `None`
/// means all interfaces.
pub fn bind_address(configured: Option<&str>, local_engine: bool) -> Option<String> {
    match configured.map(str::trim) {
        Some("" | "0.0.0.0" | "::" | "*") => None,
        Some(addr) => Some(addr.to_string()),
        None if local_engine => Some("127.0.0.1".to_string()),
        None => None,
    }
}

/// Every host port some dev-prism session holds, running or stopped.
pub fn reserved(containers: &[Container]) -> BTreeSet<u16> {
    containers
        .iter()
        .flat_map(|c| {
            c.bound_ports
                .iter()
                .copied()
                .chain(c.ports.iter().map(|p| p.host_port))
        })
        .collect()
}

/// A socket held while more ports are chosen, so no port is chosen twice.
enum Held {
    #[allow(dead_code)]
    Tcp(TcpListener),
    #[allow(dead_code)]
    Udp(UdpSocket),
}

/// Chooses free host ports by asking the kernel (bind to port 0), skipping
/// `reserved` ones; each chosen port stays bound until the chooser is
/// dropped, just before `up`.
pub struct Chooser {
    reserved: BTreeSet<u16>,
    held: Vec<Held>,
    range: Option<(u16, u16)>,
    /// The first port that could not be chosen (see [`Chooser::check`]).
    error: Option<anyhow::Error>,
}

/// `"40000-40999"` → `(40000, 40999)`.
pub fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = text.trim().split_once('-')?;
    let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo > 0 && lo <= hi).then_some((lo, hi))
}

impl Chooser {
    pub fn new(reserved: BTreeSet<u16>) -> Self {
        Chooser {
            reserved,
            held: Vec::new(),
            range: None,
            error: None,
        }
    }

    /// Choose only from `range` (the config's `portRange`).
    pub fn within(mut self, range: Option<(u16, u16)>) -> Self {
        self.range = range;
        self
    }

    /// The first failure of [`Chooser::place`], if any.
    pub fn check(&mut self) -> Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn bind(ip: IpAddr, port: u16, protocol: &str) -> std::io::Result<(Held, u16)> {
        let addr = SocketAddr::new(ip, port);
        if protocol.eq_ignore_ascii_case("udp") {
            let s = UdpSocket::bind(addr)?;
            let port = s.local_addr()?.port();
            Ok((Held::Udp(s), port))
        } else {
            let s = TcpListener::bind(addr)?;
            let port = s.local_addr()?.port();
            Ok((Held::Tcp(s), port))
        }
    }

    /// A free port on `host_ip` (all interfaces when empty) for `protocol`.
    pub fn choose(&mut self, host_ip: Option<&str>, protocol: &str) -> Result<u16> {
        let ip: IpAddr = match host_ip.filter(|ip| !ip.is_empty()) {
            Some(ip) => ip
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| anyhow::anyhow!("`{ip}` is not an IP address"))?,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        if let Some((lo, hi)) = self.range {
            for port in lo..=hi {
                if self.reserved.contains(&port) {
                    continue;
                }
                if let Ok((held, port)) = Self::bind(ip, port, protocol) {
                    self.held.push(held);
                    self.reserved.insert(port);
                    return Ok(port);
                }
            }
            bail!("no free port left in portRange {lo}-{hi} on {ip} (the ports of other sessions, running or stopped, stay theirs)");
        }
        for _ in 0..64 {
            let (held, port) = Self::bind(ip, 0, protocol)?;
            self.held.push(held);
            if self.reserved.insert(port) {
                return Ok(port);
            }
        }
        bail!("no free port on {ip} outside the ports other sessions hold")
    }

    /// Give `port` its host address and (on a local engine) a host port:
    /// the one it had (`keep`), else a new free one.
    pub fn place(
        &mut self,
        mut port: Port,
        bind: Option<&str>,
        local: bool,
        keep: Option<u16>,
    ) -> Port {
        if port.host_ip.as_deref().is_none_or(str::is_empty) {
            port.host_ip = bind.map(str::to_string);
        }
        port.published = match keep {
            Some(p) => Some(p.to_string()),
            None if local => match self.choose(port.host_ip.as_deref(), &port.protocol) {
                Ok(p) => Some(p.to_string()),
                Err(e) => {
                    self.error.get_or_insert(e);
                    None
                }
            },
            None => None,
        };
        port
    }

    /// Release the probing sockets (now: `up` binds the ports next).
    pub fn release(&mut self) {
        self.held.clear();
    }
}

/// For re-rendering the override once the stack runs: the host port each
/// `(service, port)` was given (`given`, from the containers), else the one
/// the first override (`planned`) chose — so the file records the ports
/// the session has.
pub fn keep_given<'a>(
    given: &'a [crate::session::SessionPort],
    planned: &str,
) -> impl FnMut(&str, &Port) -> Option<u16> + 'a {
    let planned = entries(planned);
    move |svc, p| {
        let same = |s: &str, target: u16, proto: &str| {
            s == svc && target == p.target && proto == p.protocol
        };
        given
            .iter()
            .find(|g| same(&g.service, g.container_port, &g.protocol))
            .map(|g| g.host_port)
            .or_else(|| {
                planned
                    .iter()
                    .find(|e| same(&e.service, e.target, &e.protocol))
                    .and_then(|e| e.published)
            })
    }
}

/// Whether `port` can be bound on `host_ip` right now (nothing else holds it).
pub fn is_free(host_ip: Option<&str>, port: u16, protocol: &str) -> bool {
    let ip: IpAddr = host_ip
        .filter(|ip| !ip.is_empty())
        .and_then(|ip| ip.trim_matches(['[', ']']).parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = SocketAddr::new(ip, port);
    if protocol.eq_ignore_ascii_case("udp") {
        UdpSocket::bind(addr).is_ok()
    } else {
        TcpListener::bind(addr).is_ok()
    }
}

/// The host port an allocation failure names: `Bind for 127.0.0.1:40001
/// failed: port is already allocated`, `listen tcp4 127.0.0.1:40001: bind:
/// address already in use`.
pub fn allocation_failure(stderr: &str) -> Option<u16> {
    for line in stderr.lines() {
        if !(line.contains("port is already allocated") || line.contains("address already in use"))
        {
            continue;
        }
        let addr = if let Some(rest) = line.split("Bind for ").nth(1) {
            rest.split_whitespace().next()
        } else {
            [
                "listen tcp4 ",
                "listen tcp6 ",
                "listen tcp ",
                "listen udp4 ",
                "listen udp ",
            ]
            .iter()
            .find_map(|k| line.split(k).nth(1))
            .and_then(|rest| rest.split_whitespace().next())
        };
        if let Some(port) = addr
            .map(|a| a.trim_end_matches(':'))
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
        {
            return Some(port);
        }
    }
    None
}

/// One port entry of a generated override file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub service: String,
    pub target: u16,
    pub protocol: String,
    pub host_ip: Option<String>,
    pub published: Option<u16>,
}

/// Pure: the port entries of an override file dev-prism generated (its own,
/// fixed layout: services at two spaces, `- target:` entries below
/// `ports: !override`).
pub fn entries(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut service: Option<String> = None;
    let mut in_ports = false;
    let unquote = |v: &str| -> String {
        serde_json::from_str::<String>(v.trim()).unwrap_or_else(|_| v.trim().to_string())
    };
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 2 && t.ends_with(':') {
            service = Some(unquote(t.trim_end_matches(':')));
            in_ports = false;
        } else if indent == 0 {
            service = None;
            in_ports = false;
        } else if indent == 4 {
            in_ports = t.starts_with("ports:");
        } else if in_ports {
            if let Some(target) = t.strip_prefix("- target:") {
                if let (Some(svc), Ok(target)) = (&service, target.trim().parse()) {
                    out.push(Entry {
                        service: svc.clone(),
                        target,
                        protocol: "tcp".into(),
                        host_ip: None,
                        published: None,
                    });
                }
            } else if let Some(e) = out.last_mut() {
                if let Some(v) = t.strip_prefix("host_ip:") {
                    e.host_ip = Some(unquote(v));
                } else if let Some(v) = t.strip_prefix("published:") {
                    e.published = unquote(v).parse().ok();
                } else if let Some(v) = t.strip_prefix("protocol:") {
                    e.protocol = unquote(v);
                }
            }
        }
    }
    out
}

/// Pure: the override text with host port `from` replaced by `to`.
pub fn move_port(text: &str, from: u16, to: u16) -> Option<String> {
    let old = format!("published: \"{from}\"\n");
    text.contains(&old)
        .then(|| text.replace(&old, &format!("published: \"{to}\"\n")))
}

/// The variable a port appears under in `.env.session`.
pub fn variable(entries: &[Entry], e: &Entry) -> String {
    let base = crate::session::port_var(&e.service);
    let several = entries.iter().filter(|x| x.service == e.service).count() > 1;
    if several {
        let udp = if e.protocol == "udp" { "_UDP" } else { "" };
        format!("{base}_{}{udp}", e.target)
    } else {
        base
    }
}

/// A port that moved, for the user (and `start --json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    pub variable: String,
    pub from: u16,
    pub to: u16,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} moved from {} to {}: port {} is taken by another program",
            self.variable, self.from, self.to, self.from
        )
    }
}

/// `up` that survives port-allocation races: when the engine says a host
/// port dev-prism chose is taken ("port is already allocated", "address
/// already in use"), that port alone moves to a new free one in the
/// override file and `up` runs again (a bounded number of times). Returns
/// whether `up` finished within `deadline` and the ports that moved.
pub fn up(
    project: &crate::docker::ComposeProject,
    override_file: Option<&std::path::Path>,
    chooser: &mut Chooser,
    build: bool,
    deadline: std::time::Instant,
) -> std::result::Result<(bool, Vec<Moved>), crate::process::CmdError> {
    let mut moved = Vec::new();
    for attempt in 0.. {
        chooser.release();
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let err = match project.up(build, left.max(std::time::Duration::from_secs(1))) {
            Ok(done) => return Ok((done, moved)),
            Err(e) => e,
        };
        let Some(taken) = allocation_failure(&err.stderr).filter(|_| attempt < 5) else {
            return Err(err);
        };
        let Some(path) = override_file else {
            return Err(err);
        };
        match move_in_file(path, taken, chooser) {
            Some(m) => {
                crate::output::warn(&m.to_string());
                moved.push(m);
            }
            // A port Docker chose itself: asking again gives another one.
            None => continue,
        }
    }
    unreachable!("the loop returns")
}

/// Move host port `from` in the override file at `path` to a new free
/// one; `None` when the file does not hold it (or is not dev-prism's).
pub fn move_in_file(path: &std::path::Path, from: u16, chooser: &mut Chooser) -> Option<Moved> {
    use crate::safefs::{self, Existing};
    if safefs::existing(path, crate::compose::OVERRIDE_HEADER) != Existing::Ours {
        return None;
    }
    let text = safefs::read_nofollow(path).ok()?;
    let all = entries(&text);
    let entry = all.iter().find(|e| e.published == Some(from))?;
    let to = chooser
        .choose(entry.host_ip.as_deref(), &entry.protocol)
        .ok()?;
    chooser.release();
    let new = move_port(&text, from, to)?;
    safefs::write_file(path, new.as_bytes(), 0o644).ok()?;
    Some(Moved {
        variable: variable(&all, entry),
        from,
        to,
    })
}

/// Before `start`: every recorded host port that something else holds now
/// (not one of the session's own running containers) moves to a new free
/// port in the override file; the moves are reported.
pub fn move_taken(
    s: &crate::session::Session,
    path: &std::path::Path,
    chooser: &mut Chooser,
) -> Vec<Moved> {
    let own: std::collections::BTreeSet<u16> = s
        .containers
        .iter()
        .filter(|c| c.state.is_running())
        .flat_map(|c| c.ports.iter().map(|p| p.host_port))
        .collect();
    let text = crate::safefs::read_nofollow(path).unwrap_or_default();
    let mut moved = Vec::new();
    for e in entries(&text) {
        let Some(port) = e.published.filter(|p| !own.contains(p)) else {
            continue;
        };
        if is_free(e.host_ip.as_deref(), port, &e.protocol) {
            continue;
        }
        if let Some(m) = move_in_file(path, port, chooser) {
            crate::output::warn(&m.to_string());
            moved.push(m);
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_address_defaults() {
        assert_eq!(bind_address(None, true).as_deref(), Some("127.0.0.1"));
        assert_eq!(bind_address(None, false), None);
        assert_eq!(bind_address(Some("0.0.0.0"), true), None);
        assert_eq!(
            bind_address(Some("10.0.0.2"), false).as_deref(),
            Some("10.0.0.2")
        );
    }

    #[test]
    fn chooses_distinct_free_ports_outside_the_reserved_ones() {
        let mut c = Chooser::new(BTreeSet::new());
        let a = c.choose(Some("127.0.0.1"), "tcp").unwrap();
        let b = c.choose(Some("127.0.0.1"), "tcp").unwrap();
        let u = c.choose(Some("127.0.0.1"), "udp").unwrap();
        assert_ne!(a, b);
        assert!(u > 0);
        assert!(!is_free(Some("127.0.0.1"), a, "tcp"), "held until released");
        c.release();
        assert!(is_free(Some("127.0.0.1"), a, "tcp"));
        let mut c = Chooser::new([a].into());
        let mut p = Port::tcp(80);
        p = c.place(p, Some("127.0.0.1"), true, None);
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_ne!(p.published.as_deref(), Some(a.to_string().as_str()));
        let kept = c.place(Port::tcp(81), None, true, Some(40001));
        assert_eq!(kept.published.as_deref(), Some("40001"));
        assert_eq!(kept.host_ip, None);
        let remote = c.place(Port::tcp(82), None, false, None);
        assert_eq!(remote.published, None);
        let mut explicit = Port::tcp(9229);
        explicit.host_ip = Some("127.0.0.1".into());
        assert_eq!(
            c.place(explicit, None, true, None).host_ip.as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn reads_the_port_of_an_allocation_failure() {
        assert_eq!(
            allocation_failure("Error response from daemon: driver failed programming external connectivity on endpoint p-web-1 (abc): Bind for 127.0.0.1:40001 failed: port is already allocated"),
            Some(40001)
        );
        assert_eq!(
            allocation_failure("Error starting userland proxy: listen tcp4 127.0.0.1:40002: bind: address already in use"),
            Some(40002)
        );
        assert_eq!(
            allocation_failure("listen tcp6 [::1]:40003: bind: address already in use"),
            Some(40003)
        );
        assert_eq!(allocation_failure("no such image"), None);
    }

    const OVERRIDE: &str = "# Generated by dev-prism — do not edit\nservices:\n  \"db\":\n    ports: !override\n      - target: 5432\n        host_ip: \"127.0.0.1\"\n        published: \"40001\"\n        protocol: \"tcp\"\n    labels:\n      \"dev-prism.managed\": \"true\"\n  \"dns\":\n    ports: !override\n      - target: 53\n        published: \"40002\"\n        protocol: \"udp\"\n      - target: 53\n        published: \"40003\"\n        protocol: \"tcp\"\nvolumes:\n  \"data\":\n    name: !reset null\n";

    #[test]
    fn reads_and_moves_override_entries() {
        let e = entries(OVERRIDE);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].service, "db");
        assert_eq!(e[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(e[0].published, Some(40001));
        assert_eq!(
            (e[1].protocol.as_str(), e[1].published),
            ("udp", Some(40002))
        );
        assert_eq!(variable(&e, &e[0]), "DB_PORT");
        assert_eq!(variable(&e, &e[1]), "DNS_PORT_53_UDP");
        assert_eq!(variable(&e, &e[2]), "DNS_PORT_53");
        let moved = move_port(OVERRIDE, 40001, 41000).unwrap();
        assert_eq!(entries(&moved)[0].published, Some(41000));
        assert_eq!(entries(&moved)[1].published, Some(40002));
        assert_eq!(move_port(OVERRIDE, 1, 2), None);
        let m = Moved {
            variable: "DB_PORT".into(),
            from: 40001,
            to: 41000,
        };
        assert!(m
            .to_string()
            .starts_with("DB_PORT moved from 40001 to 41000"));
    }
}
