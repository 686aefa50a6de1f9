//! When the next request may leave, on a clock the caller passes in: the rate gate's brain,
//! pure so that a whole run (a server's rolling window, another user of the key, a jittery
//! network) can be replayed in microseconds by the tests below.
//!
//! The server admits a request while fewer than `L` requests it accepted lie in the last
//! `W` (a rolling window; `X-RateLimit-Limit` is `L`, `W` the documented minute unless a
//! `RateLimit-Policy` names another). So the pace is the same rule, kept on our side:
//!
//! - **Our share**: `B = L - others`, where `others` is what the key's other users hold in
//!   the window. Each answer tells: `others = L - remaining - ours`, with `ours` our own
//!   requests in the window before that one. The estimate is the most seen over the last
//!   two windows, so a neighbour is left what it used, and budget comes back once it stops.
//! - **The window, widened by the network's jitter**: a request may leave while fewer than
//!   `B` of ours left in the last `W + J`, with `J` the spread of recent answer times
//!   (timed from when each request really left, after its intent reached the disk) plus
//!   the caution an unforeseen 429 adds and later answers fade. Requests then reach the
//!   server at most `J` apart from when they left, and the server never counts more of ours
//!   than `B`. A fresh window is spent at once (bounded by the
//!   concurrency); after that the departures of one window repeat one window later.
//! - **An explicit `--rate`** is a second window rule on our own departures that nothing
//!   exceeds.
//!
//! This estimates the state instead of probing for loss (as TCP Vegas does beside AIMD): a
//! 429 is a mistake to learn from, not the signal that drives the pace, so the pace settles
//! instead of swinging between full speed and a pause. Only a server that sends no limits at
//! all leaves nothing to estimate; there a 429 halves the pace and each answer gives a little
//! back (additive increase, multiplicative decrease, as the AWS SDKs' adaptive mode does).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::api::RateLimitInfo;
use crate::rate::{Rate, RateSetting};

/// The window the vendor documents for `X-RateLimit-Limit`.
const DOCUMENTED_WINDOW: Duration = Duration::from_secs(60);

/// Answer times kept to measure the network's spread.
const LATENCY_SAMPLES: usize = 256;

/// How fast the caution a 429 taught fades: per answer, so about 6% per window's worth.
const CAUTION_FADE: f64 = 0.999;

/// Until this many answers, the spread is not trusted below a fiftieth of the window.
const TRUSTED_SAMPLES: usize = 8;

/// The widest the jitter allowance may grow, as a fraction of the window.
const MAX_SPREAD_OF_WINDOW: f64 = 0.25;

/// Clocks and timers have about a millisecond of grain.
const MIN_SPREAD: Duration = Duration::from_millis(1);

/// How long the first request may go unanswered before the rest stop waiting for it.
const PROBE_PATIENCE: Duration = Duration::from_secs(5);

/// The slowest a server that sends no limits can make us, as a fraction of the assumed rate.
const MIN_HEADERLESS_SCALE: f64 = 1.0 / 16.0;

/// One request that left, as the gate handed it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    id: u64,
    pub at: Instant,
}

/// The limit in force, and where we know it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    limit: u32,
    window: Duration,
    /// Stated by the server's answers, not assumed.
    told: bool,
}

/// What the pace knows, and the rule it applies.
#[derive(Debug)]
pub struct Pace {
    /// An explicit `--rate`: at most `requests` of ours in any `per`.
    cap: Option<(u32, Duration)>,
    /// `None` until there is a limit to keep (an unlimited `--rate` against a server that
    /// states none).
    budget: Option<Budget>,
    /// Our requests the server may still count, oldest first.
    sent: VecDeque<Departure>,
    /// Every request granted within the cap's window, as granted: refused ones too (they
    /// went out), so the cap holds whatever the server answered.
    granted: VecDeque<Departure>,
    next_id: u64,
    /// `(when, what others held)` from the answers of the last window, kept as a sliding
    /// maximum: each entry holds more than every later one, so the front is the most.
    others: VecDeque<(Instant, u32)>,
    /// Answers that told what the others hold, so far.
    others_samples: usize,
    latencies: VecDeque<Duration>,
    /// Sum of `latencies`, for their mean.
    latency_total: Duration,
    /// The spread of `latencies`, worked out as each answer comes (see [`spread_of`]).
    measured_spread: Duration,
    /// Reused for working out the spread, so an answer allocates nothing.
    scratch: Vec<Duration>,
    paused_until: Option<Instant>,
    /// The first request, while its answer is awaited: until the server has said what its
    /// limit is and how much of it is left, nothing else leaves (for [`PROBE_PATIENCE`]).
    probe: Option<Departure>,
    /// An answer has come (so no probe is needed any more).
    heard: bool,
    /// Added to the spread after a 429 that the estimate did not foresee (a delay the recent
    /// answer times did not show); fades as answers come.
    caution: Duration,
    /// When a 429 last added to `caution`.
    caution_learnt: Option<Instant>,
    /// Below 1 only after 429s from a server that states no limit.
    headerless_scale: f64,
}

