//! Confirmation before removing things: the same words everywhere — what
//! will be removed (sessions, worktrees, branches, with correct plurals),
//! the question, and one sentence when the answer is no.

use anyhow::{bail, Result};
use std::io::IsTerminal;

use crate::teardown::Plan;

/// Printed whenever a confirmation is declined (the command then exits 1).
pub const DECLINED: &str = "Cancelled: nothing was removed.";

/// `1 branch`, `2 branches`, `3 worktrees`.
pub fn count(n: usize, noun: &str) -> String {
    let plural = if noun.ends_with("ch") || noun.ends_with('s') || noun.ends_with('x') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    };
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {plural}")
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn join_words(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Pure: everything the plans remove, in one phrase:
/// `containers, networks and volumes of 3 sessions, 2 worktrees and 1 branch`.
pub fn everything(noun: &str, items: usize, worktrees: usize, branches: usize) -> String {
    if noun == "worktree" {
        let mut parts = vec![count(items, "worktree")];
        if branches > 0 {
            parts.push(count(branches, "branch"));
        }
        let their = if items == 1 { "its" } else { "their" };
        parts.push(format!("{their} containers, networks and volumes"));
        return join_words(&parts);
    }
    let mut parts = vec![format!(
        "the containers, networks and volumes of {}",
        count(items, noun)
    )];
    if worktrees > 0 {
        parts.push(count(worktrees, "worktree"));
    }
    if branches > 0 {
        parts.push(count(branches, "branch"));
    }
    join_words(&parts)
}

/// [`everything`] for a set of plans.
pub fn everything_in(noun: &str, plans: &[&Plan]) -> String {
    everything(
        noun,
        plans.len(),
        plans.iter().filter(|p| p.removes_worktree()).count(),
        plans
            .iter()
            .filter(|p| p.deleted_branch().is_some())
            .count(),
    )
}

/// One plan in a list: `containers, networks and volumes, worktree and
/// branch session/x`.
pub fn one(plan: &Plan) -> String {
    let mut parts = vec!["containers, networks and volumes".to_string()];
    if plan.removes_worktree() {
        parts.push("worktree".into());
    }
    if let Some(b) = plan.deleted_branch() {
        parts.push(format!("branch {b}"));
    }
    join_words(&parts)
}

/// Ask `question` (y/N) on a terminal, after `intro`. `yes` (`-y`) answers
/// at once. Without a terminal, never wait: an error saying `refusal` and
/// how to confirm. `Ok(false)`: declined, and [`DECLINED`] was printed.
pub fn confirm(yes: bool, intro: &str, question: &str, refusal: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!("{refusal}\nrun again with -y to confirm");
    }
    crate::output::progress(intro);
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .unwrap_or(false);
    if !ok {
        eprintln!("{DECLINED}");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(count(1, "branch"), "1 branch");
        assert_eq!(count(2, "branch"), "2 branches");
        assert_eq!(count(0, "worktree"), "0 worktrees");
        assert_eq!(count(3, "session"), "3 sessions");
    }

    #[test]
    fn everything_names_what_goes() {
        assert_eq!(
            everything("session", 1, 0, 0),
            "the containers, networks and volumes of 1 session"
        );
        assert_eq!(
            everything("session", 3, 2, 1),
            "the containers, networks and volumes of 3 sessions, 2 worktrees and 1 branch"
        );
        assert_eq!(
            everything("worktree", 2, 2, 2),
            "2 worktrees, 2 branches and their containers, networks and volumes"
        );
        assert_eq!(
            everything("worktree", 1, 1, 0),
            "1 worktree and its containers, networks and volumes"
        );
    }
}
