//! One run per job: an OS lock on a file beside the journal. The kernel releases it when the
//! process ends, however it ends, so a lock never outlives its run.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::JournalError;
use crate::files::{Access, open_private, with_suffix};

/// Held for the whole run; dropping it releases the lock.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

impl JobLock {
    pub fn acquire(journal: &Path) -> Result<JobLock, JournalError> {
        let path = lock_path(journal);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut file = open_private(&path, Access::Update).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(JournalError::Locked {
                    lock: path.clone(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // The process id is for the message a second run prints; the lock itself is the OS's.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(JobLock { _file: file })
    }
}

/// The process holding the job's lock, as the kernel lists it (`/proc/locks` on Linux), found
/// without taking the lock: taking it, even for a moment, could make a run starting at that
/// moment refuse the job. `None` when no process holds it, or where the kernel does not say.
pub fn holder(journal: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let lock = std::fs::metadata(lock_path(journal)).ok()?;
        // /proc/locks names a file as MAJOR:MINOR:INODE, the device numbers in hex.
        let dev = lock.dev();
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let file = format!("{major:02x}:{minor:02x}:{}", lock.ino());
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        locks.lines().find_map(|line| {
            // `1: FLOCK  ADVISORY  WRITE 931 fe:00:10100780 0 EOF`
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "FLOCK", _, _, pid, id, ..] if *id == file => pid.parse().ok(),
                _ => None,
            }
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = journal;
        None
    }
}

impl JobLock {
    /// Whether another run holds the job, without creating or changing any file: asked
    /// before the confirmation question, when nothing may change yet.
    pub fn check_free(journal: &Path) -> Result<(), JournalError> {
        let path = lock_path(journal);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(JournalError::Io { path, source }),
        };
        match file.try_lock_shared() {
            // Released when `file` is dropped.
            Ok(()) => Ok(()),
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Err(JournalError::Locked {
                    lock: path,
                    pid: text.trim().parse().ok(),
                })
            }
            Err(TryLockError::Error(source)) => Err(JournalError::Io { path, source }),
        }
    }
}

fn lock_path(journal: &Path) -> PathBuf {
    with_suffix(journal, ".lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("job.journal");
        let first = JobLock::acquire(&journal).unwrap();
        match JobLock::acquire(&journal) {
            Err(JournalError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(matches!(
            JobLock::check_free(&journal),
            Err(JournalError::Locked { .. })
        ));
        drop(first);
        JobLock::check_free(&journal).expect("free once the first holder is gone");
        JobLock::acquire(&journal).expect("free again once the first holder is gone");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_holder_is_named_without_taking_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("job.journal");
        assert_eq!(holder(&journal), None, "no lock file yet");
        let lock = JobLock::acquire(&journal).unwrap();
        assert_eq!(holder(&journal), Some(std::process::id()));
        assert_eq!(holder(&journal), Some(std::process::id()), "still held");
        drop(lock);
        assert_eq!(holder(&journal), None);
    }
}