impl Pace {
    pub fn new(setting: RateSetting) -> Self {
        let (cap, budget) = match setting {
            RateSetting::Auto => (None, budget_of(Rate::API_DEFAULT)),
            RateSetting::Cap(rate) => (window_of(rate), budget_of(rate)),
        };
        Pace {
            cap,
            budget,
            sent: VecDeque::new(),
            granted: VecDeque::new(),
            next_id: 0,
            others: VecDeque::new(),
            others_samples: 0,
            latencies: VecDeque::with_capacity(LATENCY_SAMPLES),
            latency_total: Duration::ZERO,
            measured_spread: Duration::ZERO,
            scratch: Vec::with_capacity(LATENCY_SAMPLES),
            paused_until: None,
            probe: None,
            heard: false,
            headerless_scale: 1.0,
            caution: Duration::ZERO,
            caution_learnt: None,
        }
    }

    /// The earliest moment from `now` on when a request may leave.
    pub fn ready_at(&self, now: Instant) -> Instant {
        let mut ready = now;
        if let Some(until) = self.paused_until {
            ready = ready.max(until);
        }
        if let Some(probe) = self.probe {
            ready = ready.max(probe.at + PROBE_PATIENCE);
        }
        if let Some((requests, per)) = self.cap {
            ready = ready.max(window_rule(&self.granted, ready, requests, per));
        }
        if let Some(budget) = self.budget {
            let share = self.share(budget);
            let window = budget.window + self.spread();
            ready = ready.max(window_rule(&self.sent, ready, share, window));
        }
        ready
    }

    /// Records a request leaving at `now` (which must not be before [`Pace::ready_at`]).
    pub fn depart(&mut self, now: Instant) -> Departure {
        let departure = Departure {
            id: self.next_id,
            at: now,
        };
        self.next_id += 1;
        if !self.heard && self.probe.is_none() {
            self.probe = Some(departure);
        }
        if self.cap.is_some() || self.budget.is_some() {
            self.forget_before(now);
            self.sent.push_back(departure);
        }
        if let Some((_, per)) = self.cap {
            while self
                .granted
                .front()
                .is_some_and(|d| now.saturating_duration_since(d.at) >= per)
            {
                self.granted.pop_front();
            }
            self.granted.push_back(departure);
        }
        departure
    }

    /// A granted request that never left (the run stopped first): it counts nowhere, and if
    /// it was the first, the others need not wait for its answer.
    pub fn cancel(&mut self, departure: Departure) {
        self.sent.retain(|sent| sent.id != departure.id);
        if self.probe.is_some_and(|probe| probe.id == departure.id) {
            self.probe = None;
        }
    }

    /// The request granted as `departure` really leaves now (its intent had to reach the
    /// disk first, which takes a varying while): it counts in the window from now, so the
    /// disk's delays need no room in the jitter allowance, and its answer time is measured
    /// from now.
    pub fn leaving(&mut self, departure: Departure, now: Instant) -> Departure {
        let leaving = Departure {
            at: now,
            ..departure
        };
        // Every time in the log is at most `now`: the entry moves to the back, where it is
        // found at once (it was granted moments ago).
        if let Some(place) = self.sent.iter().rposition(|sent| sent.id == departure.id) {
            self.sent.remove(place);
            self.sent.push_back(leaving);
        }
        if self.probe.is_some_and(|probe| probe.id == departure.id) {
            self.probe = Some(leaving);
        }
        leaving
    }

    /// Learns from an answer (any status but 429) that arrived at `now`. True when the
    /// budget grew (a higher limit, fewer others): requests waiting may go sooner.
    pub fn answered(&mut self, departure: Departure, now: Instant, limits: &RateLimitInfo) -> bool {
        // The share and window only: the spread moves a little with every answer, and
        // waking every waiter for that would cost more than it gains.
        let pace = |pace: &Self| pace.budget.map(|b| (pace.share(b), b.window));
        let before = pace(self);
        self.learn(departure, now, limits);
        // From no limit to a stated one is slower, never sooner.
        matches!((before, pace(self)), (Some((was, was_window)), Some((share, window)))
            if share > was || window < was_window)
    }

