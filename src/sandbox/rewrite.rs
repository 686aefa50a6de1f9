//! Stored HTML is not what was posted: the sandbox rewrites a message the way help-desk
//! sanitisers (HTML Purifier, bleach, PHP's `htmlentities`) do, and stores the result.
//!
//! A client that recognises its own message by comparing the stored text with what it sent
//! byte for byte will not find it; these rewrites let a rehearsal show that.
//!
//! The modes always apply in one fixed order, the order of [`RewriteMode::ALL`]:
//!
//! 1. `strip-attributes`, 2. `void-tags`, 3. `strong` — tags, in one pass;
//! 4. `linkify`, 5. `quotes` — text outside tags, in the same pass;
//! 6. `whitespace`, 7. `wrap`, 8. `entities` / 9. `numeric` — the whole message.
//!
//! Tag rewrites come first so a link made by `linkify` keeps its `href` under
//! `strip-attributes`; `wrap` follows `whitespace` so that a message opening with blanks and
//! then `<p>` is not wrapped twice; entities come last so the typographic quotes of `quotes`
//! are encoded too (`&ldquo;`), as a sanitiser that runs `htmlentities` last would do.
//!
//! Every mode re-serialises the message, and a `<` that opens no tag is written `&lt;`, as
//! every sanitiser does. That also keeps the rewrites from changing what is a tag: a `</p>`
//! appended by `wrap` can never close a half-written tag the client sent.
//!
//! Pure functions on `&str`, total on every input: tags are found by a small scanner that
//! gives up (and treats the `<` as text) on anything it cannot read, and every slice it
//! takes ends on an ASCII byte, hence on a character boundary.

mod entities;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use entities::entity_name;

/// One thing a sanitiser does to the HTML it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteMode {
    /// Every attribute dropped from every tag, except `href` on `<a>`.
    StripAttributes,
    /// Void elements written self-closed: `<br>` → `<br />`, `<img …>` → `<img … />`.
    VoidTags,
    /// `<b>` → `<strong>`, `<i>` → `<em>` (and their closing tags).
    Strong,
    /// Bare `http://` and `https://` URLs in text, outside `<a>`, made into links.
    Linkify,
    /// Straight quotes in text made typographic: `"…"` → `“…”`, `'` → `’` (`‘` opening).
    Quotes,
    /// Runs of whitespace collapsed to one space; the message trimmed.
    Whitespace,
    /// A message that does not open with a block element wrapped whole in `<p>…</p>`.
    Wrap,
    /// Non-ASCII characters as HTML 4.01 named entities (`é` → `&eacute;`), like PHP's
    /// `htmlentities`; a character without a name as `&#NNN;`.
    Entities,
    /// Every non-ASCII character as a decimal reference `&#NNN;` (`entities` wins where
    /// both are given).
    Numeric,
}

impl RewriteMode {
    /// Every mode, in the order they apply.
    pub const ALL: [RewriteMode; 9] = [
        RewriteMode::StripAttributes,
        RewriteMode::VoidTags,
        RewriteMode::Strong,
        RewriteMode::Linkify,
        RewriteMode::Quotes,
        RewriteMode::Whitespace,
        RewriteMode::Wrap,
        RewriteMode::Entities,
        RewriteMode::Numeric,
    ];

