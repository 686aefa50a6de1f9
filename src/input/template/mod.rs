//! Making each row's message: from a template filled with the row's columns, or from the
//! row's own message, in HTML, plain text or Markdown — always ending as the HTML that is
//! posted.
//!
//! The same [`Composer`] runs twice: while validating (so length limits and checks see the
//! real message, and the preview shows it) and while sending. Composing is a pure function
//! of the template and the row, so both runs give the same string, and so does a later run
//! of the same command: the journal knows a row by the message actually posted.
//!
//! A template is turned into HTML once, before any row: each placeholder stands in the text
//! as a marker of letters and digits, which no format changes, and the HTML that comes out
//! is split at the markers again. Each row's values are then HTML-escaped into those slots.
//! So a value never meets the Markdown or text conversion at all: a customer called
//! `Tom & <b>Jerry</b>` or `*Ann* [x](y)` is shown as typed, also inside a code span or a
//! link, never as markup; and a value holding `{{name}}` is not filled in again.

mod args;
mod format;
mod parse;

use std::path::{Path, PathBuf};

pub use args::MessageArgs;
pub use format::MessageFormat;
pub(crate) use format::push_html_escaped;
use parse::Part;

use super::columns::{MessageColumn, loose_eq};

/// The placeholder that is always there: the row's ticket id.
const TICKET_ID: &str = "ticketId";
const MESSAGE: &str = "message";

/// A template file, parsed.
#[derive(Debug, Clone)]
pub struct Template {
    path: PathBuf,
    parts: Vec<Part>,
}

impl Template {
    /// Reads and parses the template at `path`.
    pub fn load(path: &Path) -> Result<Template, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the template {}: {e}", path.display()))?;
        // Windows editors start UTF-8 files with a byte-order mark; it must not reach a
        // customer (nor hide a Markdown heading).
        Template::parse(path, text.strip_prefix('\u{feff}').unwrap_or(&text))
    }

    pub fn parse(path: &Path, text: &str) -> Result<Template, String> {
        let parts = parse::parse(text).map_err(|e| format!("template {}: {e}", path.display()))?;
        if parts.is_empty() {
            return Err(format!(
                "the template {} is empty: write the message in it",
                path.display()
            ));
        }
        Ok(Template {
            path: path.to_path_buf(),
            parts,
        })
    }

    /// The placeholder names, each once, in order of first use.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Placeholder(name) = part
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        }
        names
    }
}

/// How each row's message is made.
#[derive(Debug, Clone, Default)]
pub struct Composer {
    template: Option<Template>,
    /// The template in HTML, its placeholders kept as slots.
    html: Vec<Part>,
    format: MessageFormat,
}

impl Composer {
    /// Fails when the format's conversion swallows a placeholder (one inside an HTML
    /// comment, say): its value would silently never show.
    pub fn new(template: Option<Template>, format: MessageFormat) -> Result<Composer, String> {
        let html = match &template {
            Some(template) => to_html_slots(&template.parts, format).map_err(|name| {
                format!(
                    "template {}: the placeholder {{{{{name}}}}} disappears when the {} is \
                     converted to HTML; move it into the text",
                    template.path.display(),
                    format.name()
                )
            })?,
            None => Vec::new(),
        };
        Ok(Composer {
            template,
            html,
            format,
        })
    }

    /// The row's own message, posted as written (HTML): what bulk-reply always did.
    pub fn as_written() -> Composer {
        Composer::default()
    }

    /// True when messages are posted exactly as the input has them: no work per row.
    pub fn is_as_written(&self) -> bool {
        self.template.is_none() && self.format == MessageFormat::Html
    }

    /// With a template the rows need no message of their own.
    pub fn message_column(&self) -> MessageColumn {
        match self.template {
            Some(_) => MessageColumn::Ignored,
            None => MessageColumn::Required,
        }
    }

    /// Whether the template takes the input's message column (`{{message}}`).
    pub fn uses_message_column(&self) -> bool {
        self.template.as_ref().is_some_and(|t| {
            t.placeholders()
                .into_iter()
                .any(|name| loose_eq(name, MESSAGE))
        })
    }