    fn learn(&mut self, departure: Departure, now: Instant, limits: &RateLimitInfo) {
        self.hear();
        self.caution = self.caution.mul_f64(CAUTION_FADE);
        self.measure(now.saturating_duration_since(departure.at));
        let Some(limit) = limits.limit else {
            if self.budget.is_some_and(|b| !b.told) {
                self.headerless_scale = (self.headerless_scale + 0.02).min(1.0);
            }
            return;
        };
        self.adopt(limit, limits.window);
        if let Some(remaining) = limits.remaining {
            // The server counted this request too: `L - remaining` is everyone's, with it.
            let everyone = limit.saturating_sub(remaining);
            let ours = self.ours_around(departure, limits.window);
            tracing::trace!(
                limit,
                remaining,
                ours,
                "the key's budget as an answer tells it"
            );
            self.sample_others(now, everyone.saturating_sub(ours));
        }
    }

    /// Learns from a 429 that arrived at `now`: the server did not count that request; the
    /// window was full; everyone waits as long as it asked (at least `minimum`).
    pub fn refused(
        &mut self,
        departure: Departure,
        now: Instant,
        limits: &RateLimitInfo,
        minimum: Duration,
    ) {
        self.hear();
        self.sent.retain(|sent| sent.id != departure.id);
        let wait = limits
            .retry_after
            .unwrap_or(Duration::from_secs(1))
            .max(minimum);
        let until = now + wait;
        self.paused_until = Some(
            self.paused_until
                .map_or(until, |current| current.max(until)),
        );
        match limits.limit {
            Some(limit) => {
                self.adopt(limit, limits.window);
                // Full without this one, which is no longer among ours.
                let ours = self.ours_around(departure, limits.window);
                tracing::debug!(
                    limit,
                    ours,
                    others = self.others.front().map_or(0, |&(_, held)| held),
                    spread = ?self.spread(),
                    "429: the window was fuller than the pace knew"
                );
                self.learn_caution(now);
                self.sample_others(now, limit.saturating_sub(ours));
            }
            None => {
                self.headerless_scale = (self.headerless_scale * 0.5).max(MIN_HEADERLESS_SCALE);
            }
        }
    }

    /// A request that got no answer at all (a cut connection, a time-out): it may or may not
    /// have been counted, so it stays among ours; it ends the wait for a first answer, and
    /// no other request is held back for one again (a server that never answers is the
    /// run breaker's to judge).
    pub fn unanswered(&mut self, departure: Departure) {
        if self.probe.is_some_and(|probe| probe.id == departure.id) {
            self.hear();
        }
    }

    /// One measured spread more allowance after a 429, at most once a window (a burst of
    /// 429s is one lesson, not many), never compounding on itself.
    fn learn_caution(&mut self, now: Instant) {
        let window = self.budget.map_or(DOCUMENTED_WINDOW, |b| b.window);
        if self
            .caution_learnt
            .is_some_and(|at| now.saturating_duration_since(at) < window)
        {
            return;
        }
        self.caution_learnt = Some(now);
        self.caution = (self.caution + self.measured_spread.max(Duration::from_millis(5)))
            .min(window.mul_f64(MAX_SPREAD_OF_WINDOW));
    }

    /// Waiting for the first answer: [`Pace::ready_at`] may come earlier once it is here.
    pub fn probing(&self) -> bool {
        self.probe.is_some()
    }

    fn hear(&mut self) {
        self.heard = true;
        self.probe = None;
    }

    /// The rate our share allows, per second, at the spread measured now.
    pub fn budget_rate(&self) -> Option<f64> {
        let budget = self.budget?;
        let window = budget.window + self.spread();
        let mut rate = f64::from(self.share(budget)) / window.as_secs_f64();
        if let Some((requests, per)) = self.cap {
            rate = rate.min(f64::from(requests) / per.as_secs_f64());
        }
        Some(rate)
    }

    /// The mean time an answer takes, once there is one.
    pub fn mean_latency(&self) -> Option<Duration> {
        let samples = u32::try_from(self.latencies.len())
            .ok()
            .filter(|n| *n > 0)?;
        Some(self.latency_total / samples)
    }

    /// The limit and window in force, as the pace knows them: the server's (stated or
    /// assumed), or the cap where that is slower.
    pub fn limit(&self) -> Option<(u32, Duration)> {
        let per_second = |(requests, per): (u32, Duration)| f64::from(requests) / per.as_secs_f64();
        let budget = self.budget.map(|b| (b.limit, b.window));
        match (budget, self.cap) {
            (Some(budget), Some(cap)) if per_second(cap) < per_second(budget) => Some(cap),
            (Some(budget), _) => Some(budget),
            (None, cap) => cap,
        }
    }

