//! What `send` tells the user and the monitors: validation problems before sending, the
//! preview, the end-of-run summary, the sandbox's report, and the exit code.

use crate::duration::for_people;
use crate::exit::Exit;
use crate::fields;
use crate::input;
use crate::journal::JobFiles;
use crate::journal::summary::Counts;
use crate::output::{self, Level};
use crate::pipeline::{FeedEnd, RunReport, Tally};
use crate::rate::RateSetting;
use crate::sandbox;

pub(super) fn exit_code(report: &RunReport) -> Exit {
    if report.stopped.as_ref().is_some_and(|cause| !cause.planned) {
        Exit::Stopped
    } else if needs_attention(&report.tally) {
        Exit::RowsFailed
    } else {
        Exit::Ok
    }
}

/// Rows a person should look at: failed, held in doubt, or delivered twice.
fn needs_attention(tally: &Tally) -> bool {
    Tally::get(&tally.failed) + Tally::get(&tally.in_doubt) + Tally::get(&tally.doubled) > 0
}

/// In json log mode, each previewed message as a structured line (the human report on
/// standard output has them too).
pub(super) fn log_preview(preview: &[input::Preview]) {
    if output::format() != output::LogFormat::Json {
        return;
    }
    for (index, item) in preview.iter().enumerate() {
        let mut fields = fields! {"preview" => index + 1};
        if let serde_json::Value::Object(found) = item.to_json() {
            fields.extend(found);
        }
        output::emit(
            Level::Info,
            &format!("preview: line {} to {}", item.line, item.ticket_id),
            fields,
        );
    }
}

/// Validation's errors and warnings, before anything is sent: the human report in text
/// mode; one line with the problems as fields in json mode.
pub(super) fn print_problems(report: &input::Findings, source_name: &str, rate: RateSetting) {
    let mut text = Vec::new();
    let _ = report.write_human(&mut text, source_name, rate);
    let text = String::from_utf8_lossy(&text);
    let level = if report.is_valid() {
        Level::Warn
    } else {
        Level::Error
    };
    let mut fields = fields! {"input" => source_name};
    if let serde_json::Value::Object(found) = report.to_json(rate) {
        fields.extend(found);
    }
    let headline = text.lines().next().unwrap_or_default();
    output::emit_long(level, &text, headline, fields);
}

pub(super) fn print_rehearsal_place(dir: &std::path::Path) {
    output::emit(
        Level::Info,
        &format!(
            "rehearsal: its journal, ledger and results are in {} (a new place each time, as the simulator starts empty; nothing was written beside the input)",
            dir.display()
        ),
        fields! {"rehearsalDir" => dir},
    );
}

pub(super) fn print_sandbox_report(report: &sandbox::Report) {
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    let fields = match serde_json::to_value(report) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    output::emit_long(
        Level::Info,
        &format!("sandbox report: {json}"),
        "sandbox report",
        fields,
    );
}

/// Why the run ended before the end of its input, and whether that was planned (exit 0,
/// the next run continues) — for the summary line and the summary file.
pub(super) fn stop_reason(report: &RunReport, canary: bool) -> Option<(String, bool)> {
    match &report.stopped {
        Some(cause) => Some((cause.reason.clone(), cause.planned)),
        None if report.feed == FeedEnd::BudgetSpent => {
            let why = if canary {
                "canary"
            } else {
                "--max-rows reached"
            };
            Some((why.to_string(), true))
        }
        None => None,
    }
}

/// Names the tickets that got the message twice: the one failure no later run can undo.
fn print_doubles(tally: &Tally) {
    let doubled = Tally::get(&tally.doubled);
    if doubled == 0 {
        return;
    }
    let rows = tally
        .doubled_rows
        .lock()
        .map(|rows| rows.clone())
        .unwrap_or_default();
    let mut named: Vec<String> = rows
        .iter()
        .take(20)
        .map(|(line, ticket)| format!("{ticket} (line {line})"))
        .collect();
    if doubled > named.len() as u64 {
        named.push(format!("and {} more", doubled - named.len() as u64));
    }
    output::emit(
        Level::Error,
        &format!(
            "{doubled} rows reached their ticket more than once: {}. An earlier request whose answer was lost was stored after the settle period, after the message had been posted again; the results file has \"doubled\": true on those rows. A longer --settle, or --in-doubt hold, prevents this on servers that store this late",
            named.join(", ")
        ),
        fields! {
            "doubled" => doubled,
            "doubledTickets" => rows.iter().map(|(_, ticket)| ticket.as_str()).collect::<Vec<_>>(),
        },
    );
}