    /// The name `--rewrite` takes.
    pub fn name(self) -> &'static str {
        match self {
            RewriteMode::StripAttributes => "strip-attributes",
            RewriteMode::VoidTags => "void-tags",
            RewriteMode::Strong => "strong",
            RewriteMode::Linkify => "linkify",
            RewriteMode::Quotes => "quotes",
            RewriteMode::Whitespace => "whitespace",
            RewriteMode::Wrap => "wrap",
            RewriteMode::Entities => "entities",
            RewriteMode::Numeric => "numeric",
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The set of modes a sandbox applies to every stored message; empty by default.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Rewrites(u16);

impl Rewrites {
    /// Store what was posted, unchanged.
    pub const NONE: Rewrites = Rewrites(0);

    /// Every mode.
    pub fn all() -> Rewrites {
        RewriteMode::ALL.into_iter().collect()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, mode: RewriteMode) -> bool {
        self.0 & mode.bit() != 0
    }

    pub fn with(self, mode: RewriteMode) -> Rewrites {
        Rewrites(self.0 | mode.bit())
    }

    /// `posted` as the sanitiser stores it; borrowed when no mode is on.
    pub fn apply(self, posted: &str) -> Cow<'_, str> {
        if self.is_empty() {
            return Cow::Borrowed(posted);
        }
        let mut stored = rewrite_tags_and_text(posted, self);
        if self.contains(RewriteMode::Whitespace) {
            stored = collapse_whitespace(&stored);
        }
        if self.contains(RewriteMode::Wrap) && !opens_with_block_element(&stored) {
            stored = format!("<p>{stored}</p>");
        }
        if self.contains(RewriteMode::Entities) || self.contains(RewriteMode::Numeric) {
            stored = encode_non_ascii(&stored, self.contains(RewriteMode::Entities));
        }
        Cow::Owned(stored)
    }
}

impl FromIterator<RewriteMode> for Rewrites {
    fn from_iter<I: IntoIterator<Item = RewriteMode>>(modes: I) -> Self {
        modes.into_iter().fold(Rewrites::NONE, Rewrites::with)
    }
}

/// `entities,void-tags`, or `all`: what `--rewrite` takes.
impl FromStr for Rewrites {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut rewrites = Rewrites::NONE;
        for name in text.split(',').map(str::trim) {
            if name == "all" {
                rewrites = Rewrites::all();
                continue;
            }
            let Some(mode) = RewriteMode::ALL.into_iter().find(|m| m.name() == name) else {
                let known: Vec<&str> = RewriteMode::ALL.iter().map(|m| m.name()).collect();
                return Err(format!(
                    "unknown rewrite mode {name:?}; use one or more of {}, or all",
                    known.join(", ")
                ));
            };
            rewrites = rewrites.with(mode);
        }
        Ok(rewrites)
    }
}

/// `entities,void-tags` in application order, or `none`.
impl fmt::Display for Rewrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = RewriteMode::ALL
            .into_iter()
            .filter(|&m| self.contains(m))
            .map(RewriteMode::name)
            .collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Rewrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rewrites({self})")
    }
}

/// A piece of a message as the scanner reads it.
#[derive(Debug)]
enum Token<'a> {
    /// Text between tags; never contains `<`.
    Text(&'a str),
    /// A `<` that opens no tag the scanner can read.
    StrayLessThan,
    Tag(Tag<'a>),
}

#[derive(Debug)]
struct Tag<'a> {
    /// The tag exactly as posted, `<` to `>`.
    raw: &'a str,
    closing: bool,
    name: &'a str,
    attributes: Vec<Attribute<'a>>,
    /// Ends in `/>`.
    self_closing: bool,
}

#[derive(Debug)]
struct Attribute<'a> {
    /// `name`, `name=value`, `name="value"` as posted.
    raw: &'a str,
    name: &'a str,
}

impl Tag<'_> {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    fn is_any_of(&self, names: &[&str]) -> bool {
        names.iter().any(|name| self.is(name))
    }
}

/// HTML's void elements: they have no content and no closing tag.
const VOID_ELEMENTS: [&str; 13] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// What `wrap` accepts as already wrapped.
const WRAPPING_BLOCKS: [&str; 13] = [
    "p",
    "div",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "pre",
];

/// Tags a reader sees as a break in the text: a quote after one of them opens.
const BREAKING_TAGS: [&str; 8] = ["p", "div", "br", "li", "td", "th", "tr", "blockquote"];

