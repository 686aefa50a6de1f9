//! What a user sees if bulk-reply itself has a bug: a short report with where it happened
//! and what to do, instead of Rust's raw panic text and backtrace. It prints no variables,
//! and secrets are held in a type that never formats its value, so nothing secret can end
//! up here.

use std::panic::PanicHookInfo;
use std::sync::OnceLock;

use crate::fields;
use crate::output::{self, Level};

/// The subcommand running, once the command line is parsed: what a crash means for the
/// user depends on it (only `send` has a journal to speak of).
static COMMAND: OnceLock<&'static str> = OnceLock::new();

/// Names the subcommand the process runs, for the report.
pub fn running(command: &'static str) {
    let _ = COMMAND.set(command);
}

/// Installs the report as the panic hook for the whole process (every thread).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let (what, place) = describe(info);
        let command = COMMAND.get().copied();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        output::emit(
            Level::Error,
            &report(command, &what, &place, &thread),
            fields! {"panic" => what, "location" => place, "thread" => thread, "version" => env!("CARGO_PKG_VERSION")},
        );
    }));
}

fn describe(info: &PanicHookInfo<'_>) -> (String, String) {
    let payload = info.payload();
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string());
    let place = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_else(|| "unknown place".to_string());
    (what, place)
}

/// The text for people. `command` is the subcommand, if the command line was parsed.
fn report(command: Option<&str>, what: &str, place: &str, thread: &str) -> String {
    let after = match command {
        Some("send") => {
            "The journal is consistent: running the same command again resumes the job.".to_string()
        }
        // No other command posts a message: there is no job to be left half done.
        Some(command) => {
            format!("`bulk-reply {command}` posts no message, so running it again is safe.")
        }
        None => "Nothing was sent.".to_string(),
    };
    format!(
        "bulk-reply: internal error (a bug, not your input) in thread {thread} at {place}: {what}\n\
         Please report it with the command you ran (leave out your token) and this message.\n\
         {after}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_where_what_and_what_to_do() {
        let text = report(
            Some("send"),
            "index out of bounds",
            "src/pipeline/feed.rs:42",
            "journal-writer",
        );
        assert!(text.contains("src/pipeline/feed.rs:42"));
        assert!(text.contains("index out of bounds"));
        assert!(text.contains("journal-writer"));
        assert!(text.contains("leave out your token"));
        assert!(text.contains("resumes the job"));
        assert_eq!(text.lines().count(), 3, "short");
    }

    #[test]
    fn only_send_speaks_of_the_journal() {
        for command in ["validate", "completions", "man", "tickets", "sandbox"] {
            let text = report(Some(command), "boom", "src/x.rs:1", "main");
            assert!(!text.contains("journal"), "{text}");
            assert!(text.contains(&format!("`bulk-reply {command}` posts no message")));
        }
    }

    #[test]
    fn a_panic_is_described_from_its_payload() {
        let previous = std::panic::take_hook();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = seen.clone();
        std::panic::set_hook(Box::new(move |info| {
            *slot.lock().unwrap() = Some(describe(info))
        }));
        let _ = std::panic::catch_unwind(|| panic!("boom {}", 7));
        std::panic::set_hook(previous);
        let (what, place) = seen.lock().unwrap().clone().unwrap();
        assert_eq!(what, "boom 7");
        assert!(place.starts_with("src/crash_report.rs:"), "{place}");
    }
}
