//! Faults on purpose: failed, dropped, garbled, late and gateway-timed-out answers to
//! `POST /v1/tickets/{id}`.
//!
//! Reproducible under concurrency: a decision is not drawn from one shared random generator
//! in arrival order (which would change with every interleaving) but derived from a hash of
//! `(seed, ticketId, message, attempt)`, where `attempt` counts the POSTs of that same
//! ticket and message. The same job run twice with the same seed meets the same faults on the
//! same rows, however its workers interleave; a retry of a failed row is a new attempt and
//! gets a fresh decision.
//!
//! Every per-POST fault comes out of the same single roll, one slice of `[0, 1)` per fault in
//! a fixed order (fail, drop, garbage, late, gateway timeout), so the rates add up to at most
//! 1 and a rate left at 0 shifts no other fault: a seed meets the same fails, drops and
//! garbage it met before late stores and gateway timeouts existed.

use std::time::Duration;

use anyhow::bail;

/// How often the sandbox misbehaves, and how slowly it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Seed of every fault decision.
    pub seed: u64,
    /// Fraction of POSTs answered 500, 502 or 503, nothing appended.
    pub fail_rate: f64,
    /// Fraction of POSTs whose message is appended, then the connection closed unanswered.
    pub drop_rate: f64,
    /// Fraction of POSTs answered 200 with a body that is not JSON, message appended.
    pub garbage_rate: f64,
    /// Waited before every `/v1` request is handled.
    pub latency: Duration,
    /// Each request's wait varies by up to this much either side of `latency` (never below
    /// zero): a network whose delay varies, so two requests sent 50 ms apart may reach the
    /// rate limiter 10 ms apart.
    pub latency_jitter: Duration,
    /// Fraction of POSTs whose message is stored `late_by` after the request arrived, and
    /// answered (200, the ticket) only then: a slow backend that commits after the client's
    /// timeout. The store happens even if the client has gone.
    pub late_rate: f64,
    /// How late a late POST is stored and answered.
    pub late_by: Duration,
    /// Fraction of POSTs whose message is appended, then answered 504 with a gateway's HTML
    /// page: the proxy gave up waiting, the backend did not.
    pub gateway_timeout_rate: f64,
}

/// What happens to one POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Answer with this 5xx status; append nothing.
    Fail(u16),
    /// Append, then close the connection without an answer.
    Drop,
    /// Append, then answer 200 with a body that is not JSON.
    Garbage,
    /// Append `late_by` from now, and answer only then.
    Late,
    /// Append, then answer 504 with an HTML page.
    GatewayTimeout,
}

const FAIL_STATUSES: [u16; 3] = [500, 502, 503];

impl Faults {
    /// A sandbox that behaves perfectly.
    pub fn none() -> Self {
        Faults {
            seed: 0,
            fail_rate: 0.0,
            drop_rate: 0.0,
            garbage_rate: 0.0,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            late_rate: 0.0,
            late_by: Duration::ZERO,
            gateway_timeout_rate: 0.0,
        }
    }

    /// The per-POST fault rates, by flag, in the order they split the roll.
    fn rates(&self) -> [(&'static str, f64); 5] {
        [
            ("--fail-rate", self.fail_rate),
            ("--drop-rate", self.drop_rate),
            ("--garbage-rate", self.garbage_rate),
            ("--late-rate", self.late_rate),
            ("--gateway-timeout-rate", self.gateway_timeout_rate),
        ]
    }

    /// Each rate is a probability, together they cannot exceed 1, and a late store needs
    /// a delay.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, rate) in self.rates() {
            if !(0.0..=1.0).contains(&rate) {
                bail!("{flag} {rate} is not a fraction between 0 and 1");
            }
        }
        let total: f64 = self.rates().iter().map(|(_, rate)| rate).sum();
        if total > 1.0 + 1e-9 {
            bail!(
                "--fail-rate, --drop-rate, --garbage-rate, --late-rate and --gateway-timeout-rate \
                 add up to {total}; together they must be at most 1"
            );
        }
        if self.late_rate > 0.0 && self.late_by.is_zero() {
            bail!("--late-rate needs --late-by: how long after arriving a late POST is stored");
        }
        Ok(())
    }

    pub fn any_rate(&self) -> bool {
        self.rates().iter().any(|&(_, rate)| rate > 0.0)
    }

    /// The fault for the `attempt`-th POST (counting from 0) of `message` to `ticket_id`.
    pub fn decide(&self, ticket_id: &str, message: &str, attempt: u64) -> Fault {
        if !self.any_rate() {
            return Fault::None;
        }
        let hash =
            mix(pair_hash(ticket_id, message) ^ mix(self.seed) ^ mix(attempt.wrapping_add(1)));
        // The top 53 bits give a uniform fraction in [0, 1); the low bits pick the status.
        let roll = (hash >> 11) as f64 / (1u64 << 53) as f64;
        let mut threshold = self.fail_rate;
        if roll < threshold {
            return Fault::Fail(FAIL_STATUSES[(hash % 3) as usize]);
        }
        threshold += self.drop_rate;
        if roll < threshold {
            return Fault::Drop;
        }
        threshold += self.garbage_rate;
        if roll < threshold {
            return Fault::Garbage;
        }
        threshold += self.late_rate;
        if roll < threshold {
            return Fault::Late;
        }
        threshold += self.gateway_timeout_rate;
        if roll < threshold {
            return Fault::GatewayTimeout;
        }
        Fault::None
    }
}