/// Splits `html` into text, tags and stray `<`s.
fn tokenize(html: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let less_than = at + offset;
        if less_than > text_start {
            tokens.push(Token::Text(&html[text_start..less_than]));
        }
        match read_tag(html, less_than) {
            Some((tag, end)) => {
                tokens.push(Token::Tag(tag));
                at = end;
            }
            None => {
                tokens.push(Token::StrayLessThan);
                at = less_than + 1;
            }
        }
        text_start = at;
    }
    if text_start < html.len() {
        tokens.push(Token::Text(&html[text_start..]));
    }
    tokens
}

/// Reads the tag opening at `start` (a `<`): its parts and the index just past its `>`.
/// `None` when it is no tag: no letter after `<` or `</`, no `>`, an unclosed quote, or a `<`
/// inside it (which is then where the next tag may start).
fn read_tag(html: &str, start: usize) -> Option<(Tag<'_>, usize)> {
    let bytes = html.as_bytes();
    let is_space = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_whitespace);
    let ends_name = |byte: u8| byte.is_ascii_whitespace() || matches!(byte, b'/' | b'>' | b'<');
    let mut at = start + 1;
    let closing = bytes.get(at) == Some(&b'/');
    if closing {
        at += 1;
    }
    if !bytes.get(at).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let name_start = at;
    while bytes.get(at).is_some_and(|&b| !ends_name(b)) {
        at += 1;
    }
    let name = &html[name_start..at];
    let mut attributes = Vec::new();
    let mut slash_before_end = false;
    loop {
        while is_space(at) {
            at += 1;
        }
        match *bytes.get(at)? {
            b'>' => break,
            b'<' => return None,
            b'/' => {
                slash_before_end = true;
                at += 1;
                continue;
            }
            _ => {}
        }
        slash_before_end = false;
        let attribute_start = at;
        // HTML reads a leading `=` as part of the attribute's name.
        at += 1;
        while bytes.get(at).is_some_and(|&b| !ends_name(b) && b != b'=') {
            at += 1;
        }
        let name_end = at;
        let mut after_name = at;
        while is_space(after_name) {
            after_name += 1;
        }
        if bytes.get(after_name) == Some(&b'=') {
            at = after_name + 1;
            while is_space(at) {
                at += 1;
            }
            match *bytes.get(at)? {
                quote @ (b'"' | b'\'') => {
                    let close = html[at + 1..].find(char::from(quote))?;
                    at += 1 + close + 1;
                }
                b'<' => return None,
                _ => {
                    while bytes
                        .get(at)
                        .is_some_and(|&b| !b.is_ascii_whitespace() && !matches!(b, b'>' | b'<'))
                    {
                        at += 1;
                    }
                }
            }
        }
        attributes.push(Attribute {
            raw: &html[attribute_start..at],
            name: &html[attribute_start..name_end],
        });
    }
    let end = at + 1;
    let tag = Tag {
        raw: &html[start..end],
        closing,
        name,
        attributes,
        self_closing: slash_before_end,
    };
    Some((tag, end))
}

/// The one pass over tokens: tag rewrites, `linkify` and `quotes`, stray `<` escaped.
fn rewrite_tags_and_text(posted: &str, rewrites: Rewrites) -> String {
    let mut stored = String::with_capacity(posted.len() + posted.len() / 8);
    let mut open_links = 0usize;
    let mut quotes = QuoteState::default();
    for token in tokenize(posted) {
        match token {
            Token::Tag(tag) => {
                if tag.is("a") {
                    if tag.closing {
                        open_links = open_links.saturating_sub(1);
                    } else if !tag.self_closing {
                        open_links += 1;
                    }
                }
                if tag.is_any_of(&BREAKING_TAGS) {
                    quotes.previous = None;
                }
                write_tag(&mut stored, &tag, rewrites);
            }
            Token::StrayLessThan => {
                stored.push_str("&lt;");
                quotes.previous = Some('<');
            }
            Token::Text(text) => {
                let linkify = rewrites.contains(RewriteMode::Linkify) && open_links == 0;
                let curl = rewrites.contains(RewriteMode::Quotes);
                write_text(&mut stored, text, linkify, curl.then_some(&mut quotes));
            }
        }
    }
    stored
}

