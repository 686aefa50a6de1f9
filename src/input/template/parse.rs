//! A template's text, parsed once into literal text and `{{ name }}` placeholders.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(String),
    /// The name between the braces, inner spaces removed.
    Placeholder(String),
}

/// Splits `text` into parts. A `{{` that is not closed by `}}` on the same line, or that
/// holds no name, is an error naming its line: it is almost surely a typo, and sending it
/// as text would show the braces to every customer.
pub(crate) fn parse(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(open) = rest.find("{{") {
        let (literal, after) = rest.split_at(open);
        line += literal.matches('\n').count();
        if !literal.is_empty() {
            parts.push(Part::Literal(literal.to_owned()));
        }
        let inner = &after[2..];
        let line_end = inner.find('\n').unwrap_or(inner.len());
        let Some(close) = inner[..line_end].find("}}") else {
            return Err(format!(
                "line {line}: a placeholder opens with {{{{ but is not closed with }}}} on the \
                 same line; write it as {{{{column}}}}"
            ));
        };
        let name = inner[..close].trim();
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(format!(
                "line {line}: {:?} is not a placeholder: put a column name between {{{{ and }}}}, \
                 like {{{{name}}}}",
                &after[..close + 4]
            ));
        }
        parts.push(Part::Placeholder(name.to_owned()));
        rest = &inner[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Part {
        Part::Literal(text.to_owned())
    }

    fn ph(name: &str) -> Part {
        Part::Placeholder(name.to_owned())
    }

    #[test]
    fn literals_and_placeholders_with_or_without_inner_spaces() {
        assert_eq!(
            parse("Beste {{name}},\n{{ title }} is {{  status}}.").unwrap(),
            [
                lit("Beste "),
                ph("name"),
                lit(",\n"),
                ph("title"),
                lit(" is "),
                ph("status"),
                lit(".")
            ]
        );
        assert_eq!(parse("{{a}}{{b}}").unwrap(), [ph("a"), ph("b")]);
        assert_eq!(parse("no placeholders").unwrap(), [lit("no placeholders")]);
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse("a } b { c").unwrap(), [lit("a } b { c")]);
    }

    #[test]
    fn broken_placeholders_name_their_line() {
        let err = parse("Hi\nthere {{name\n}}").unwrap_err();
        assert!(err.starts_with("line 2: "), "{err}");
        assert!(err.contains("not closed"), "{err}");
        let err = parse("{{ }}").unwrap_err();
        assert!(err.contains("is not a placeholder"), "{err}");
        let err = parse("a\nb\n{{{name}}}").unwrap_err();
        assert!(err.starts_with("line 3: "), "{err}");
    }
}
