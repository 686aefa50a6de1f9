//! The one thread that writes the job's files, with group commit.
//!
//! Workers send it intents ("about to post row K") and outcomes. It drains whatever has
//! queued up, appends results records and journal lines, and makes them durable with one
//! fsync per file for the whole group before acknowledging any intent or counting any
//! outcome. At 32 requests in flight a group holds many entries, so durability costs one
//! fsync per group rather than one per row.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::failed::FailedRows;
use super::ledger::LedgerWriter;
use super::record::Record;
use super::{JobLock, JournalError, OpenJob, results};
use crate::delivery::RowKey;
use crate::delivery::{Outcome, OutcomeResult};
use crate::files::{Durability, unix_ms};

/// The most entries one group holds; bounds the memory of a commit.
const MAX_GROUP: usize = 1024;

enum Entry {
    Intents {
        keys: Vec<RowKey>,
        at: SystemTime,
        ack: oneshot::Sender<()>,
    },
    Release {
        key: RowKey,
        intent_at: SystemTime,
    },
    Outcome(Box<Outcome>),
}

/// The writer stopped (it failed to write, or the run is over); its error tells why.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the journal writer has stopped")]
pub struct WriterGone;

/// What workers hold to talk to the writer.
#[derive(Clone)]
pub struct JournalHandle {
    tx: mpsc::Sender<Entry>,
}

impl JournalHandle {
    /// Queues intents for these rows: they may be sent once the returned [`PendingIntents`]
    /// resolves, that is once the intents are durable. Queuing the next batch before this one
    /// is durable keeps the disk busy and the requests flowing.
    pub async fn intents(&self, keys: Vec<RowKey>) -> Result<PendingIntents, WriterGone> {
        let at = SystemTime::now();
        let (ack, acked) = oneshot::channel();
        self.tx
            .send(Entry::Intents { keys, at, ack })
            .await
            .map_err(|_| WriterGone)?;
        Ok(PendingIntents { at, acked })
    }

    /// Withdraws an intent whose row never had a request leave (the run is stopping), so
    /// the next run sends it without first reading its ticket.
    pub async fn release(&self, key: RowKey, intent_at: SystemTime) -> Result<(), WriterGone> {
        self.tx
            .send(Entry::Release { key, intent_at })
            .await
            .map_err(|_| WriterGone)
    }

    /// Hands over a row's outcome. It counts once the writer has made it durable.
    pub async fn record(&self, outcome: Outcome) -> Result<(), WriterGone> {
        self.tx
            .send(Entry::Outcome(Box::new(outcome)))
            .await
            .map_err(|_| WriterGone)
    }
}

/// Intents on their way to disk.
pub struct PendingIntents {
    at: SystemTime,
    acked: oneshot::Receiver<()>,
}

impl PendingIntents {
    /// Resolves once the intents are durable, with the moment they record.
    pub async fn durable(self) -> Result<SystemTime, WriterGone> {
        self.acked.await.map_err(|_| WriterGone)?;
        Ok(self.at)
    }
}

/// What the writer leaves behind once it is done: where the failed rows went, for the
/// end-of-run summary.
#[derive(Debug)]
pub struct Written {
    pub failed_rows_file: Option<PathBuf>,
}

/// Starts the writer thread. `on_durable` is called for each outcome once it is on disk:
/// that is the moment a row counts as delivered (or failed).
pub fn spawn_writer(
    job: OpenJob,
    ledger: Option<LedgerWriter>,
    durability: Durability,
    on_durable: impl FnMut(&Outcome) + Send + 'static,
) -> (JournalHandle, JoinHandle<Result<Written, JournalError>>) {
    let (tx, rx) = mpsc::channel::<Entry>(MAX_GROUP);
    let thread = std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || {
            write_until_closed(GroupWriter::new(job, ledger, durability), rx, on_durable)
        })
        .expect("spawning a thread only fails when the OS is out of resources");
    (JournalHandle { tx }, thread)
}

/// How long outcomes may wait for their fsync when no intent forces one sooner. Nobody
/// waits on an outcome (it is only counted once durable), so letting them ride along with
/// the next intents' fsync halves the fsyncs of a fast run. A crash in this window loses
/// nothing: those rows are in doubt and the next run settles them by reading the ticket.
const OUTCOME_LINGER: Duration = Duration::from_millis(20);

