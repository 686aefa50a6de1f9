//! The sandbox: the `bulk-reply sandbox` command as a user runs it (`cli`), and the
//! simulator in-process over real HTTP — its API (`api`), its rate limit and faults on
//! purpose (`limits`), and the ways real deployments misbehave (`faults`).

mod api;
mod cli;
mod faults;
mod limits;
