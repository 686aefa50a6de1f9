//! The delivery ledger: every message delivered to a portal, by any job, so that a customer
//! gets a message once however many files it was in — a failed-rows file sent and then the
//! original again, a new selection overlapping the old one, a symlink.
//!
//! One file per portal (base URL), in the user's state directory or a directory given with
//! `--ledger` (a team's shared volume). Appended, never rewritten:
//!
//! ```text
//! bulk-reply ledger 1
//! portal <base URL>
//! D <key> <unix-ms> <message-id> <job>     delivered
//! ```
//!
//! `key` is the 128-bit hash of the ticket and the message *as a reader sees it*
//! ([`normalise`]): a spacing edit is the same message, a real edit is another one. `job`
//! (the rest of the line) is the input the message was sent from.
//!
//! Several runs may use one ledger at once. Each append is one write of whole lines under
//! an exclusive OS lock on the file; a reader only ever takes lines that end in `\n`, and
//! looks at what others appended since it last looked (the tail) before each decision.
//! A crash can tear only the last line; the next append, under the lock, cuts it off.
//!
//! Sized for millions of deliveries: the ledger is read once at the start into a sorted
//! list of 16-byte keys with the offset of their line (24 bytes each); the date and the job
//! of a match are read from the file when it is found.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::api::normalise;
use crate::delivery::RowKey;
use crate::files::{Access, Durability, open_private, unix_ms};

const HEADER: &str = "bulk-reply ledger";
const PORTAL_PREFIX: &str = "portal ";
const VERSION: u32 = 1;

/// The environment variable that names the ledger directory, like `--ledger`.
pub const LEDGER_ENV: &str = "BULK_REPLY_LEDGER";

#[derive(Debug, thiserror::Error)]
pub(crate) enum LedgerError {
    #[error(
        "no directory for the delivery ledger: neither XDG_STATE_HOME nor HOME is set. Pass --ledger DIR (or set {LEDGER_ENV})"
    )]
    NoStateDir,
    #[error("{} is not a bulk-reply delivery ledger; refusing to touch it. Pass another --ledger directory, or move that file away", .path.display())]
    NotOurs { path: PathBuf },
    #[error("{} was written by an incompatible version of bulk-reply (format {found}, this build reads {VERSION}); use that version, or move the ledger away (messages it records would be sent again)", .path.display())]
    Incompatible { path: PathBuf, found: String },
    #[error("{} is damaged at line {line}; refusing to guess what was delivered. Repair or move it away only if you accept that messages it records may be sent again", .path.display())]
    Damaged { path: PathBuf, line: u64 },
    #[error("{} is the ledger of {recorded}, not of {portal}; refusing to mix the deliveries of two portals. Move it away or pass another --ledger directory", .path.display())]
    OtherPortal {
        path: PathBuf,
        recorded: String,
        portal: String,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The identity of a delivery: the ticket and the text its reader sees.
pub(crate) fn delivery_key(ticket_id: &str, message: &str) -> RowKey {
    RowKey::of(ticket_id, &normalise(message))
}

/// Where the ledger of `portal` lives: in `dir` (`--ledger`, `BULK_REPLY_LEDGER`) if given,
/// else in `$XDG_STATE_HOME/bulk-reply/`, else in `~/.local/state/bulk-reply/`.
pub(crate) fn ledger_path(dir: Option<&Path>, portal: &str) -> Result<PathBuf, LedgerError> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => state_dir().ok_or(LedgerError::NoStateDir)?,
    };
    Ok(dir.join(format!("{}.ledger", file_name_of(portal))))
}

fn state_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    match non_empty("XDG_STATE_HOME") {
        Some(state) => Some(PathBuf::from(state).join("bulk-reply")),
        None => non_empty("HOME").map(|home| PathBuf::from(home).join(".local/state/bulk-reply")),
    }
}

/// A portal's base URL as a file name a person recognises: `api.example.nl_v1` for
/// `https://api.example.nl/v1`; plain http keeps its scheme, so it never shares a ledger
/// with https.
fn file_name_of(portal: &str) -> String {
    let portal = portal.trim_end_matches('/');
    let (prefix, rest) = match portal.split_once("://") {
        Some(("https", rest)) => ("", rest),
        Some((scheme, rest)) => (scheme, rest),
        None => ("", portal),
    };
    let safe: String = rest
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                true => c,
                false => '_',
            },
        )
        .collect();
    match prefix {
        "" => safe,
        scheme => format!("{scheme}_{safe}"),
    }
}

/// An earlier delivery of the same message to the same ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PriorDelivery {
    pub at_ms: u64,
    pub message_id: String,
    pub job: String,
}

