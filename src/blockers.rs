//! Pure: what in a resolved compose project would stop a second session of
//! it from starting next to the first, and how the override neutralises it.
//!
//! Neutralised: `container_name` (reset; the old name stays a network alias),
//! a fixed network `name:`, a fixed ipam subnet, a fixed bridge name, a fixed
//! volume `name:`, and `network_mode: container:<a container_name of the
//! project>`. Only warned about: `network_mode: host`, a fixed subnet that
//! services pin addresses in (or that carries IPv6), and external networks
//! and volumes (shared on purpose, but shared by every session).

use std::collections::{BTreeMap, BTreeSet};

use crate::compose::{Network, Project, Service};

/// The driver option that names a bridge network's Linux interface.
pub const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";

/// What the override changes in one service to let sessions run side by side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFix {
    /// `container_name: !reset null` (Compose then names it per project).
    pub reset_container_name: bool,
    /// Extra aliases per network, so a reset `container_name` still resolves.
    pub aliases: BTreeMap<String, Vec<String>>,
    /// A replacement `network_mode` (`container:<name>` → `service:<svc>`).
    pub network_mode: Option<String>,
}

/// What the override changes in one top-level network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFix {
    /// `name: !reset null`: Compose names it `<project>_<key>`.
    pub reset_name: bool,
    /// `ipam: {config: !reset []}`: Docker picks a free subnet.
    pub reset_ipam_config: bool,
    /// `driver_opts: {com.docker.network.bridge.name: !reset null}`.
    pub reset_bridge_name: bool,
}

/// Everything the override neutralises, and what it can only warn about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fixes {
    pub services: BTreeMap<String, ServiceFix>,
    pub networks: BTreeMap<String, NetworkFix>,
    /// Volumes whose fixed `name:` is reset (`name: !reset null`).
    pub volumes: BTreeSet<String>,
    /// One line each: what would clash with a second session, and why.
    pub warnings: Vec<String>,
}

/// Whether a service's network mode lets it publish ports (not host, none,
/// or another container's network stack).
pub fn publishes_ports(service: &Service) -> bool {
    match service.network_mode.as_deref() {
        None | Some("") | Some("bridge") | Some("default") => true,
        Some(mode) => {
            !(mode == "host"
                || mode == "none"
                || mode.starts_with("service:")
                || mode.starts_with("container:"))
        }
    }
}

/// Find the blockers of `project` and how to neutralise them.
pub fn fixes(project: &Project) -> Fixes {
    let mut fixes = Fixes::default();
    container_names(project, &mut fixes);
    for (name, service) in &project.services {
        if service.network_mode.as_deref() == Some("host") {
            fixes.warnings.push(format!(
                "service `{name}` uses `network_mode: host`: its ports are opened directly on the host, where dev-prism cannot move them, so a second session's `{name}` clashes on the same ports; use `ports:` on a normal network instead"
            ));
        }
    }
    for (key, network) in &project.networks {
        if network.is_external() {
            fixes.warnings.push(format!(
                "network `{key}` is external ({}): every session's containers join the same network, so a service name on it (like `db`) can resolve to another session's container",
                network.name.as_deref().unwrap_or(key)
            ));
        }
        if let Some(fix) = network_fix(project, key, network, &mut fixes.warnings) {
            fixes.networks.insert(key.clone(), fix);
        }
    }
    for (key, volume) in &project.volumes {
        if volume.is_external() {
            fixes.warnings.push(format!(
                "volume `{key}` is external ({}): every session mounts the same data, so two sessions write to it at once",
                volume.name.as_deref().unwrap_or(key)
            ));
            continue;
        }
        if is_fixed_name(&project.name, key, volume.name.as_deref()) {
            fixes.volumes.insert(key.clone());
        }
    }
    fixes
}

