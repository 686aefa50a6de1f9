//! The typed client of the MijnKlantportaal ticket API: what a request returns, how every
//! failure is classified (once, here), and the rate-limit facts each answer carries.

mod auth;
mod base_url;
mod client;
mod entities;
mod error;
mod limits;
mod matching;
mod preflight;
mod secret;
mod ticket;

// Public only what the benchmarks use; the rest is the crate's.
pub use matching::{ServerClock, count_delivered};
pub use ticket::Ticket;

pub(crate) use auth::{Credentials, OAuthClient};
pub(crate) use base_url::{check_base_url, read_ca_file};
pub(crate) use client::{ApiClient, ClientOptions, Reply};
pub(crate) use error::{ApiError, ErrorClass, ErrorKind};
pub(crate) use limits::RateLimitInfo;
pub(crate) use matching::{decode_reference, normalise, normalise_into};
pub(crate) use preflight::PreflightError;
pub(crate) use secret::Secret;
pub(crate) use ticket::{
    TICKET_ID_MAX_CHARS, TicketSource, TicketStatus, TicketSummary, is_ticket_id,
};