fn write_until_closed(
    mut files: GroupWriter,
    mut rx: mpsc::Receiver<Entry>,
    mut on_durable: impl FnMut(&Outcome),
) -> Result<Written, JournalError> {
    // The receiving side is async; a one-thread runtime gives this thread a receive with a
    // time limit.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|source| JournalError::Io {
            path: files.journal_path.clone(),
            source,
        })?;
    let mut group = Vec::with_capacity(64);
    // Outcomes written but not yet durable, and since when.
    let mut unsynced: Vec<Box<Outcome>> = Vec::new();
    let mut unsynced_since: Option<Instant> = None;
    loop {
        let first = match unsynced_since {
            None => runtime.block_on(rx.recv()),
            Some(since) => {
                let linger = OUTCOME_LINGER.saturating_sub(since.elapsed());
                match runtime.block_on(async { tokio::time::timeout(linger, rx.recv()).await }) {
                    Ok(entry) => entry,
                    Err(_) => {
                        files.sync()?;
                        unsynced.drain(..).for_each(|o| on_durable(&o));
                        unsynced_since = None;
                        continue;
                    }
                }
            }
        };
        let Some(first) = first else { break };
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(entry) => group.push(entry),
                Err(_) => break,
            }
        }
        files.write(&group)?;
        let has_intents = group.iter().any(|e| matches!(e, Entry::Intents { .. }));
        let mut acks = Vec::new();
        for entry in group.drain(..) {
            match entry {
                Entry::Intents { ack, .. } => acks.push(ack),
                Entry::Release { .. } => {}
                Entry::Outcome(outcome) => unsynced.push(outcome),
            }
        }
        let lingered_enough =
            unsynced_since.get_or_insert_with(Instant::now).elapsed() >= OUTCOME_LINGER;
        if has_intents || lingered_enough || unsynced.len() >= MAX_GROUP {
            files.sync()?;
            for ack in acks {
                let _ = ack.send(());
            }
            unsynced.drain(..).for_each(|o| on_durable(&o));
            unsynced_since = None;
        }
    }
    files.sync()?;
    unsynced.drain(..).for_each(|o| on_durable(&o));
    files.finish()
}

struct GroupWriter {
    journal: File,
    journal_path: PathBuf,
    results: File,
    results_path: PathBuf,
    results_len: u64,
    failed: FailedRows,
    /// Where deliveries are recorded for every job on the same portal.
    ledger: Option<LedgerWriter>,
    durability: Durability,
    /// Journal lines waiting for the results they vouch for to be durable.
    journal_buf: Vec<u8>,
    results_buf: Vec<u8>,
    results_dirty: bool,
    _lock: JobLock,
}

impl GroupWriter {
    fn new(job: OpenJob, ledger: Option<LedgerWriter>, durability: Durability) -> Self {
        GroupWriter {
            journal: job.journal,
            journal_path: job.journal_path,
            results: job.results,
            results_path: job.results_path,
            results_len: job.results_len,
            failed: FailedRows::new(&job.failed_path, job.input_columns),
            ledger,
            durability,
            journal_buf: Vec::new(),
            results_buf: Vec::new(),
            results_dirty: false,
            _lock: job.lock,
        }
    }