/// Whether a resolved `name` is one the user fixed rather than Compose's
/// per-project `<project>_<key>`.
fn is_fixed_name(project: &str, key: &str, name: Option<&str>) -> bool {
    match name {
        Some(n) if !n.is_empty() && !project.is_empty() => n != format!("{project}_{key}"),
        _ => false,
    }
}

/// `container_name`: reset it, keep the old name as an alias on each network
/// the container is on, and point `network_mode: container:<name>` at the
/// service instead.
fn container_names(project: &Project, fixes: &mut Fixes) {
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    for (svc, service) in &project.services {
        let Some(cname) = service.container_name.as_deref().filter(|c| !c.is_empty()) else {
            continue;
        };
        by_name.insert(cname, svc);
        let fix = fixes.services.entry(svc.clone()).or_default();
        fix.reset_container_name = true;
        // A container sharing another's network stack is reached through
        // that one's networks.
        let Some(owner) = network_owner(project, svc) else {
            continue;
        };
        for net in service_networks(&project.services[owner]) {
            let aliases = fixes
                .services
                .entry(owner.to_string())
                .or_default()
                .aliases
                .entry(net)
                .or_default();
            if !aliases.iter().any(|a| a == cname) {
                aliases.push(cname.to_string());
            }
        }
    }
    for (svc, service) in &project.services {
        let Some(target) = service
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("container:"))
        else {
            continue;
        };
        if let Some(owner) = by_name.get(target) {
            fixes.services.entry(svc.clone()).or_default().network_mode =
                Some(format!("service:{owner}"));
        }
    }
}

/// The service whose networks `svc`'s container is on: itself, or the
/// service it shares a network stack with (`network_mode: service:x`, also
/// `container:<container_name>`); `None` for host, none or an outside container.
fn network_owner<'a>(project: &'a Project, svc: &'a str) -> Option<&'a str> {
    let mut current = svc;
    for _ in 0..=project.services.len() {
        let service = project.services.get(current)?;
        match service.network_mode.as_deref() {
            None | Some("") | Some("bridge") | Some("default") => return Some(current),
            Some(mode) => {
                if let Some(next) = mode.strip_prefix("service:") {
                    current = project.services.get_key_value(next)?.0;
                } else if let Some(cname) = mode.strip_prefix("container:") {
                    current = project
                        .services
                        .iter()
                        .find(|(_, s)| s.container_name.as_deref() == Some(cname))?
                        .0;
                } else {
                    return None;
                }
            }
        }
    }
    None // a cycle: Compose rejects it anyway
}

/// The networks a service is attached to (`default` when none is listed).
fn service_networks(service: &Service) -> Vec<String> {
    if service.networks.is_empty() {
        vec!["default".to_string()]
    } else {
        service.networks.keys().cloned().collect()
    }
}

