//! Sticky ports on loopback (issue 12): a session keeps its host ports
//! across stop/start, `docker restart` and a recreated container; a port
//! taken meanwhile moves alone and is reported; nothing listens on all
//! interfaces unless asked; port-allocation races are retried.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A web server on two ports plus a UDP port; stops at once.
const STACK: &str = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    ports:
      - "8080:8080"
      - "8081"
      - "5353:5353/udp"
"#;

/// Host ports of a session by `(container port, protocol)`, from the
/// engine's own port list (`NetworkSettings.Ports`), with their host IPs.
fn engine_ports(project: &str) -> BTreeMap<(String, String), Vec<(String, u16)>> {
    let mut out = BTreeMap::new();
    for c in containers() {
        if c["Config"]["Labels"]["com.docker.compose.project"] != project {
            continue;
        }
        let Some(ports) = c["NetworkSettings"]["Ports"].as_object() else {
            continue;
        };
        for (key, bindings) in ports {
            let (port, proto) = key.split_once('/').unwrap();
            let list: Vec<(String, u16)> = bindings
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    (
                        b["HostIp"].as_str().unwrap().to_string(),
                        b["HostPort"].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            if !list.is_empty() {
                out.insert((port.to_string(), proto.to_string()), list);
            }
        }
    }
    out
}

fn session(repo: &TestRepo) -> Value {
    let list = repo.list_json();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

fn project_of(s: &Value) -> String {
    s["project_name"].as_str().unwrap().to_string()
}

fn dir_of(s: &Value) -> PathBuf {
    PathBuf::from(s["working_dir"].as_str().unwrap())
}

#[test]
fn ports_survive_stop_start_restart_and_recreate() {
    let repo = TestRepo::new(STACK);
    repo.ok(&["create"]);
    let s = session(&repo);
    let (project, dir) = (project_of(&s), dir_of(&s));
    let first = engine_ports(&project);
    assert_eq!(first.len(), 3, "{first:?}");

    repo.ok_in(&dir, &["stop"]);
    repo.ok_in(&dir, &["start"]);
    assert_eq!(engine_ports(&project), first, "after stop/start");

    let id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    docker(&["restart", "-t", "1", id.trim()]);
    assert_eq!(engine_ports(&project), first, "after docker restart");

    docker(&["rm", "-f", id.trim()]);
    repo.ok_in(&dir, &["start"]);
    assert_eq!(
        engine_ports(&project),
        first,
        "after start recreated the container"
    );
    let env = read_env(&dir.join(".env.session"));
    let web: u16 = env_get(&env, "WEB_PORT_8080").unwrap().parse().unwrap();
    assert_eq!(web, first[&("8080".into(), "tcp".into())][0].1);
    assert!(http_get(web).contains("dev-prism test page"));
    repo.ok_in(&dir, &["destroy"]);
}

#[test]
fn a_taken_port_moves_alone_and_is_reported() {
    let repo = TestRepo::new(STACK);
    repo.ok(&["create"]);
    let s = session(&repo);
    let (project, dir) = (project_of(&s), dir_of(&s));
    let first = engine_ports(&project);
    let taken = first[&("8080".into(), "tcp".into())][0].1;
    repo.ok_in(&dir, &["stop"]);
    // Another program takes one of the session's ports meanwhile.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", taken)).unwrap();
    let out = repo.ok_in(&dir, &["start", "--json"]);
    let err = stderr(&out);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let moved = json["moved"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{json}");
    assert_eq!(moved[0]["variable"], "WEB_PORT_8080");
    assert_eq!(moved[0]["from"], taken);
    let to = moved[0]["to"].as_u64().unwrap() as u16;
    assert_ne!(to, taken);
    assert!(
        err.contains(&format!("WEB_PORT_8080 moved from {taken} to {to}")),
        "{err}"
    );
    let now = engine_ports(&project);
    assert_eq!(now[&("8080".into(), "tcp".into())][0].1, to);
    for key in [("8081", "tcp"), ("5353", "udp")] {
        let key = (key.0.to_string(), key.1.to_string());
        assert_eq!(now[&key], first[&key], "{key:?} did not move");
    }
    let env = read_env(&dir.join(".env.session"));
    assert_eq!(
        env_get(&env, "WEB_PORT_8080"),
        Some(to.to_string().as_str())
    );
    assert!(http_get(to).contains("dev-prism test page"));
    drop(squatter);
    // The moved port is the session's from now on.
    repo.ok_in(&dir, &["stop"]);
    repo.ok_in(&dir, &["start"]);
    assert_eq!(
        engine_ports(&project)[&("8080".into(), "tcp".into())][0].1,
        to
    );
    repo.ok_in(&dir, &["destroy"]);
}

#[test]
fn nothing_listens_on_all_interfaces_by_default() {
    let repo = TestRepo::new(STACK);
    repo.ok(&["create"]);
    let s = session(&repo);
    for (key, bindings) in engine_ports(&project_of(&s)) {
        for (ip, _) in bindings {
            assert_eq!(ip, "127.0.0.1", "{key:?} is published on {ip}");
        }
    }
    let doctor = stdout(&repo.ok(&["doctor"]));
    assert!(doctor.contains("bind address: 127.0.0.1"), "{doctor}");
    repo.ok_in(&dir_of(&s), &["destroy"]);
}

#[test]
fn bind_address_all_interfaces_keeps_an_explicit_loopback_entry() {
    let compose = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    ports:
      - "8080:8080"
      - "127.0.0.1:9229:9229"
"#;
    let repo = TestRepo::named(
        "repo",
        &[
            ("compose.yaml", compose),
            ("session.config.json", r#"{"bindAddress": "0.0.0.0"}"#),
        ],
    );
    repo.ok(&["create"]);
    let s = session(&repo);
    let ports = engine_ports(&project_of(&s));
    let web = &ports[&("8080".into(), "tcp".into())];
    assert!(web.iter().any(|(ip, _)| ip == "0.0.0.0"), "{web:?}");
    let debug = &ports[&("9229".into(), "tcp".into())];
    assert!(debug.iter().all(|(ip, _)| ip == "127.0.0.1"), "{debug:?}");
    assert_ne!(
        debug[0].1, 9229,
        "the port itself is still the session's own"
    );
    repo.ok_in(&dir_of(&s), &["destroy"]);
}

/// A port range just for this test (below the kernel's ephemeral range, so
/// no other test's ports fall in it).
fn test_range() -> (u16, u16) {
    let lo = 21000 + (std::process::id() % 400) as u16 * 10;
    (lo, lo + 2)
}

#[test]
fn a_second_session_never_takes_a_stopped_sessions_ports() {
    let (lo, hi) = test_range();
    let config = format!(r#"{{"portRange": "{lo}-{hi}"}}"#);
    let compose = r#"
services:
  web:
    image: dev-prism-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_grace_period: 1s
    ports: ["8080", "8081"]
"#;
    let repo = TestRepo::named(
        "repo",
        &[("compose.yaml", compose), ("session.config.json", &config)],
    );
    let a = repo.create_branch("a");
    let project_a = repo.session_field(&a, "project_name").unwrap();
    let ports_a: Vec<u16> = engine_ports(&project_a).values().map(|b| b[0].1).collect();
    assert!(ports_a.iter().all(|p| (lo..=hi).contains(p)), "{ports_a:?}");
    repo.ok_in(&a, &["stop"]);
    // Only one port of the range is left that is not the stopped session's:
    // a second session needs two, and must not take A's.
    let out = repo
        .cmd()
        .args(["create", "--branch", "b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("no free port left in portRange {lo}-{hi}")),
        "{}",
        stderr(&out)
    );
    repo.ok_in(&a, &["start"]);
    let again: Vec<u16> = engine_ports(&project_a).values().map(|b| b[0].1).collect();
    assert_eq!(again, ports_a);
    repo.ok_in(&a, &["destroy"]);
}

#[test]
fn a_port_allocation_race_is_retried_with_another_port() {
    let repo = TestRepo::new(STACK);
    // The first `compose up` finds one of its chosen ports taken, as when
    // another process grabs it between the probe and `up`.
    let shim = Shim::new(&[(
        "docker",
        r#"case " $* " in *" up "*)
  if [ ! -e "$SHIM_DIR/raced" ]; then
    touch "$SHIM_DIR/raced"
    for f in "$@"; do case "$f" in *docker-compose.session.yml) file="$f";; esac; done
    port=$(sed -n 's/.*published: "\([0-9]*\)".*/\1/p' "$file" | head -n1)
    echo "Error response from daemon: driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:$port failed: port is already allocated" >&2
    echo "$port" > "$SHIM_DIR/first"
    exit 1
  fi;;
esac"#,
    )]);
    let out = repo
        .cmd()
        .env("PATH", shim.path_var())
        .args(["create", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let first: u16 = std::fs::read_to_string(shim.dir().join("first"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        stderr(&out).contains(&format!("moved from {first} to")),
        "{}",
        stderr(&out)
    );
    let s = session(&repo);
    let now: Vec<u16> = engine_ports(&project_of(&s))
        .values()
        .map(|b| b[0].1)
        .collect();
    assert!(!now.contains(&first), "{now:?}");
    repo.ok_in(&dir_of(&s), &["destroy"]);
}
