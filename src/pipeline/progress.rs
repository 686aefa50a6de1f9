//! What the run has done so far: counters every task updates, and the live bar that shows
//! them on a terminal. Kept apart from the engine, as oha keeps its monitor apart.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::rate::Rate;

/// Counters of the run. Outcomes count once they are durable in the journal.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Rows an earlier run already settled (delivered or skipped), not sent again.
    pub already_done: AtomicU64,
    /// Requests that will be tried again after a pause.
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl Tally {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn finished(&self) -> u64 {
        Self::get(&self.sent) + Self::get(&self.failed) + Self::get(&self.skipped)
    }
}

/// The live view: an animated bar on a terminal, nothing at all otherwise (so cron mail and
/// log files hold only the summary).
pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(tally: Arc<Tally>, to_send: u64, rate: Rate) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(to_send), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let view = bar.clone();
        let started = Instant::now();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let done = tally.finished();
                view.set_position(done);
                view.set_message(status_line(&tally, done, to_send, started.elapsed(), rate));
            }
        });
        Progress {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    pub fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn status_line(tally: &Tally, done: u64, to_send: u64, elapsed: Duration, rate: Rate) -> String {
    let per_second = done as f64 / elapsed.as_secs_f64().max(0.001);
    let left = to_send.saturating_sub(done);
    // The configured rate is what bounds a long run, so it gives the honest ETA; with no
    // limit, the observed pace is all there is.
    let eta = match rate.interval() {
        Some(interval) => interval.saturating_mul(left.min(u32::MAX as u64) as u32),
        None if per_second > 0.0 => Duration::from_secs_f64(left as f64 / per_second),
        None => Duration::ZERO,
    };
    format!(
        "sent {} · failed {} · {:.1}/s · ETA {}",
        Tally::get(&tally.sent),
        Tally::get(&tally.failed),
        per_second,
        format_duration(eta)
    )
}

/// `1h02m`, `3m05s`, `12s`: short enough for a status line and a summary.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{:.1}s", duration.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(format_duration(Duration::from_millis(12_300)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }
}