    /// How many of ours the window may hold.
    fn share(&self, budget: Budget) -> u32 {
        let mut others = self.others.front().map_or(0, |&(_, held)| held);
        if others > 0 && self.others_samples < TRUSTED_SAMPLES {
            // A glimpse of another user between two of its requests shows one fewer than
            // it holds the rest of the time: until more answers have been seen, leave it one
            // more.
            others += 1;
        }
        let share = budget.limit.saturating_sub(others).max(1);
        if budget.told {
            share
        } else {
            ((f64::from(share) * self.headerless_scale) as u32).max(1)
        }
    }

    /// Our requests the server may have counted when it decided `departure`: those that
    /// left within its window before it, and those that left up to the spread after it and
    /// may have overtaken it on the way. An overcount errs towards leaving others more.
    fn ours_around(&self, departure: Departure, window: Option<Duration>) -> u32 {
        let spread = self.spread();
        let window = window
            .or(self.budget.map(|b| b.window))
            .unwrap_or(DOCUMENTED_WINDOW)
            + spread;
        let last = departure.at + spread;
        let end = self.sent.partition_point(|sent| sent.at <= last);
        let first_inside = match departure.at.checked_sub(window) {
            Some(start) => self.sent.partition_point(|sent| sent.at <= start),
            None => 0,
        };
        end.saturating_sub(first_inside) as u32
    }

    /// Keeps the most seen over the last two windows: our departures come in bursts a
    /// window apart, and only the last answer of a burst counts everyone exactly (its
    /// fellows overtaken on the way are counted as ours), so one window could lose the
    /// exact sample just before the next burst brings it back. Only newer samples retire
    /// old ones: after a quiet spell (the preflight's answer, then the confirmation
    /// question) the last word stands until the next answer.
    fn sample_others(&mut self, now: Instant, held: u32) {
        self.others_samples = self.others_samples.saturating_add(1);
        let window = self.budget.map_or(DOCUMENTED_WINDOW, |b| b.window) * 2;
        while self
            .others
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > window)
        {
            self.others.pop_front();
        }
        while self.others.back().is_some_and(|&(_, later)| later <= held) {
            self.others.pop_back();
        }
        self.others.push_back((now, held));
    }

    /// A limit the server states replaces whatever was assumed, up or down; the explicit
    /// cap still holds.
    fn adopt(&mut self, limit: u32, window: Option<Duration>) {
        // An answer that names no window (a 429 from a gateway, say) changes no window a
        // server already named.
        let window = window.unwrap_or(match self.budget {
            Some(budget) if budget.told => budget.window,
            _ => DOCUMENTED_WINDOW,
        });
        let told = Budget {
            limit: limit.max(1),
            window,
            told: true,
        };
        if self.budget != Some(told) {
            if self.budget.is_some_and(|b| b.window != window) {
                // Samples counted in another window say nothing about this one.
                self.others.clear();
                self.others_samples = 0;
            }
            self.budget = Some(told);
        }
    }

    fn measure(&mut self, latency: Duration) {
        if self.latencies.len() == LATENCY_SAMPLES
            && let Some(oldest) = self.latencies.pop_front()
        {
            self.latency_total -= oldest;
        }
        self.latencies.push_back(latency);
        self.latency_total += latency;
        self.measured_spread = spread_of(&self.latencies, &mut self.scratch);
    }

    /// `J`: how far apart two requests that left together may reach the server.
    fn spread(&self) -> Duration {
        let window = self.budget.map_or(DOCUMENTED_WINDOW, |b| b.window);
        if self.latencies.is_empty() {
            return window / 50;
        }
        let mut spread = self.measured_spread.max(MIN_SPREAD);
        if self.latencies.len() < TRUSTED_SAMPLES {
            spread = spread.max(window / 50);
        }
        (spread + self.caution).min(window.mul_f64(MAX_SPREAD_OF_WINDOW))
    }

    /// Drops departures no rule can count any more (kept a window longer than the widest
    /// rule, for the answers still to come).
    fn forget_before(&mut self, now: Instant) {
        let widest = [
            self.cap.map(|(_, per)| per),
            self.budget.map(|b| b.window + self.spread()),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(DOCUMENTED_WINDOW);
        let Some(horizon) = now.checked_sub(widest * 2 + Duration::from_secs(60)) else {
            return;
        };
        while self.sent.front().is_some_and(|sent| sent.at <= horizon) {
            self.sent.pop_front();
        }
    }
}