impl Faults {
    /// The wait of the `n`-th `/v1` request (counting from 0): `latency` moved by a seeded,
    /// uniform draw from `[-latency_jitter, +latency_jitter]`. Drawn by arrival, not by row:
    /// jitter belongs to the network, whichever request happens to cross it.
    pub fn latency_for(&self, n: u64) -> Duration {
        if self.latency_jitter.is_zero() {
            return self.latency;
        }
        let roll = (mix(mix(self.seed) ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64;
        let offset = self.latency_jitter.mul_f64((2.0 * roll - 1.0).abs());
        if roll < 0.5 {
            self.latency.saturating_sub(offset)
        } else {
            self.latency + offset
        }
    }
}

/// A stable hash of one (ticket, message) pair: XXH3, the hash the journal's row keys use,
/// chosen over `std`'s hasher because its output is fixed forever, so a seed reproduces the
/// same faults across Rust releases.
pub fn pair_hash(ticket_id: &str, message: &str) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(ticket_id.as_bytes());
    hasher.update(&[0xff]); // not valid UTF-8, so ("ab","c") and ("a","bc") differ
    hasher.update(message.as_bytes());
    hasher.digest()
}

/// SplitMix64's finalizer: spreads every input bit over the whole output.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(fail: f64, drop: f64, garbage: f64) -> Faults {
        Faults {
            seed: 42,
            fail_rate: fail,
            drop_rate: drop,
            garbage_rate: garbage,
            ..Faults::none()
        }
    }

    fn late_and_gateway(late: f64, gateway: f64) -> Faults {
        Faults {
            seed: 42,
            late_rate: late,
            late_by: Duration::from_secs(1),
            gateway_timeout_rate: gateway,
            ..Faults::none()
        }
    }

    #[test]
    fn latency_jitter_spreads_both_ways_within_its_bound_and_repeats_with_the_seed() {
        let jittery = Faults {
            seed: 3,
            latency: Duration::from_millis(30),
            latency_jitter: Duration::from_millis(20),
            ..Faults::none()
        };
        let waits: Vec<Duration> = (0..2_000).map(|n| jittery.latency_for(n)).collect();
        let (low, high) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        assert!(*low >= Duration::from_millis(10) && *low < Duration::from_millis(12));
        assert!(*high <= Duration::from_millis(50) && *high > Duration::from_millis(48));
        assert_eq!(waits[7], jittery.latency_for(7));
        let steady = Faults {
            latency: Duration::from_millis(30),
            ..Faults::none()
        };
        assert_eq!(steady.latency_for(5), Duration::from_millis(30));
        // Never below zero.
        let wide = Faults {
            latency_jitter: Duration::from_millis(20),
            ..Faults::none()
        };
        assert!((0..100).all(|n| wide.latency_for(n) <= Duration::from_millis(20)));
    }

    #[test]
    fn rates_are_honoured_over_many_rows() {
        let f = faults(0.1, 0.05, 0.2);
        let (mut fail, mut drop, mut garbage) = (0, 0, 0);
        for row in 0..20_000 {
            match f.decide(&format!("tic_{row}"), "Our apologies", 0) {
                Fault::Fail(status) => {
                    assert!(FAIL_STATUSES.contains(&status));
                    fail += 1
                }
                Fault::Drop => drop += 1,
                Fault::Garbage => garbage += 1,
                Fault::None => {}
                Fault::Late | Fault::GatewayTimeout => panic!("rate 0"),
            }
        }
        assert!((1_800..2_200).contains(&fail), "{fail}");
        assert!((850..1_150).contains(&drop), "{drop}");
        assert!((3_700..4_300).contains(&garbage), "{garbage}");
    }

    #[test]
    fn same_seed_same_decisions_other_seed_other_decisions() {
        let a = faults(0.5, 0.0, 0.0);
        let b = Faults {
            seed: 43,
            ..a.clone()
        };
        let decisions = |f: &Faults| -> Vec<Fault> {
            (0..200).map(|n| f.decide("tic_1", "hello", n)).collect()
        };
        assert_eq!(decisions(&a), decisions(&a.clone()));
        assert_ne!(decisions(&a), decisions(&b));
        // Retries are fresh draws: with p = 0.5, some attempts of one pair pass, some fail.
        assert!(decisions(&a).contains(&Fault::None));
        assert!(decisions(&a).iter().any(|d| matches!(d, Fault::Fail(_))));
    }

    #[test]
    fn rejects_rates_outside_zero_to_one_or_adding_up_past_one() {
        assert!(faults(1.5, 0.0, 0.0).validate().is_err());
        assert!(faults(-0.1, 0.0, 0.0).validate().is_err());
        assert!(faults(0.5, 0.4, 0.2).validate().is_err());
        assert!(faults(0.5, 0.3, 0.2).validate().is_ok());
        assert!(faults(f64::NAN, 0.0, 0.0).validate().is_err());
    }

    #[test]
    fn late_and_gateway_timeout_rates_are_honoured_beside_the_others() {
        let f = Faults {
            fail_rate: 0.1,
            ..late_and_gateway(0.15, 0.05)
        };
        let (mut fail, mut late, mut gateway) = (0, 0, 0);
        for row in 0..20_000 {
            match f.decide(&format!("tic_{row}"), "Our apologies", 0) {
                Fault::Fail(_) => fail += 1,
                Fault::Late => late += 1,
                Fault::GatewayTimeout => gateway += 1,
                Fault::None => {}
                other => panic!("rate 0: {other:?}"),
            }
        }
        assert!((1_800..2_200).contains(&fail), "{fail}");
        assert!((2_750..3_250).contains(&late), "{late}");
        assert!((850..1_150).contains(&gateway), "{gateway}");
    }

    #[test]
    fn late_and_gateway_decisions_are_reproducible_and_retries_redraw() {
        let a = late_and_gateway(0.3, 0.3);
        let b = Faults {
            seed: 43,
            ..a.clone()
        };
        let decisions = |f: &Faults| -> Vec<Fault> {
            (0..200).map(|n| f.decide("tic_1", "hello", n)).collect()
        };
        assert_eq!(decisions(&a), decisions(&a.clone()));
        assert_ne!(decisions(&a), decisions(&b));
        for fault in [Fault::None, Fault::Late, Fault::GatewayTimeout] {
            assert!(decisions(&a).contains(&fault), "{fault:?}");
        }
    }

    #[test]
    fn new_rates_at_zero_leave_every_old_decision_unchanged() {
        let old = faults(0.2, 0.2, 0.2);
        let with_new_zero = Faults {
            late_by: Duration::from_secs(5),
            ..old.clone()
        };
        for row in 0..1_000 {
            let ticket = format!("tic_{row}");
            assert_eq!(
                old.decide(&ticket, "x", 0),
                with_new_zero.decide(&ticket, "x", 0)
            );
        }
    }

    #[test]
    fn late_and_gateway_rates_join_the_sum_and_a_late_store_needs_a_delay() {
        assert!(late_and_gateway(0.5, 0.5).validate().is_ok());
        let error = late_and_gateway(0.6, 0.5)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("at most 1"), "{error}");
        let too_much = Faults {
            drop_rate: 0.5,
            ..late_and_gateway(0.3, 0.3)
        };
        assert!(too_much.validate().is_err());
        assert!(late_and_gateway(1.2, 0.0).validate().is_err());
        assert!(late_and_gateway(0.0, f64::NAN).validate().is_err());
        let no_delay = Faults {
            late_by: Duration::ZERO,
            ..late_and_gateway(0.1, 0.0)
        };
        let error = no_delay.validate().unwrap_err().to_string();
        assert!(error.contains("--late-by"), "{error}");
    }
}
