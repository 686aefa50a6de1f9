//! bulk-reply: post one reply to many MijnKlantportaal tickets, safely.
//!
//! The data flow, left to right:
//! `input` (read and validate rows) → `pipeline` (pace, send, retry) using `api` (the typed
//! HTTP client) → `journal` (durable record of what was delivered, results files).
//! `sandbox` is an embedded simulator of the API for rehearsals, tests and benchmarks.

pub mod api;
pub mod cli;
pub mod cmd;
pub mod crash_report;
pub mod delivery;
pub mod duration;
pub mod exit;
pub mod files;
pub mod input;
pub mod journal;
/// The ledger is the journal's, named at the root too for the tests that set its place.
pub use journal::ledger;
pub mod logging;
pub mod output;
pub mod pipeline;
pub mod rate;
pub mod sandbox;
