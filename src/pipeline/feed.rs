//! The reader side of the pipeline: walks the (already validated) input on its own thread,
//! drops rows an earlier run settled, marks rows left in doubt, and hands the rest to the
//! workers through a bounded channel — so memory stays flat whatever the file size.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::progress::Tally;
use super::stop::{StopLevel, StopSignal};
use crate::delivery::Job;
use crate::journal::{ResumeState, RowState};

/// The rows of the input, in order, as jobs. An `Err` is a row that can no longer be read
/// (the file changed since it was validated); it stops the run.
pub type Jobs = Box<dyn Iterator<Item = Result<Job, String>>>;

/// Opens the input on the feeder's own thread (readers need not be `Send`).
pub type JobSource = Box<dyn FnOnce() -> Jobs + Send>;

/// How far the reader got.
#[derive(Debug, Default)]
pub struct FeedReport {
    /// Every row of the input was looked at.
    pub read_all: bool,
}

pub fn spawn_feeder(
    jobs: JobSource,
    resume: ResumeState,
    workers: mpsc::Sender<Job>,
    stop: StopSignal,
    tally: Arc<Tally>,
) -> JoinHandle<FeedReport> {
    std::thread::spawn(move || {
        for item in jobs() {
            if stop.is_stopping() {
                return FeedReport::default();
            }
            let mut job = match item {
                Ok(job) => job,
                Err(message) => {
                    stop.request(StopLevel::Graceful, message);
                    return FeedReport::default();
                }
            };
            match resume.get(&job.key) {
                Some(RowState::Delivered | RowState::Skipped) => {
                    Tally::bump(&tally.already_done);
                    continue;
                }
                Some(RowState::InDoubt { since_ms }) => {
                    job.in_doubt_since = Some(UNIX_EPOCH + Duration::from_millis(since_ms));
                }
                Some(RowState::Failed) | None => {}
            }
            if workers.blocking_send(job).is_err() {
                return FeedReport::default();
            }
        }
        FeedReport { read_all: true }
    })
}
