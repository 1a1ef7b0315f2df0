//! Work on several sessions at once, a bounded number at a time: the
//! threads behind `stop-all`, `destroy --all`, `prune` and the git state of
//! `list`.
//!
//! Plans are made (and locks taken) before anything runs; this module only
//! executes them side by side and collects one result per item, in the
//! order of the items. Once a signal arrives, no new item is started (its
//! result is `None`); the items already running stop at their own safe
//! points (every child process is stopped by the runner in `process`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many sessions bulk commands work on at once: enough to overlap the
/// waiting on Docker, few enough not to swamp a small machine's engine.
pub const AT_ONCE: usize = 4;

/// Run `f` on every item, at most `limit` at a time. Results come back in
/// the order of `items`; an item not started because a signal arrived
/// first gets `None`.
pub fn run<T, R, F>(items: &[T], limit: usize, f: F) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    run_with(items, limit, f, crate::interrupt::pending)
}

/// [`run`] with the "stop starting new items" question passed in (pure
/// enough to test).
fn run_with<T, R, F, S>(items: &[T], limit: usize, f: F, stop: S) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    S: Fn() -> bool + Sync,
{
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = limit.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                if stop() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { return };
                let r = f(item);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Run `f` on every item, at most `limit` at a time, whatever signals say
/// (quick read-only work such as `git status`).
pub fn map<T, R, F>(items: &[T], limit: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    run_with(items, limit, |t| Some(f(t)), || false)
        .into_iter()
        .map(|r| r.flatten())
        .collect::<Option<Vec<R>>>()
        .unwrap_or_default()
}

/// What happened to one item of a bulk command.
pub struct Outcome {
    /// How the item is named on its result line (a path relative to the
    /// current directory).
    pub label: String,
    /// `None`: not started (a signal came first).
    pub result: Option<anyhow::Result<()>>,
}

/// Pure: the summary line, e.g. `Destroyed 3 of 4 sessions; 1 failed.`
/// `refused` counts the items that were never tried (refused when planned).
pub fn summary(verb: &str, noun: &str, outcomes: &[Outcome], refused: usize) -> String {
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o.result, Some(Ok(()))))
        .count();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o.result, Some(Err(_))))
        .count();
    let skipped = outcomes.len() - ok - failed;
    let total = outcomes.len() + refused;
    let mut verb = verb.to_string();
    if let Some(first) = verb.get(0..1) {
        verb = format!("{}{}", first.to_uppercase(), &verb[1..]);
    }
    let mut line = if ok == total {
        format!("{verb} {}", crate::safety::count(total, noun))
    } else {
        format!("{verb} {ok} of {}", crate::safety::count(total, noun))
    };
    let mut rest = Vec::new();
    if failed > 0 {
        rest.push(format!("{failed} failed"));
    }
    if refused > 0 {
        rest.push(format!("{refused} refused"));
    }
    if skipped > 0 {
        rest.push(format!("{skipped} not started"));
    }
    if !rest.is_empty() {
        line.push_str("; ");
        line.push_str(&rest.join(", "));
    }
    line.push('.');
    line
}

/// Finish a bulk command: the summary on stderr, then an error (exit 1, or
/// 128 + the signal) naming every item that failed or was refused.
pub fn conclude(
    verb: &str,
    noun: &str,
    outcomes: Vec<Outcome>,
    refused: Vec<String>,
) -> anyhow::Result<i32> {
    let total = outcomes.len() + refused.len();
    let line = summary(verb, noun, &outcomes, refused.len());
    crate::output::progress(&line);
    let mut problems: Vec<String> = refused;
    for o in &outcomes {
        if let Some(Err(e)) = &o.result {
            problems.push(format!("{}: {e:#}", o.label));
        }
    }
    if let Some(sig) = crate::interrupt::signal() {
        let mut msg = format!(
            "interrupted ({}): {}",
            crate::interrupt::name(sig),
            lower_first(&line)
        );
        for p in &problems {
            msg.push_str("\n  ");
            msg.push_str(p);
        }
        return Err(crate::interrupt::error(msg));
    }
    if problems.is_empty() {
        return Ok(0);
    }
    anyhow::bail!(
        "{} of {} not {verb}:\n  {}",
        problems.len(),
        crate::safety::count(total, noun),
        problems.join("\n  ")
    )
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    #[test]
    fn keeps_order_and_bounds_the_concurrency() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u64> = (0..10).collect();
        let start = Instant::now();
        let out = map(&items, 4, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50 + (10 - i) * 5));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
        // 10 items of ~50-100 ms, 4 at a time: well under the serial second.
        assert!(start.elapsed() < Duration::from_millis(700));
    }

    #[test]
    fn stops_starting_items_once_asked() {
        let stop = AtomicBool::new(false);
        let items: Vec<usize> = (0..6).collect();
        let out = run_with(
            &items,
            1,
            |&i| {
                if i == 2 {
                    stop.store(true, Ordering::SeqCst);
                }
                i
            },
            || stop.load(Ordering::SeqCst),
        );
        assert_eq!(out, vec![Some(0), Some(1), Some(2), None, None, None]);
    }

    #[test]
    fn summary_words() {
        let o = |label: &str, r: Option<bool>| Outcome {
            label: label.into(),
            result: r.map(|ok| {
                if ok {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("boom"))
                }
            }),
        };
        assert_eq!(
            summary("destroyed", "session", &[o("a", Some(true))], 0),
            "Destroyed 1 session."
        );
        assert_eq!(
            summary(
                "stopped",
                "session",
                &[o("a", Some(true)), o("b", Some(false)), o("c", None)],
                1
            ),
            "Stopped 1 of 4 sessions; 1 failed, 1 refused, 1 not started."
        );
    }

    #[test]
    fn no_items_no_threads() {
        let out: Vec<Option<u8>> = run_with(&[] as &[u8], 4, |_| 1, || false);
        assert!(out.is_empty());
    }
}
