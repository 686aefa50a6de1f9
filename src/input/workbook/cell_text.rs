//! A cell's value as the person who typed it sees it, for templates and messages: a ticket
//! id typed as text stays text, a number has no float tail (`1250`, not `1250.0`; `0.3`, not
//! `0.30000000000000004`), and dates and times are written the ISO way (`2024-03-05`,
//! `2024-03-05 14:30`, `14:30`), the same whether Excel or LibreOffice saved the file.
//!
//! What a number format adds (a currency sign, a percent, thousands separators) is not
//! applied: the workbook stores the number, and the number is what is shown.

use calamine::{CellErrorType, Data, DataRef, ExcelDateTime};

/// A cell, borrowed from either of calamine's two value types.
pub(super) enum CellValue<'a> {
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    DateTime(ExcelDateTime),
    /// OpenDocument stores dates as ISO text already: `2024-03-05T14:30:00`.
    DateTimeIso(&'a str),
    /// … and times of day as ISO durations: `PT14H30M00S`.
    DurationIso(&'a str),
    Error(&'a CellErrorType),
    Empty,
}

impl<'a> From<&'a Data> for CellValue<'a> {
    fn from(data: &'a Data) -> Self {
        match data {
            Data::String(text) => CellValue::Text(text),
            Data::Int(value) => CellValue::Int(*value),
            Data::Float(value) => CellValue::Float(*value),
            Data::Bool(value) => CellValue::Bool(*value),
            Data::DateTime(value) => CellValue::DateTime(*value),
            Data::DateTimeIso(text) => CellValue::DateTimeIso(text),
            Data::DurationIso(text) => CellValue::DurationIso(text),
            Data::Error(error) => CellValue::Error(error),
            Data::Empty => CellValue::Empty,
        }
    }
}

impl<'a> From<&'a DataRef<'a>> for CellValue<'a> {
    fn from(data: &'a DataRef<'a>) -> Self {
        match data {
            DataRef::String(text) => CellValue::Text(text),
            DataRef::SharedString(text) => CellValue::Text(text),
            DataRef::Int(value) => CellValue::Int(*value),
            DataRef::Float(value) => CellValue::Float(*value),
            DataRef::Bool(value) => CellValue::Bool(*value),
            DataRef::DateTime(value) => CellValue::DateTime(*value),
            DataRef::DateTimeIso(text) => CellValue::DateTimeIso(text),
            DataRef::DurationIso(text) => CellValue::DurationIso(text),
            DataRef::Error(error) => CellValue::Error(error),
            DataRef::Empty => CellValue::Empty,
        }
    }
}

/// A cell's text, and whether it is a formula's error (`#N/A`, `#DIV/0!`) rather than a
/// value.
pub(super) fn cell_text(value: CellValue) -> (String, bool) {
    let text = match value {
        CellValue::Text(text) => text.to_owned(),
        CellValue::Int(value) => value.to_string(),
        CellValue::Float(value) => number_text(value),
        // As both Excel and LibreOffice show them.
        CellValue::Bool(true) => "TRUE".to_owned(),
        CellValue::Bool(false) => "FALSE".to_owned(),
        CellValue::DateTime(value) if value.is_duration() => duration_text(value.as_f64()),
        CellValue::DateTime(value) => date_time_text(value),
        CellValue::DateTimeIso(text) => iso_date_time_text(text),
        CellValue::DurationIso(text) => iso_duration_text(text).unwrap_or_else(|| text.to_owned()),
        CellValue::Error(error) => return (error.to_string(), true),
        CellValue::Empty => String::new(),
    };
    (text, false)
}

/// Significant digits a spreadsheet keeps and shows: beyond 15 a double is noise.
const SIGNIFICANT_DIGITS: i32 = 15;

/// A number as a spreadsheet's General format shows it: whole numbers without a decimal
/// point, others rounded to 15 significant digits with trailing zeros dropped.
fn number_text(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        // `as` is exact here; it also makes -0 plain 0.
        return format!("{}", value as i64);
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = SIGNIFICANT_DIGITS - 1 - magnitude;
    if (0..=30).contains(&decimals) {
        let text = format!("{value:.*}", decimals as usize);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return match text {
            "-0" => "0".to_owned(),
            _ => text.to_owned(),
        };
    }
    // Very large or very small: scientific, as a spreadsheet shows it too.
    let text = format!("{value:.*e}", (SIGNIFICANT_DIGITS - 1) as usize);
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
        None => text,
    }
}