pub(super) fn print_summary(
    report: &RunReport,
    files: &JobFiles,
    canary: bool,
    stop_reason: Option<(String, bool)>,
) {
    let t = &report.tally;
    let per_second = t.finished() as f64 / report.elapsed.as_secs_f64().max(0.001);
    // Rare outcomes are named only when they happened; a double is never left unsaid.
    let mut rare = String::new();
    if Tally::get(&t.in_doubt) > 0 {
        rare.push_str(&format!(", {} in doubt", Tally::get(&t.in_doubt)));
    }
    if Tally::get(&t.doubled) > 0 {
        rare.push_str(&format!(", {} DOUBLED", Tally::get(&t.doubled)));
    }
    let headline = format!(
        "{} in {}: {} sent, {} failed, {} skipped{rare}, {} already delivered earlier; {} retries, {} rate-limited (429); {:.2} rows/s",
        // A planned stop (deadline) ends the run as intended: "done", with rows remaining.
        if report.stopped.as_ref().is_some_and(|cause| !cause.planned) {
            "stopped"
        } else {
            "done"
        },
        for_people(report.elapsed),
        Tally::get(&t.sent),
        Tally::get(&t.failed),
        Tally::get(&t.skipped),
        Tally::get(&t.already_done),
        Tally::get(&t.retries),
        Tally::get(&t.rate_limited),
        per_second,
    );
    let mut fields = match serde_json::to_value(counts_of(report)) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    fields.extend(fields! {
        "elapsedSeconds" => (report.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "rowsPerSecond" => (per_second * 100.0).round() / 100.0,
        "stopReason" => stop_reason.as_ref().map(|(reason, _)| reason),
        "resultsFile" => files.results,
        "failedRowsFile" => report.failed_rows_file,
    });
    let stopped = report.stopped.as_ref().is_some_and(|cause| !cause.planned);
    match needs_attention(t) && !stopped {
        // Rows a person must look at: said even under -q, in this one line (a stop has its
        // own line below).
        true => output::emit_requested(Level::Warn, &headline, fields),
        false => output::emit(Level::Info, &headline, fields),
    }
    output::emit(
        Level::Info,
        &format!("results: {}", files.results.display()),
        fields! {"resultsFile" => files.results},
    );
    print_doubles(t);
    if let Some(held) = report.pace.held_back {
        output::emit(
            Level::Warn,
            &format!(
                "--concurrency {} held the pace back: answers took {} ms on average, and the rate needs about {} requests in flight; run with --concurrency {} to use the whole budget",
                held.ceiling,
                held.latency.as_millis(),
                held.needed,
                held.needed
            ),
            fields! {"concurrency" => held.ceiling, "concurrencyNeeded" => held.needed},
        );
    }
    let skipped_delivered = Tally::get(&t.skipped_delivered);
    if skipped_delivered > 0 {
        output::emit(
            Level::Info,
            &format!(
                "{skipped_delivered} skipped rows already had their message on the ticket: delivered by another job (the delivery ledger says when and by which), or found on the ticket; each results record has the reason. --resend sends them anyway"
            ),
            fields! {"skippedDelivered" => skipped_delivered},
        );
    }
    if Tally::get(&t.in_doubt) > 0 {
        output::emit(
            Level::Warn,
            &format!(
                "{} rows are in doubt (--in-doubt hold): a request may have posted the message, but it was not on the ticket after the settle period. Check those tickets (status \"in_doubt\" in the results); run again with --in-doubt resend to post the ones that lack it",
                Tally::get(&t.in_doubt)
            ),
            fields! {"inDoubt" => Tally::get(&t.in_doubt)},
        );
    }
    if Tally::get(&t.failed_in_doubt) > 0 {
        output::emit(
            Level::Warn,
            &format!(
                "{} failed rows may have reached their ticket (their last answer was lost): they are not in the failed-rows file; run the same command again, which reads their tickets before sending",
                Tally::get(&t.failed_in_doubt)
            ),
            fields! {"failedInDoubt" => Tally::get(&t.failed_in_doubt)},
        );
    }
    if let Some(failed) = &report.failed_rows_file {
        output::emit(
            Level::Warn,
            &format!(
                "failed rows, as CSV (whatever the input's format), in input order with their \
                 original line: {}. Safe to edit and send: rows already delivered will not go \
                 again (the delivery ledger skips them); or run the same command again to \
                 retry",
                failed.display()
            ),
            fields! {"failedRowsFile" => failed},
        );
    }
    let remaining = report.remaining();
    let next = if canary {
        "check them, then run the same command again to send the rest"
    } else {
        "the next run of the same command continues"
    };
    match stop_reason {
        Some((reason, false)) => output::emit(
            Level::Error,
            &format!(
                "stopped: {reason}. {remaining} rows not yet delivered; run the same command again to resume"
            ),
            fields! {"stopReason" => reason, "remaining" => remaining},
        ),
        Some((reason, true)) => output::emit(
            Level::Info,
            &format!("planned stop ({reason}): {remaining} rows remain; {next}"),
            fields! {"stopReason" => reason, "remaining" => remaining},
        ),
        None => {}
    }
}

/// The engine's counters as the summary reports them.
pub(super) fn counts_of(report: &RunReport) -> Counts {
    let t = &report.tally;
    Counts {
        sent: Tally::get(&t.sent),
        failed: Tally::get(&t.failed),
        skipped: Tally::get(&t.skipped),
        in_doubt: Tally::get(&t.in_doubt),
        doubled: Tally::get(&t.doubled),
        already_delivered: Tally::get(&t.already_done),
        remaining: Some(report.remaining()),
        attempts: Tally::get(&t.attempts),
        retries: Tally::get(&t.retries),
        rate_limited: Tally::get(&t.rate_limited),
    }
}
