//! Readiness (SPEC §8): poll the project's containers until every one is
//! running (and healthy where it has a healthcheck) or has finished with 0.

use anyhow::{bail, Result};
use std::time::{Duration, Instant};

use crate::docker;
use crate::inspect::Container;
use crate::session::service_of;

/// What the containers say right now.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ready,
    Waiting(String),
    Failed { index: usize, reason: String },
}

/// Pure: judge a set of containers.
pub fn assess(containers: &[Container]) -> Verdict {
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
                    }
                }
                Some("starting") => waiting.push(format!("{service} (health: starting)")),
                _ => {}
            },
            "exited" | "dead" if st.exit_code == 0 && st.status == "exited" => {}
            "exited" | "dead" => {
                return Verdict::Failed {
                    index,
                    reason: format!("service `{service}` exited with code {}", st.exit_code),
                }
            }
            "restarting" if st.exit_code != 0 => {
                return Verdict::Failed {
                    index,
                    reason: format!(
                        "service `{service}` keeps restarting (last exit code {})",
                        st.exit_code
                    ),
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

/// Wait until the project is ready, for a timeout that started at `start`
/// (e.g. before `up`); returns its containers. Fails at once when a
/// container fails, with its last log lines; fails after `timeout`. Each
/// poll's containers are shown to `observe` (the progress display) first.
pub fn wait_observed(
    project: &str,
    start: Instant,
    timeout: Duration,
    mut observe: impl FnMut(&[Container]),
) -> Result<Vec<Container>> {
    let mut pause = Duration::from_millis(50);
    loop {
        crate::interrupt::check()?;
        let containers = session_containers(project)?;
        observe(&containers);
        match assess(&containers) {
            Verdict::Ready => return Ok(containers),
            Verdict::Failed { index, reason } => bail!(with_logs(reason, &containers[index].id)),
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

/// `reason` plus the container's last log lines.
fn with_logs(reason: String, id: &str) -> String {
    let logs = docker::log_tail(id, 20);
    let mut msg = reason;
    if !logs.trim().is_empty() {
        msg.push_str("; its last log lines:");
        for line in logs.trim_end().lines() {
            msg.push_str("\n    ");
            msg.push_str(line);
        }
    }
    msg
}

/// After `up` itself failed or ran out of time (a dependency exited
/// non-zero, turned unhealthy, or is still starting): what the containers
/// say, with the failing one's last log lines.
pub fn explain(project: &str, timeout: Duration) -> Option<String> {
    let containers = session_containers(project).ok()?;
    match assess(&containers) {
        Verdict::Failed { index, reason } => Some(with_logs(reason, &containers[index].id)),
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
    use crate::inspect::State;

    fn c(service: &str, status: &str, code: i64, health: Option<&str>) -> Container {
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
        }
    }

    #[test]
    fn running_and_finished_one_shots_are_ready() {
        assert_eq!(
            assess(&[
                c("web", "running", 0, None),
                c("migrate", "exited", 0, None)
            ]),
            Verdict::Ready
        );
        assert_eq!(
            assess(&[c("db", "running", 0, Some("healthy"))]),
            Verdict::Ready
        );
        assert_eq!(assess(&[]), Verdict::Ready);
    }

    #[test]
    fn starting_healthcheck_and_created_wait() {
        assert!(matches!(
            assess(&[c("db", "running", 0, Some("starting"))]),
            Verdict::Waiting(w) if w.contains("db")
        ));
        assert!(matches!(
            assess(&[c("web", "created", 0, None)]),
            Verdict::Waiting(_)
        ));
    }

    #[test]
    fn non_zero_exit_and_unhealthy_fail() {
        assert_eq!(
            assess(&[
                c("web", "running", 0, None),
                c("migrate", "exited", 2, None)
            ]),
            Verdict::Failed {
                index: 1,
                reason: "service `migrate` exited with code 2".into()
            }
        );
        assert!(matches!(
            assess(&[c("db", "running", 0, Some("unhealthy"))]),
            Verdict::Failed { index: 0, .. }
        ));
        assert!(matches!(
            assess(&[c("w", "restarting", 1, None)]),
            Verdict::Failed { .. }
        ));
    }
}
