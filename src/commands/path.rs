//! `dev-prism path [NAME]`: the session's directory, for `cd "$(dev-prism
//! path feat/x)"`. NAME is a branch or worktree directory name (or a path).

use anyhow::{bail, Result};
use std::path::Path;

use super::Ctx;
use crate::cli::PathArgs;
use crate::output;

pub fn run(ctx: &Ctx, args: PathArgs) -> Result<i32> {
    let dir = super::resolve_dir(ctx, args.name.as_deref())?;
    let s = super::require_session(&dir)?;
    let found: &Path = &s.id.working_dir;
    if !found.is_dir() {
        bail!(
            "the session's directory {} is gone: `dev-prism destroy {}` cleans up what is left",
            found.display(),
            crate::process::shell_quote(&found.to_string_lossy())
        );
    }
    output::print(&format!("{}\n", found.display()));
    Ok(0)
}
