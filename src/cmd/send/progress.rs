//! The live view of a send run: a bar on a terminal, or a line every so often in a log.
//! It only reads the engine's counters ([`Tally`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::duration::{NEVER, for_people, later};
use crate::fields;
use crate::output::{self, Level};
use crate::pipeline::Tally;
use crate::rate::Rate;

/// What the view measures against: every row of the input, and how many of them this run
/// may send (`--max-rows`), so that the ETA is this run's.
#[derive(Debug, Clone, Copy)]
pub struct Goal {
    pub total_rows: u64,
    pub max_rows: Option<u64>,
}

impl Goal {
    /// Where this run will stop, counted like [`Tally::done`]. Rows an earlier run delivered
    /// are discovered while reading, so the target moves with them.
    fn target(&self, tally: &Tally) -> u64 {
        match self.max_rows {
            Some(max) => self
                .total_rows
                .min(Tally::get(&tally.already_done).saturating_add(max)),
            None => self.total_rows,
        }
    }
}

/// How the run shows its progress; `send` picks one from the terminal, `-q` and
/// `--progress-interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressView {
    /// An animated bar, for a person watching a terminal.
    Bar,
    /// A line (through [`crate::output`], so JSON in json mode) every so often: cron mail and
    /// journald get a heartbeat without a bar's control characters.
    Lines(Duration),
    Off,
}

/// The live view while the run goes on.
pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(tally: Arc<Tally>, goal: Goal, rate: Rate, view: ProgressView) -> Progress {
        let started = Instant::now();
        match view {
            ProgressView::Bar => Self::bar(tally, goal, rate, started),
            ProgressView::Lines(every) => {
                let ticker = tokio::spawn(async move {
                    let mut tick = tokio::time::interval_at(
                        later(tokio::time::Instant::now(), every),
                        every.min(NEVER),
                    );
                    loop {
                        tick.tick().await;
                        progress_line(&tally, goal, started.elapsed(), rate);
                    }
                });
                Progress {
                    bar: None,
                    ticker: Some(ticker),
                }
            }
            ProgressView::Off => Progress {
                bar: None,
                ticker: None,
            },
        }
    }

    fn bar(tally: Arc<Tally>, goal: Goal, rate: Rate, started: Instant) -> Progress {
        let bar =
            ProgressBar::with_draw_target(Some(goal.total_rows), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let view = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                view.set_length(goal.target(&tally));
                view.set_position(tally.done());
                let pace = Pace::of(&tally, goal, started.elapsed(), rate);
                view.set_message(format!(
                    "sent {} · failed {} · {:.1}/s · ETA {}",
                    Tally::get(&tally.sent),
                    Tally::get(&tally.failed),
                    pace.per_second,
                    for_people(pace.eta)
                ));
            }
        });
        Progress {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    /// Ends the view, waiting for its ticker to be gone.
    pub async fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
            let _ = ticker.await;
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// How fast the run goes and when it will be done.
struct Pace {
    per_second: f64,
    eta: Duration,
}

impl Pace {
    fn of(tally: &Tally, goal: Goal, elapsed: Duration, rate: Rate) -> Pace {
        let per_second = tally.finished() as f64 / elapsed.as_secs_f64().max(0.001);
        let left = goal.target(tally).saturating_sub(tally.done());
        // The configured rate is what bounds a long run, so it gives the honest ETA; with no
        // limit, the observed pace is all there is.
        let eta = match rate.interval() {
            Some(interval) => interval.saturating_mul(left.min(u32::MAX as u64) as u32),
            None if per_second > 0.0 => Duration::from_secs_f64(left as f64 / per_second),
            None => Duration::ZERO,
        };
        Pace { per_second, eta }
    }
}

/// `progress: 120/1000 rows (12%), 1.00 rows/s, ETA 14 min 40 s`. `done` counts rows an earlier
/// run delivered too, out of every row of the input; the ETA is to this run's end.
fn progress_line(tally: &Tally, goal: Goal, elapsed: Duration, rate: Rate) {
    let done = tally.done();
    let to_send = goal.total_rows;
    let pace = Pace::of(tally, goal, elapsed, rate);
    let percent = if to_send == 0 {
        100.0
    } else {
        done as f64 * 100.0 / to_send as f64
    };
    // Only called when lines were chosen: under -q that means they were asked for.
    output::emit_requested(
        Level::Info,
        &format!(
            "progress: {done}/{to_send} rows ({percent:.0}%), {:.2} rows/s, ETA {}",
            pace.per_second,
            for_people(pace.eta)
        ),
        fields! {
            "done" => done,
            "total" => to_send,
            "sent" => Tally::get(&tally.sent),
            "failed" => Tally::get(&tally.failed),
            "skipped" => Tally::get(&tally.skipped),
            "retries" => Tally::get(&tally.retries),
            "rowsPerSecond" => (pace.per_second * 100.0).round() / 100.0,
            "etaSeconds" => (pace.eta.as_secs_f64() * 10.0).round() / 10.0,
            "elapsedSeconds" => (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        },
    );
}