    /// The placeholders that match none of `columns` (nor `ticketId`), for a check at the
    /// header: with a CSV every row has the same columns, so one error there says it all.
    pub fn unknown_placeholders<'a>(&'a self, columns: &[String]) -> Vec<&'a str> {
        let Some(template) = &self.template else {
            return Vec::new();
        };
        template
            .placeholders()
            .into_iter()
            .filter(|name| {
                !loose_eq(name, TICKET_ID) && !columns.iter().any(|column| loose_eq(name, column))
            })
            .collect()
    }

    /// The placeholders that match several of `columns` (`naam` and `Naam`), each with the
    /// columns it matches: which one was meant cannot be told, so neither is used.
    pub fn ambiguous_placeholders<'a>(
        &'a self,
        columns: &'a [String],
    ) -> Vec<(&'a str, Vec<&'a str>)> {
        let Some(template) = &self.template else {
            return Vec::new();
        };
        template
            .placeholders()
            .into_iter()
            .filter(|name| !loose_eq(name, TICKET_ID))
            .filter_map(|name| {
                let matching: Vec<&str> = columns
                    .iter()
                    .filter(|column| loose_eq(name, column))
                    .map(String::as_str)
                    .collect();
                (matching.len() > 1).then_some((name, matching))
            })
            .collect()
    }

    /// The HTML posted for one row. `fields` are the row's other columns by name. An error
    /// names each placeholder that has no value in this row.
    pub fn compose(
        &self,
        ticket_id: &str,
        message: &str,
        fields: &[(String, String)],
    ) -> Result<String, String> {
        if self.template.is_none() {
            return Ok(self.format.to_html(message));
        }
        let mut html = String::with_capacity(256);
        let mut empty = Vec::new();
        let mut missing = Vec::new();
        let mut ambiguous = Vec::new();
        for part in &self.html {
            match part {
                Part::Literal(text) => html.push_str(text),
                Part::Placeholder(name) => match value_of(name, ticket_id, message, fields) {
                    Lookup::Found(value) if !value.trim().is_empty() => {
                        push_html_escaped(&mut html, value)
                    }
                    Lookup::Found(_) => empty.push(name.as_str()),
                    Lookup::Missing => missing.push(name.as_str()),
                    Lookup::Ambiguous => ambiguous.push(name.as_str()),
                },
            }
        }
        if !missing.is_empty() || !empty.is_empty() || !ambiguous.is_empty() {
            return Err(describe_gaps(&missing, &empty, &ambiguous, fields));
        }
        Ok(html)
    }
}

/// The template converted to HTML once, with its placeholders as slots. A placeholder that
/// does not come out of the conversion is returned as the error.
fn to_html_slots(parts: &[Part], format: MessageFormat) -> Result<Vec<Part>, String> {
    if format == MessageFormat::Html {
        return Ok(parts.to_vec());
    }
    // Letters and digits only, so no format escapes or interprets it, and longer until the
    // template itself does not contain it.
    let mut marker = String::from("bulkreplyslot");
    while parts
        .iter()
        .any(|part| matches!(part, Part::Literal(text) if text.contains(&marker)))
    {
        marker.push('q');
    }
    let mut names = Vec::new();
    let mut source = String::new();
    for part in parts {
        match part {
            Part::Literal(text) => source.push_str(text),
            Part::Placeholder(name) => {
                source.push_str(&format!("{marker}{}z", names.len()));
                names.push(name.as_str());
            }
        }
    }
    let html = format.to_html(&source);
    let mut slots = Vec::new();
    let mut seen = vec![false; names.len()];
    let mut rest = html.as_str();
    while let Some(at) = rest.find(&marker) {
        let after = &rest[at + marker.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let index = after[..digits]
            .parse::<usize>()
            .ok()
            .filter(|&i| i < names.len());
        let (Some(index), Some(b'z')) = (index, after.as_bytes().get(digits)) else {
            // Not one of ours after all; keep it as text.
            slots.push(Part::Literal(rest[..at + marker.len()].to_owned()));
            rest = after;
            continue;
        };
        if at > 0 {
            slots.push(Part::Literal(rest[..at].to_owned()));
        }
        slots.push(Part::Placeholder(names[index].to_owned()));
        seen[index] = true;
        rest = &after[digits + 1..];
    }
    if !rest.is_empty() {
        slots.push(Part::Literal(rest.to_owned()));
    }
    match seen.iter().position(|found| !found) {
        Some(lost) => Err(names[lost].to_owned()),
        None => Ok(slots),
    }
}

/// What a placeholder finds in a row.
enum Lookup<'a> {
    Found(&'a str),
    Missing,
    /// Several fields have its name (`naam` and `Naam`): which one was meant is unknown.
    Ambiguous,
}

/// The value a placeholder stands for: the ticket id, the one field of that name (case,
/// spaces, `_` and `-` aside: `{{customer name}}` finds `customerName`), or the input's
/// message column (`{{message}}`: a template may wrap each row's own text).
fn value_of<'a>(
    name: &str,
    ticket_id: &'a str,
    message: &'a str,
    fields: &'a [(String, String)],
) -> Lookup<'a> {
    if loose_eq(name, TICKET_ID) {
        return Lookup::Found(ticket_id);
    }
    let mut matching = fields.iter().filter(|(column, _)| loose_eq(column, name));
    match (matching.next(), matching.next()) {
        (Some(_), Some(_)) => Lookup::Ambiguous,
        (Some((_, value)), None) => Lookup::Found(value),
        (None, _) if loose_eq(name, MESSAGE) => Lookup::Found(message),
        (None, _) => Lookup::Missing,
    }
}

