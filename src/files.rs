//! The files a job writes beside its input: journal, results, failed rows, summary, report.
//! They hold customer data, so every one is created readable by its owner only, and each is
//! named by the file it belongs to plus a suffix.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether each group of records is fsynced before it counts. `Unsafe` exists only to
/// measure what durability costs (the group-commit benchmark); a crash with it can lose or
/// double rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Fsync,
    Unsafe,
}

/// How [`open_private`] opens a file that may already exist.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Read, and write only at the end (journal, results, ledger).
    Append,
    /// Start empty (a file written whole: failed rows, summary, report, list).
    Replace,
    /// Read and write, keeping what is there (a lock file that holds a pid).
    Update,
}

/// Opens `path`, creating it with mode 0600. The mode applies only on creation: a file that
/// already exists keeps its own.
pub fn open_private(path: &Path, access: Access) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    match access {
        Access::Append => options.read(true).append(true),
        Access::Replace => options.write(true).truncate(true),
        Access::Update => options.read(true).write(true).truncate(false),
    };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// `path` with `suffix` appended to its name: `notices.csv` + `.journal`.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// A moment as the journal and the ledger write it: milliseconds since the Unix epoch.
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffix_goes_after_the_whole_name() {
        assert_eq!(
            with_suffix(Path::new("in/notices.csv"), ".journal"),
            PathBuf::from("in/notices.csv.journal")
        );
    }

    #[cfg(unix)]
    #[test]
    fn created_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        open_private(&path, Access::Replace).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
