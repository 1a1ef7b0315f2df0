//! `dev-prism claude` (being written).

use anyhow::{bail, Result};

use super::Ctx;
use crate::cli::ClaudeArgs;

pub fn run(_ctx: &Ctx, _args: ClaudeArgs) -> Result<i32> {
    bail!("`dev-prism claude` is not yet implemented")
}