fn describe_gaps(
    missing: &[&str],
    empty: &[&str],
    ambiguous: &[&str],
    fields: &[(String, String)],
) -> String {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("{{{{{name}}}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !empty.is_empty() {
        parts.push(format!(
            "the template's {} has no value in this row: fill it in, or remove the row",
            list(empty)
        ));
    }
    if !ambiguous.is_empty() {
        parts.push(format!(
            "the template's {} matches several fields of this row (case, spaces, _ and - do \
             not matter): rename all but one",
            list(ambiguous)
        ));
    }
    if !missing.is_empty() {
        let found: Vec<String> = fields.iter().map(|(name, _)| format!("{name:?}")).collect();
        parts.push(format!(
            "the template's {} matches no field of this row (fields: ticketId{}{})",
            list(missing),
            if found.is_empty() { "" } else { ", " },
            found.join(", ")
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_never_reaches_the_message() {
        let mut file = tempfile::Builder::new().suffix(".md").tempfile().unwrap();
        std::io::Write::write_all(&mut file, "\u{feff}# Storing {{name}}\n".as_bytes()).unwrap();
        let template = Template::load(file.path()).unwrap();
        let composer = Composer::new(Some(template), MessageFormat::Markdown).unwrap();
        let message = composer
            .compose("tic_1", "", &fields(&[("name", "Ann")]))
            .unwrap();
        assert_eq!(message.trim(), "<h1>Storing Ann</h1>");
    }

    fn composer(text: &str, format: MessageFormat) -> Composer {
        let template = Template::parse(Path::new("t"), text).unwrap();
        Composer::new(Some(template), format).unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn html_template_escapes_values_and_fills_the_ticket_id() {
        let composer = composer(
            "<p>Beste {{ name }}, over {{ticketId}}: {{Title}}</p>",
            MessageFormat::Html,
        );
        let row = fields(&[("name", "Tom & <b>Jerry</b>"), ("title", "{{name}} 'x'")]);
        assert_eq!(
            composer.compose("tic_a1", "ignored", &row).unwrap(),
            "<p>Beste Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;, over tic_a1: {{name}} &#39;x&#39;</p>"
        );
    }

    #[test]
    fn text_template_escapes_everything() {
        let composer = composer("Beste {{name}},\n\nHet is opgelost.\n", MessageFormat::Text);
        let row = fields(&[("name", "<i>Ann</i>")]);
        assert_eq!(
            composer.compose("tic_a1", "", &row).unwrap(),
            "<p>Beste &lt;i&gt;Ann&lt;/i&gt;,</p>\n<p>Het is opgelost.</p>"
        );
    }

    #[test]
    fn markdown_template_keeps_values_literal() {
        let composer = composer(
            "Beste **{{name}}**,\n\n*Opgelost.*",
            MessageFormat::Markdown,
        );
        let row = fields(&[("name", "*Tom* & [x](y)")]);
        assert_eq!(
            composer.compose("tic_a1", "", &row).unwrap(),
            "<p>Beste <strong>*Tom* &amp; [x](y)</strong>,</p>\n<p><em>Opgelost.</em></p>"
        );
    }

    #[test]
    fn empty_and_missing_values_are_named() {
        let composer = composer("{{name}} {{title}} {{city}}", MessageFormat::Html);
        let err = composer
            .compose("tic_a1", "", &fields(&[("name", " "), ("title", "x")]))
            .unwrap_err();
        assert!(err.contains("{{name}} has no value in this row"), "{err}");
        assert!(err.contains("{{city}} matches no field"), "{err}");
        assert!(
            err.contains("(fields: ticketId, \"name\", \"title\")"),
            "{err}"
        );
    }

    #[test]
    fn unknown_placeholders_are_found_at_the_header() {
        let composer = composer(
            "{{Ticket ID}} {{customer_name}} {{nmae}}",
            MessageFormat::Html,
        );
        let columns = vec!["ticketId".to_string(), "Customer Name".to_string()];
        assert_eq!(composer.unknown_placeholders(&columns), ["nmae"]);
    }

    #[test]
    fn a_placeholder_matching_two_columns_is_refused() {
        // The columns of issue 17: `naam,Naam`.
        let composer = composer("Beste {{naam}}", MessageFormat::Html);
        let columns = vec!["naam".to_string(), "Naam".to_string()];
        assert_eq!(
            composer.ambiguous_placeholders(&columns),
            [("naam", vec!["naam", "Naam"])]
        );
        let err = composer
            .compose("tic_a1", "", &fields(&[("naam", "Ann"), ("Naam", "Bob")]))
            .unwrap_err();
        assert!(err.contains("{{naam}} matches several fields"), "{err}");
    }

    #[test]
    fn without_a_template_the_message_is_converted() {
        let text = Composer::new(None, MessageFormat::Text).unwrap();
        assert_eq!(
            text.compose("tic_a", "a & b", &[]).unwrap(),
            "<p>a &amp; b</p>"
        );
        assert!(!text.is_as_written());
        let html = Composer::as_written();
        assert!(html.is_as_written());
        assert_eq!(html.compose("tic_a", "<p>x</p>", &[]).unwrap(), "<p>x</p>");
    }

    #[test]
    fn values_stay_literal_in_code_spans_links_and_line_starts() {
        let composer = composer(
            "`{{a}}` [link](https://x.nl/{{ticketId}})\n\n{{b}}\n",
            MessageFormat::Markdown,
        );
        let row = fields(&[("a", "x_y*z"), ("b", "# not a heading & <i>")]);
        assert_eq!(
            composer.compose("tic_a", "", &row).unwrap(),
            "<p><code>x_y*z</code> <a href=\"https://x.nl/tic_a\">link</a></p>\n<p># not a heading &amp; &lt;i&gt;</p>"
        );
    }

    #[test]
    fn a_template_containing_the_marker_still_works() {
        let composer = composer("bulkreplyslot0z {{a}}", MessageFormat::Text);
        let row = fields(&[("a", "v")]);
        assert_eq!(
            composer.compose("tic_a", "", &row).unwrap(),
            "<p>bulkreplyslot0z v</p>"
        );
    }

    #[test]
    fn a_placeholder_the_conversion_drops_is_refused() {
        let template =
            Template::parse(Path::new("t.md"), "Hi\n\n[x]: https://a.nl/{{a}}\n").unwrap();
        let err = Composer::new(Some(template), MessageFormat::Markdown).unwrap_err();
        assert!(err.contains("{{a}} disappears"), "{err}");
    }

    proptest::proptest! {
        // A fixed seed: the same 256 values on every run.
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6e6f_7469_6365),
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Whatever a value holds, it arrives as its HTML-escaped self, in every format.
        #[test]
        fn any_value_shows_literally(value in "\\PC{1,40}") {
            proptest::prop_assume!(!value.trim().is_empty());
            let mut escaped = String::new();
            push_html_escaped(&mut escaped, &value);
            for (format, text, before, after) in [
                (MessageFormat::Html, "<p>Hi {{a}}!</p>", "<p>Hi ", "!</p>"),
                (MessageFormat::Text, "Hi {{a}}!", "<p>Hi ", "!</p>"),
                (MessageFormat::Markdown, "Hi **{{a}}**!", "<p>Hi <strong>", "</strong>!</p>"),
            ] {
                let row = fields(&[("a", value.as_str())]);
                let html = composer(text, format).compose("tic_a", "", &row).unwrap();
                proptest::prop_assert_eq!(html, format!("{before}{escaped}{after}"));
            }
        }
    }

    #[test]
    fn composing_is_deterministic() {
        let composer = composer("# {{a}}\n\n{{b}}", MessageFormat::Markdown);
        let row = fields(&[("a", "x_y"), ("b", "<z>")]);
        let first = composer.compose("tic_a", "", &row).unwrap();
        for _ in 0..3 {
            assert_eq!(composer.compose("tic_a", "", &row).unwrap(), first);
        }
    }
}
