//! The result of validating an input, and its two renderings: for people and for scripts.
//! `validate` prints it; `send` prints the same before it sends anything.

use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use crate::rate::Rate;

/// Problems kept per kind, the earliest lines first. The counts stay exact beyond it; a file
/// with a million bad rows must not need a million messages in memory.
pub const KEPT_PROBLEMS: usize = 1000;

/// Problems printed per kind in the human report; the rest are counted.
const SHOWN_PROBLEMS: usize = 25;

/// One error or warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The physical line it is on; `None` for the input as a whole.
    pub line: Option<u64>,
    pub message: String,
}

/// What validation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Data rows read (the header and blank lines not counted).
    pub rows: u64,
    pub error_count: u64,
    pub warning_count: u64,
    /// The first [`KEPT_PROBLEMS`] errors, by line.
    pub errors: Vec<Problem>,
    /// The first [`KEPT_PROBLEMS`] warnings, by line.
    pub warnings: Vec<Problem>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.error_count == 0
    }

    /// The report for people: counts, each problem with its line (long lists cut short) and
    /// how long sending takes at `rate`.
    pub fn write_human(
        &self,
        out: &mut dyn Write,
        source_name: &str,
        rate: Rate,
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
                    Some(line) => writeln!(out, "  line {line}: {}", problem.message)?,
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
        writeln!(out)?;
        match rate {
            Rate::Unlimited => writeln!(
                out,
                "Sending {} without a rate limit: no pacing delay.",
                plural(self.rows, "message")
            ),
            _ => writeln!(
                out,
                "Sending {} at {rate} takes at least {}.",
                plural(self.rows, "message"),
                human_duration(rate.ideal_duration(self.rows))
            ),
        }
    }

    /// The report for scripts:
    /// `{"rows", "valid", "errors": [{"line", "message"}], "warnings": […], "estimatedSeconds"}`,
    /// plus `errorCount` and `warningCount`, which exceed the list lengths when the lists
    /// were cut at [`KEPT_PROBLEMS`].
    pub fn to_json(&self, rate: Rate) -> Value {
        let list = |problems: &[Problem]| -> Vec<Value> {
            problems
                .iter()
                .map(|p| json!({"line": p.line, "message": p.message}))
                .collect()
        };
        let estimate = rate.ideal_duration(self.rows);
        json!({
            "rows": self.rows,
            "valid": self.is_valid(),
            "errors": list(&self.errors),
            "warnings": list(&self.warnings),
            "estimatedSeconds": estimate.as_millis() as f64 / 1000.0,
            "errorCount": self.error_count,
            "warningCount": self.warning_count,
        })
    }
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `45 s`, `16 min 39 s`, `2 h 46 min`: as precise as a person planning their day needs.
fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

/// Collects problems in any order, keeping the earliest lines of each kind.
#[derive(Debug, Default)]
pub(crate) struct ReportBuilder {
    pub rows: u64,
    errors: KeptProblems,
    warnings: KeptProblems,
}

impl ReportBuilder {
    pub(crate) fn error(&mut self, line: Option<u64>, message: String) {
        self.errors.push(Problem { line, message });
    }

    pub(crate) fn warning(&mut self, line: Option<u64>, message: String) {
        self.warnings.push(Problem { line, message });
    }

    /// Takes in the problems another builder collected (its row count is not added).
    pub(crate) fn absorb(&mut self, other: ReportBuilder) {
        self.errors.absorb(other.errors);
        self.warnings.absorb(other.warnings);
    }

    pub(crate) fn finish(self) -> Report {
        Report {
            rows: self.rows,
            error_count: self.errors.total,
            warning_count: self.warnings.total,
            errors: self.errors.into_sorted(),
            warnings: self.warnings.into_sorted(),
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

    fn sample() -> Report {
        let mut builder = ReportBuilder {
            rows: 1200,
            ..ReportBuilder::default()
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
            .write_human(&mut out, "in.csv", Rate::API_DEFAULT)
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
        assert!(text.contains("Sending 1200 messages at 60/min takes at least 19 min 59 s."));
    }

    #[test]
    fn json_has_the_documented_shape() {
        let value = sample().to_json("20/s".parse().unwrap());
        assert_eq!(value["rows"], 1200);
        assert_eq!(value["valid"], false);
        assert_eq!(value["errors"][0], json!({"line": 2, "message": "bad 2"}));
        assert_eq!(
            value["warnings"][0],
            json!({"line": null, "message": "whole file"})
        );
        assert_eq!(value["estimatedSeconds"], 59.95);
        assert_eq!(value["errorCount"], 1200);
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(human_duration(Duration::ZERO), "0 s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "2 s");
        assert_eq!(human_duration(Duration::from_secs(999)), "16 min 39 s");
        assert_eq!(human_duration(Duration::from_secs(9999)), "2 h 46 min");
    }
}