/// From the quickest answer to the slowest but the slowest 1%: how far apart two requests
/// that left together may arrive. The slowest few are mostly our own process waking late
/// to an answer, which delays nothing on the way there; if one was a slow way there after
/// all, its 429 adds the caution.
fn spread_of(latencies: &VecDeque<Duration>, scratch: &mut Vec<Duration>) -> Duration {
    scratch.clear();
    scratch.extend(latencies.iter().copied());
    let Some(&low) = scratch.iter().min() else {
        return Duration::ZERO;
    };
    let high_rank = scratch.len() - 1 - scratch.len() / 100;
    let (_, high, _) = scratch.select_nth_unstable(high_rank);
    *high - low
}

/// The earliest moment from `from` on when fewer than `allowed` of the departures in `log`
/// (oldest first) lie in the window of length `window` that ends then.
fn window_rule(
    log: &VecDeque<Departure>,
    from: Instant,
    allowed: u32,
    window: Duration,
) -> Instant {
    let first_inside = match from.checked_sub(window) {
        Some(start) => log.partition_point(|sent| sent.at <= start),
        None => 0,
    };
    let inside = log.len() - first_inside;
    let allowed = allowed as usize;
    if inside < allowed {
        return from;
    }
    // The one that must leave the window first for a place to open.
    log[first_inside + inside - allowed].at + window
}

fn window_of(rate: Rate) -> Option<(u32, Duration)> {
    match rate {
        Rate::Limited { requests, per } => Some((requests, per)),
        Rate::Unlimited => None,
    }
}

fn budget_of(rate: Rate) -> Option<Budget> {
    window_of(rate).map(|(limit, window)| Budget {
        limit,
        window,
        told: false,
    })
}

#[cfg(test)]
mod tests {
    //! Whole runs on a simulated clock: the client's pace against the sandbox's own rolling
    //! window, with the latency, jitter and neighbour of each scenario, decided as events in
    //! time order. Deterministic (seeded jitter), and ten thousand rows take milliseconds.

    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::time::SystemTime;

    use super::*;
    use crate::sandbox::Neighbour;
    use crate::sandbox::rate_limit::{RollingWindow, Verdict};

    struct Scenario {
        server: Rate,
        setting: RateSetting,
        rows: u32,
        concurrency: u32,
        latency: Duration,
        jitter: Duration,
        /// Another user of the key.
        neighbour: Option<Neighbour>,
        /// When the client starts, after the neighbour (which starts at zero).
        client_starts: Duration,
    }

    impl Scenario {
        fn new(server: &str, setting: &str, rows: u32) -> Self {
            Scenario {
                server: server.parse().unwrap(),
                setting: setting.parse().unwrap(),
                rows,
                concurrency: 32,
                latency: Duration::from_millis(20),
                jitter: Duration::ZERO,
                neighbour: None,
                client_starts: Duration::ZERO,
            }
        }
    }

    #[derive(Debug, Default)]
    struct Run {
        /// From the first departure to the last answer.
        elapsed: Duration,
        refused: u32,
        /// When each 429 reached us, from the start.
        refused_at: Vec<Duration>,
        neighbour_accepted: u32,
        neighbour_refused: Vec<Duration>,
        /// When each row was delivered, from the start.
        delivered_at: Vec<Duration>,
    }

    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Event {
        /// A request of ours reaches the server.
        Arrives(u64),
        /// Its answer reaches us.
        Answered(u64),
        Neighbour,
    }

