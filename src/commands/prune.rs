//! `dev-prism prune` (being written).

use anyhow::{bail, Result};

use super::Ctx;
use crate::cli::PruneArgs;

pub fn run(_ctx: &Ctx, _args: PruneArgs) -> Result<i32> {
    bail!("`dev-prism prune` is not yet implemented")
}
