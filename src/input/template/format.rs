//! The three message formats, and how a value is made to show literally in each.
//!
//! The portal shows messages as HTML, so whatever is written ends up as HTML:
//! - `html` is posted as written;
//! - `text` is escaped, blank lines separate paragraphs (`<p>…</p>`), single line breaks
//!   become `<br>`;
//! - `markdown` is CommonMark, rendered by pulldown-cmark (raw HTML in it passes through,
//!   as CommonMark says).

use std::path::Path;

/// How a message (or a template) is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// HTML, posted as written
    #[default]
    Html,
    /// Plain text: escaped; blank lines make paragraphs, line breaks become <br>
    Text,
    /// CommonMark Markdown, converted to HTML
    Markdown,
}

impl MessageFormat {
    /// The format a template file's extension names: `.html`/`.htm`, `.txt`, `.md`/`.markdown`.
    pub fn of_extension(path: &Path) -> Option<MessageFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "html" | "htm" => Some(MessageFormat::Html),
            "txt" | "text" => Some(MessageFormat::Text),
            "md" | "markdown" => Some(MessageFormat::Markdown),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MessageFormat::Html => "html",
            MessageFormat::Text => "text",
            MessageFormat::Markdown => "markdown",
        }
    }

    /// Turns a whole message written in this format into the HTML that is posted.
    pub(crate) fn to_html(self, message: &str) -> String {
        match self {
            MessageFormat::Html => message.to_owned(),
            MessageFormat::Text => text_to_html(message),
            MessageFormat::Markdown => markdown_to_html(message),
        }
    }
}

/// Escapes the five characters that mean something in HTML text and attribute values.
pub(crate) fn push_html_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

/// Plain text to HTML: every character escaped, paragraphs at blank lines, `<br>` at single
/// line breaks. Whitespace around paragraphs is dropped; within a line it is kept.
fn text_to_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + text.len() / 8 + 16);
    let mut paragraph: Vec<&str> = Vec::new();
    fn flush(paragraph: &mut Vec<&str>, html: &mut String) {
        if paragraph.is_empty() {
            return;
        }
        if !html.is_empty() {
            html.push('\n');
        }
        html.push_str("<p>");
        for (index, line) in paragraph.iter().enumerate() {
            if index > 0 {
                html.push_str("<br>\n");
            }
            push_html_escaped(html, line);
        }
        html.push_str("</p>");
        paragraph.clear();
    }
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut html);
        } else {
            paragraph.push(line.trim_end());
        }
    }
    flush(&mut paragraph, &mut html);
    html
}

/// CommonMark to HTML, without extensions: what people type in a notice (paragraphs,
/// emphasis, lists, links, headings) is all in CommonMark.
fn markdown_to_html(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new(markdown);
    let mut html = String::with_capacity(markdown.len() + markdown.len() / 4 + 16);
    pulldown_cmark::html::push_html(&mut html, parser);
    // The renderer ends every block with a newline; the last one is noise in a message.
    html.truncate(html.trim_end_matches('\n').len());
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats() {
        let of = |name: &str| MessageFormat::of_extension(Path::new(name));
        assert_eq!(of("n.HTML"), Some(MessageFormat::Html));
        assert_eq!(of("n.htm"), Some(MessageFormat::Html));
        assert_eq!(of("n.txt"), Some(MessageFormat::Text));
        assert_eq!(of("n.md"), Some(MessageFormat::Markdown));
        assert_eq!(of("n.markdown"), Some(MessageFormat::Markdown));
        assert_eq!(of("n.tmpl"), None);
        assert_eq!(of("n"), None);
    }

    #[test]
    fn html_escaping_covers_the_five_characters() {
        let mut out = String::new();
        push_html_escaped(&mut out, r#"Tom & <b>"Jerry"</b>'s"#);
        assert_eq!(out, "Tom &amp; &lt;b&gt;&quot;Jerry&quot;&lt;/b&gt;&#39;s");
    }

    #[test]
    fn text_becomes_paragraphs_and_line_breaks() {
        assert_eq!(
            text_to_html("Hello Tom & co,\n\nThe outage is over.\nSorry! <3\n\n\n  \nBye\n"),
            "<p>Hello Tom &amp; co,</p>\n<p>The outage is over.<br>\nSorry! &lt;3</p>\n<p>Bye</p>"
        );
        assert_eq!(text_to_html("\r\none\r\ntwo\r\n"), "<p>one<br>\ntwo</p>");
        assert_eq!(text_to_html(""), "");
    }

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            markdown_to_html(
                "# Notice\n\nHello *you*, see [the status page](https://x.nl/s).\n\n- a\n- b\n"
            ),
            "<h1>Notice</h1>\n<p>Hello <em>you</em>, see <a href=\"https://x.nl/s\">the status page</a>.</p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>"
        );
    }
}
