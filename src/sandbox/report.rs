//! What the sandbox saw: request counters kept on the hot path, and the report built from
//! them for `GET /__sandbox/report` and `RunningSandbox::report`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// Everything the sandbox counted since it started. Only `/v1` requests count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every `/v1` request, whatever its answer (401 and 429 included).
    pub requests: u64,
    pub posts: u64,
    pub gets: u64,
    /// Answers per HTTP status, e.g. `{"200": 12, "429": 3}`.
    pub status_counts: BTreeMap<String, u64>,
    /// POSTs left unanswered on purpose (`--drop-rate`): they have no status.
    pub dropped: u64,
    pub messages_appended: u64,
    /// Messages whose exact posted text was already on the same ticket when appended
    /// (compared as posted, not as `--rewrite` stored them).
    pub duplicate_messages: u64,
    /// Messages stored in another form than posted (`--rewrite`).
    pub messages_rewritten: u64,
    /// `GET /v1/tickets/{id}` answers that did not yet show every message stored on the
    /// ticket (`--read-lag`).
    pub stale_reads: u64,
    /// The most requests the token made within one rate-limit window (1 s when off).
    pub peak_requests_per_window: u64,
    /// Access tokens issued by `POST /oauth/tokens`.
    pub tokens_issued: u64,
    /// POSTs stored late on purpose (`--late-rate`), whether or not the client still waited.
    pub late_stored: u64,
    /// Late stores still waiting when shutdown's drain time ran out: cancelled, never stored.
    pub late_dropped: u64,
    /// POSTs appended, then answered 504 on purpose (`--gateway-timeout-rate`).
    pub gateway_timeouts: u64,
    /// Requests of the key's other user (`--neighbour`) the rate limit let through.
    #[serde(default)]
    pub neighbour_accepted: u64,
    /// Requests of the key's other user refused (429) because the window was full.
    #[serde(default)]
    pub neighbour_refused: u64,
}

/// The report's figures that the store keeps, counted under its lock.
pub struct StoreFigures {
    pub messages_appended: u64,
    pub duplicate_messages: u64,
    pub messages_rewritten: u64,
    pub stale_reads: u64,
}

/// Lock-free counters, bumped once or twice per request.
pub struct Counters {
    requests: AtomicU64,
    posts: AtomicU64,
    gets: AtomicU64,
    dropped: AtomicU64,
    late_stored: AtomicU64,
    late_dropped: AtomicU64,
    gateway_timeouts: AtomicU64,
    neighbour_accepted: AtomicU64,
    neighbour_refused: AtomicU64,
    /// Indexed by status code; HTTP statuses are three digits.
    by_status: Box<[AtomicU64]>,
}

const STATUS_SLOTS: usize = 1000;

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: AtomicU64::new(0),
            posts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            late_stored: AtomicU64::new(0),
            late_dropped: AtomicU64::new(0),
            gateway_timeouts: AtomicU64::new(0),
            neighbour_accepted: AtomicU64::new(0),
            neighbour_refused: AtomicU64::new(0),
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Counters {
    /// Counts a `/v1` request; returns how many came before it (its arrival number).
    pub fn request(&self, method: &Method) -> u64 {
        let arrival = self.requests.fetch_add(1, Relaxed);
        if method == Method::POST {
            self.posts.fetch_add(1, Relaxed);
        } else if method == Method::GET {
            self.gets.fetch_add(1, Relaxed);
        }
        arrival
    }

    pub fn neighbour(&self, accepted: bool) {
        match accepted {
            true => self.neighbour_accepted.fetch_add(1, Relaxed),
            false => self.neighbour_refused.fetch_add(1, Relaxed),
        };
    }

    pub fn answered(&self, status: u16) {
        if let Some(slot) = self.by_status.get(usize::from(status)) {
            slot.fetch_add(1, Relaxed);
        }
    }

    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    pub fn late_stored(&self) {
        self.late_stored.fetch_add(1, Relaxed);
    }

    pub fn late_dropped(&self, cancelled: u64) {
        self.late_dropped.fetch_add(cancelled, Relaxed);
    }

    pub fn gateway_timeout(&self) {
        self.gateway_timeouts.fetch_add(1, Relaxed);
    }

    /// The report, given the figures kept elsewhere (store, rate limiter, token issuer).
    pub fn report(&self, store: StoreFigures, peak: u64, tokens_issued: u64) -> Report {
        let status_counts = self
            .by_status
            .iter()
            .enumerate()
            .filter_map(|(status, count)| {
                let count = count.load(Relaxed);
                (count > 0).then(|| (status.to_string(), count))
            })
            .collect();
        Report {
            requests: self.requests.load(Relaxed),
            posts: self.posts.load(Relaxed),
            gets: self.gets.load(Relaxed),
            status_counts,
            dropped: self.dropped.load(Relaxed),
            messages_appended: store.messages_appended,
            duplicate_messages: store.duplicate_messages,
            messages_rewritten: store.messages_rewritten,
            stale_reads: store.stale_reads,
            peak_requests_per_window: peak,
            tokens_issued,
            late_stored: self.late_stored.load(Relaxed),
            late_dropped: self.late_dropped.load(Relaxed),
            gateway_timeouts: self.gateway_timeouts.load(Relaxed),
            neighbour_accepted: self.neighbour_accepted.load(Relaxed),
            neighbour_refused: self.neighbour_refused.load(Relaxed),
        }
    }
}
