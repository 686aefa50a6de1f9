//! The question `send` asks a person at a terminal before a big job: a sent message cannot be
//! recalled, so they see what is about to happen and say yes.
//!
//! Only when someone can answer: standard input and standard error both terminals. A cron
//! job, a pipe or a test never waits for an answer that cannot come.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use crate::duration::for_people;
use crate::input::Preview;
use crate::rate::Rate;

/// What the job is about to do.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// Rows this run will send (earlier runs' and `--max-rows`' taken into account).
    pub to_send: u64,
    /// Rows delivered or skipped by earlier runs.
    pub settled: u64,
    pub distinct_tickets: u64,
    /// 2 with `--skip-closed` (a read before each post), else 1.
    pub requests_per_row: u64,
    pub rate: Rate,
    pub first: Option<&'a Preview>,
}

/// When to ask.
#[derive(Debug, Clone, Copy)]
pub struct Asking {
    /// Ask only above this many rows (`--confirm-above`).
    pub above: u64,
    /// `--yes`: never ask.
    pub assume_yes: bool,
    /// Standard input and standard error are terminals.
    pub terminal: bool,
}

impl Asking {
    /// Whether a question may come at all, whatever the plan: then the plan is worked out
    /// before the job is opened.
    pub fn may_ask(&self) -> bool {
        !self.assume_yes && self.terminal
    }

    pub fn should_ask(&self, plan: &Plan) -> bool {
        self.may_ask() && plan.to_send > self.above
    }
}

/// Asks when `asking` says so; `true` means go on. Anything but `y` or `yes` (any case) is
/// a no, the end of input included.
pub fn confirm(
    plan: &Plan,
    asking: Asking,
    answers: &mut dyn BufRead,
    out: &mut dyn Write,
) -> io::Result<bool> {
    if !asking.should_ask(plan) {
        return Ok(true);
    }
    let duration: Duration = plan
        .rate
        .shortest_duration(plan.to_send.saturating_mul(plan.requests_per_row));
    let takes = match duration.is_zero() {
        true => "they fit in one window and go at once".to_string(),
        false => format!("this takes at least {}", for_people(duration)),
    };
    writeln!(
        out,
        "About to send {} messages to {} distinct tickets{}; at {} {takes}.",
        plan.to_send,
        plan.distinct_tickets,
        if plan.settled > 0 {
            format!(" ({} rows were settled by earlier runs)", plan.settled)
        } else {
            String::new()
        },
        plan.rate,
    )?;
    if let Some(first) = plan.first {
        writeln!(
            out,
            "The first one (line {}, ticket {}), exactly as posted:\n{}\n{}\n{}",
            first.line, first.ticket_id, RULE, first.message, RULE
        )?;
    }
    write!(out, "Send {} messages? [y/N] ", plan.to_send)?;
    out.flush()?;
    let mut answer = String::new();
    answers.read_line(&mut answer)?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        writeln!(out)?;
    }
    Ok(yes)
}

const RULE: &str = "--------------------------------------------------------------";

/// Whether a person is there to answer.
pub fn at_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview() -> Preview {
        Preview {
            line: 2,
            ticket_id: "tic_a1".into(),
            message: "<p>Beste Ann</p>".into(),
        }
    }

    fn ask(plan: &Plan, asking: Asking, answer: &str) -> (bool, String) {
        let mut out = Vec::new();
        let go = confirm(plan, asking, &mut answer.as_bytes(), &mut out).unwrap();
        (go, String::from_utf8(out).unwrap())
    }

    const AT_TERMINAL: Asking = Asking {
        above: 50,
        assume_yes: false,
        terminal: true,
    };

    #[test]
    fn a_big_job_at_a_terminal_is_asked_about() {
        let first = preview();
        let plan = Plan {
            to_send: 120,
            settled: 0,
            distinct_tickets: 118,
            requests_per_row: 1,
            rate: Rate::API_DEFAULT,
            first: Some(&first),
        };
        let (go, shown) = ask(&plan, AT_TERMINAL, "y\n");
        assert!(go);
        assert!(
            shown.starts_with(
                "About to send 120 messages to 118 distinct tickets; at 60/min this takes at least "
            ),
            "{shown}"
        );
        assert!(shown.contains("line 2, ticket tic_a1"), "{shown}");
        assert!(shown.contains("\n<p>Beste Ann</p>\n"), "{shown}");
        assert!(shown.ends_with("Send 120 messages? [y/N] "), "{shown}");
        for yes in ["YES\n", " y \r\n", "Y"] {
            assert!(ask(&plan, AT_TERMINAL, yes).0, "{yes:?}");
        }
        for no in ["\n", "n\n", "", "yes please\n", "ja\n"] {
            assert!(!ask(&plan, AT_TERMINAL, no).0, "{no:?}");
        }
    }

    #[test]
    fn no_question_without_a_terminal_with_yes_or_for_a_small_job() {
        let plan = Plan {
            to_send: 51,
            settled: 9,
            distinct_tickets: 60,
            requests_per_row: 2,
            rate: Rate::API_DEFAULT,
            first: None,
        };
        let small = Plan {
            to_send: 50,
            ..plan.clone()
        };
        for (plan, asking) in [
            (
                &plan,
                Asking {
                    terminal: false,
                    ..AT_TERMINAL
                },
            ),
            (
                &plan,
                Asking {
                    assume_yes: true,
                    ..AT_TERMINAL
                },
            ),
            (&small, AT_TERMINAL),
        ] {
            let (go, shown) = ask(plan, asking, "n\n");
            assert!(go);
            assert_eq!(shown, "");
        }
        let (go, shown) = ask(&plan, AT_TERMINAL, "n\n");
        assert!(!go);
        assert!(
            shown.contains("(9 rows were settled by earlier runs)"),
            "{shown}"
        );
    }
}