impl PriorDelivery {
    /// The reason a skipped row's results record gives.
    pub(crate) fn reason(&self) -> String {
        format!(
            "already delivered on {} by {} (message {}); --resend sends it anyway",
            format_date(self.at_ms),
            self.job,
            self.message_id
        )
    }
}

/// A moment as people read it in a reason: `2026-12-02 03:50 UTC`.
pub(crate) fn format_date(at_ms: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp((at_ms / 1000) as i64)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .unwrap_or_else(|| format!("{at_ms} ms after 1970"))
}

/// One indexed delivery: its key and where its line starts. Two `u64` halves rather than a
/// `u128` keep it at 24 bytes (a `u128` is 16-aligned and would pad it to 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Indexed {
    key_high: u64,
    key_low: u64,
    offset: u64,
}

fn halves(key: &RowKey) -> (u64, u64) {
    ((key.0 >> 64) as u64, key.0 as u64)
}

/// The deliveries a run checks rows against, kept up to date with what other runs append.
pub(crate) struct LedgerIndex {
    path: PathBuf,
    file: File,
    /// Sorted once everything up to `indexed_to` was read.
    entries: Vec<Indexed>,
    /// Entries appended (by anyone) since the start, in file order; searched linearly
    /// only after a miss in `entries`, and folded into it when it grows large.
    tail: Vec<Indexed>,
    /// Bytes of the file read so far (always the end of a complete line).
    indexed_to: u64,
    lines: u64,
    /// This run's job, as its lines name it: its own deliveries are its journal's business
    /// (a crash between the ledger's fsync and the journal's leaves the row in doubt there,
    /// settled by reading the ticket), never a reason to skip.
    job: String,
}

/// Fold the tail into the sorted list beyond this many entries: a linear search of a few
/// thousand keys costs less than a sort of a million.
const TAIL_LIMIT: usize = 4096;

impl LedgerIndex {
    /// The earlier delivery of this key by another job, if there is one. Reads what was
    /// appended since the last look first, so a delivery made a moment ago by another run
    /// on the same ledger counts.
    pub(crate) fn find(&mut self, key: &RowKey) -> Result<Option<PriorDelivery>, LedgerError> {
        self.catch_up()?;
        let wanted = halves(key);
        let of_key = |e: &&Indexed| (e.key_high, e.key_low) == wanted;
        let start = self
            .entries
            .partition_point(|e| (e.key_high, e.key_low) < wanted);
        let candidates: Vec<u64> = self.entries[start..]
            .iter()
            .take_while(of_key)
            .chain(self.tail.iter().filter(of_key))
            .map(|e| e.offset)
            .collect();
        for offset in candidates {
            let delivery = self.read_delivery(offset)?;
            if delivery.job != self.job {
                return Ok(Some(delivery));
            }
        }
        Ok(None)
    }

