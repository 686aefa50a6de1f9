//! Guessing the delimiter from the header line: comma (most tools), semicolon (Excel in a
//! Dutch or German locale, where the comma is the decimal separator) or tab (`.tsv`).

use crate::input::columns::Required;

const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];

/// The candidate that splits `header_line` into a header naming both required columns; if
/// none does, the one that occurs most often outside quotes; comma when none occurs.
pub(crate) fn detect(header_line: &[u8]) -> u8 {
    let counts = CANDIDATES.map(|candidate| count_outside_quotes(header_line, candidate));
    let mut best = (0, b',');
    for (candidate, count) in CANDIDATES.into_iter().zip(counts) {
        if count > 0 && names_both_columns(header_line, candidate) {
            return candidate;
        }
        if count > best.0 {
            best = (count, candidate);
        }
    }
    best.1
}

fn count_outside_quotes(line: &[u8], delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for &byte in line {
        match byte {
            b'"' => quoted = !quoted,
            _ if byte == delimiter && !quoted => count += 1,
            _ => {}
        }
    }
    count
}

fn names_both_columns(line: &[u8], delimiter: u8) -> bool {
    let mut ticket_id = false;
    let mut message = false;
    for name in line.split(|&byte| byte == delimiter) {
        let name = String::from_utf8_lossy(name);
        match Required::of(name.trim().trim_matches('"')) {
            Some(Required::TicketId) => ticket_id = true,
            Some(Required::Message) => message = true,
            None => {}
        }
    }
    ticket_id && message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_delimiter_that_names_both_columns() {
        assert_eq!(detect(b"ticketId,message\r\n"), b',');
        assert_eq!(detect(b"ticketId;message"), b';');
        assert_eq!(detect(b"ticketId\tmessage\tname"), b'\t');
        // A comma inside a column name does not fool it.
        assert_eq!(detect(b"\"Name, full\";ticket_id;Message"), b';');
        assert_eq!(detect(b"Ticket ID;Bericht, NL;message"), b';');
    }

    #[test]
    fn falls_back_to_the_most_frequent_then_comma() {
        assert_eq!(detect(b"a;b;c,d"), b';');
        assert_eq!(detect(b"ticket"), b',');
        assert_eq!(detect(b""), b',');
    }
}
