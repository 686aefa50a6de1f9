//! The result of validating an input, and its two renderings: for people and for scripts.
//! `validate` prints it; `send` prints the same before it sends anything.

use std::collections::BinaryHeap;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::row::Numbering;
use crate::duration::for_people;
use crate::output::plural;
use crate::rate::{Rate, RateSetting};

/// Problems kept per kind, the earliest lines first. The counts stay exact beyond it; a file
/// with a million bad rows must not need a million messages in memory.
pub const KEPT_PROBLEMS: usize = 1000;

/// Problems printed per kind in the human report; the rest are counted.
const SHOWN_PROBLEMS: usize = 25;

/// Frames a previewed message.
const PREVIEW_RULE: &str = "--------------------------------------------------------------";

/// One error or warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The physical line it is on; `None` for the input as a whole.
    pub line: Option<u64>,
    pub message: String,
}

/// A message as it will be posted, for the user to check before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub line: u64,
    /// Trimmed, as it is sent.
    pub ticket_id: String,
    /// The exact string posted.
    pub message: String,
}

impl Preview {
    pub fn to_json(&self) -> Value {
        json!({"line": self.line, "ticketId": self.ticket_id, "message": self.message})
    }
}

/// What validation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Data rows read (the header and blank lines not counted).
    pub rows: u64,
    /// Different ticket ids among the rows that can be sent.
    pub distinct_tickets: u64,
    /// The first rows' messages as they will be posted (as many as asked for).
    pub preview: Vec<Preview>,
    pub error_count: u64,
    pub warning_count: u64,
    /// The first [`KEPT_PROBLEMS`] errors, by line.
    pub errors: Vec<Problem>,
    /// The first [`KEPT_PROBLEMS`] warnings, by line.
    pub warnings: Vec<Problem>,
    /// What the lines count: a text file's lines or a sheet's rows.
    pub numbering: Numbering,
}

impl Findings {
    pub fn is_valid(&self) -> bool {
        self.error_count == 0
    }

    /// The report for people: counts, each problem with its line (long lists cut short) and
    /// how long sending takes at `rate`.
    pub fn write_human(
        &self,
        out: &mut dyn Write,
        source_name: &str,
        rate: RateSetting,
    ) -> io::Result<()> {
        writeln!(
            out,
            "{source_name}: {}, {}, {}",
            plural(self.rows, "row"),
            plural(self.error_count, "error"),
            plural(self.warning_count, "warning")
        )?;
        for (title, kind, problems, count) in [
            ("Errors", "error", &self.errors, self.error_count),
            ("Warnings", "warning", &self.warnings, self.warning_count),
        ] {
            if count == 0 {
                continue;
            }
            writeln!(out, "\n{title}:")?;
            for problem in problems.iter().take(SHOWN_PROBLEMS) {
                match problem.line {
                    Some(line) => {
                        writeln!(out, "  {}: {}", self.numbering.place(line), problem.message)?
                    }
                    None => writeln!(out, "  {}", problem.message)?,
                }
            }
            let shown = problems.len().min(SHOWN_PROBLEMS) as u64;
            if count > shown {
                writeln!(
                    out,
                    "  … and {} (--json lists the first {KEPT_PROBLEMS})",
                    plural(count - shown, &format!("more {kind}"))
                )?;
            }
        }
        self.write_preview(out)?;
        if self.rows == 0 {
            // Nothing to send: an estimate of "0 s" would only be noise.
            return Ok(());
        }
        writeln!(out)?;
        let messages = plural(self.rows, "message");
        let pace = rate.assumed();
        let at = match rate {
            RateSetting::Auto => {
                format!("{pace} (the API's default, until the server states the key's own limit)")
            }
            RateSetting::Cap(_) => pace.to_string(),
        };
        let shortest = pace.shortest_duration(self.rows);
        match pace {
            Rate::Unlimited => writeln!(
                out,
                "Sending {messages} without a rate limit: no pacing delay."
            ),
            _ if shortest.is_zero() => writeln!(
                out,
                "Sending {messages} at {at}: they fit in one window and go at once."
            ),
            _ => writeln!(
                out,
                "Sending {messages} at {at} takes at least {}.",
                for_people(shortest)
            ),
        }
    }

    /// Each previewed message, framed so that its first and last characters are plain to
    /// see (a stray space or line break matters).
    pub fn write_preview(&self, out: &mut dyn Write) -> io::Result<()> {
        for (index, preview) in self.preview.iter().enumerate() {
            writeln!(
                out,
                "\nPreview {} of {}: {}, to ticket {}, posted exactly as:",
                index + 1,
                self.preview.len(),
                self.numbering.place(preview.line),
                preview.ticket_id
            )?;
            writeln!(out, "{PREVIEW_RULE}\n{}\n{PREVIEW_RULE}", preview.message)?;
        }
        Ok(())
    }

    /// The report for scripts:
    /// `{"rows", "valid", "errors": [{"line", "message"}], "warnings": […], "estimatedSeconds"}`,
    /// plus `errorCount` and `warningCount`, which exceed the list lengths when the lists
    /// were cut at [`KEPT_PROBLEMS`], `distinctTickets`, and `preview`: `[{"line",
    /// "ticketId", "message"}]` (empty unless a preview was asked for). For a workbook,
    /// `sheet` names the sheet whose rows the lines are.
    pub fn to_json(&self, rate: RateSetting) -> Value {
        let list = |problems: &[Problem]| -> Vec<Value> {
            problems
                .iter()
                .map(|p| json!({"line": p.line, "message": p.message}))
                .collect()
        };
        let estimate = rate.assumed().shortest_duration(self.rows);
        let mut report = json!({
            "rows": self.rows,
            "valid": self.is_valid(),
            "errors": list(&self.errors),
            "warnings": list(&self.warnings),
            "estimatedSeconds": estimate.as_millis() as f64 / 1000.0,
            "errorCount": self.error_count,
            "warningCount": self.warning_count,
            "distinctTickets": self.distinct_tickets,
            "preview": self.preview.iter().map(Preview::to_json).collect::<Vec<_>>(),
        });
        if let Numbering::SheetRows { sheet } = &self.numbering {
            report["sheet"] = json!(sheet);
        }
        report
    }
}