fn write_tag(stored: &mut String, tag: &Tag<'_>, rewrites: Rewrites) {
    let renamed = if rewrites.contains(RewriteMode::Strong) {
        if tag.is("b") {
            Some("strong")
        } else if tag.is("i") {
            Some("em")
        } else {
            None
        }
    } else {
        None
    };
    let keeps = |attribute: &Attribute<'_>| {
        !rewrites.contains(RewriteMode::StripAttributes)
            || (tag.is("a") && attribute.name.eq_ignore_ascii_case("href"))
    };
    let strips = tag.attributes.iter().any(|a| !keeps(a));
    let closes_void =
        rewrites.contains(RewriteMode::VoidTags) && !tag.closing && tag.is_any_of(&VOID_ELEMENTS);
    if renamed.is_none() && !strips && !closes_void {
        stored.push_str(tag.raw);
        return;
    }
    stored.push('<');
    if tag.closing {
        stored.push('/');
    }
    stored.push_str(renamed.unwrap_or(tag.name));
    for attribute in tag.attributes.iter().filter(|a| keeps(a)) {
        stored.push(' ');
        stored.push_str(attribute.raw);
    }
    if closes_void || tag.self_closing {
        stored.push_str(" /");
    }
    stored.push('>');
}

/// What `quotes` needs to know: the character a reader saw last (`None` at the start of the
/// message or after a break such as `<p>`), which decides whether a quote opens or closes.
#[derive(Default)]
struct QuoteState {
    previous: Option<char>,
}

impl QuoteState {
    fn opens(&self) -> bool {
        self.previous
            .is_none_or(|c| c.is_whitespace() || matches!(c, '(' | '[' | '{' | '“' | '‘'))
    }

    fn curl(&mut self, c: char) -> char {
        let curled = match c {
            '"' if self.opens() => '“',
            '"' => '”',
            '\'' if self.opens() => '‘',
            '\'' => '’',
            other => other,
        };
        self.previous = Some(curled);
        curled
    }
}

fn write_text(stored: &mut String, text: &str, linkify: bool, mut quotes: Option<&mut QuoteState>) {
    let mut rest = text;
    while !rest.is_empty() {
        let (plain, url, after) = if linkify {
            split_at_url(rest)
        } else {
            (rest, "", "")
        };
        match quotes.as_deref_mut() {
            Some(state) => stored.extend(plain.chars().map(|c| state.curl(c))),
            None => stored.push_str(plain),
        }
        if !url.is_empty() {
            // A URL holds no quote, `<` or `>` (see `split_at_url`): safe inside `href="…"`.
            stored.push_str("<a href=\"");
            stored.push_str(url);
            stored.push_str("\">");
            stored.push_str(url);
            stored.push_str("</a>");
            if let Some(state) = quotes.as_deref_mut() {
                state.previous = url.chars().next_back();
            }
        }
        rest = after;
    }
}