    fn simulate(scenario: &Scenario) -> Run {
        let base = std::time::Instant::now();
        let wall = SystemTime::now();
        let at = |offset: Duration| Instant::from_std(base + offset);
        let mut server = RollingWindow::new(scenario.server);
        let policy = match scenario.server {
            Rate::Limited { per, .. } if per != DOCUMENTED_WINDOW => Some(per),
            _ => None,
        };
        let mut pace = Pace::new(scenario.setting);
        let mut run = Run::default();
        let mut events = BinaryHeap::new();
        let mut in_flight = std::collections::HashMap::new();
        let mut verdicts = std::collections::HashMap::new();
        let mut next_request = 0u64;
        let mut random = 0x2545_f491_4f6c_dd1d_u64;
        let mut jitter = || {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let roll = (random >> 11) as f64 / (1u64 << 53) as f64;
            scenario.jitter.mul_f64(2.0 * roll)
        };
        if let Some(neighbour) = scenario.neighbour {
            events.push(Reverse((neighbour.interval().unwrap(), Event::Neighbour)));
        }
        let (mut waiting, mut free) = (scenario.rows, scenario.concurrency);
        let mut now = scenario.client_starts;
        while (run.delivered_at.len() as u32) < scenario.rows {
            // Every free place with a row departs as soon as the pace lets it.
            let mut wake = None;
            while free > 0 && waiting > 0 && now >= scenario.client_starts {
                let ready = pace.ready_at(at(now));
                if ready > at(now) {
                    wake = Some(ready.into_std().duration_since(base));
                    break;
                }
                let departure = pace.depart(at(now));
                let id = next_request;
                next_request += 1;
                in_flight.insert(id, departure);
                let forward = (scenario.latency + jitter()).saturating_sub(scenario.jitter);
                events.push(Reverse((now + forward, Event::Arrives(id))));
                free -= 1;
                waiting -= 1;
            }
            let next_event = events.peek().map(|Reverse((when, _))| *when);
            let next = match (next_event, wake) {
                // Before the client starts, only the neighbour moves.
                (Some(event), _) if event < scenario.client_starts => events.pop().unwrap().0,
                (Some(event), Some(wake)) if wake < event => {
                    now = wake;
                    continue;
                }
                (None, Some(wake)) => {
                    now = wake;
                    continue;
                }
                (None, None) => panic!("stuck at {now:?} with {waiting} rows waiting"),
                _ => events.pop().unwrap().0,
            };
            now = next.0;
            match next.1 {
                Event::Neighbour => {
                    let neighbour = scenario.neighbour.unwrap();
                    if neighbour.stops_after.is_none_or(|stops| now <= stops) {
                        if server.admit_due(base + now) {
                            run.neighbour_accepted += 1;
                        } else {
                            run.neighbour_refused.push(now);
                        }
                        let next = now + neighbour.interval().unwrap();
                        events.push(Reverse((next, Event::Neighbour)));
                    }
                }
                Event::Arrives(id) => {
                    verdicts.insert(id, server.admit(base + now, wall));
                    events.push(Reverse((
                        now + Duration::from_micros(100),
                        Event::Answered(id),
                    )));
                }
                Event::Answered(id) => {
                    let departure = in_flight.remove(&id).unwrap();
                    free += 1;
                    match verdicts.remove(&id).unwrap() {
                        Verdict::Accepted { limit, remaining } => {
                            let limits = RateLimitInfo {
                                limit: Some(limit),
                                remaining: Some(remaining),
                                window: policy,
                                retry_after: None,
                            };
                            pace.answered(departure, at(now), &limits);
                            run.delivered_at.push(now);
                        }
                        Verdict::Unlimited => {
                            pace.answered(departure, at(now), &RateLimitInfo::default());
                            run.delivered_at.push(now);
                        }
                        Verdict::Refused {
                            limit,
                            retry_after_secs,
                            ..
                        } => {
                            let limits = RateLimitInfo {
                                limit: Some(limit),
                                remaining: Some(0),
                                window: policy,
                                retry_after: Some(Duration::from_secs(retry_after_secs)),
                            };
                            pace.refused(departure, at(now), &limits, Duration::ZERO);
                            run.refused += 1;
                            run.refused_at.push(now);
                            waiting += 1;
                        }
                    }
                }
            }
        }
        let since_start = |at: &mut Duration| *at = at.saturating_sub(scenario.client_starts);
        run.refused_at.iter_mut().for_each(since_start);
        run.neighbour_refused.iter_mut().for_each(since_start);
        run.delivered_at.iter_mut().for_each(since_start);
        run.elapsed = now - scenario.client_starts;
        run
    }

    fn ideal(rows: u32, rate: &str) -> Duration {
        rate.parse::<Rate>()
            .unwrap()
            .ideal_duration(u64::from(rows))
    }

    fn ratio(run: &Run, ideal: Duration) -> f64 {
        run.elapsed.as_secs_f64() / ideal.as_secs_f64()
    }

    #[test]
    fn latency_does_not_cap_the_rate() {
        // (a) A 20/s server that answers in 500 ms, --rate 20/s.
        let mut scenario = Scenario::new("20/s", "20/s", 600);
        scenario.latency = Duration::from_millis(500);
        let run = simulate(&scenario);
        let rate = f64::from(scenario.rows) / run.elapsed.as_secs_f64();
        assert!(rate >= 0.95 * 20.0, "{rate:.2}/s in {:?}", run.elapsed);
        assert_eq!(run.refused, 0);
    }

    #[test]
    fn a_raised_limit_is_adopted_and_a_fresh_window_spent_at_once() {
        // (b) 600/min, no --rate: the whole window's budget, at once.
        let run = simulate(&Scenario::new("600/min", "auto", 600));
        assert!(run.elapsed <= Duration::from_secs(66), "{:?}", run.elapsed);
        assert!(run.elapsed <= Duration::from_secs(2), "{:?}", run.elapsed);
        assert_eq!(run.refused, 0);
        // 601 rows: the last waits for the window to roll.
        let run = simulate(&Scenario::new("600/min", "auto", 601));
        assert!(run.elapsed >= Duration::from_secs(60), "{:?}", run.elapsed);
        assert_eq!(run.refused, 0);
    }