/// Collects problems in any order, keeping the earliest lines of each kind.
#[derive(Debug, Default)]
pub(crate) struct FindingsBuilder {
    pub rows: u64,
    pub distinct_tickets: u64,
    /// How many messages to keep for the preview.
    pub preview_limit: usize,
    pub preview: Vec<Preview>,
    pub numbering: Numbering,
    errors: KeptProblems,
    warnings: KeptProblems,
}

impl FindingsBuilder {
    pub(crate) fn error(&mut self, line: Option<u64>, message: String) {
        self.errors.push(Problem { line, message });
    }

    pub(crate) fn warning(&mut self, line: Option<u64>, message: String) {
        self.warnings.push(Problem { line, message });
    }

    /// Keeps a sendable row's message for the preview, while more are wanted.
    pub(crate) fn offer_preview(&mut self, line: u64, ticket_id: &str, message: &str) {
        if self.preview.len() < self.preview_limit {
            self.preview.push(Preview {
                line,
                ticket_id: ticket_id.to_owned(),
                message: message.to_owned(),
            });
        }
    }

    /// Takes in the problems and ticket count another builder collected (its row count is
    /// not added).
    pub(crate) fn absorb(&mut self, other: FindingsBuilder) {
        self.distinct_tickets += other.distinct_tickets;
        self.errors.absorb(other.errors);
        self.warnings.absorb(other.warnings);
    }

    pub(crate) fn finish(self) -> Findings {
        Findings {
            rows: self.rows,
            distinct_tickets: self.distinct_tickets,
            preview: self.preview,
            error_count: self.errors.total,
            warning_count: self.warnings.total,
            errors: self.errors.into_sorted(),
            warnings: self.warnings.into_sorted(),
            numbering: self.numbering,
        }
    }
}

/// The [`KEPT_PROBLEMS`] problems with the smallest lines (a max-heap whose top is the first
/// to go), ties kept in arrival order.
#[derive(Debug, Default)]
struct KeptProblems {
    heap: BinaryHeap<Ranked>,
    total: u64,
}

#[derive(Debug)]
struct Ranked {
    // `None` (the whole input) sorts before every line.
    key: (Option<u64>, u64),
    problem: Problem,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

impl KeptProblems {
    fn push(&mut self, problem: Problem) {
        let ranked = Ranked {
            key: (problem.line, self.total),
            problem,
        };
        self.total += 1;
        if self.heap.len() < KEPT_PROBLEMS {
            self.heap.push(ranked);
        } else if self.heap.peek().is_some_and(|last| ranked.key < last.key) {
            self.heap.pop();
            self.heap.push(ranked);
        }
    }

    fn absorb(&mut self, other: KeptProblems) {
        let dropped = other.total - other.heap.len() as u64;
        for ranked in other.heap {
            self.push(ranked.problem);
        }
        self.total += dropped;
    }

    fn into_sorted(self) -> Vec<Problem> {
        let mut ranked = self.heap.into_vec();
        ranked.sort_unstable_by_key(|r| r.key);
        ranked.into_iter().map(|r| r.problem).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Findings {
        let mut builder = FindingsBuilder {
            rows: 1200,
            ..FindingsBuilder::default()
        };
        for line in (2..1202).rev() {
            builder.error(Some(line), format!("bad {line}"));
        }
        builder.warning(Some(5), "w5".to_owned());
        builder.warning(None, "whole file".to_owned());
        builder.finish()
    }

    #[test]
    fn keeps_the_earliest_problems_and_counts_them_all() {
        let report = sample();
        assert_eq!(report.error_count, 1200);
        assert_eq!(report.errors.len(), KEPT_PROBLEMS);
        assert_eq!(report.errors[0].line, Some(2));
        assert_eq!(report.errors[999].line, Some(1001));
        assert_eq!(report.warnings[0].line, None);
        assert!(!report.is_valid());
    }

    #[test]
    fn human_report_cuts_long_lists() {
        let mut out = Vec::new();
        sample()
            .write_human(&mut out, "in.csv", RateSetting::Auto)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("in.csv: 1200 rows, 1200 errors, 2 warnings\n"),
            "{text}"
        );
        assert!(text.contains("  line 2: bad 2\n"));
        assert!(text.contains("  line 26: bad 26\n"));
        assert!(!text.contains("line 27:"));
        assert!(text.contains("… and 1175 more errors"));
        assert!(text.contains("  whole file\n"));
        assert!(text.contains(
            "Sending 1200 messages at 60/min (the API's default, until the server states the key's own limit) takes at least 19 min 0 s."
        ));
    }

    #[test]
    fn json_has_the_documented_shape() {
        let value = sample().to_json("20/s".parse().unwrap());
        // 1,200 rows at 20 per second: 60 windows, the first at once.
        assert_eq!(value["rows"], 1200);
        assert_eq!(value["valid"], false);
        assert_eq!(value["errors"][0], json!({"line": 2, "message": "bad 2"}));
        assert_eq!(
            value["warnings"][0],
            json!({"line": null, "message": "whole file"})
        );
        assert_eq!(value["estimatedSeconds"], 59.0);
        assert_eq!(value["errorCount"], 1200);
    }
}
