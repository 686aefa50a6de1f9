//! What a user sees if bulk-reply itself has a bug: a short report with where it happened
//! and what to do, instead of Rust's raw panic text and backtrace. It prints no variables,
//! and secrets are held in a type that never formats its value, so nothing secret can end
//! up here.

use std::panic::PanicHookInfo;

use crate::fields;
use crate::output::{self, Level};

/// Installs the report as the panic hook for the whole process (every thread).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let (what, place) = describe(info);
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        output::emit(
            Level::Error,
            &report(&what, &place, &thread),
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

/// The text for people.
fn report(what: &str, place: &str, thread: &str) -> String {
    format!(
        "bulk-reply: internal error (a bug, not your input) in thread {thread} at {place}: {what}\n\
         Please report it with the command you ran (leave out your token) and this message.\n\
         The journal is consistent: running the same command again resumes the job."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_where_what_and_what_to_do() {
        let text = report(
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
