//! `bulk-reply validate`: placeholder until the input issue lands.

use crate::exit::{CmdResult, Exit};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CmdResult {
    Ok(Exit::Ok)
}
