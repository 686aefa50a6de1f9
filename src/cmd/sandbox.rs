//! `bulk-reply sandbox`: placeholder until the sandbox issue lands.

use crate::exit::{CmdResult, Exit};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CmdResult {
    let _runtime = super::runtime()?;
    Ok(Exit::Ok)
}
