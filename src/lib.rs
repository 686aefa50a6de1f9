//! bulk-reply: post one reply to many MijnKlantportaal tickets, safely.
//!
//! The data flow, left to right: `cli` → `cmd` (one module per subcommand) → `input` (read,
//! compose and validate rows) → `pipeline` (pace, send, retry; a `delivery` per row) using
//! `api` (the typed HTTP client) → `journal` (the durable record of what was delivered, the
//! results files, the ledger). `sandbox` is an embedded simulator of the API for rehearsals,
//! tests and benchmarks. The README's Layout section lists every file.

// Public: what `main.rs`, the integration tests and the benchmarks use.
pub mod api;
pub mod delivery;
pub mod input;
pub mod journal;
pub mod rate;
pub mod sandbox;
pub use cli::main;
/// The ledger is the journal's, named at the root too for the tests that set its place.
pub use journal::ledger;

mod cli;
mod cmd;
mod crash_report;
mod duration;
mod exit;
mod files;
mod logging;
mod output;
mod pipeline;
