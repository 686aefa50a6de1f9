//! The black-box tests, one integration binary (as xsv does): one module per command, or per
//! concern of `send`, each starting the real binary against the sandbox, real files and real
//! processes. One binary links once, where a binary per file linked the crate 22 times.
//! The memory tests (`tests/validate_memory.rs`, `tests/hostile_input.rs`) stay binaries of
//! their own, one test each: the peak memory `getrusage` reports for child processes is any
//! child's, and includes what the test process itself held when it started one (a child
//! begins as a copy of it), so other tests running alongside would count.
//!
//! Tests here share one process and run on parallel threads: none may change process-wide
//! state (environment variables, the working directory, signal handlers, the umask); a child
//! gets its environment through its `Command`, and every command that could keep a delivery
//! ledger runs with a private `XDG_STATE_HOME`.

mod support;

mod absurd_values;
mod api_reach;
mod completions;
mod crash;
mod cron_output;
mod disk_full;
mod hostile_server;
mod ledger;
mod lost_answers;
mod report;
mod sandbox;
mod scheduled;
mod secrets;
mod send;
mod status;
mod tickets;
mod validate;
