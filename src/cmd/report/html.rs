//! The report page: one HTML file with its CSS and charts (SVG) inline, no script, nothing
//! loaded from anywhere, so it opens offline, prints, and survives being mailed. Every text
//! from the job (ticket titles, messages, errors, file names) goes through [`esc`]: a title
//! with `<script>` in it shows as text.

use std::collections::BTreeMap;
use std::fmt::Write;

use time::OffsetDateTime;

use super::{JobRows, RowLine, RowStatus};
use crate::api::decode_reference;
use crate::cmd::status::{JobStatus, RunStatus, format_ms};
use crate::journal::history::{History, MinuteTally, RunHistory};

/// Rows listed per group; the CSV has them all.
const LISTED: usize = 100;
/// Bars in the timeline at most; longer jobs get a bar per several minutes.
const MAX_BARS: u64 = 240;

pub struct Page<'a> {
    pub status: &'a JobStatus,
    pub history: &'a History,
    pub rows: &'a JobRows,
    pub ticket_url: Option<&'a str>,
}

impl Page<'_> {
    pub fn render(&self, out: &mut Vec<u8>) {
        let mut html = String::with_capacity(64 * 1024);
        self.write(&mut html);
        out.extend_from_slice(html.as_bytes());
    }

    fn write(&self, h: &mut String) {
        let input = self.status.input.display().to_string();
        let _ = writeln!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>How did it go? {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
            esc(&input)
        );
        let _ = writeln!(
            h,
            "<header><h1>How did it go? <span class=\"input\">{}</span></h1>\
             <p class=\"meta\">Report of {}, {}.</p></header>",
            esc(&input),
            esc(&human_time(&self.status.checked_at)),
            esc(state_words(self.status))
        );
        self.totals(h);
        self.doubled(h);
        self.message(h);
        self.failures(h);
        self.skipped(h);
        self.in_doubt(h);
        self.timeline(h);
        self.runs(h);
        self.files(h);
        h.push_str("</main>\n</body>\n</html>\n");
    }

    fn totals(&self, h: &mut String) {
        let s = self.status;
        let rows = s
            .rows
            .unwrap_or(s.delivered + s.skipped + s.failed + s.in_doubt);
        // `remaining` counts failed and in-doubt rows too; the bar shows each once.
        let not_yet = s
            .remaining
            .unwrap_or(0)
            .saturating_sub(s.failed + s.in_doubt);
        let parts = [
            ("delivered", "Delivered", s.delivered),
            ("failed", "Failed", s.failed),
            ("skipped", "Skipped", s.skipped),
            ("doubt", "In doubt", s.in_doubt),
            ("pending", "Not sent yet", not_yet),
        ];
        h.push_str("<section class=\"totals\" id=\"totals\">\n<div class=\"cards\">\n");
        let _ = writeln!(
            h,
            "<div class=\"card\"><span class=\"n\" id=\"total-rows\">{}</span><span class=\"l\">rows</span></div>",
            s.rows.map_or("?".to_string(), |r| r.to_string())
        );
        for (class, label, count) in parts {
            let _ = writeln!(
                h,
                "<div class=\"card {class}\"><span class=\"n\" id=\"total-{class}\">{count}</span>\
                 <span class=\"l\">{label}</span></div>"
            );
        }
        h.push_str("</div>\n");
        // The bar: one rectangle per part, widths in proportion.
        h.push_str(
            "<svg class=\"bar\" viewBox=\"0 0 1000 24\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"share of rows\">",
        );
        let mut x = 0.0;
        for (class, label, count) in parts {
            if count == 0 || rows == 0 {
                continue;
            }
            let width = count as f64 * 1000.0 / rows as f64;
            let _ = write!(
                h,
                "<rect class=\"{class}\" x=\"{x:.2}\" y=\"0\" width=\"{width:.2}\" height=\"24\"><title>{label}: {count}</title></rect>"
            );
            x += width;
        }
        h.push_str("</svg>\n");
        if let Some(remaining) = s.remaining
            && remaining > 0
        {
            let _ = writeln!(
                h,
                "<p>{remaining} rows remain (failed and in doubt included): the next run of the same \
                 <code>send</code> command continues with them.</p>"
            );
        }
        h.push_str("</section>\n");
    }

    fn doubled(&self, h: &mut String) {
        let doubled: Vec<&RowLine> = self.rows.rows.values().filter(|r| r.doubled).collect();
        if doubled.is_empty() && self.status.doubled == 0 {
            return;
        }
        let _ = writeln!(
            h,
            "<section class=\"alert\" id=\"doubled\"><h2>{} got the message twice</h2>\n\
             <p>A request whose answer was lost was stored by the API later than the settle period, \
             after the message had been posted again. It cannot be undone; consider a short apology \
             on these tickets. A longer <code>--settle</code>, or <code>--in-doubt hold</code>, \
             prevents this on an API that stores this late.</p>",
            counted(
                doubled.len().max(self.status.doubled as usize) as u64,
                "customer"
            )
        );
        self.table(h, &doubled, &["Line", "Ticket", "Title", "Copies"], |row| {
            vec![
                row.line.to_string(),
                row.ticket_id.clone(),
                row.title.clone().unwrap_or_default(),
                row.copies.map_or(String::new(), |c| c.to_string()),
            ]
        });
        h.push_str("</section>\n");
    }

    fn message(&self, h: &mut String) {
        let Some(first) = &self.rows.first_message else {
            return;
        };
        let _ = writeln!(
            h,
            "<section id=\"message\"><h2>The message as posted</h2>\n\
             <p class=\"meta\">The first one delivered: line {}, ticket {}{}. With a template, \
             each ticket's message differs in its own details.</p>\n\
             <blockquote class=\"message\">{}</blockquote>\n\
             <p class=\"meta\">As sent (HTML):</p><pre class=\"source\">{}</pre>\n</section>",
            first.line,
            match &first.title {
                Some(title) => format!("{} (“{}”)", self.ticket(&first.ticket_id), esc(title)),
                None => self.ticket(&first.ticket_id),
            },
            first
                .posted_at
                .as_deref()
                .map_or(String::new(), |at| format!(
                    ", posted {}",
                    esc(&human_time(at))
                )),
            esc(&readable_text(&first.message)).replace('\n', "<br>"),
            esc(&first.message)
        );
    }

    fn failures(&self, h: &mut String) {
        let mut groups: BTreeMap<(String, &'static str), Vec<&RowLine>> = BTreeMap::new();
        for row in self.rows.with_status(RowStatus::Failed) {
            let kind = row.error_kind.clone().unwrap_or_else(|| "unknown".into());
            let cause = cause_of(&kind, row.error.as_deref().unwrap_or(""));
            groups.entry((kind, cause.title)).or_default().push(row);
        }
        if groups.is_empty() {
            return;
        }
        let _ = writeln!(
            h,
            "<section id=\"failures\"><h2>Failed: {}</h2>\n<p>Failed rows are tried again by \
             the next run; fix what the cause says first. The latest run's failed rows are also in \
             the failed-rows file, ready to fix and send.</p>",
            counted(self.status.failed, "row")
        );
        let mut ordered: Vec<_> = groups.into_iter().collect();
        ordered.sort_by_key(|(_, rows)| std::cmp::Reverse(rows.len()));
        for ((kind, _), rows) in ordered {
            let cause = cause_of(&kind, rows[0].error.as_deref().unwrap_or(""));
            let _ = writeln!(
                h,
                "<div class=\"group\" data-kind=\"{}\"><h3>{} <span class=\"count\">{}</span> \
                 <code>{}</code></h3>\n<p><strong>Cause:</strong> {}</p>\n<p><strong>Fix:</strong> {}</p>",
                esc(&kind),
                esc(cause.title),
                counted(rows.len() as u64, "row"),
                esc(&kind),
                esc(cause.cause),
                esc(cause.fix)
            );
            self.table(h, &rows, &["Line", "Ticket", "Error"], |row| {
                vec![
                    row.line.to_string(),
                    row.ticket_id.clone(),
                    row.error.clone().unwrap_or_default(),
                ]
            });
            h.push_str("</div>\n");
        }
        h.push_str("</section>\n");
    }

    fn skipped(&self, h: &mut String) {
        let rows: Vec<&RowLine> = self.rows.with_status(RowStatus::Skipped).collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            h,
            "<section id=\"skipped\"><h2>Skipped: {}</h2>\n<p>Left alone on purpose \
             (<code>--skip-closed</code>): replying would have reopened a closed ticket. Nothing was \
             posted to them.</p>",
            counted(rows.len() as u64, "row")
        );
        self.table(h, &rows, &["Line", "Ticket", "Why"], |row| {
            vec![
                row.line.to_string(),
                row.ticket_id.clone(),
                row.reason.clone().unwrap_or_default(),
            ]
        });
        h.push_str("</section>\n");
    }

    fn in_doubt(&self, h: &mut String) {
        let held: Vec<&RowLine> = self.rows.with_status(RowStatus::InDoubt).collect();
        let unsettled = self.status.in_doubt_unsettled;
        if held.is_empty() && unsettled == 0 {
            return;
        }
        let _ = writeln!(
            h,
            "<section id=\"in-doubt\"><h2>In doubt: {}</h2>",
            counted(self.status.in_doubt, "row")
        );
        if !held.is_empty() {
            let _ = writeln!(
                h,
                "<p>Held for a person: {} (<code>--in-doubt hold</code>): a request may have \
                 posted the message, but the ticket did not show it after the settle period. Look at \
                 each ticket; run again with <code>--in-doubt resend</code> to post the ones that lack it.</p>",
                counted(held.len() as u64, "row")
            );
            self.table(h, &held, &["Line", "Ticket", "Why"], |row| {
                vec![
                    row.line.to_string(),
                    row.ticket_id.clone(),
                    row.reason.clone().unwrap_or_default(),
                ]
            });
        }
        if unsettled > 0 {
            let _ = writeln!(
                h,
                "<p>Not settled yet: {}. These had a request out when a run stopped (or have one out right now): \
                 the next run reads their tickets before sending anything, so none is posted twice.</p>",
                counted(unsettled, "row")
            );
        }
        h.push_str("</section>\n");
    }

    fn timeline(&self, h: &mut String) {
        let Some(chart) = Timeline::of(self.history, &self.status.runs) else {
            return;
        };
        h.push_str("<section id=\"timeline\"><h2>Timeline</h2>\n");
        chart.write(h);
        let _ = writeln!(
            h,
            "<p class=\"legend\"><span class=\"key delivered\"></span> delivered \
             <span class=\"key skipped\"></span> skipped <span class=\"key failed\"></span> failed, \
             per {}; a line marks the start of each run, with its 429 answers and retries \
             (counted per run: the journal does not keep their moments). Time in UTC.</p>\n</section>",
            match chart.minutes_per_bar {
                1 => "minute".to_string(),
                n => format!("{n} minutes"),
            }
        );
    }

    fn runs(&self, h: &mut String) {
        let runs = &self.status.runs;
        if runs.is_empty() {
            return;
        }
        let _ = writeln!(h, "<section id=\"runs\"><h2>Runs: {}</h2>", runs.len());
        h.push_str(
            "<table><thead><tr><th>#</th><th>Started</th><th>Ended</th><th>Sent</th><th>Failed</th>\
             <th>Skipped</th><th>In doubt</th><th>Retries</th><th>429</th><th>How it ended</th></tr></thead><tbody>\n",
        );
        for run in runs {
            let counts = run.summary.as_ref().map(|s| &s.counts);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                run.number,
                esc(&run
                    .started_at
                    .as_deref()
                    .map(human_time)
                    .unwrap_or_default()),
                esc(&run.ended_at.as_deref().map(human_time).unwrap_or_default()),
                run.sent,
                run.failed,
                run.skipped,
                run.in_doubt,
                counts.map_or("?".to_string(), |c| c.retries.to_string()),
                counts.map_or("?".to_string(), |c| c.rate_limited.to_string()),
                esc(&run.ending())
            );
        }
        h.push_str("</tbody></table>\n");
        if let Some(rate) = self.status.rows_per_second {
            let _ = writeln!(
                h,
                "<p>The latest run dealt with {rate:.2} rows per second.</p>"
            );
        }
        h.push_str("</section>\n");
    }

    fn files(&self, h: &mut String) {
        let s = self.status;
        let mut rows = vec![
            (
                "API",
                s.base_url
                    .clone()
                    .unwrap_or_else(|| "(not recorded)".into()),
            ),
            ("Input", s.input.display().to_string()),
            ("Journal", s.journal.display().to_string()),
            ("Results", s.results_file.display().to_string()),
        ];
        if let Some(failed) = &s.failed_rows_file {
            rows.push(("Failed rows (latest run)", failed.display().to_string()));
        }
        if let Some(why) = &self.rows.input_unread {
            rows.push(("Input not read", why.clone()));
        }
        if self.rows.unreadable_results > 0 {
            rows.push((
                "Results lines not understood",
                self.rows.unreadable_results.to_string(),
            ));
        }
        h.push_str("<section id=\"files\"><h2>The API and the files</h2>\n<table class=\"files\"><tbody>\n");
        for (name, value) in rows {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                esc(name),
                esc(&value)
            );
        }
        let _ = writeln!(
            h,
            "</tbody></table>\n<p class=\"meta\">Made by bulk-reply {} (<code>bulk-reply report</code>); \
             every row: <code>bulk-reply report {} --csv</code>.</p>\n</section>",
            env!("CARGO_PKG_VERSION"),
            esc(&s.input.display().to_string())
        );
    }

    /// A table of at most [`LISTED`] rows; the ticket column (the second) links to the
    /// portal when its URL is known.
    fn table(
        &self,
        h: &mut String,
        rows: &[&RowLine],
        headings: &[&str],
        cells: impl Fn(&RowLine) -> Vec<String>,
    ) {
        h.push_str("<table><thead><tr>");
        for heading in headings {
            let _ = write!(h, "<th>{}</th>", esc(heading));
        }
        h.push_str("</tr></thead><tbody>\n");
        for row in rows.iter().take(LISTED) {
            h.push_str("<tr>");
            for (index, cell) in cells(row).iter().enumerate() {
                match index {
                    0 => {
                        let _ = write!(h, "<td class=\"num\">{}</td>", esc(cell));
                    }
                    1 => {
                        let _ = write!(h, "<td>{}</td>", self.ticket(cell));
                    }
                    _ => {
                        let _ = write!(h, "<td>{}</td>", esc(cell));
                    }
                }
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table>\n");
        if rows.len() > LISTED {
            let _ = writeln!(
                h,
                "<p class=\"meta\">… and {} more: <code>bulk-reply report --csv</code> lists every row.</p>",
                rows.len() - LISTED
            );
        }
    }

    /// A ticket id, linked to the portal when `--ticket-url` says where tickets are.
    fn ticket(&self, id: &str) -> String {
        match self.ticket_url {
            Some(url) => format!(
                "<a href=\"{}\"><code>{}</code></a>",
                esc(&url.replace("{ticketId}", &percent_encode(id))),
                esc(id)
            ),
            None => format!("<code>{}</code>", esc(id)),
        }
    }
}

/// A plain-language cause and fix for a failure.
struct Cause {
    title: &'static str,
    cause: &'static str,
    fix: &'static str,
}

fn cause_of(kind: &str, error: &str) -> Cause {
    match kind {
        "rejected" if error.to_lowercase().contains("chat") => Cause {
            title: "Chat tickets cannot take API messages",
            cause: "These tickets were opened from the live chat; the API refuses messages to them (HTTP 422).",
            fix: "Answer them in the portal's chat instead, and leave chat tickets out of the next selection (bulk-reply tickets leaves them out unless asked).",
        },
        "rejected" => Cause {
            title: "The API refused the message",
            cause: "The API answered 400, 409 or 422 for these rows: something about the message or the ticket it does not accept (the error says what).",
            fix: "Read the error, correct the rows (or the template) and send the failed-rows file.",
        },
        "not_found" => Cause {
            title: "No such ticket",
            cause: "The API knows no ticket with this id (HTTP 404): mistyped, from another portal, or deleted since the list was made.",
            fix: "Check the ids in the portal; correct or remove these rows, then send the failed-rows file.",
        },
        "rate_limited" => Cause {
            title: "Too many requests",
            cause: "The API kept answering 429 Too Many Requests until every attempt was used: another job may share the API key's budget.",
            fix: "Run again with a lower --rate (or more --max-attempts); these rows are retried.",
        },
        "server" => Cause {
            title: "The API had trouble",
            cause: "The API answered with a server error (HTTP 5xx) on every attempt.",
            fix: "Usually passes: run the same command again later; these rows are retried.",
        },
        "network" => Cause {
            title: "The API could not be reached",
            cause: "Connections failed (refused, reset, name not found) on every attempt.",
            fix: "Check the network, proxy or --base-url, then run again.",
        },
        "timeout" => Cause {
            title: "No answer in time",
            cause: "The API did not answer within --timeout on every attempt; the ticket was read afterwards and did not have the message.",
            fix: "Run again later; for a slow API, a longer --timeout.",
        },
        "unauthorized" => Cause {
            title: "The API refused the credentials",
            cause: "The token was refused (HTTP 401 or 403); the run stopped so that no other row failed the same way.",
            fix: "Renew the API token (or the OAuth credentials) and run again.",
        },
        "invalid_response" => Cause {
            title: "The API answered something that is not a ticket",
            cause: "The answers could not be read as a ticket: a proxy's page, or the wrong --base-url.",
            fix: "Check that --base-url points at the ticket API, then run again.",
        },
        _ => Cause {
            title: "Failed",
            cause: "An error this version of the report does not describe.",
            fix: "Read the error; run again once it is fixed.",
        },
    }
}

/// Deliveries per minute over the runs, with the gaps between runs left out (a job sent on
/// three nights would otherwise be three slivers on a two-day axis).
struct Timeline {
    bars: Vec<Bar>,
    minutes_per_bar: u64,
}

enum Bar {
    Counts {
        first_minute: u64,
        tally: MinuteTally,
    },
    /// A run starts here.
    RunStart { label: String },
}

impl Timeline {
    fn of(history: &History, runs: &[RunStatus]) -> Option<Timeline> {
        // Each run's span in minutes; runs that recorded nothing take no room.
        let spans: Vec<(u64, u64, &RunStatus, &RunHistory)> = runs
            .iter()
            .zip(&history.runs)
            .filter_map(|(run, raw)| {
                let first = run.started_ms.or(raw.first_ms)?;
                let last = raw.last_ms?.max(first);
                Some((first / 60_000, last / 60_000, run, raw))
            })
            .collect();
        if spans.is_empty() {
            return None;
        }
        let minutes: u64 = spans.iter().map(|(first, last, ..)| last - first + 1).sum();
        let minutes_per_bar = minutes.div_ceil(MAX_BARS).max(1);
        let mut bars = Vec::new();
        for (first, last, run, raw) in spans {
            let mut label = format!(
                "Run {} · {}",
                run.number,
                run.started_at
                    .as_deref()
                    .map(clock_time)
                    .unwrap_or_default()
            );
            if let Some(counts) = run.summary.as_ref().map(|s| &s.counts)
                && (counts.rate_limited > 0 || counts.retries > 0)
            {
                label.push_str(&format!(
                    " · {}×429, {} retries",
                    counts.rate_limited, counts.retries
                ));
            }
            bars.push(Bar::RunStart { label });
            let mut minute = first;
            while minute <= last {
                let end = (minute + minutes_per_bar).min(last + 1);
                let mut bar = MinuteTally::default();
                for (_, tally) in raw.minutes.range(minute..end) {
                    bar.sent += tally.sent;
                    bar.skipped += tally.skipped;
                    bar.failed += tally.failed;
                }
                bars.push(Bar::Counts {
                    first_minute: minute,
                    tally: bar,
                });
                minute = end;
            }
        }
        Some(Timeline {
            bars,
            minutes_per_bar,
        })
    }

    fn write(&self, h: &mut String) {
        const WIDTH: f64 = 900.0;
        const LEFT: f64 = 44.0;
        const HEIGHT: f64 = 150.0;
        const TOP: f64 = 34.0;
        const RUN_GAP: f64 = 6.0;
        let counts = self
            .bars
            .iter()
            .filter(|bar| matches!(bar, Bar::Counts { .. }))
            .count();
        let starts = self.bars.len() - counts;
        // Bars share the width; a short job gets wide bars, never wider than 24.
        let bar_width = ((WIDTH - LEFT - starts as f64 * RUN_GAP) / counts.max(1) as f64).min(24.0);
        let peak = self
            .bars
            .iter()
            .map(|bar| match bar {
                Bar::Counts { tally, .. } => tally.total(),
                Bar::RunStart { .. } => 0,
            })
            .max()
            .unwrap_or(0)
            .max(1);
        let base = TOP + HEIGHT;
        let _ = write!(
            h,
            "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH:.0} {:.0}\" role=\"img\" aria-label=\"deliveries per minute\">\
             <text x=\"0\" y=\"{:.0}\" class=\"axis\">{peak}</text>\
             <line x1=\"{LEFT}\" x2=\"{WIDTH:.0}\" y1=\"{TOP}\" y2=\"{TOP}\" class=\"grid\"/>\
             <text x=\"0\" y=\"{base:.0}\" class=\"axis\">0</text>\
             <line x1=\"{LEFT}\" x2=\"{WIDTH:.0}\" y1=\"{base:.0}\" y2=\"{base:.0}\" class=\"grid\"/>",
            base + 24.0,
            TOP + 4.0,
        );
        let mut x = LEFT + 2.0;
        let mut run_labels = 0;
        let mut last_tick: Option<f64> = None;
        for bar in &self.bars {
            match bar {
                Bar::RunStart { label } => {
                    // Labels alternate between two lines so neighbours do not overlap.
                    let y = 12.0 + f64::from(run_labels % 2) * 12.0;
                    run_labels += 1;
                    x += RUN_GAP / 2.0;
                    let _ = write!(
                        h,
                        "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.0}\" y2=\"{base:.0}\" class=\"run\"/>\
                         <text x=\"{:.1}\" y=\"{y:.0}\" class=\"runlabel\">{}</text>",
                        y + 3.0,
                        x + 3.0,
                        esc(label)
                    );
                    x += RUN_GAP / 2.0;
                }
                Bar::Counts {
                    first_minute,
                    tally,
                } => {
                    let mut y = base;
                    for (class, count) in [
                        ("delivered", tally.sent),
                        ("skipped", tally.skipped),
                        ("failed", tally.failed),
                    ] {
                        if count == 0 {
                            continue;
                        }
                        let height = count as f64 * HEIGHT / peak as f64;
                        y -= height;
                        let _ = write!(
                            h,
                            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\">\
                             <title>{} {} UTC: {count} {class}</title></rect>",
                            (bar_width - 1.0).max(0.5),
                            esc(&minute_date(*first_minute)),
                            esc(&minute_clock(*first_minute))
                        );
                    }
                    // A time under the axis every 70 units or so.
                    if last_tick.is_none_or(|tick| x - tick >= 70.0) {
                        let _ = write!(
                            h,
                            "<text x=\"{x:.1}\" y=\"{:.0}\" class=\"axis\">{}</text>",
                            base + 16.0,
                            esc(&minute_clock(*first_minute))
                        );
                        last_tick = Some(x);
                    }
                    x += bar_width;
                }
            }
        }
        h.push_str("</svg>\n");
    }
}

/// `1 row`, `2 rows`.
fn counted(n: u64, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::input::template::push_html_escaped(&mut out, text);
    out
}

/// A ticket id inside a URL: anything but letters, digits, `-`, `_` and `.` encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The message as a reader sees it: tags dropped, block ends as line breaks, the common
/// character references decoded. Only for showing; the HTML as sent is shown beside it.
fn readable_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&decode_references(&rest[..open]));
        let Some(close) = rest[open..].find('>') else {
            out.push_str(&decode_references(&rest[open..]));
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match name.as_str() {
            "br" => out.push('\n'),
            "li" if !tag.starts_with('/') => out.push_str("• "),
            "p" | "div" | "ul" | "ol" | "h1" | "h2" | "h3" | "h4" | "blockquote"
                if tag.starts_with('/') =>
            {
                out.push_str("\n\n")
            }
            "li" | "tr" if tag.starts_with('/') => out.push('\n'),
            _ => {}
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(&decode_references(rest));
    // Line breaks in the source are not line breaks on the page.
    let lines: Vec<String> = out
        .split('\n')
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut text = lines.join("\n").trim().to_string();
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text
}

/// Character references decoded (the whole HTML5 table, as the exactly-once check reads
/// them); line breaks of the source become spaces, as a browser shows them.
fn decode_references(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match decode_reference(rest) {
            Some((decoded, len)) => {
                out.push_str(&decoded);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.replace('\n', " ")
}

fn state_words(status: &JobStatus) -> &'static str {
    use crate::cmd::status::JobState;
    match status.state {
        JobState::NotStarted => "not started",
        JobState::Running => "a run is sending right now",
        JobState::Unfinished => "unfinished",
        JobState::Done => "done: every row delivered or skipped",
    }
}

/// `2026-11-24T01:25:26.123Z` as `2026-11-24 01:25 UTC`; other texts as they are.
fn human_time(rfc3339: &str) -> String {
    match OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) {
        Ok(at) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            format!(
                "{}-{:02}-{:02} {:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        Err(_) => rfc3339.to_string(),
    }
}

fn clock_time(rfc3339: &str) -> String {
    human_time(rfc3339)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

fn minute_date(minute: u64) -> String {
    human_time(&format_ms(minute * 60_000))
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn minute_clock(minute: u64) -> String {
    clock_time(&format_ms(minute * 60_000))
}

const STYLE: &str = "
:root{--delivered:#2e7d32;--failed:#c62828;--skipped:#78909c;--doubt:#ef8f00;--pending:#d7dde3;--ink:#1d2733;--muted:#5f6b7a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:var(--ink);background:#f4f6f8}
main{max-width:960px;margin:0 auto;padding:24px 28px 40px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h1 .input{color:var(--muted);font-weight:500}
h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #e3e7eb;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 4px}h3 .count{color:var(--muted);font-weight:500}h3 code{font-size:12px;color:var(--muted)}
.meta{color:var(--muted);font-size:13px;margin:2px 0 8px}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:16px 0 10px}
.card{flex:1 1 110px;border:1px solid #e3e7eb;border-top:5px solid #9aa5b1;border-radius:6px;padding:8px 12px}
.card .n{display:block;font-size:28px;font-weight:700}.card .l{color:var(--muted);font-size:13px}
.card.delivered{border-top-color:var(--delivered)}.card.failed{border-top-color:var(--failed)}
.card.skipped{border-top-color:var(--skipped)}.card.doubt{border-top-color:var(--doubt)}.card.pending{border-top-color:var(--pending)}
svg.bar{width:100%;height:24px;display:block;border-radius:4px;background:var(--pending)}
rect.delivered{fill:var(--delivered)}rect.failed{fill:var(--failed)}rect.skipped{fill:var(--skipped)}rect.doubt{fill:var(--doubt)}rect.pending{fill:var(--pending)}
.alert{border:2px solid var(--failed);background:#fdecea;border-radius:6px;padding:4px 16px 12px;margin-top:20px}
.alert h2{color:var(--failed);border:0}
blockquote.message{margin:8px 0;padding:12px 16px;border-left:4px solid var(--delivered);background:#f6faf6}
pre.source{white-space:pre-wrap;word-break:break-word;font-size:12px;background:#f4f6f8;padding:8px 12px;border-radius:4px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e8ebee;vertical-align:top}
th{background:#f4f6f8;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.files th{width:200px}
.group{margin-bottom:14px}
svg.timeline{width:100%;height:auto;display:block}
.axis{font-size:10px;fill:var(--muted)}.grid{stroke:#e3e7eb}.run{stroke:var(--ink);stroke-dasharray:3 2}
.runlabel{font-size:10px;fill:var(--ink)}
.legend{font-size:13px;color:var(--muted)}.key{display:inline-block;width:10px;height:10px;margin:0 2px 0 8px}
.key.delivered{background:var(--delivered)}.key.failed{background:var(--failed)}.key.skipped{background:var(--skipped)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
@media print{body{background:#fff}main{padding:0;max-width:none}section{break-inside:avoid-page}h2{break-after:avoid}}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_be_markup() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn a_message_reads_as_text() {
        assert_eq!(
            readable_text(
                "<p>Beste <strong>Jan</strong>,</p>\n<ul><li>Caf&eacute; &amp; co</li><li>&#8364; 5</li></ul><p>Groet<br>Team</p>"
            ),
            "Beste Jan,\n\n• Café & co\n• € 5\n\nGroet\nTeam"
        );
    }

    fn row(line: u64, status: RowStatus, title: &str) -> RowLine {
        RowLine {
            line,
            ticket_id: format!("tic_{line}"),
            status,
            message_id: None,
            posted_at: None,
            error_kind: None,
            error: None,
            reason: None,
            title: Some(title.to_string()),
            copies: None,
            doubled: false,
        }
    }

    #[test]
    fn doubled_rows_come_first_and_every_text_is_escaped() {
        let files = crate::journal::JobFiles {
            journal: "job.csv.journal".into(),
            results: "job.csv.results.ndjson".into(),
            failed: "job.csv.failed.csv".into(),
            target: String::new(),
        };
        let history = History::default();
        let status = JobStatus::of(std::path::Path::new("<b>job</b>.csv"), &files, &history, 0);
        let mut doubled = row(2, RowStatus::Sent, "<script>x()</script>");
        doubled.doubled = true;
        doubled.copies = Some(2);
        let mut failed = row(3, RowStatus::Failed, "");
        failed.error_kind = Some("rejected".into());
        failed.error = Some("HTTP 422: live chat <i>tickets</i>".into());
        let rows = JobRows {
            rows: BTreeMap::from([(2, doubled), (3, failed)]),
            keep: super::super::Keep::Notable,
            first_message: None,
            input_unread: None,
            unreadable_results: 0,
        };
        let page = Page {
            status: &status,
            history: &history,
            rows: &rows,
            ticket_url: Some("https://portal.example/t/{ticketId}"),
        };
        let mut html = Vec::new();
        page.render(&mut html);
        let html = String::from_utf8(html).unwrap();
        assert!(!html.contains("<script") && !html.contains("<b>job") && !html.contains("<i>"));
        assert!(html.contains("&lt;script&gt;x()&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;job&lt;/b&gt;.csv"));
        let alert = html.find("id=\"doubled\"").expect("the doubled section");
        assert!(
            alert < html.find("id=\"failures\"").unwrap(),
            "doubled before failures"
        );
        assert!(html.contains("1 customer got the message twice"));
        assert!(html.contains("Chat tickets cannot take API messages"));
        assert!(html.contains("<a href=\"https://portal.example/t/tic_2\">"));
    }

    #[test]
    fn ticket_ids_in_links_are_encoded() {
        assert_eq!(percent_encode("tic_a\"b c"), "tic_a%22b%20c");
    }
}