fn network_fix(
    project: &Project,
    key: &str,
    network: &Network,
    warnings: &mut Vec<String>,
) -> Option<NetworkFix> {
    if network.is_external() {
        return None;
    }
    let mut fix = NetworkFix {
        reset_name: is_fixed_name(&project.name, key, network.name.as_deref()),
        reset_bridge_name: network.driver_opts.contains_key(BRIDGE_NAME_OPT),
        reset_ipam_config: false,
    };
    let subnets: Vec<&str> = network
        .ipam
        .config
        .iter()
        .filter_map(|c| c.subnet.as_deref())
        .filter(|s| !s.is_empty())
        .collect();
    if !subnets.is_empty() {
        let pinned: Vec<String> = project
            .services
            .iter()
            .filter_map(|(svc, service)| {
                let attachment = service.networks.get(key)?.as_ref()?;
                let pins = [&attachment.ipv4_address, &attachment.ipv6_address];
                pins.iter()
                    .any(|p| p.as_deref().is_some_and(|a| !a.is_empty()))
                    .then(|| format!("`{svc}`"))
            })
            .collect();
        let ipv6 = network.enable_ipv6 == Some(true);
        if pinned.is_empty() && !ipv6 {
            fix.reset_ipam_config = true;
        } else {
            let why = if pinned.is_empty() {
                "it has IPv6 enabled, which needs a subnet".to_string()
            } else {
                format!(
                    "{} {} a fixed address in it",
                    pinned.join(", "),
                    if pinned.len() == 1 { "pins" } else { "pin" }
                )
            };
            warnings.push(format!(
                "network `{key}` has the fixed subnet {}: a second session's copy of it overlaps (Docker: \"Pool overlaps with other one on this address space\"), and dev-prism cannot drop the subnet because {why}; remove the subnet and fixed addresses to run sessions side by side",
                subnets.join(", ")
            ));
        }
    }
    (fix != NetworkFix::default()).then_some(fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::parse_project;

    /// Captured from `docker compose -p proj config --format json` (2.26.1).
    const RESOLVED: &str = r#"{
      "name": "proj",
      "networks": {
        "back": {"name": "proj_back", "ipam": {}},
        "default": {"name": "proj_default", "ipam": {}},
        "front": {"name": "fixed-front", "ipam": {"config": [{"subnet": "172.28.0.0/16"}]}},
        "bridged": {"name": "proj_bridged", "driver": "bridge",
          "driver_opts": {"com.docker.network.bridge.name": "br-fixed"},
          "ipam": {"driver": "default", "config": [{"subnet": "172.29.0.0/16", "gateway": "172.29.0.1"}]}},
        "pinned": {"name": "proj_pinned", "ipam": {"config": [{"subnet": "172.30.0.0/16"}]}},
        "v6": {"name": "proj_v6", "enable_ipv6": true, "ipam": {"config": [{"subnet": "fd00:1::/64"}]}},
        "ext": {"name": "some-ext", "ipam": {}, "external": true}
      },
      "services": {
        "a": {"image": "x", "container_name": "my-a", "networks": {"back": null, "front": null}},
        "b": {"image": "x", "network_mode": "service:a", "container_name": "my-b"},
        "c": {"image": "x", "network_mode": "container:my-a"},
        "d": {"image": "x", "container_name": "my-d", "networks": {"default": null}},
        "e": {"image": "x", "networks": {"pinned": {"aliases": ["ee"], "ipv4_address": "172.30.5.5"}, "bridged": {}, "v6": null, "ext": null}},
        "h": {"image": "x", "network_mode": "host", "container_name": "my-h", "ports": [{"target": 80, "published": "80"}]},
        "o": {"image": "x", "network_mode": "container:outside"}
      },
      "volumes": {
        "data": {"name": "fixed-data"},
        "ext": {"name": "ext", "external": true},
        "shared": {"name": "shared-vol", "external": true},
        "v2": {"name": "proj_v2"}
      }
    }"#;

    fn fixes_of(json: &str) -> Fixes {
        fixes(&parse_project(json).unwrap())
    }

    #[test]
    fn container_names_are_reset_and_kept_as_aliases() {
        let f = fixes_of(RESOLVED);
        let a = &f.services["a"];
        assert!(a.reset_container_name);
        // b shares a's network stack: its old name is an alias on a's networks
        assert_eq!(a.aliases["back"], vec!["my-a", "my-b"]);
        assert_eq!(a.aliases["front"], vec!["my-a", "my-b"]);
        assert!(f.services["b"].reset_container_name);
        assert!(f.services["b"].aliases.is_empty());
        assert_eq!(f.services["d"].aliases["default"], vec!["my-d"]);
        // host networking has no aliases; the name is still reset
        assert!(f.services["h"].reset_container_name);
        assert!(f.services["h"].aliases.is_empty());
    }

    #[test]
    fn network_mode_container_of_the_project_points_at_the_service() {
        let f = fixes_of(RESOLVED);
        assert_eq!(f.services["c"].network_mode.as_deref(), Some("service:a"));
        assert!(!f.services.contains_key("o"), "outside containers stay");
    }

    #[test]
    fn service_without_networks_uses_default() {
        let f = fixes_of(
            r#"{"name": "p", "services": {"s": {"image": "x", "container_name": "fixed"}}}"#,
        );
        assert_eq!(f.services["s"].aliases["default"], vec!["fixed"]);
    }

    #[test]
    fn fixed_network_names_subnets_and_bridge_names() {
        let f = fixes_of(RESOLVED);
        assert_eq!(
            f.networks["front"],
            NetworkFix {
                reset_name: true,
                reset_ipam_config: true,
                reset_bridge_name: false
            }
        );
        assert_eq!(
            f.networks["bridged"],
            NetworkFix {
                reset_name: false,
                reset_ipam_config: true,
                reset_bridge_name: true
            }
        );
        for untouched in ["back", "default", "ext", "pinned", "v6"] {
            assert!(!f.networks.contains_key(untouched), "{untouched}");
        }
    }

    #[test]
    fn pinned_addresses_and_ipv6_subnets_are_only_warned_about() {
        let f = fixes_of(RESOLVED);
        let pinned = f.warnings.iter().find(|w| w.contains("`pinned`")).unwrap();
        assert!(pinned.contains("172.30.0.0/16"), "{pinned}");
        assert!(pinned.contains("`e` pins a fixed address"), "{pinned}");
        assert!(pinned.contains("overlaps"), "{pinned}");
        let v6 = f.warnings.iter().find(|w| w.contains("`v6`")).unwrap();
        assert!(v6.contains("IPv6"), "{v6}");
    }

    #[test]
    fn host_network_mode_is_warned_about() {
        let f = fixes_of(RESOLVED);
        let host: Vec<&String> = f
            .warnings
            .iter()
            .filter(|w| w.contains("network_mode: host"))
            .collect();
        assert_eq!(host.len(), 1, "{:?}", f.warnings);
        assert!(host[0].contains("service `h`") && host[0].contains("clashes"));
    }

    #[test]
    fn external_networks_and_volumes_are_warned_about() {
        let f = fixes_of(RESOLVED);
        let external: Vec<&String> = f
            .warnings
            .iter()
            .filter(|w| w.contains("is external"))
            .collect();
        assert_eq!(external.len(), 3, "{:?}", f.warnings);
        assert!(external[0].starts_with("network `ext` is external (some-ext)"));
        assert!(external[1].starts_with("volume `ext` is external (ext)"));
        assert!(external[2].starts_with("volume `shared` is external (shared-vol)"));
        assert!(external.iter().all(|w| w.contains("every session")));
        // host, pinned subnet, IPv6 subnet, and the three external ones
        assert_eq!(f.warnings.len(), 6, "{:?}", f.warnings);
    }

    #[test]
    fn fixed_volume_names_are_reset_external_ones_kept() {
        let f = fixes_of(RESOLVED);
        assert_eq!(f.volumes, BTreeSet::from(["data".to_string()]));
    }

    #[test]
    fn which_services_publish_ports() {
        let p = parse_project(RESOLVED).unwrap();
        assert!(publishes_ports(&p.services["a"]));
        for s in ["b", "c", "h", "o"] {
            assert!(!publishes_ports(&p.services[s]), "{s}");
        }
    }

    #[test]
    fn a_plain_project_needs_nothing() {
        let f = fixes_of(
            r#"{"name": "p", "networks": {"default": {"name": "p_default", "ipam": {}}},
                "services": {"web": {"image": "x", "networks": {"default": null}}},
                "volumes": {"data": {"name": "p_data"}}}"#,
        );
        assert_eq!(f, Fixes::default());
    }

    #[test]
    fn without_a_project_name_no_name_counts_as_fixed() {
        let f = fixes_of(r#"{"networks": {"n": {"name": "whatever"}}, "services": {}}"#);
        assert!(f.networks.is_empty());
    }
}