    /// Indexes complete lines appended since the last look.
    fn catch_up(&mut self) -> Result<(), LedgerError> {
        let len = self.file.metadata().map_err(self.io())?.len();
        if len <= self.indexed_to {
            return Ok(());
        }
        let mut reader = BufReader::new(&self.file);
        reader
            .seek(SeekFrom::Start(self.indexed_to))
            .map_err(self.io())?;
        let mut line = Vec::new();
        let mut offset = self.indexed_to;
        let mut lines = self.lines;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(self.io())?;
            if read == 0 || line.last() != Some(&b'\n') {
                // Being written by another run (under its lock), or torn: not yet a delivery.
                break;
            }
            lines += 1;
            let entry = parse_delivery(&line, offset).ok_or_else(|| LedgerError::Damaged {
                path: self.path.clone(),
                line: lines,
            })?;
            self.tail.push(entry);
            offset += read as u64;
        }
        self.lines = lines;
        self.indexed_to = offset;
        if self.tail.len() > TAIL_LIMIT {
            self.fold_tail();
        }
        Ok(())
    }

    /// Moves the tail into the sorted list (without a copy when the list is empty, as at
    /// the start: a million entries are not held twice).
    fn fold_tail(&mut self) {
        if self.entries.is_empty() {
            std::mem::swap(&mut self.entries, &mut self.tail);
        } else {
            self.entries.append(&mut self.tail);
        }
        self.entries.sort_unstable();
    }

    fn read_delivery(&self, offset: u64) -> Result<PriorDelivery, LedgerError> {
        let mut line = Vec::new();
        let mut chunk = [0u8; 512];
        let mut at = offset;
        // A line was complete when indexed; read until its newline.
        loop {
            let read = self.file.read_at(&mut chunk, at).map_err(self.io())?;
            if read == 0 {
                break;
            }
            match chunk[..read].iter().position(|b| *b == b'\n') {
                Some(end) => {
                    line.extend_from_slice(&chunk[..end]);
                    break;
                }
                None => line.extend_from_slice(&chunk[..read]),
            }
            at += read as u64;
        }
        let damaged = || LedgerError::Damaged {
            path: self.path.clone(),
            line: 0,
        };
        let text = std::str::from_utf8(&line).map_err(|_| damaged())?;
        let mut fields = text.splitn(5, ' ');
        let (_, _, at_ms, message_id, job) = (
            fields.next(),
            fields.next(),
            fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(damaged)?,
            fields.next().ok_or_else(damaged)?,
            fields.next().ok_or_else(damaged)?,
        );
        Ok(PriorDelivery {
            at_ms,
            message_id: message_id.to_string(),
            job: job.to_string(),
        })
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
        |source| LedgerError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// `D <key> <unix-ms> <message-id> <job>\n` → its index entry; `None` if it is not one.
fn parse_delivery(line: &[u8], offset: u64) -> Option<Indexed> {
    let line = line.strip_suffix(b"\n")?;
    let rest = line.strip_prefix(b"D ")?;
    let (hex, rest) = rest.split_at_checked(32)?;
    let key = RowKey::parse(std::str::from_utf8(hex).ok()?)?;
    let mut fields = rest.strip_prefix(b" ")?.splitn(3, |b| *b == b' ');
    let at_ms = fields.next()?;
    if at_ms.is_empty() || !at_ms.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let message_id = fields.next()?;
    let job = fields.next()?;
    if message_id.is_empty() || job.is_empty() {
        return None;
    }
    let (key_high, key_low) = halves(&key);
    Some(Indexed {
        key_high,
        key_low,
        offset,
    })
}

/// Appends this run's deliveries; owned by the journal's writer thread, which makes them
/// durable with the journal lines of the same group.
pub struct LedgerWriter {
    path: PathBuf,
    file: File,
    job: String,
    pending: Vec<u8>,
}

impl LedgerWriter {
    /// Queues a delivery; durable once [`LedgerWriter::commit`] returns.
    pub(crate) fn add(&mut self, key: RowKey, at: SystemTime, message_id: &str) {
        let at_ms = unix_ms(at);
        // Ids never contain spaces; an unrecognised message has none.
        let message_id = match message_id {
            "" => "-".to_string(),
            id => id.replace(|c: char| c.is_whitespace(), "_"),
        };
        let _ = writeln!(self.pending, "D {key} {at_ms} {message_id} {}", self.job);
    }

    /// Appends what was queued, under the ledger's lock, and makes it durable.
    pub(crate) fn commit(&mut self, durability: Durability) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.lock()?;
        let written = cut_torn_tail(&self.file)
            .and_then(|()| self.file.write_all(&self.pending))
            .and_then(|()| match durability {
                Durability::Fsync => self.file.sync_data(),
                Durability::Unsafe => Ok(()),
            });
        let unlocked = self.file.unlock();
        written.and(unlocked)?;
        self.pending.clear();
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A last line without its newline was torn by a run that crashed mid-append (appends are
/// made under the lock, so no live run is writing it): cut it off, so the next line starts
/// on a line of its own. That delivery's journal still has the row in doubt; its next run
/// settles it by reading the ticket.
fn cut_torn_tail(file: &File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut start = len.saturating_sub(4096);
    let mut end = len;
    let mut buf = vec![0u8; 4096];
    loop {
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(newline) = chunk.iter().rposition(|b| *b == b'\n') {
            return file.set_len(start + newline as u64 + 1);
        }
        if start == 0 {
            return file.set_len(0);
        }
        end = start;
        start = start.saturating_sub(4096);
    }
}

/// A portal's ledger opened for a run: what it knows, and where this run's deliveries go.
pub(crate) struct Ledger {
    pub index: LedgerIndex,
    pub writer: LedgerWriter,
}

impl Ledger {
    /// Opens (creating it, and its directory, if needed) the ledger at `path` for `portal`;
    /// `job` names the input this run sends, as later skips will quote it.
    pub(crate) fn open(path: &Path, portal: &str, job: &str) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|source| LedgerError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let file = open_private(path, Access::Append).map_err(io)?;
        // The header is written under the lock, so two first runs cannot both write one.
        file.lock().map_err(io)?;
        let started = start_if_empty(&file, portal);
        let unlocked = file.unlock();
        started.and(unlocked).map_err(io)?;

        let mut index = LedgerIndex {
            path: path.to_path_buf(),
            file: file.try_clone().map_err(io)?,
            entries: Vec::new(),
            tail: Vec::new(),
            indexed_to: 0,
            lines: 0,
            job: job_field(job),
        };
        let recorded = read_header(&mut index)?;
        if recorded != portal.trim_end_matches('/') {
            return Err(LedgerError::OtherPortal {
                path: path.to_path_buf(),
                recorded,
                portal: portal.to_string(),
            });
        }
        index.catch_up()?;
        index.fold_tail();
        index.entries.shrink_to_fit();
        Ok(Ledger {
            index,
            writer: LedgerWriter {
                path: path.to_path_buf(),
                file,
                job: job_field(job),
                pending: Vec::new(),
            },
        })
    }
}

/// The job as its lines name it: the rest of the line, so a newline in a path is replaced.
fn job_field(job: &str) -> String {
    job.replace(['\n', '\r'], "?")
}

/// Writes the header of a new ledger (the caller holds the lock); cuts a header torn by a
/// crash.
fn start_if_empty(mut file: &File, portal: &str) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    let mut start = vec![0u8; len.min(4096) as usize];
    file.read_exact_at(&mut start, 0)?;
    // Empty, or only a header torn by a crash: (re)write it. Anything else is read and
    // judged by `read_header`.
    let newlines = start.iter().filter(|b| **b == b'\n').count();
    let torn_header = newlines < 2
        && HEADER
            .as_bytes()
            .starts_with(&start[..start.len().min(HEADER.len())]);
    if len > 0 && !torn_header {
        return Ok(());
    }
    file.set_len(0)?;
    let portal = portal.trim_end_matches('/');
    file.write_all(format!("{HEADER} {VERSION}\n{PORTAL_PREFIX}{portal}\n").as_bytes())?;
    file.sync_all()
}

/// Checks the two header lines and returns the portal they name; leaves the index after them.
fn read_header(index: &mut LedgerIndex) -> Result<String, LedgerError> {
    let mut reader = BufReader::new(&index.file);
    reader.seek(SeekFrom::Start(0)).map_err(index.io())?;
    let not_ours = || LedgerError::NotOurs {
        path: index.path.clone(),
    };
    let mut first = String::new();
    let mut second = String::new();
    let read_line = |reader: &mut BufReader<&File>, into: &mut String| match reader.read_line(into)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::InvalidData => Err(not_ours()),
        Err(source) => Err(LedgerError::Io {
            path: index.path.clone(),
            source,
        }),
    };
    read_line(&mut reader, &mut first)?;
    let version = first
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix(HEADER))
        .and_then(|l| l.strip_prefix(' '))
        .ok_or_else(not_ours)?;
    if version.parse::<u32>().ok() != Some(VERSION) {
        return Err(LedgerError::Incompatible {
            path: index.path.clone(),
            found: version.to_string(),
        });
    }
    read_line(&mut reader, &mut second)?;
    let portal = second
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix(PORTAL_PREFIX))
        .ok_or(LedgerError::Damaged {
            path: index.path.clone(),
            line: 2,
        })?;
    index.indexed_to = (first.len() + second.len()) as u64;
    index.lines = 2;
    Ok(portal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTAL: &str = "https://api.example.nl/v1";

    fn delivered(ledger: &mut Ledger, ticket: &str, message: &str, id: &str) {
        ledger
            .writer
            .add(delivery_key(ticket, message), SystemTime::now(), id);
        ledger.writer.commit(Durability::Fsync).unwrap();
    }

    #[test]
    fn a_delivery_by_one_run_is_found_by_another_on_the_same_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = ledger_path(Some(dir.path()), PORTAL).unwrap();
        assert_eq!(path, dir.path().join("api.example.nl_v1.ledger"));
        let mut first = Ledger::open(&path, PORTAL, "notices.csv").unwrap();
        let mut second = Ledger::open(&path, PORTAL, "open.csv").unwrap();
        let key = delivery_key("tic_1", "<p>Hello  world</p>");
        assert_eq!(second.index.find(&key).unwrap(), None);

        delivered(&mut first, "tic_1", "<p>Hello  world</p>", "tim_1");
        // Appended after the second run opened: it reads the tail before deciding.
        let prior = second
            .index
            .find(&delivery_key("tic_1", "Hello world"))
            .unwrap()
            .expect("a spacing edit is the same message");
        assert_eq!(prior.job, "notices.csv");
        assert_eq!(prior.message_id, "tim_1");
        assert!(prior.reason().contains("by notices.csv (message tim_1)"));
        assert_eq!(
            second
                .index
                .find(&delivery_key("tic_1", "Hello there"))
                .unwrap(),
            None,
            "a real edit is another message"
        );
        assert_eq!(
            second
                .index
                .find(&delivery_key("tic_2", "Hello world"))
                .unwrap(),
            None
        );

        // Reopened: found in the sorted list.
        let mut third = Ledger::open(&path, PORTAL, "x.csv").unwrap();
        assert!(third.index.find(&key).unwrap().is_some());
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.ledger");
        let mut ledger = Ledger::open(&path, PORTAL, "a.csv").unwrap();
        delivered(&mut ledger, "tic_1", "m", "tim_1");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"D 0123").unwrap();
        let mut reopened = Ledger::open(&path, PORTAL, "b.csv").unwrap();
        let mut same_job = Ledger::open(&path, PORTAL, "a.csv").unwrap();
        assert_eq!(
            same_job.index.find(&delivery_key("tic_1", "m")).unwrap(),
            None,
            "a job's own deliveries are its journal's business"
        );
        assert!(
            reopened
                .index
                .find(&delivery_key("tic_1", "m"))
                .unwrap()
                .is_some()
        );
        delivered(&mut reopened, "tic_2", "m", "tim_2");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("D 0123"), "{text}");
        let mut again = Ledger::open(&path, PORTAL, "c.csv").unwrap();
        assert!(
            again
                .index
                .find(&delivery_key("tic_2", "m"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn refuses_foreign_damaged_future_and_other_portal_ledgers() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let foreign = write("foreign", "ticketId,message\ntic_1,hi\n");
        assert!(matches!(
            Ledger::open(&foreign, PORTAL, "j"),
            Err(LedgerError::NotOurs { .. })
        ));
        let future = write("future", &format!("{HEADER} 9\nportal {PORTAL}\n"));
        assert!(matches!(
            Ledger::open(&future, PORTAL, "j"),
            Err(LedgerError::Incompatible { .. })
        ));
        let damaged = write(
            "damaged",
            &format!("{HEADER} 1\nportal {PORTAL}\nD nothex 1 tim_1 j\n"),
        );
        assert!(matches!(
            Ledger::open(&damaged, PORTAL, "j"),
            Err(LedgerError::Damaged { line: 3, .. })
        ));
        let other = write("other", &format!("{HEADER} 1\nportal https://x.nl/v1\n"));
        assert!(matches!(
            Ledger::open(&other, PORTAL, "j"),
            Err(LedgerError::OtherPortal { .. })
        ));
    }

    #[test]
    fn file_names_say_which_portal() {
        assert_eq!(
            file_name_of("https://api.mijnklantportaal.nl/v1/"),
            "api.mijnklantportaal.nl_v1"
        );
        assert_eq!(
            file_name_of("http://127.0.0.1:8080/v1"),
            "http_127.0.0.1_8080_v1"
        );
    }

    /// This process's resident set (Linux), in KiB; 0 where unknown.
    fn resident_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or(0)
    }

    /// A million deliveries open whole, at 24 bytes per delivery in memory. How fast is
    /// printed, not asserted (well under a second in a release build): a shared machine's
    /// load is no verdict on the code.
    #[test]
    fn a_million_deliveries_open_whole_in_24_bytes_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.ledger");
        let mut text = format!("{HEADER} {VERSION}\n{PORTAL_PREFIX}{PORTAL}\n").into_bytes();
        for i in 0..1_000_000u32 {
            let key = RowKey::of(&format!("tic_{i:08}"), "<p>Notice</p>");
            let _ = writeln!(
                text,
                "D {key} 1764647400000 tim_{i:014} /home/agent/notices/2026-12-02.csv"
            );
        }
        std::fs::write(&path, &text).unwrap();
        let megabytes = text.len() >> 20;
        drop(text);
        let resident_before = resident_kib();
        let started = std::time::Instant::now();
        let mut ledger = Ledger::open(&path, PORTAL, "j").unwrap();
        let took = started.elapsed();
        eprintln!(
            "opened {megabytes} MB, 1,000,000 deliveries, in {took:?}; resident set grew by {} MiB",
            resident_kib().saturating_sub(resident_before) >> 10
        );
        assert_eq!(ledger.index.entries.len(), 1_000_000);
        assert_eq!(std::mem::size_of::<Indexed>(), 24);
        let key = RowKey::of("tic_00123456", "<p>Notice</p>");
        assert!(ledger.index.find(&key).unwrap().is_some());
    }
}