/// `(text before the first bare URL, the URL, the rest)`; the URL is empty when there is none.
/// A URL starts with `http://` or `https://` not glued to a preceding letter or digit, runs to
/// whitespace or a quote or angle bracket, and leaves trailing punctuation (`.`, `,`, `)`, …)
/// to the sentence, as linkifiers do.
fn split_at_url(text: &str) -> (&str, &str, &str) {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = text[from..].find(['h', 'H']) {
        let start = from + offset;
        from = start + 1;
        if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let after_scheme = ["https://", "http://"]
            .into_iter()
            .find(|scheme| {
                bytes
                    .get(start..start + scheme.len())
                    .is_some_and(|b| b.eq_ignore_ascii_case(scheme.as_bytes()))
            })
            .map(|scheme| start + scheme.len());
        let Some(after_scheme) = after_scheme else {
            continue;
        };
        let mut end = text[after_scheme..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(text.len(), |offset| after_scheme + offset);
        while end > after_scheme
            && matches!(
                bytes[end - 1],
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b')'
            )
        {
            end -= 1;
        }
        if end == after_scheme {
            continue;
        }
        return (&text[..start], &text[start..end], &text[end..]);
    }
    (text, "", "")
}

/// Runs of ASCII whitespace (HTML's own) as one space, the ends trimmed.
fn collapse_whitespace(html: &str) -> String {
    let mut collapsed = String::with_capacity(html.len());
    for word in html.split_ascii_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

fn opens_with_block_element(html: &str) -> bool {
    let html = html.trim_start_matches(|c: char| c.is_ascii_whitespace());
    html.starts_with('<')
        && read_tag(html, 0).is_some_and(|(tag, _)| !tag.closing && tag.is_any_of(&WRAPPING_BLOCKS))
}

/// Every non-ASCII character as `&name;` (when `named` and HTML 4.01 has a name) or `&#NNN;`.
fn encode_non_ascii(html: &str, named: bool) -> String {
    use std::fmt::Write;
    let mut encoded = String::with_capacity(html.len() + html.len() / 4);
    for c in html.chars() {
        if c.is_ascii() {
            encoded.push(c);
            continue;
        }
        match entity_name(c).filter(|_| named) {
            Some(name) => {
                encoded.push('&');
                encoded.push_str(name);
                encoded.push(';');
            }
            // Writing to a String cannot fail.
            None => {
                let _ = write!(encoded, "&#{};", u32::from(c));
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rewrite(posted: &str, modes: &str) -> String {
        let rewrites: Rewrites = modes.parse().expect("known modes");
        rewrites.apply(posted).into_owned()
    }

    /// What a reader of the rendered message sees, normalised for the changes a rewrite may
    /// make to it on purpose: whitespace collapsed and trimmed, typographic quotes straight.
    fn visible_text(html: &str) -> String {
        let mut text = String::new();
        for token in tokenize(html) {
            match token {
                Token::Text(t) => text.push_str(t),
                Token::StrayLessThan => text.push('<'),
                Token::Tag(_) => {}
            }
        }
        let decoded = decode_references(&text);
        let straight: String = decoded
            .chars()
            .map(|c| match c {
                '“' | '”' => '"',
                '‘' | '’' => '\'',
                other => other,
            })
            .collect();
        collapse_whitespace(&straight)
    }

    /// `&name;`, `&#NNN;` and `&#xHH;` decoded; anything else left as it is.
    fn decode_references(text: &str) -> String {
        let mut decoded = String::new();
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            decoded.push_str(&rest[..amp]);
            rest = &rest[amp..];
            let reference = rest[1..]
                .find(';')
                .map(|semicolon| &rest[1..1 + semicolon])
                .filter(|r| {
                    !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
                });
            let character = reference.and_then(|r| {
                if let Some(number) = r.strip_prefix("#x").or_else(|| r.strip_prefix("#X")) {
                    u32::from_str_radix(number, 16)
                        .ok()
                        .and_then(char::from_u32)
                } else if let Some(number) = r.strip_prefix('#') {
                    number.parse().ok().and_then(char::from_u32)
                } else {
                    entities::NAMED_ENTITIES
                        .iter()
                        .find(|(_, name)| *name == r)
                        .map(|&(c, _)| c)
                }
            });
            match (reference, character) {
                (Some(r), Some(c)) => {
                    decoded.push(c);
                    rest = &rest[r.len() + 2..];
                }
                _ => {
                    decoded.push('&');
                    rest = &rest[1..];
                }
            }
        }
        decoded.push_str(rest);
        decoded
    }

    #[test]
    fn no_mode_stores_the_message_as_posted() {
        let posted = "<p>Café <b>open</b></p>";
        assert!(matches!(Rewrites::NONE.apply(posted), Cow::Borrowed(p) if p == posted));
    }

    #[test]
    fn the_entity_table_is_html_4_01_complete_and_sorted() {
        assert_eq!(entities::NAMED_ENTITIES.len(), 252);
        assert!(entities::NAMED_ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(entity_name('é'), Some("eacute"));
        assert_eq!(entity_name('€'), Some("euro"));
        assert_eq!(entity_name('—'), Some("mdash"));
        assert_eq!(entity_name('ÿ'), Some("yuml"));
        assert_eq!(entity_name('♦'), Some("diams"));
        assert_eq!(entity_name('ā'), None);
    }

    #[test]
    fn entities_names_what_html_4_names_and_numbers_the_rest() {
        assert_eq!(
            rewrite("<p>Café — 5 € “ok” ā 😀</p>", "entities"),
            "<p>Caf&eacute; &mdash; 5 &euro; &ldquo;ok&rdquo; &#257; &#128512;</p>"
        );
        // Attribute values are text to `htmlentities` too.
        assert_eq!(
            rewrite("<a title=\"née\">x</a>", "entities"),
            "<a title=\"n&eacute;e\">x</a>"
        );
    }

    #[test]
    fn numeric_numbers_every_non_ascii_character_unless_entities_is_also_on() {
        assert_eq!(rewrite("Café €", "numeric"), "Caf&#233; &#8364;");
        assert_eq!(rewrite("Café ā", "numeric,entities"), "Caf&eacute; &#257;");
    }

    #[test]
    fn void_tags_are_self_closed() {
        assert_eq!(
            rewrite(
                "a<br>b<hr><img src=\"x.png\" alt=x><BR/><br />",
                "void-tags"
            ),
            "a<br />b<hr /><img src=\"x.png\" alt=x /><BR /><br />"
        );
        assert_eq!(rewrite("<p>x</p></br>", "void-tags"), "<p>x</p></br>");
    }

    #[test]
    fn strong_replaces_b_and_i() {
        assert_eq!(
            rewrite(
                "<b>bold</b> <I class=\"x\">it</I> <bdi>b</bdi> <br>",
                "strong"
            ),
            "<strong>bold</strong> <em class=\"x\">it</em> <bdi>b</bdi> <br>"
        );
    }

    #[test]
    fn strip_attributes_keeps_only_href_on_links() {
        assert_eq!(
            rewrite(
                "<p class=\"lead\" style='color:red'>Hi <a href=\"https://x.nl\" target=_blank \
                 onclick=\"a>b\">x</a><img src=x.png alt></p>",
                "strip-attributes"
            ),
            "<p>Hi <a href=\"https://x.nl\">x</a><img></p>"
        );
    }

    #[test]
    fn wrap_wraps_a_message_that_opens_with_no_block_element() {
        assert_eq!(
            rewrite("Hello <b>you</b>", "wrap"),
            "<p>Hello <b>you</b></p>"
        );
        assert_eq!(rewrite("<b>Hi</b>", "wrap"), "<p><b>Hi</b></p>");
        assert_eq!(rewrite("<param>x", "wrap"), "<p><param>x</p>");
        for kept in [
            "<p>x</p>",
            "  <DIV>x</DIV>",
            "<ul><li>x</li></ul>",
            "<h3>x</h3>",
            "<pre>x</pre>",
            "<blockquote>x</blockquote>",
            "<table></table>",
        ] {
            assert_eq!(rewrite(kept, "wrap"), kept);
        }
    }

    #[test]
    fn whitespace_collapses_runs_and_trims() {
        assert_eq!(
            rewrite("  <p>Dear\t\tcustomer,\r\n\r\n  thanks</p>\n", "whitespace"),
            "<p>Dear customer, thanks</p>"
        );
    }

    #[test]
    fn quotes_curl_in_text_only() {
        assert_eq!(
            rewrite(
                "<p class=\"x\">\"Hello,\" she said. It's 'fine'.</p><p>\"Next\"</p>",
                "quotes"
            ),
            "<p class=\"x\">“Hello,” she said. It’s ‘fine’.</p><p>“Next”</p>"
        );
        assert_eq!(rewrite("<b>x</b>\"", "quotes"), "<b>x</b>”");
    }

    #[test]
    fn linkify_links_bare_urls_outside_links() {
        assert_eq!(
            rewrite(
                "See https://status.example.nl/incident/42. Or <a href=\"http://a.nl\">http://a.nl</a>",
                "linkify"
            ),
            "See <a href=\"https://status.example.nl/incident/42\">https://status.example.nl/incident/42</a>. \
             Or <a href=\"http://a.nl\">http://a.nl</a>"
        );
        assert_eq!(
            rewrite("xhttp://a.nl http:// (HTTP://b.nl)", "linkify"),
            "xhttp://a.nl http:// (<a href=\"HTTP://b.nl\">HTTP://b.nl</a>)"
        );
    }

    #[test]
    fn a_stray_less_than_is_escaped_by_every_mode() {
        assert_eq!(rewrite("1 < 2 and <3", "strong"), "1 &lt; 2 and &lt;3");
        assert_eq!(rewrite("<a title=\"x>", "wrap"), "<p>&lt;a title=\"x></p>");
    }

    #[test]
    fn all_modes_combine_in_the_documented_order() {
        assert_eq!(
            rewrite(
                "  Café \"open\"\n\n<b class=x>again</b><br>see https://x.nl/é  ",
                "all"
            ),
            "<p>Caf&eacute; &ldquo;open&rdquo; <strong>again</strong><br />see \
             <a href=\"https://x.nl/&eacute;\">https://x.nl/&eacute;</a></p>"
        );
        assert_eq!(
            Rewrites::all().to_string(),
            "strip-attributes,void-tags,strong,linkify,quotes,whitespace,wrap,entities,numeric"
        );
    }

    #[test]
    fn parses_mode_lists_and_refuses_unknown_names() {
        let parsed: Rewrites = "entities, void-tags".parse().unwrap();
        assert!(parsed.contains(RewriteMode::Entities) && parsed.contains(RewriteMode::VoidTags));
        assert!(!parsed.contains(RewriteMode::Wrap));
        assert_eq!("all".parse::<Rewrites>(), Ok(Rewrites::all()));
        let error = "entities,bold".parse::<Rewrites>().unwrap_err();
        assert!(
            error.contains("\"bold\"") && error.contains("strip-attributes"),
            "{error}"
        );
        assert!("".parse::<Rewrites>().is_err());
    }

    fn any_modes() -> impl Strategy<Value = Rewrites> {
        any::<u16>().prop_map(|bits| {
            RewriteMode::ALL
                .into_iter()
                .filter(|m| bits & m.bit() != 0)
                .collect()
        })
    }

    /// Messages made of pieces that exercise the scanner: tags, broken tags, quotes, URLs,
    /// references, non-ASCII and whitespace, mixed with arbitrary text.
    fn html_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<String>(),
            "[<>\"'=/ a-zA-Z&;#\t\n]{0,12}",
            Just("<b>".to_owned()),
            Just("</b>".to_owned()),
            Just("<a href=\"http://x.nl\">".to_owned()),
            Just("</a>".to_owned()),
            Just("<img src='a>b' alt=c>".to_owned()),
            Just("<br>".to_owned()),
            Just("<p class=x>".to_owned()),
            Just(" https://e.nl/a?b=c&d. ".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("<".to_owned()),
            Just("&eacute;".to_owned()),
            Just("é€—ā ".to_owned()),
        ];
        prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(posted in any::<String>(), modes in any_modes()) {
            let _ = modes.apply(&posted);
            let _ = Rewrites::all().apply(&posted);
        }

        #[test]
        fn a_reader_sees_the_same_text(posted in html_like(), modes in any_modes()) {
            let stored = modes.apply(&posted);
            prop_assert_eq!(visible_text(&stored), visible_text(&posted), "stored: {:?}", stored);
        }
    }
}
