//! Readiness (SPEC §8): poll the project's containers until every one is
//! running (and healthy where it has a healthcheck) or has finished with 0.
//! A healthcheck whose first probe cannot come within the wait, and that no
//! service waits for with `condition: service_healthy`, is not waited for.

use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::compose::Project;
use crate::docker::{self, ComposeProject};
use crate::inspect::{Container, Probe};
use crate::output;
use crate::session::{group_sessions, service_of};

/// What the containers say right now.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ready,
    Waiting(String),
    Failed {
        index: usize,
        reason: String,
        /// Failed by its healthcheck (its last probe explains why).
        unhealthy: bool,
    },
}

/// Pure: judge a set of containers. A service in `health_not_awaited` is
/// ready once running, whatever its healthcheck says so far (except
/// `unhealthy`).
pub fn assess(containers: &[Container], health_not_awaited: &BTreeSet<String>) -> Verdict {
    let mut waiting = Vec::new();
    for (index, c) in containers.iter().enumerate() {
        let service = service_of(c);
        let st = &c.state;
        match st.status.as_str() {
            "running" => match st.health.as_deref() {
                Some("unhealthy") => {
                    return Verdict::Failed {
                        index,
                        reason: format!("service `{service}` is unhealthy"),
                        unhealthy: true,
                    }
                }
                Some("starting") if !health_not_awaited.contains(service) => {
                    waiting.push(format!("{service} (health: starting)"))
                }
                _ => {}
            },
            "exited" | "dead" if st.exit_code == 0 && st.status == "exited" => {}
            "exited" | "dead" => {
                return Verdict::Failed {
                    index,
                    reason: format!("service `{service}` exited with code {}", st.exit_code),
                    unhealthy: false,
                }
            }
            "restarting" if st.exit_code != 0 => {
                return Verdict::Failed {
                    index,
                    reason: format!(
                        "service `{service}` keeps restarting (last exit code {})",
                        st.exit_code
                    ),
                    unhealthy: false,
                }
            }
            other => waiting.push(format!("{service} ({other})")),
        }
    }
    if waiting.is_empty() {
        Verdict::Ready
    } else {
        Verdict::Waiting(waiting.join(", "))
    }
}

/// A service whose healthcheck is not waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAwaited {
    pub service: String,
    /// When its first probe runs, after the container starts.
    pub first_probe: Duration,
}

/// Pure: the services of `project` whose first health probe comes later
/// than `left` and that no service waits for with `condition:
/// service_healthy` (Compose's `up` itself blocks on those).
pub fn health_not_awaited(
    project: &Project,
    left: Duration,
    engine_has_start_interval: bool,
) -> Vec<NotAwaited> {
    project
        .services
        .iter()
        .filter_map(|(name, service)| {
            let hc = service.healthcheck.as_ref().filter(|h| !h.is_disabled())?;
            let first_probe = hc.first_probe(engine_has_start_interval);
            (first_probe > left && !project.awaited_healthy(name)).then(|| NotAwaited {
                service: name.clone(),
                first_probe,
            })
        })
        .collect()
}

/// [`health_not_awaited`], asking the engine how it probes during
/// `start_period` only when that changes the answer.
fn not_awaited_here(project: &Project, left: Duration) -> Vec<NotAwaited> {
    let old = health_not_awaited(project, left, false);
    let new = health_not_awaited(project, left, true);
    if old == new {
        return old;
    }
    match docker::engine_has_start_interval() {
        Some(false) => old,
        // the sooner probe: when in doubt, wait
        _ => new,
    }
}

/// The one line `create` and `start` print for a service not waited for.
pub fn not_awaited_message(n: &NotAwaited, left: Duration) -> String {
    format!(
        "not waiting for `{}` to turn healthy: its first healthcheck runs {} after it starts, later than the {} left to wait, and no service waits for it with `condition: service_healthy`; it counts as ready once running",
        n.service,
        human(n.first_probe),
        human(Duration::from_secs(left.as_secs()))
    )
}

