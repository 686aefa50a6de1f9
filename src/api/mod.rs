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

pub use auth::{Credentials, OAuthClient};
pub use base_url::{check_base_url, read_ca_file};
pub use client::{ApiClient, ClientOptions, Fetched, Posted, Reply};
pub use error::{ApiError, ErrorClass, ErrorKind};
pub use limits::RateLimitInfo;
pub(crate) use matching::decode_reference;
pub use matching::{Delivered, ServerClock, count_delivered, normalise, normalise_into};
pub use preflight::PreflightError;
pub use secret::Secret;
pub use ticket::{
    Message, TICKET_ID_MAX_CHARS, Ticket, TicketPage, TicketSource, TicketStatus, TicketSummary,
    is_ticket_id,
};