/// `2024-03-05`, `2024-03-05 14:30`, `2024-03-05 14:30:15`, or `14:30` for a time of day.
fn date_time_text(value: ExcelDateTime) -> String {
    let (year, month, day, hour, minute, second, milli) = value.to_ymd_hms_milli();
    // Rounded to the second, as a spreadsheet shows it by default.
    let second = second + u8::from(milli >= 500);
    let time = time_text(hour, minute, second);
    if value.as_f64() < 1.0 {
        return time.unwrap_or_else(|| "00:00".to_owned());
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    match time {
        Some(time) => format!("{date} {time}"),
        None => date,
    }
}

/// `14:30` or `14:30:15`; `None` at midnight (a date without a time).
fn time_text(hour: u8, minute: u8, second: u8) -> Option<String> {
    match (hour, minute, second) {
        (0, 0, 0) => None,
        (_, _, 0) => Some(format!("{hour:02}:{minute:02}")),
        _ => Some(format!("{hour:02}:{minute:02}:{second:02}")),
    }
}

/// A duration in days, as `[h]:mm:ss` shows it: `36:00:00`.
fn duration_text(days: f64) -> String {
    let seconds = (days * 86_400.0).round() as i64;
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.unsigned_abs();
    format!(
        "{sign}{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// OpenDocument's `2024-03-05T14:30:00` (or `…T14:30:00.000`, or a date alone) the same way
/// as [`date_time_text`] writes Excel's.
fn iso_date_time_text(text: &str) -> String {
    let Some((date, time)) = text.split_once('T') else {
        return text.to_owned();
    };
    let mut parts = time.split(':');
    let number = |part: Option<&str>| part.and_then(|p| p.parse::<f64>().ok());
    match (
        number(parts.next()),
        number(parts.next()),
        number(parts.next()),
    ) {
        (Some(hour), Some(minute), Some(second)) => {
            match time_text(hour as u8, minute as u8, second.round() as u8) {
                Some(time) => format!("{date} {time}"),
                None => date.to_owned(),
            }
        }
        _ => text.to_owned(),
    }
}

/// OpenDocument's time of day, `PT14H30M00S`, as `14:30`; `None` if it is not of that form.
fn iso_duration_text(text: &str) -> Option<String> {
    let rest = text.strip_prefix("PT")?;
    let (hours, rest) = rest.split_once('H')?;
    let (minutes, rest) = rest.split_once('M')?;
    let seconds = rest.strip_suffix('S')?;
    let hours: u64 = hours.parse().ok()?;
    let minutes: u8 = minutes.parse().ok()?;
    let seconds = seconds.parse::<f64>().ok()?.round() as u8;
    Some(match seconds {
        0 => format!("{hours:02}:{minutes:02}"),
        _ => format!("{hours:02}:{minutes:02}:{seconds:02}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn text(value: CellValue) -> String {
        cell_text(value).0
    }

    #[test]
    fn numbers_have_no_float_tail() {
        assert_eq!(number_text(1250.0), "1250");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(12.5), "12.5");
        assert_eq!(number_text(0.1 + 0.2), "0.3");
        assert_eq!(number_text(-1.0 / 3.0), "-0.333333333333333");
        assert_eq!(number_text(31_612_345_678.0), "31612345678");
        assert_eq!(number_text(1e20), "1e20");
        assert_eq!(number_text(-1.5e-20), "-1.5e-20");
        assert_eq!(text(CellValue::Int(42)), "42");
    }

    #[test]
    fn dates_and_times_read_the_iso_way() {
        let excel = |value| {
            CellValue::DateTime(ExcelDateTime::new(
                value,
                ExcelDateTimeType::DateTime,
                false,
            ))
        };
        assert_eq!(text(excel(45356.0)), "2024-03-05");
        assert_eq!(text(excel(45356.0 + 14.5 / 24.0)), "2024-03-05 14:30");
        assert_eq!(text(excel(14.5 / 24.0)), "14:30");
        let duration =
            CellValue::DateTime(ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(text(duration), "36:00:00");
        assert_eq!(text(CellValue::DateTimeIso("2024-03-05")), "2024-03-05");
        assert_eq!(
            text(CellValue::DateTimeIso("2024-03-05T14:30:00")),
            "2024-03-05 14:30"
        );
        assert_eq!(
            text(CellValue::DateTimeIso("2024-03-05T00:00:00")),
            "2024-03-05"
        );
        assert_eq!(text(CellValue::DurationIso("PT14H30M00S")), "14:30");
        assert_eq!(text(CellValue::DurationIso("PT14H30M05.4S")), "14:30:05");
    }

    #[test]
    fn text_stays_text_and_errors_are_marked() {
        assert_eq!(
            cell_text(CellValue::Text("00123")),
            ("00123".to_owned(), false)
        );
        assert_eq!(text(CellValue::Bool(true)), "TRUE");
        assert_eq!(
            cell_text(CellValue::Error(&CellErrorType::NA)),
            ("#N/A".to_owned(), true)
        );
    }
}