    #[test]
    fn a_lower_limit_than_assumed_costs_at_most_the_first_window() {
        let run = simulate(&Scenario::new("30/min", "auto", 90));
        // 30 at once, 30 a window later, 30 two windows later; what the first burst was
        // refused is retried, and then never again.
        assert!(run.elapsed < Duration::from_secs(125), "{:?}", run.elapsed);
        assert!(
            run.refused_at.iter().all(|at| *at < Duration::from_secs(2)),
            "{:?}",
            run.refused_at
        );
    }

    #[test]
    fn a_share_of_the_key_settles_without_429s_and_returns_when_the_neighbour_stops() {
        // (c) 20/s, another user spending 30% since before the run: our share is 14/s.
        let mut scenario = Scenario::new("20/s", "auto", 600);
        scenario.neighbour = Some(Neighbour {
            rate: "6/s".parse().unwrap(),
            stops_after: None,
        });
        scenario.client_starts = Duration::from_secs(3);
        let run = simulate(&scenario);
        let settled = Duration::from_secs(5);
        let late_429s = |times: &[Duration]| times.iter().filter(|at| **at > settled).count();
        assert_eq!(late_429s(&run.refused_at), 0, "ours: {:?}", run.refused_at);
        assert_eq!(
            late_429s(&run.neighbour_refused),
            0,
            "theirs: {:?}",
            run.neighbour_refused
        );
        let ideal = ideal(600, "14/s");
        assert!(ratio(&run, ideal) <= 1.05, "{:?} vs {ideal:?}", run.elapsed);

        // The neighbour stops 10 s into the run: the rest goes at the whole 20/s.
        scenario.neighbour = Some(Neighbour {
            rate: "6/s".parse().unwrap(),
            stops_after: Some(Duration::from_secs(13)),
        });
        let run = simulate(&scenario);
        let after = |from: u64, to: u64| {
            let count = run
                .delivered_at
                .iter()
                .filter(|at| **at >= Duration::from_secs(from) && **at < Duration::from_secs(to))
                .count();
            count as f64 / (to - from) as f64
        };
        assert!(after(3, 9) < 15.0, "{}", after(3, 9));
        assert!(after(13, 25) > 19.0, "{}", after(13, 25));
        assert_eq!(late_429s(&run.refused_at), 0, "ours: {:?}", run.refused_at);
        assert_eq!(late_429s(&run.neighbour_refused), 0);
    }

    #[test]
    fn jitter_never_bunches_two_windows_into_one() {
        // (d) --rate 20/s against a 20/s server, ±20 ms of network jitter.
        let mut scenario = Scenario::new("20/s", "20/s", 600);
        scenario.jitter = Duration::from_millis(20);
        scenario.latency = Duration::from_millis(30);
        let run = simulate(&scenario);
        assert_eq!(run.refused, 0, "{:?}", run.refused_at);
        let ideal = ideal(600, "20/s");
        assert!(ratio(&run, ideal) <= 1.03, "{:?} vs {ideal:?}", run.elapsed);
    }

    #[test]
    fn small_jobs_wait_for_nothing_and_long_ones_lose_nothing() {
        // (e) 50 rows on a fresh 60/min key; 10,000 rows at 60/min.
        let mut small = Scenario::new("60/min", "auto", 50);
        small.latency = Duration::from_millis(200);
        let run = simulate(&small);
        assert!(run.elapsed <= Duration::from_secs(5), "{:?}", run.elapsed);
        let mut long = Scenario::new("60/min", "auto", 10_000);
        long.latency = Duration::from_millis(200);
        long.jitter = Duration::from_millis(50);
        let run = simulate(&long);
        assert_eq!(run.refused, 0);
        let ideal = ideal(10_000, "60/min");
        assert!(ratio(&run, ideal) <= 1.01, "{:?} vs {ideal:?}", run.elapsed);
    }

    #[test]
    fn an_explicit_rate_is_a_cap_that_nothing_exceeds() {
        // The server would allow 600/min; --rate 5/s holds.
        let run = simulate(&Scenario::new("600/min", "5/s", 100));
        let per_second = run
            .delivered_at
            .windows(6)
            .all(|six| six[5] - six[0] >= Duration::from_secs(1));
        assert!(per_second, "more than 5 in a second");
        assert_eq!(run.refused, 0);
    }

