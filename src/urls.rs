//! What to type to reach a published port (the `address` of a port in
//! tables and JSON). Pure.
//!
//! The rule, first match wins:
//! 1. UDP: `udp://HOST:PORT`.
//! 2. A well-known container port decides the scheme: web ports (80, 3000,
//!    5173, 8000, 8080, 9000, … see [`web_port`]) give `http://`, 443 and
//!    8443 `https://`; database and broker ports give their own scheme
//!    (5432 `postgresql://`, 3306 `mysql://`, 6379 `redis://`, 27017
//!    `mongodb://`, 5672 `amqp://`, 4222 `nats://`, 7687 `bolt://`, 1025
//!    and 25/587 `smtp://`); other well-known non-HTTP ports (11211
//!    memcached, 9092 kafka, 2181 zookeeper, 9042 cassandra, 1433 sql
//!    server, 1521 oracle) give a bare `HOST:PORT`.
//! 3. A database by its service name or image (`postgres`/`postgis` or a
//!    service with `POSTGRES_*` settings, `mysql`/`mariadb`, `redis`/
//!    `valkey`, `mongo`) on another port: its scheme.
//! 4. A service whose name says web (`web`, `app`, `api`, `frontend`,
//!    `ui`, `nginx`, `proxy`, … see [`web_name`]): `http://`.
//! 5. Otherwise a bare `HOST:PORT` (no guess is better than a wrong one).
//!
//! The `url` field of the JSON keeps its first-release meaning
//! (`http://` for every TCP port) for scripts that read it.

/// How a port is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A scheme: `http`, `postgresql`, …
    Scheme(&'static str),
    /// `HOST:PORT` alone.
    Bare,
}

/// A port that serves HTTP by convention.
pub fn web_port(port: u16) -> bool {
    matches!(
        port,
        80 | 81
            | 1080
            | 3000..=3010
            | 4000
            | 4200
            | 4318
            | 5000
            | 5173
            | 5601
            | 5984
            | 7474
            | 8000
            | 8008
            | 8025
            | 8080..=8090
            | 8888
            | 8983
            | 9000
            | 9001
            | 9090
            | 9200
            | 9411
            | 15672
            | 16686
    )
}

/// A service name that says it serves HTTP.
pub fn web_name(service: &str) -> bool {
    let s = service.to_ascii_lowercase();
    const NAMES: [&str; 22] = [
        "web",
        "www",
        "app",
        "api",
        "frontend",
        "front",
        "backend",
        "ui",
        "site",
        "docs",
        "admin",
        "dashboard",
        "http",
        "nginx",
        "caddy",
        "traefik",
        "proxy",
        "gateway",
        "server",
        "grafana",
        "kibana",
        "storybook",
    ];
    s.split(['-', '_', '.']).any(|part| NAMES.contains(&part))
}

/// Pure: how `container_port` of `service` (running `image`) is reached.
pub fn kind(
    service: &str,
    image: &str,
    postgres: bool,
    container_port: u16,
    protocol: &str,
) -> Kind {
    if protocol == "udp" {
        return Kind::Scheme("udp");
    }
    match container_port {
        443 | 8443 => return Kind::Scheme("https"),
        5432 | 26257 => return Kind::Scheme("postgresql"),
        3306 => return Kind::Scheme("mysql"),
        6379 => return Kind::Scheme("redis"),
        27017 => return Kind::Scheme("mongodb"),
        5672 => return Kind::Scheme("amqp"),
        4222 => return Kind::Scheme("nats"),
        7687 => return Kind::Scheme("bolt"),
        25 | 587 | 1025 => return Kind::Scheme("smtp"),
        11211 | 9092 | 2181 | 9042 | 1433 | 1521 => return Kind::Bare,
        p if web_port(p) => return Kind::Scheme("http"),
        _ => {}
    }
    let name = |words: &[&str]| {
        let s = service.to_ascii_lowercase();
        let repo = image.split([':', '@']).next().unwrap_or(image);
        let img = repo.rsplit('/').next().unwrap_or(repo).to_ascii_lowercase();
        words.iter().any(|w| s.contains(w) || img.starts_with(w))
    };
    if postgres {
        return Kind::Scheme("postgresql");
    }
    if name(&["mysql", "mariadb"]) {
        return Kind::Scheme("mysql");
    }
    if name(&["redis", "valkey", "keydb"]) {
        return Kind::Scheme("redis");
    }
    if name(&["mongo"]) {
        return Kind::Scheme("mongodb");
    }
    if web_name(service) {
        return Kind::Scheme("http");
    }
    Kind::Bare
}

/// `http://localhost:32768`, `postgresql://localhost:32769`, `localhost:32770`.
/// `host` is already bracketed when it is an IPv6 address.
pub fn address(kind: Kind, host: &str, port: u16) -> String {
    match kind {
        Kind::Scheme(s) => format!("{s}://{host}:{port}"),
        Kind::Bare => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(service: &str, image: &str, port: u16) -> Kind {
        kind(service, image, false, port, "tcp")
    }

    #[test]
    fn well_known_ports() {
        assert_eq!(k("web", "nginx", 80), Kind::Scheme("http"));
        assert_eq!(k("x", "x", 8080), Kind::Scheme("http"));
        assert_eq!(k("x", "x", 443), Kind::Scheme("https"));
        assert_eq!(k("db", "busybox", 5432), Kind::Scheme("postgresql"));
        assert_eq!(k("cache", "redis:7", 6379), Kind::Scheme("redis"));
        assert_eq!(k("x", "x", 3306), Kind::Scheme("mysql"));
        assert_eq!(k("mq", "rabbitmq", 5672), Kind::Scheme("amqp"));
        assert_eq!(k("mq", "rabbitmq", 15672), Kind::Scheme("http"));
        assert_eq!(k("memcached", "memcached", 11211), Kind::Bare);
        assert_eq!(kind("dns", "x", false, 53, "udp"), Kind::Scheme("udp"));
    }

    #[test]
    fn names_and_images_on_other_ports() {
        assert_eq!(
            kind("store", "postgres:16", true, 5433, "tcp"),
            Kind::Scheme("postgresql")
        );
        assert_eq!(k("db", "mariadb:11", 3307), Kind::Scheme("mysql"));
        assert_eq!(k("sessions", "valkey/valkey", 6380), Kind::Scheme("redis"));
        assert_eq!(k("api", "my/api", 7000), Kind::Scheme("http"));
        assert_eq!(k("my-web_app", "x", 7000), Kind::Scheme("http"));
        assert_eq!(k("worker", "busybox", 7000), Kind::Bare);
        // A word inside another word is not a web name.
        assert_eq!(k("webhooks-relay", "x", 7000), Kind::Bare);
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address(Kind::Scheme("http"), "localhost", 32768),
            "http://localhost:32768"
        );
        assert_eq!(address(Kind::Bare, "[::1]", 5), "[::1]:5");
    }
}
