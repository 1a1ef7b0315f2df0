//! Pure: what in a resolved compose project would stop a second session of
//! it from starting next to the first, and how the override neutralises it.
//!
//! Neutralised: `container_name` (reset; the old name stays a network alias
//! where the container is on a network with DNS), a fixed network `name:`,
//! a fixed ipam subnet, a fixed bridge name, a fixed volume `name:`,
//! `network_mode: container:<a container_name of the project>`, and
//! `network_mode: <a network of the project>` (`myapp_default`, or the fixed
//! name of one of its networks; the service joins the session's copy).
//! Only warned about: `network_mode: host`, a fixed subnet that services pin
//! addresses in (or that carries IPv6), and external networks and volumes
//! (shared on purpose, but shared by every session).

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
    /// `network_mode: <the project's own network>` → `network_mode: !reset
    /// null` and this network (a key of the project's networks) joined
    /// instead, so the session's copy of it is used (and created).
    pub join_network: Option<String>,
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

/// Whether a `network_mode` names a network (rather than no network mode,
/// host, none, the legacy bridge, or another container's network stack).
fn names_a_network(mode: &str) -> bool {
    !(mode.is_empty()
        || ["host", "none", "bridge", "default"].contains(&mode)
        || mode.starts_with("service:")
        || mode.starts_with("container:"))
}

/// Whether some `network_mode` looks like `<name>_<network>` for a network
/// of the project and `<name>` is not known yet: then the caller fills in
/// [`Project::main_names`] (the name plain `docker compose` uses for the
/// project) before building the override.
pub fn needs_main_names(project: &Project) -> bool {
    project.services.values().any(|service| {
        let Some(mode) = service.network_mode.as_deref() else {
            return false;
        };
        names_a_network(mode)
            && project_network(project, mode).is_none()
            && network_keys(project).any(|key| {
                mode.len() > key.len() + 1
                    && mode.ends_with(key)
                    && mode[..mode.len() - key.len()].ends_with('_')
            })
    })
}

/// Keys of the project's own (not external) networks, and `default`.
fn network_keys(project: &Project) -> impl Iterator<Item = &str> {
    project
        .networks
        .iter()
        .filter(|(_, n)| !n.is_external())
        .map(|(k, _)| k.as_str())
        .chain(std::iter::once("default"))
}

/// The key of the project network that `network_mode: <mode>` names, as
/// plain `docker compose` would name it outside the session: its fixed
/// `name:`, or `<project>_<key>` for the session's project name or any of
/// [`Project::main_names`]. `None` for any other network (one of another
/// project, shared on purpose).
pub fn project_network(project: &Project, mode: &str) -> Option<String> {
    if !names_a_network(mode) {
        return None;
    }
    for (key, network) in &project.networks {
        if !network.is_external() && network.name.as_deref() == Some(mode) {
            return Some(key.clone());
        }
    }
    let names = std::iter::once(&project.name).chain(&project.main_names);
    for own in names.filter(|n| !n.is_empty()) {
        let Some(key) = mode
            .strip_prefix(own.as_str())
            .and_then(|r| r.strip_prefix('_'))
        else {
            continue;
        };
        match project.networks.get(key) {
            None if key == "default" => return Some(key.to_string()),
            Some(network)
                if !network.is_external()
                    && !is_fixed_name(&project.name, key, network.name.as_deref()) =>
            {
                return Some(key.to_string())
            }
            _ => {}
        }
    }
    None
}

/// Compose's rule for a project name taken from a directory or `name:`:
/// lower case, only `[a-z0-9_-]`, no leading `_` or `-`.
pub fn normalize_project_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

