//! The input flags shared by every command that reads rows (`validate`, `send`).

use std::path::PathBuf;

use super::rules::{DEFAULT_MAX_MESSAGE_BYTES, Rules};

/// The two input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Comma-, semicolon- or tab-separated values with a header row
    Csv,
    /// One JSON object per line (also called JSON Lines)
    Ndjson,
}

/// Where the rows come from and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSource {
    /// The file to read; `None` reads standard input.
    pub path: Option<PathBuf>,
    /// The format; `None` means guess it from the extension or the first bytes.
    pub format: Option<InputFormat>,
    /// The CSV delimiter; `None` means detect it from the header line.
    pub delimiter: Option<u8>,
}

impl InputSource {
    /// How the input is called in messages.
    pub fn name(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => "standard input".to_owned(),
        }
    }
}

/// Input flags, flattened into each reading command's own `Args`.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// The rows to read: a CSV file (.csv, .tsv) or NDJSON (.ndjson, .jsonl); `-` reads
    /// standard input
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Read INPUT as this format instead of guessing it from the extension (standard input
    /// is guessed from its first bytes)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,

    /// CSV field separator: `,`  `;`  or `tab` (default: detected from the header line)
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// Accept the same ticketId with the same message on several rows (each one is sent)
    #[arg(long)]
    pub allow_duplicates: bool,

    /// Refuse messages longer than this many bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

impl InputArgs {
    pub fn source(&self) -> InputSource {
        let path = (self.input.as_os_str() != "-").then(|| self.input.clone());
        InputSource {
            path,
            format: self.input_format,
            delimiter: self.delimiter,
        }
    }

    pub fn rules(&self) -> Rules {
        Rules {
            allow_duplicates: self.allow_duplicates,
            max_message_bytes: self.max_message_bytes,
        }
    }
}

/// `,` `;` `tab` (or a literal tab, or `\t`), or any other single ASCII punctuation mark.
fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        _ => match text.as_bytes() {
            [byte] if byte.is_ascii_punctuation() && *byte != b'"' => Ok(*byte),
            _ => Err(format!(
                "{text:?} is not a delimiter: use one character such as , or ; or the word tab"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_names_and_characters() {
        assert_eq!(parse_delimiter(","), Ok(b','));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter("\\t"), Ok(b'\t'));
        assert_eq!(parse_delimiter("|"), Ok(b'|'));
        for bad in ["", "ab", "\"", "x", "é"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
    }
}