    #[test]
    fn an_unforeseen_429_widens_the_window_and_the_caution_fades() {
        let mut pace = Pace::new(RateSetting::Auto);
        let t0 = Instant::now();
        let limits = |remaining| RateLimitInfo {
            limit: Some(10),
            remaining: Some(remaining),
            window: Some(Duration::from_secs(1)),
            retry_after: None,
        };
        for n in 0..10 {
            let d = pace.depart(t0);
            pace.answered(d, t0 + Duration::from_millis(1), &limits(9 - n));
        }
        let before = pace.spread();
        let refused = pace.depart(t0 + Duration::from_millis(2));
        pace.refused(
            refused,
            t0 + Duration::from_millis(3),
            &limits(0),
            Duration::ZERO,
        );
        let widened = pace.spread();
        assert!(
            widened >= before + Duration::from_millis(5),
            "{before:?} -> {widened:?}"
        );
        let later = t0 + Duration::from_secs(5);
        for _ in 0..3_000 {
            let d = pace.depart(later);
            pace.answered(
                d,
                later + Duration::from_millis(1),
                &RateLimitInfo::default(),
            );
        }
        assert!(
            pace.spread() < before + Duration::from_millis(1),
            "{:?}",
            pace.spread()
        );
    }

    #[test]
    fn a_refused_request_still_counts_against_the_cap() {
        let mut pace = Pace::new("2/s".parse().unwrap());
        let t0 = Instant::now();
        let first = pace.depart(t0);
        let roomy = RateLimitInfo {
            limit: Some(600),
            remaining: Some(599),
            ..Default::default()
        };
        pace.answered(first, t0, &roomy);
        let second = pace.depart(t0);
        // A 429 from a gateway that states nothing and asks for no wait: it went out.
        let no_wait = RateLimitInfo {
            retry_after: Some(Duration::ZERO),
            ..Default::default()
        };
        pace.refused(second, t0, &no_wait, Duration::ZERO);
        assert_eq!(pace.ready_at(t0), t0 + Duration::from_secs(1));
    }

    #[test]
    fn an_answer_without_a_policy_keeps_the_window_a_server_named() {
        let mut pace = Pace::new(RateSetting::Auto);
        let t0 = Instant::now();
        let stated = |window| RateLimitInfo {
            limit: Some(20),
            remaining: Some(19),
            window,
            retry_after: None,
        };
        let d = pace.depart(t0);
        pace.answered(d, t0, &stated(Some(Duration::from_secs(1))));
        let d = pace.depart(t0);
        pace.refused(d, t0, &stated(None), Duration::ZERO);
        assert_eq!(pace.limit(), Some((20, Duration::from_secs(1))));
    }

    #[test]
    fn a_burst_of_429s_is_one_lesson() {
        let mut pace = Pace::new(RateSetting::Auto);
        let t0 = Instant::now();
        let full = RateLimitInfo {
            limit: Some(10),
            remaining: Some(0),
            window: Some(Duration::from_secs(1)),
            retry_after: Some(Duration::ZERO),
        };
        for _ in 0..10 {
            let d = pace.depart(t0);
            pace.answered(d, t0 + Duration::from_millis(2), &full);
        }
        let before = pace.spread();
        for _ in 0..9 {
            let d = pace.depart(t0);
            pace.refused(d, t0 + Duration::from_millis(3), &full, Duration::ZERO);
        }
        let after = pace.spread();
        assert!(
            after <= before + Duration::from_millis(5),
            "{before:?} -> {after:?}"
        );
    }

    #[test]
    fn the_limit_shown_is_the_cap_where_that_is_slower() {
        let mut pace = Pace::new("1/s".parse().unwrap());
        let t0 = Instant::now();
        let d = pace.depart(t0);
        let raised = RateLimitInfo {
            limit: Some(600),
            remaining: Some(599),
            window: None,
            retry_after: None,
        };
        pace.answered(d, t0, &raised);
        assert_eq!(pace.limit(), Some((1, Duration::from_secs(1))));
    }

    #[test]
    fn a_server_without_limits_is_paced_down_by_its_429s() {
        let mut pace = Pace::new(RateSetting::Auto);
        let t0 = Instant::now();
        let first = pace.depart(t0);
        pace.refused(first, t0, &RateLimitInfo::default(), Duration::ZERO);
        // Paused for the default second, then half the assumed budget.
        assert_eq!(pace.ready_at(t0), t0 + Duration::from_secs(1));
        assert!(pace.budget_rate().unwrap() < 0.51);
        let later = t0 + Duration::from_secs(1);
        for _ in 0..100 {
            let d = pace.depart(pace.ready_at(later));
            pace.answered(d, d.at, &RateLimitInfo::default());
        }
        assert!(pace.budget_rate().unwrap() > 0.95);
    }
}
