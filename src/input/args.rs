//! The input flags shared by every command that reads rows (`validate`, `send`).

use std::path::PathBuf;

use encoding_rs::Encoding;

use super::rules::{DEFAULT_MAX_MESSAGE_BYTES, Rules};

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Comma-, semicolon- or tab-separated values with a header row
    Csv,
    /// One JSON object per line (also called JSON Lines)
    Ndjson,
    /// A spreadsheet workbook: Excel (.xlsx, .xlsm, .xlsb, .xls) or OpenDocument (.ods)
    Workbook,
}

/// Where the rows come from and how to read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSource {
    /// The file to read; `None` reads standard input.
    pub path: Option<PathBuf>,
    /// The format; `None` means guess it from the extension or the first bytes.
    pub format: Option<InputFormat>,
    /// The CSV delimiter; `None` means detect it from the header line.
    pub delimiter: Option<u8>,
    /// The workbook sheet to read; `None` means the first one.
    pub sheet: Option<String>,
    /// The text encoding of a CSV or NDJSON input; `None` means UTF-8, or what a byte-order
    /// mark says.
    pub encoding: Option<&'static Encoding>,
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
    /// The rows to read: a CSV file (.csv, .tsv), NDJSON (.ndjson, .jsonl) or a workbook
    /// (.xlsx, .xlsm, .xlsb, .xls, .ods); `-` reads standard input
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Read INPUT as this format instead of guessing it from the extension (standard input
    /// is guessed from its first bytes)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,

    /// CSV field separator: `,`  `;`  or `tab` (default: detected from the header line)
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// The workbook sheet to read, by the name on its tab (default: the first sheet)
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,

    /// The text encoding of a CSV or NDJSON input, such as windows-1252, iso-8859-15,
    /// utf-16le (default: UTF-8; a byte-order mark for UTF-8 or UTF-16 is always followed)
    #[arg(long, value_name = "ENCODING", value_parser = parse_encoding)]
    pub encoding: Option<&'static Encoding>,

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
            sheet: self.sheet.clone(),
            encoding: self.encoding,
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

/// An encoding by any of its WHATWG labels (`windows-1252`, `cp1252`, `latin1`,
/// `utf-16le` …), as browsers name them.
fn parse_encoding(label: &str) -> Result<&'static Encoding, String> {
    Encoding::for_label_no_replacement(label.trim().as_bytes()).ok_or_else(|| {
        format!(
            "{label:?} is not an encoding this tool knows; common ones are windows-1252 \
             (Excel's \"CSV\" in Western Europe), iso-8859-15, utf-16le and utf-8"
        )
    })
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

    #[test]
    fn encodings_by_their_common_names() {
        assert_eq!(parse_encoding("cp1252"), Ok(encoding_rs::WINDOWS_1252));
        assert_eq!(
            parse_encoding("Windows-1252"),
            Ok(encoding_rs::WINDOWS_1252)
        );
        assert_eq!(parse_encoding("latin1"), Ok(encoding_rs::WINDOWS_1252));
        assert_eq!(parse_encoding("iso-8859-15"), Ok(encoding_rs::ISO_8859_15));
        assert_eq!(parse_encoding("utf-16le"), Ok(encoding_rs::UTF_16LE));
        assert!(
            parse_encoding("ebcdic")
                .unwrap_err()
                .contains("windows-1252")
        );
    }
}