/// `5m`, `1m30s`, `45s`, `1.5s`, `1h`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) && ms < 60_000 {
        let secs = format!("{:.3}", d.as_secs_f64());
        return format!("{}s", secs.trim_end_matches('0').trim_end_matches('.'));
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Wait until the project is ready, for a timeout that started at `start`
/// (e.g. before `up`); returns its containers. Fails at once when a
/// container fails, with its last log lines (and healthcheck output); fails
/// after `timeout`. The healthchecks and dependencies come from `model`, or
/// from the session's own compose files, read only when a healthcheck is
/// still starting. Each poll's containers are shown to `observe` (the
/// progress display) first.
pub fn wait_observed(
    project: &str,
    start: Instant,
    timeout: Duration,
    model: Option<&Project>,
    mut observe: impl FnMut(&[Container]),
) -> Result<Vec<Container>> {
    let mut pause = Duration::from_millis(50);
    let mut not_awaited: Option<BTreeSet<String>> = None;
    loop {
        crate::interrupt::check()?;
        let containers = session_containers(project)?;
        let starting = containers
            .iter()
            .any(|c| c.state.health.as_deref() == Some("starting"));
        if not_awaited.is_none() && starting {
            not_awaited = Some(decide_not_awaited(
                &containers,
                model,
                timeout.saturating_sub(start.elapsed()),
            ));
        }
        observe(&containers);
        let skip = not_awaited.clone().unwrap_or_default();
        match assess(&containers, &skip) {
            Verdict::Ready => return Ok(containers),
            Verdict::Failed {
                index,
                reason,
                unhealthy,
            } => bail!(failure_message(reason, &containers[index].id, unhealthy)),
            Verdict::Waiting(what) => {
                if start.elapsed() >= timeout {
                    bail!(
                        "services not ready after {}s: {what} (raise --wait-timeout if they need longer)",
                        timeout.as_secs()
                    );
                }
            }
        }
        std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// The services not to wait health for, each announced once.
fn decide_not_awaited(
    containers: &[Container],
    model: Option<&Project>,
    left: Duration,
) -> BTreeSet<String> {
    let fetched;
    let model = match model {
        Some(m) => Some(m),
        None => {
            fetched = model_of(containers);
            fetched.as_ref()
        }
    };
    let Some(model) = model else {
        return BTreeSet::new();
    };
    let present: BTreeSet<&str> = containers.iter().map(service_of).collect();
    let mut services = BTreeSet::new();
    for n in not_awaited_here(model, left) {
        if present.contains(n.service.as_str()) {
            output::warn(&not_awaited_message(&n, left));
        }
        services.insert(n.service);
    }
    services
}

/// The resolved model of the session these containers belong to, from the
/// compose files its labels name.
fn model_of(containers: &[Container]) -> Option<Project> {
    let session = group_sessions(containers.to_vec()).into_iter().next()?;
    let project = ComposeProject::for_session(&session.id);
    if project.files.is_empty() {
        return None;
    }
    crate::compose::parse_project(&project.config_json().ok()?).ok()
}

/// The project's containers without `docker compose run` one-offs (an old
/// `run` that exited non-zero says nothing about the session).
pub fn session_containers(project: &str) -> Result<Vec<Container>> {
    let mut containers = docker::project_containers(project)?;
    containers.retain(|c| {
        c.labels
            .get(crate::session::label::COMPOSE_ONEOFF)
            .map(String::as_str)
            != Some("True")
    });
    Ok(containers)
}

/// `reason`, plus the last healthcheck output when the container turned
/// unhealthy, plus its last log lines.
fn failure_message(reason: String, id: &str, unhealthy: bool) -> String {
    let probe = if unhealthy {
        docker::health(id).and_then(|h| h.last_probe().cloned())
    } else {
        None
    };
    describe_failure(reason, probe.as_ref(), &docker::log_tail(id, 20))
}

/// Pure: the failure message from its parts.
pub fn describe_failure(reason: String, probe: Option<&Probe>, logs: &str) -> String {
    const MAX_LINES: usize = 20;
    let mut msg = reason;
    let mut block = false;
    let push_block = |msg: &mut String, text: &str| {
        let lines: Vec<&str> = text.trim_end().lines().collect();
        for line in &lines[lines.len().saturating_sub(MAX_LINES)..] {
            msg.push_str("\n    ");
            msg.push_str(line);
        }
    };
    if let Some(p) = probe {
        let code = if p.exit_code >= 0 {
            format!(" (exit code {})", p.exit_code)
        } else {
            String::new()
        };
        if p.output.trim().is_empty() {
            msg.push_str(&format!("; its last healthcheck{code} printed nothing"));
        } else {
            msg.push_str(&format!("; its last healthcheck{code} printed:"));
            push_block(&mut msg, &p.output);
            block = true;
        }
    }
    if !logs.trim().is_empty() {
        msg.push_str(if block {
            "\n  its last log lines:"
        } else {
            "; its last log lines:"
        });
        push_block(&mut msg, logs);
    }
    msg
}

/// After `up` itself failed or ran out of time (a dependency exited
/// non-zero, turned unhealthy, or is still starting): what the containers
/// say, with the failing one's last log lines.
pub fn explain(project: &str, timeout: Duration) -> Option<String> {
    let containers = session_containers(project).ok()?;
    match assess(&containers, &BTreeSet::new()) {
        Verdict::Failed {
            index,
            reason,
            unhealthy,
        } => Some(failure_message(reason, &containers[index].id, unhealthy)),
        Verdict::Waiting(what) => Some(format!(
            "services not ready after {}s: {what} (raise --wait-timeout if they need longer)",
            timeout.as_secs()
        )),
        Verdict::Ready => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::parse_project;

    fn c(service: &str, status: &str, code: i64, health: Option<&str>) -> Container {
        crate::inspect::test_container(service, status, code, health)
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn running_and_finished_one_shots_are_ready() {
        assert_eq!(
            assess(
                &[
                    c("web", "running", 0, None),
                    c("migrate", "exited", 0, None)
                ],
                &none()
            ),
            Verdict::Ready
        );
        assert_eq!(
            assess(&[c("db", "running", 0, Some("healthy"))], &none()),
            Verdict::Ready
        );
        assert_eq!(assess(&[], &none()), Verdict::Ready);
    }

    #[test]
    fn starting_healthcheck_and_created_wait() {
        assert!(matches!(
            assess(&[c("db", "running", 0, Some("starting"))], &none()),
            Verdict::Waiting(w) if w.contains("db")
        ));
        assert!(matches!(
            assess(&[c("web", "created", 0, None)], &none()),
            Verdict::Waiting(_)
        ));
    }

    #[test]
    fn a_healthcheck_not_awaited_is_ready_once_running_but_not_when_unhealthy() {
        let skip = BTreeSet::from(["db".to_string()]);
        assert_eq!(
            assess(&[c("db", "running", 0, Some("starting"))], &skip),
            Verdict::Ready
        );
        assert!(matches!(
            assess(&[c("db", "created", 0, None)], &skip),
            Verdict::Waiting(_)
        ));
        assert!(matches!(
            assess(&[c("db", "running", 0, Some("unhealthy"))], &skip),
            Verdict::Failed {
                unhealthy: true,
                ..
            }
        ));
        // another service's healthcheck is still waited for
        assert!(matches!(
            assess(&[c("cache", "running", 0, Some("starting"))], &skip),
            Verdict::Waiting(w) if w == "cache (health: starting)"
        ));
    }

    #[test]
    fn non_zero_exit_and_unhealthy_fail() {
        assert_eq!(
            assess(
                &[
                    c("web", "running", 0, None),
                    c("migrate", "exited", 2, None)
                ],
                &none()
            ),
            Verdict::Failed {
                index: 1,
                reason: "service `migrate` exited with code 2".into(),
                unhealthy: false,
            }
        );
        assert!(matches!(
            assess(&[c("db", "running", 0, Some("unhealthy"))], &none()),
            Verdict::Failed {
                index: 0,
                unhealthy: true,
                ..
            }
        ));
        assert!(matches!(
            assess(&[c("w", "restarting", 1, None)], &none()),
            Verdict::Failed {
                unhealthy: false,
                ..
            }
        ));
    }

    /// `docker compose config --format json` (2.26.1, only `healthcheck` and
    /// `depends_on` kept) of: `slow` (interval
    /// 5m), `fast` (interval 2s), `boot` (interval 5m, start_period 1m),
    /// `boot2` (interval 5m, start_period 1m, start_interval 2s), `needed`
    /// (`interval: 300s`, `web` depends on it with `service_healthy`), `started`
    /// (interval 5m, `web` depends on it with `service_started`), `off`
    /// (`disable: true`), `plain` (none), `dflt` (test only: Docker's 30 s).
    const HEALTH: &str = r#"{
      "name": "p",
      "services": {
        "slow": {"healthcheck": {"test": ["CMD", "true"], "interval": "5m0s"}},
        "fast": {"healthcheck": {"test": ["CMD", "true"], "interval": "2s"}},
        "boot": {"healthcheck": {"test": ["CMD", "true"], "interval": "5m0s", "start_period": "1m0s"}},
        "boot2": {"healthcheck": {"test": ["CMD", "true"], "interval": "5m0s", "start_period": "1m0s", "start_interval": "2s"}},
        "needed": {"healthcheck": {"test": ["CMD-SHELL", "true"], "timeout": "1.5s", "interval": "5m0s", "retries": 3}},
        "started": {"healthcheck": {"test": ["CMD", "true"], "interval": "5m0s"}},
        "off": {"healthcheck": {"disable": true}},
        "plain": {},
        "dflt": {"healthcheck": {"test": ["CMD", "true"]}},
        "web": {"depends_on": {
          "needed": {"condition": "service_healthy", "required": true},
          "started": {"condition": "service_started", "required": true}
        }}
      }
    }"#;

    fn not_awaited(left: u64, new_engine: bool) -> Vec<(String, u64)> {
        health_not_awaited(
            &parse_project(HEALTH).unwrap(),
            Duration::from_secs(left),
            new_engine,
        )
        .into_iter()
        .map(|n| (n.service, n.first_probe.as_secs()))
        .collect()
    }

    fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(s, d)| (s.to_string(), *d)).collect()
    }

    #[test]
    fn healthchecks_whose_first_probe_comes_too_late_are_not_awaited() {
        // an old engine knows only `interval` (start_interval is refused by
        // Compose there, so a set one means a new engine)
        assert_eq!(
            not_awaited(118, false),
            pairs(&[("boot", 300), ("slow", 300), ("started", 300)])
        );
        // Engine 25+ probes every 5 s during start_period
        assert_eq!(
            not_awaited(118, true),
            pairs(&[("slow", 300), ("started", 300)])
        );
        // the default 30 s interval is beyond 20 s left
        assert_eq!(
            not_awaited(20, true),
            pairs(&[("dflt", 30), ("slow", 300), ("started", 300)])
        );
        // a service_healthy dependency is never skipped: `up` waits for it
        assert!(!not_awaited(1, true).iter().any(|(s, _)| s == "needed"));
        // enough time left: everything is waited for
        assert!(not_awaited(600, false).is_empty());
    }

    #[test]
    fn the_time_left_is_said_in_whole_seconds() {
        let n = NotAwaited {
            service: "db".into(),
            first_probe: Duration::from_millis(90_500),
        };
        let msg = not_awaited_message(&n, Duration::from_millis(58_518));
        assert!(
            msg.contains("runs 1m30s after it starts, later than the 58s left to wait"),
            "{msg}"
        );
    }

    #[test]
    fn the_not_awaited_line_says_why() {
        let n = NotAwaited {
            service: "db".into(),
            first_probe: Duration::from_secs(300),
        };
        assert_eq!(
            not_awaited_message(&n, Duration::from_millis(117_400)),
            "not waiting for `db` to turn healthy: its first healthcheck runs 5m after it starts, later than the 1m57s left to wait, and no service waits for it with `condition: service_healthy`; it counts as ready once running"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_nanos(58_518_759_079)), "58.519s");
        assert_eq!(human(Duration::from_millis(100)), "0.1s");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    /// The last probe of a real unhealthy container (see inspect.rs).
    fn real_probe(index: usize) -> Probe {
        let json = include_str!("testdata/inspect-health-engine-20.10.json");
        let health = crate::inspect::parse_health(json).unwrap();
        health[index]
            .1
            .as_ref()
            .unwrap()
            .last_probe()
            .unwrap()
            .clone()
    }

    #[test]
    fn an_unhealthy_failure_shows_the_last_healthcheck_output_then_the_logs() {
        let msg = describe_failure(
            "service `db` is unhealthy".into(),
            Some(&real_probe(0)),
            "db: FATAL data directory is corrupt\n",
        );
        assert_eq!(
            msg,
            "service `db` is unhealthy; its last healthcheck (exit code 2) printed:\n    \
             probe: connection refused on 127.0.0.1:5432\n    \
             pg_isready: no response\n  \
             its last log lines:\n    \
             db: FATAL data directory is corrupt"
        );
    }

    #[test]
    fn a_timed_out_or_silent_healthcheck_and_no_logs() {
        let msg = describe_failure("service `db` is unhealthy".into(), Some(&real_probe(1)), "");
        assert_eq!(
            msg,
            "service `db` is unhealthy; its last healthcheck printed:\n    Health check exceeded timeout (1s)"
        );
        let silent = Probe {
            exit_code: 1,
            ..Probe::default()
        };
        assert_eq!(
            describe_failure("service `db` is unhealthy".into(), Some(&silent), "boom\n"),
            "service `db` is unhealthy; its last healthcheck (exit code 1) printed nothing; its last log lines:\n    boom"
        );
        assert_eq!(
            describe_failure("service `m` exited with code 3".into(), None, "a\nb\n"),
            "service `m` exited with code 3; its last log lines:\n    a\n    b"
        );
    }

    #[test]
    fn long_output_keeps_its_last_lines() {
        let logs: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let msg = describe_failure("x".into(), None, &logs);
        assert!(!msg.contains("line 10\n"), "{msg}");
        assert!(
            msg.contains("line 11\n") && msg.ends_with("line 30"),
            "{msg}"
        );
    }
}
