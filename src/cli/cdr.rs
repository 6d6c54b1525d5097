//! STUB so the `config` branch compiles: the real `cdr` commands come from the store branch.
//!
//! Only the signatures matter here: `CdrArgs`, `CdrCommand` and `run`. The real `run` returns
//! `crate::store::StoreError`; this stub uses `std::io::Error`, and `cli/mod.rs` relies on the
//! error's `Display` only, so either compiles.

use std::path::Path;

/// Read call detail records from the store.
#[derive(Debug, clap::Args)]
pub struct CdrArgs {
    #[command(subcommand)]
    pub command: CdrCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CdrCommand {
    /// List recent call detail records.
    List,
}

pub fn run(args: CdrArgs, default_db: &Path) -> Result<(), std::io::Error> {
    let CdrCommand::List = args.command;
    Err(std::io::Error::other(format!(
        "cdr commands are not built in yet (database {})",
        default_db.display()
    )))
}
