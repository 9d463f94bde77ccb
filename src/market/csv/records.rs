//! Raw CSV records: the reader's settings, physical line numbers, and the text, prices and
//! volumes of single cells (whose errors are the reasons rows are rejected).

use ::csv::{ByteRecord, ReaderBuilder, Trim};

use super::CsvError;
use crate::domain::{MoneyError, Price, Quantity};

/// A reader of raw records: the header is read as a record like any other, and a row with the
/// wrong number of fields comes back as it is (`flexible`), to be reported as a rejected row
/// instead of stopping the reader.
pub(super) fn reader(content: &[u8]) -> ::csv::Reader<&[u8]> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(content)
}

/// Reads the next record into `record`; false at the end of the text.
pub(super) fn next_record(
    name: &str,
    records: &mut ::csv::Reader<&[u8]>,
    record: &mut ByteRecord,
) -> Result<bool, CsvError> {
    records
        .read_byte_record(record)
        .map_err(|source| CsvError::Malformed {
            name: name.to_owned(),
            source,
        })
}

/// Physical line numbers of records. The CSV reader's own positions point at the end of the
/// previous record (inside a CRLF, or before skipped blank lines), so lines are counted here from
/// the first byte of each record's text; records arrive in order, so the count is one pass.
pub(super) struct LineCounter<'a> {
    content: &'a [u8],
    counted_to: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(super) fn new(content: &'a [u8]) -> Self {
        Self {
            content,
            counted_to: 0,
            line: 1,
        }
    }

    /// The line on which `record`'s text starts.
    pub(super) fn line_of(&mut self, record: &ByteRecord) -> u64 {
        let reported = record
            .position()
            .and_then(|position| usize::try_from(position.byte()).ok())
            .unwrap_or(self.counted_to)
            .clamp(self.counted_to, self.content.len());
        let start = reported
            + self.content[reported..]
                .iter()
                .take_while(|byte| matches!(byte, b'\r' | b'\n'))
                .count();
        let newlines = self.content[self.counted_to..start]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count();
        self.line += newlines as u64;
        self.counted_to = start;
        self.line
    }
}

/// A line of only whitespace or only empty fields (a spreadsheet's `,,,`) carries no data.
pub(super) fn is_blank(record: &ByteRecord) -> bool {
    record.iter().all(<[u8]>::is_empty)
}

/// A cell's text, already trimmed by the reader.
pub(super) fn text<'r>(
    record: &'r ByteRecord,
    column: usize,
    field: &str,
) -> Result<&'r str, String> {
    std::str::from_utf8(record.get(column).unwrap_or_default())
        .map_err(|_| format!("{field} is not UTF-8 text"))
}

/// A cell that must hold a positive price.
pub(super) fn price(record: &ByteRecord, column: usize, field: &str) -> Result<Price, String> {
    let value = text(record, column, field)?;
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    value.parse().map_err(|error| match error {
        MoneyError::NonPositivePrice(_) => format!("{field} is not a positive price: {value}"),
        _ => format!("{field} is not a number: {value}"),
    })
}

/// A volume; an empty cell is no volume, as index and close-only sources leave it blank.
pub(super) fn quantity(
    record: &ByteRecord,
    column: usize,
    field: &str,
) -> Result<Quantity, String> {
    let value = text(record, column, field)?;
    if value.is_empty() {
        return Ok(Quantity::ZERO);
    }
    value.parse().map_err(|error| match error {
        MoneyError::NegativeQuantity(_) => format!("{field} is negative: {value}"),
        _ => format!("{field} is not a number: {value}"),
    })
}