    /// Writes a group's results records at once and queues its journal lines; nothing is
    /// durable until [`GroupWriter::sync`].
    fn write(&mut self, group: &[Entry]) -> Result<(), JournalError> {
        self.results_buf.clear();
        for entry in group {
            match entry {
                Entry::Intents { keys, at, .. } => {
                    let at_ms = unix_ms(*at);
                    for key in keys {
                        Record::Intent { key: *key, at_ms }.encode(&mut self.journal_buf);
                    }
                }
                Entry::Release { key, intent_at } => {
                    let intent_ms = unix_ms(*intent_at);
                    Record::Released {
                        key: *key,
                        intent_ms,
                    }
                    .encode(&mut self.journal_buf);
                }
                Entry::Outcome(outcome) => {
                    results::encode(outcome, &mut self.results_buf);
                    let results_end = self.results_len + self.results_buf.len() as u64;
                    outcome_record(outcome, results_end).encode(&mut self.journal_buf);
                    if let (Some(ledger), Some(key), OutcomeResult::Sent { message_id, .. }) = (
                        self.ledger.as_mut(),
                        outcome.delivery.delivery_key,
                        &outcome.result,
                    ) {
                        ledger.add(key, SystemTime::now(), message_id);
                    }
                    self.failed.add(outcome);
                }
            }
        }
        if !self.results_buf.is_empty() {
            self.results
                .write_all(&self.results_buf)
                .map_err(io(&self.results_path))?;
            self.results_len += self.results_buf.len() as u64;
            self.results_dirty = true;
        }
        Ok(())
    }

    /// Makes everything written so far durable: results first, then the journal lines that
    /// vouch for them, so the journal never points past durable results.
    fn sync(&mut self) -> Result<(), JournalError> {
        if self.results_dirty && self.durability == Durability::Fsync {
            self.results.sync_data().map_err(io(&self.results_path))?;
        }
        self.results_dirty = false;
        // The ledger before the journal: a crash between the two leaves a row the ledger
        // knows and the journal has in doubt, which the next run settles by reading the
        // ticket; the other order could let another job send it again.
        if let Some(ledger) = self.ledger.as_mut() {
            // A ledger that can no longer be written stops the run like the journal would.
            ledger.commit(self.durability).map_err(io(ledger.path()))?;
        }
        if !self.journal_buf.is_empty() {
            self.journal
                .write_all(&self.journal_buf)
                .map_err(io(&self.journal_path))?;
            self.journal_buf.clear();
            if self.durability == Durability::Fsync {
                self.journal.sync_data().map_err(io(&self.journal_path))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Written, JournalError> {
        self.sync()?;
        self.failed.write().map_err(io(self.failed.path()))?;
        self.results.sync_all().map_err(io(&self.results_path))?;
        self.journal.sync_all().map_err(io(&self.journal_path))?;
        let failed_rows_file = self
            .failed
            .has_rows()
            .then(|| self.failed.path().to_path_buf());
        Ok(Written { failed_rows_file })
    }
}

fn outcome_record(outcome: &Outcome, results_end: u64) -> Record {
    let key = outcome.delivery.key;
    let at_ms = unix_ms(SystemTime::now());
    match &outcome.result {
        OutcomeResult::Sent { message_id, .. } | OutcomeResult::Recounted { message_id, .. } => {
            // Ids never contain spaces; anything odd is replaced so the line stays parseable.
            let message_id = match message_id.as_str() {
                "" => "-".to_string(),
                id => id.replace(|c: char| c.is_whitespace(), "_"),
            };
            Record::Sent {
                key,
                at_ms,
                results_end,
                message_id,
            }
        }
        OutcomeResult::Failed {
            error,
            in_doubt_since,
        } => Record::Failed {
            key,
            at_ms,
            results_end,
            kind: error.kind.as_str().to_string(),
            doubt_since_ms: in_doubt_since.map(unix_ms),
        },
        OutcomeResult::Skipped { .. } => Record::Skipped {
            key,
            at_ms,
            results_end,
        },
        // Still in doubt for the journal: later runs read the ticket again.
        // Not settled: the next run asks the ledger (or the ticket) again, so that
        // `--resend` can still send it.
        OutcomeResult::AlreadyDelivered { .. } => Record::Failed {
            key,
            at_ms,
            results_end,
            kind: ALREADY_DELIVERED_KIND.to_string(),
            doubt_since_ms: None,
        },
        OutcomeResult::Held { since, .. } => Record::Failed {
            key,
            at_ms,
            results_end,
            kind: HELD_KIND.to_string(),
            doubt_since_ms: Some(unix_ms(*since)),
        },
    }
}

/// The journal's kind for a row held in doubt, as its results record's status says.
const HELD_KIND: &str = "in_doubt";

/// The journal's kind for a row whose message had already reached the ticket.
const ALREADY_DELIVERED_KIND: &str = "already_delivered";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}
