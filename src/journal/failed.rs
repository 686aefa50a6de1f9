//! The failed-rows file: the rows that failed in this run, as CSV with their original
//! columns plus `error`, ready to fix and feed back as input. Rows that failed while still
//! in doubt are left out: only the same command, which reads their tickets first, may
//! send them again.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::delivery::{Outcome, OutcomeResult};

pub struct FailedRows {
    path: PathBuf,
    writer: Option<csv::Writer<File>>,
    /// Names of the extra columns, fixed by the first failed row.
    extra_columns: Vec<String>,
}

impl FailedRows {
    /// Nothing is created until a row fails, so a clean run leaves no empty file behind.
    pub fn new(path: &Path) -> Self {
        FailedRows {
            path: path.to_path_buf(),
            writer: None,
            extra_columns: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn has_rows(&self) -> bool {
        self.writer.is_some()
    }

    pub fn add(&mut self, outcome: &Outcome) -> std::io::Result<()> {
        // A row still in doubt may have reached its ticket: sent from this file, a new job
        // that knows nothing of the doubt, it could arrive twice. The same command settles
        // it instead, reading the ticket first.
        let OutcomeResult::Failed {
            error,
            in_doubt_since: None,
        } = &outcome.result
        else {
            return Ok(());
        };
        let job = &outcome.job;
        if self.writer.is_none() {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).write(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut writer = csv::Writer::from_writer(options.open(&self.path)?);
            self.extra_columns = job.extra.iter().map(|(name, _)| name.clone()).collect();
            let mut header = vec!["ticketId", "message"];
            header.extend(self.extra_columns.iter().map(String::as_str));
            header.push("error");
            writer.write_record(&header)?;
            self.writer = Some(writer);
        }
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut record = vec![job.ticket_id.as_str(), job.message.as_str()];
        for column in &self.extra_columns {
            let value = job
                .extra
                .iter()
                .find(|(name, _)| name == column)
                .map(|(_, v)| v.as_str());
            record.push(value.unwrap_or(""));
        }
        let error_text = format!("{}: {}", error.kind.as_str(), error.message);
        record.push(&error_text);
        writer.write_record(&record)?;
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}