/// Find the blockers of `project` and how to neutralise them.
pub fn fixes(project: &Project) -> Fixes {
    let mut fixes = Fixes::default();
    for (name, service) in &project.services {
        if let Some(key) = service
            .network_mode
            .as_deref()
            .and_then(|mode| project_network(project, mode))
        {
            fixes.services.entry(name.clone()).or_default().join_network = Some(key);
        }
    }
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
/// with DNS the container is on, and point `network_mode:
/// container:<name>` at the service instead.
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
        for net in dns_networks(project, fixes, owner) {
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

/// The service whose network stack `svc`'s container uses: itself, or the
/// service it shares one with (`network_mode: service:x`, also
/// `container:<container_name>`); `None` for an outside container.
fn network_owner<'a>(project: &'a Project, svc: &'a str) -> Option<&'a str> {
    let mut current = svc;
    for _ in 0..=project.services.len() {
        let service = project.services.get(current)?;
        let mode = service.network_mode.as_deref().unwrap_or("");
        if let Some(next) = mode.strip_prefix("service:") {
            current = project.services.get_key_value(next)?.0;
        } else if let Some(cname) = mode.strip_prefix("container:") {
            current = project
                .services
                .iter()
                .find(|(_, s)| s.container_name.as_deref() == Some(cname))?
                .0;
        } else {
            return Some(current);
        }
    }
    None // a cycle: Compose rejects it anyway
}

/// The networks with DNS (where an alias means something) that the
/// service `owner` is attached to: its `networks` (`default` when none is
/// listed), or the one it joins instead of its `network_mode`. None for
/// `network_mode` host, none, bridge/default (the legacy bridge has no DNS,
/// and Compose refuses `networks` beside any `network_mode`).
fn dns_networks(project: &Project, fixes: &Fixes, owner: &str) -> Vec<String> {
    if let Some(key) = fixes
        .services
        .get(owner)
        .and_then(|f| f.join_network.clone())
    {
        return vec![key];
    }
    match project.services.get(owner) {
        Some(service) if service.network_mode.as_deref().unwrap_or("").is_empty() => {
            service_networks(service)
        }
        _ => Vec::new(),
    }
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

    /// Captured from `docker compose -p proj config --format json` (2.26.1)
    /// in a directory `myapp`; only the network keys of each service kept.
    const NETWORK_MODES: &str = r#"{
      "name": "proj",
      "networks": {
        "back": {"name": "proj_back", "ipam": {}},
        "default": {"name": "proj_default", "ipam": {}},
        "front": {"name": "fixed-front", "ipam": {}},
        "shared": {"name": "myapp_shared", "ipam": {}, "external": true}
      },
      "services": {
        "backside": {"network_mode": "myapp_back"},
        "dflt": {"container_name": "my-dflt", "network_mode": "default"},
        "ext": {"networks": {"shared": null}},
        "fixed": {"network_mode": "fixed-front"},
        "foreign": {"network_mode": "traefik_default"},
        "interp": {"network_mode": "proj_default"},
        "legacy": {"container_name": "my-legacy", "network_mode": "bridge"},
        "other": {"network_mode": "some-net"},
        "rider": {"container_name": "my-rider", "network_mode": "service:legacy"},
        "shared": {"network_mode": "myapp_shared"},
        "side": {"container_name": "my-side", "network_mode": "myapp_default"},
        "web": {"networks": {"back": null, "default": null, "front": null}},
        "wrongfixed": {"network_mode": "myapp_front"}
      }
    }"#;

    fn network_modes(main_names: &[&str]) -> (Project, Fixes) {
        let mut p = parse_project(NETWORK_MODES).unwrap();
        p.main_names = main_names.iter().map(|n| n.to_string()).collect();
        let f = fixes(&p);
        (p, f)
    }

    fn joined(f: &Fixes, svc: &str) -> Option<String> {
        f.services.get(svc).and_then(|s| s.join_network.clone())
    }

    #[test]
    fn legacy_bridge_gets_no_aliases_but_its_name_is_reset() {
        let (_, f) = network_modes(&["myapp"]);
        for svc in ["legacy", "dflt", "rider"] {
            let fix = &f.services[svc];
            assert!(fix.reset_container_name, "{svc}");
            assert!(fix.aliases.is_empty(), "{svc}: {fix:?}");
            assert_eq!(fix.join_network, None, "{svc}");
            assert_eq!(fix.network_mode, None, "{svc}");
        }
    }

    #[test]
    fn network_mode_naming_the_projects_network_joins_the_sessions_copy() {
        let (_, f) = network_modes(&["myapp"]);
        // `<main project>_default` and `<main project>_<key>`
        assert_eq!(joined(&f, "side").as_deref(), Some("default"));
        assert_eq!(joined(&f, "backside").as_deref(), Some("back"));
        // `${COMPOSE_PROJECT_NAME}_default`, interpolated with the session's name
        assert_eq!(joined(&f, "interp").as_deref(), Some("default"));
        // the fixed name of a project network (reset for the session)
        assert_eq!(joined(&f, "fixed").as_deref(), Some("front"));
        assert!(f.networks["front"].reset_name);
        // a reset container_name is an alias on the joined network
        assert_eq!(f.services["side"].aliases["default"], vec!["my-side"]);
        // not the project's: another project's, an external one, a fixed
        // network under the per-project name it does not have, any other
        for svc in ["foreign", "shared", "wrongfixed", "other", "web", "ext"] {
            assert_eq!(joined(&f, svc), None, "{svc}");
        }
    }

    #[test]
    fn the_main_project_name_is_asked_for_only_when_it_matters() {
        let (p, f) = network_modes(&[]);
        // `myapp_default` could be this project's network: ask
        assert!(needs_main_names(&p));
        assert_eq!(joined(&f, "side"), None);
        // what needs no main name is decided already
        assert_eq!(joined(&f, "interp").as_deref(), Some("default"));
        assert_eq!(joined(&f, "fixed").as_deref(), Some("front"));
        let plain = parse_project(
            r#"{"name": "p", "services": {
              "a": {"network_mode": "bridge"}, "b": {"network_mode": "host"},
              "c": {"network_mode": "some-net"}, "d": {"network_mode": "service:a"},
              "e": {"network_mode": "p_default"}, "f": {"network_mode": "container:x_default"}}}"#,
        )
        .unwrap();
        assert!(!needs_main_names(&plain));
    }

    #[test]
    fn project_names_are_normalised_like_compose() {
        assert_eq!(normalize_project_name("My App"), "myapp");
        assert_eq!(normalize_project_name("_my.app-2"), "myapp-2");
        assert_eq!(normalize_project_name("Ünï"), "n");
        assert_eq!(normalize_project_name("--"), "");
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
