//! Walking a journal's complete lines: the one reader of the on-disk format, shared by the
//! resume (`resume.rs`) and the read-only history (`history.rs`), so that the header, the
//! target line, a torn last line and damage are judged the same way by both.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::Path;

use super::JournalError;
use super::record::{self, Record, RunRecord};

/// One complete line after the header.
pub(super) enum Line<'a> {
    /// The API the job posts to (`target …`, the second line).
    Target(&'a str),
    /// A run's boundary (`B`/`E`).
    Run(RunRecord),
    /// A row's intent or outcome.
    Row(Record),
}

/// Visits every complete line of the journal at `path`, in order. Returns the length of the
/// lines visited — anything after it was torn by a crash, or is still being written — or
/// `None` when there is no journal yet (or only an empty file, or part of a header, left by a
/// run that died at once).
pub(super) fn walk(
    path: &Path,
    mut visit: impl FnMut(Line<'_>),
) -> Result<Option<u64>, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let damaged = |line| JournalError::Damaged {
        path: path.to_path_buf(),
        line,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    // Large reads: a million-row journal is over 100 MB of short lines.
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut valid_len = 0u64;
    let mut line_number = 0u64;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io)?;
        if read == 0 {
            break;
        }
        line_number += 1;
        if line.last() != Some(&b'\n') {
            // A torn last line: the crash came mid-write (or a run is writing it). Its record
            // never counted.
            break;
        }
        let text =
            std::str::from_utf8(&line[..line.len() - 1]).map_err(|_| damaged(line_number))?;
        if line_number == 1 {
            record::check_header(path, text)?;
        } else if let Some(target) = record::decode_target(text).filter(|_| line_number == 2) {
            visit(Line::Target(target));
        } else if let Some(run) = RunRecord::decode(text) {
            visit(Line::Run(run));
        } else {
            visit(Line::Row(
                Record::decode(text).ok_or_else(|| damaged(line_number))?,
            ));
        }
        valid_len += read as u64;
    }
    if valid_len == 0 {
        if line_number == 0 || record::is_torn_header(&line) {
            return Ok(None);
        }
        return Err(JournalError::NotOurs {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(valid_len))
}
