//! CSV import: Yahoo-style OHLCV, date and time intraday, and wide close-only files.
//!
//! The parser is pure: bytes in, validated [`Bar`]s and a list of [`RejectedRow`]s out. Problems
//! with the file as a whole (no date column, an evident day/month/year file read without saying so,
//! a symbol it cannot name) are a [`CsvError`]; problems with single rows never stop the parse, so a
//! report can show them all and the caller decides whether any rejection refuses the file.
//!
//! Two layouts are recognised from the header:
//! - OHLCV: open, high, low and close columns (any case), an optional volume column and an
//!   optional time column; `Adj Close`, open interest and other columns are ignored. The symbol
//!   comes from [`CsvOptions::symbol`] or the file name (`orcl-1995-2014.txt` is ORCL).
//! - Wide: a date column and one or more columns of closes, each headed by its symbol. Each cell is
//!   its own close-only bar, so one bad cell refuses only that symbol's bar for that row.
//!
//! A bar's time is its start in UTC: a date alone is midnight of that date in
//! [`CsvOptions::timezone`] (New York by default, where Alpaca stamps its daily bars), a date and
//! time are local wall-clock time there. Times must increase strictly per symbol. A file that is
//! newest-first (as some Yahoo exports are) is recognised because more of its consecutive rows go
//! back in time than forward, and is read bottom-up.

mod header;
mod records;
mod timestamp;

use std::io::Read;
use std::path::Path;

use ::csv::ByteRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::domain::{Bar, Quantity, Symbol, SymbolError, Timeframe};

use header::{Columns, OhlcvColumns, PriceColumns, read_header};
use records::{LineCounter, is_blank, next_record, price, quantity, reader, text};
pub use timestamp::{DateFormat, DateFormatError};
use timestamp::{Detected, FormatDetector, TimestampReader};

/// The shape of a file, recognised from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One symbol, with open, high, low, close and optionally volume columns.
    Ohlcv,
    /// A date column and one close column per symbol, headed by the symbol.
    Wide,
}

/// What the caller knows about a file that its contents may not say.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// The symbol of an OHLCV file; when absent it is taken from the file name. Wide files name
    /// their symbols in the header, so this is not used for them.
    pub symbol: Option<Symbol>,
    /// The bars' length; when absent it is inferred from the gaps between times.
    pub timeframe: Option<Timeframe>,
    /// How dates are written; when absent ISO and month/day/year are recognised.
    pub date_format: Option<DateFormat>,
    /// The zone of dates and local times in the file.
    pub timezone: Tz,
}

impl Default for CsvOptions {
    /// No hints, and times in New York, so that imported daily bars line up with Alpaca's.
    fn default() -> Self {
        Self {
            symbol: None,
            timeframe: None,
            date_format: None,
            timezone: chrono_tz::America::New_York,
        }
    }
}

/// The bars of one file and the rows that could not become bars.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// The layout the header showed.
    pub layout: Layout,
    /// The bars' length, given or inferred.
    pub timeframe: Timeframe,
    /// The file's symbols, in column order for wide files.
    pub symbols: Vec<Symbol>,
    /// The accepted bars, oldest first; a wide file's bars of one row are adjacent.
    pub bars: Vec<Bar>,
    /// Each refused row (or, in a wide file, each refused cell), in line order.
    pub rejected: Vec<RejectedRow>,
    /// Empty cells of a wide file, in line order: that symbol has no price on that row (it did
    /// not trade, or was not listed yet). Not an error, so not a rejection; reported as a warning.
    pub missing: Vec<RejectedRow>,
    /// Data rows read: lines after the header that are not blank.
    pub rows_read: u64,
    /// True when the file was newest-first and was read bottom-up.
    pub descending: bool,
}

/// A row, or one symbol's cell of a wide row, that did not become a bar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectedRow {
    /// The 1-based physical line in the file; the header is normally line 1.
    pub line: u64,
    /// The symbol whose bar was refused when the rest of a wide row was kept; `None` when the
    /// whole row was refused.
    pub symbol: Option<Symbol>,
    /// Why, in words a user can act on.
    pub reason: String,
}

/// A problem with a file as a whole: nothing in it can be trusted until it is fixed.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be read.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The file.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV reader gave up on the file.
    #[error("{name} is not readable as CSV: {source}")]
    Malformed {
        /// The file.
        name: String,
        /// The CSV error.
        source: ::csv::Error,
    },
    /// Nothing but blank lines.
    #[error("{name} is empty")]
    Empty {
        /// The file.
        name: String,
    },
    /// A header and nothing else.
    #[error("{name} has a header but no data rows")]
    NoRows {
        /// The file.
        name: String,
    },
    /// No column holds dates.
    #[error(
        "{name} has no date column: the header `{header}` has none named date, datetime, timestamp or time"
    )]
    NoDateColumn {
        /// The file.
        name: String,
        /// The header line.
        header: String,
    },
    /// A date column and nothing else.
    #[error("{name} has a date column but no price columns")]
    NoPriceColumns {
        /// The file.
        name: String,
    },
    /// Some of open, high, low and close, but not all four.
    #[error(
        "{name} has {present} but no {missing} column: an OHLCV file needs all four, and a close-only file heads each column with its symbol"
    )]
    IncompleteOhlcv {
        /// The file.
        name: String,
        /// The price columns found.
        present: String,
        /// The price columns missing.
        missing: String,
    },
    /// A wide file's column is not headed by a valid symbol.
    #[error("{name}: column {column} (`{header}`) is not a symbol: {source}")]
    InvalidSymbolColumn {
        /// The file.
        name: String,
        /// The 1-based column.
        column: usize,
        /// The column's header.
        header: String,
        /// Why the symbol was refused.
        source: SymbolError,
    },
    /// Two columns of a wide file name the same symbol.
    #[error("{name}: symbol {symbol} heads more than one column")]
    DuplicateSymbolColumn {
        /// The file.
        name: String,
        /// The repeated symbol.
        symbol: Symbol,
    },
    /// An OHLCV file without a symbol option whose name does not start with a valid symbol.
    #[error(
        "cannot take a symbol from the file name of {name} (`{stem}`: {source}); pass --symbol"
    )]
    CannotInferSymbol {
        /// The file.
        name: String,
        /// The part of the file name tried as a symbol.
        stem: String,
        /// Why it is not a symbol.
        source: SymbolError,
    },
    /// The dates are evidently day/month/year and no date format was given; reading them as
    /// month/day/year would put bars on the wrong days.
    #[error(
        "{name}: dates such as {example} (line {line}) look like day/month/year; pass --date-format dmy"
    )]
    DayMonthYear {
        /// The file.
        name: String,
        /// A date that shows it.
        example: String,
        /// Its line.
        line: u64,
    },
    /// The date format given cannot be used.
    #[error(transparent)]
    DateFormat(#[from] DateFormatError),
    /// Too few bars to tell the timeframe, and none was given.
    #[error(
        "cannot infer the timeframe of {name} from {bars} bar time(s){detail}; pass --timeframe"
    )]
    UnknownTimeframe {
        /// The file.
        name: String,
        /// How many distinct bar times there were.
        bars: usize,
        /// The first rejection, when rows were rejected, as that may be why.
        detail: String,
    },
}

/// Reads and parses a file; see [`parse_reader`].
pub fn parse_file(path: &Path, options: &CsvOptions) -> Result<ParsedFile, CsvError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CsvError::Read {
        name: name.clone(),
        source,
    })?;
    parse_reader(&name, file, options)
}

/// Parses CSV text into bars and rejected rows. `name` is the file's name or path: it appears in
/// error messages and an OHLCV file's symbol may be taken from it.
pub fn parse_reader(
    name: &str,
    mut reader: impl Read,
    options: &CsvOptions,
) -> Result<ParsedFile, CsvError> {
    // The whole text is needed twice (to detect the date format, then to parse), and price files
    // are small next to the bars made from them.
    let mut content = Vec::new();
    reader
        .read_to_end(&mut content)
        .map_err(|source| CsvError::Read {
            name: name.to_owned(),
            source,
        })?;
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&content);
    Parser::new(name, content, options)?.run()
}

/// A row's bar for one symbol, or why there is none, before times are checked for order.
#[derive(Debug)]
struct Candidate {
    line: u64,
    /// Index into the symbols.
    symbol: usize,
    outcome: Result<Bar, String>,
}

struct Parser<'a> {
    name: &'a str,
    content: &'a [u8],
    options: &'a CsvOptions,
    header_line: u64,
    layout: Layout,
    columns: Columns,
    symbols: Vec<Symbol>,
}

impl<'a> Parser<'a> {
    fn new(name: &'a str, content: &'a [u8], options: &'a CsvOptions) -> Result<Self, CsvError> {
        let mut records = reader(content);
        let mut record = ByteRecord::new();
        let mut lines = LineCounter::new(content);
        let header_line = loop {
            if !next_record(name, &mut records, &mut record)? {
                return Err(CsvError::Empty {
                    name: name.to_owned(),
                });
            }
            if !is_blank(&record) {
                break lines.line_of(&record);
            }
        };
        let header: Vec<String> = record
            .iter()
            .map(|field| String::from_utf8_lossy(field).into_owned())
            .collect();
        let (layout, columns, symbols) = read_header(name, &header, options)?;
        Ok(Self {
            name,
            content,
            options,
            header_line,
            layout,
            columns,
            symbols,
        })
    }

    fn run(self) -> Result<ParsedFile, CsvError> {
        let format = match &self.options.date_format {
            Some(format) => format.clone(),
            None => self.detect_date_format()?,
        };
        let timestamps = TimestampReader::new(format, self.options.timezone)?;

        let mut rows_read = 0;
        let mut rejected = Vec::new();
        let mut missing = Vec::new();
        let mut candidates = Vec::new();
        let mut row_times = Vec::new();
        let mut records = reader(self.content);
        let mut record = ByteRecord::new();
        let mut lines = LineCounter::new(self.content);
        while next_record(self.name, &mut records, &mut record)? {
            let line = lines.line_of(&record);
            if line <= self.header_line || is_blank(&record) {
                continue;
            }
            rows_read += 1;
            let mut reject = |reason: String| {
                rejected.push(RejectedRow {
                    line,
                    symbol: None,
                    reason,
                })
            };
            if record.len() != self.columns.width {
                reject(format!(
                    "expected {} fields as in the header, found {}",
                    self.columns.width,
                    record.len()
                ));
                continue;
            }
            let time = text(&record, self.columns.date, "date").and_then(|date| {
                let time_of_day = self
                    .columns
                    .time
                    .map(|column| text(&record, column, "time"))
                    .transpose()?;
                timestamps.read(date, time_of_day)
            });
            let time = match time {
                Ok(time) => time,
                Err(reason) => {
                    reject(reason);
                    continue;
                }
            };
            row_times.push(time);
            self.bars_of_row(line, time, &record, &mut candidates, &mut missing);
        }
        if rows_read == 0 {
            return Err(CsvError::NoRows {
                name: self.name.to_owned(),
            });
        }

        let descending = is_descending(&row_times);
        if descending {
            // Bottom-up by row, but each wide row's cells stay in column order.
            candidates.reverse();
            for row in candidates.chunk_by_mut(|first, second| first.line == second.line) {
                row.reverse();
            }
        }
        let mut bars = self.accept_in_order(candidates, &mut rejected);
        // Whole-row and cell rejections never share a line, and each group is already in column
        // order, so a stable sort by line gives the report in file order.
        rejected.sort_by_key(|rejection| rejection.line);
        missing.sort_by_key(|cell| cell.line);

        let timeframe = match self.options.timeframe {
            Some(timeframe) => timeframe,
            None => self.infer_timeframe(&bars, &rejected)?,
        };
        for bar in &mut bars {
            bar.timeframe = timeframe;
        }
        Ok(ParsedFile {
            layout: self.layout,
            timeframe,
            symbols: self.symbols,
            bars,
            rejected,
            missing,
            rows_read,
            descending,
        })
    }

    /// Scans the date column of every row for the format it evidently uses.
    fn detect_date_format(&self) -> Result<DateFormat, CsvError> {
        let mut detector = FormatDetector::default();
        let mut records = reader(self.content);
        let mut record = ByteRecord::new();
        let mut lines = LineCounter::new(self.content);
        while next_record(self.name, &mut records, &mut record)? {
            let line = lines.line_of(&record);
            if line <= self.header_line {
                continue;
            }
            if let Some(Ok(date)) = record.get(self.columns.date).map(std::str::from_utf8) {
                detector.observe(line, date);
            }
        }
        match detector.conclude() {
            Detected::Format(format) => Ok(format),
            Detected::DayFirst { example, line } => Err(CsvError::DayMonthYear {
                name: self.name.to_owned(),
                example,
                line,
            }),
        }
    }

    /// Adds the row's bar (OHLCV) or one bar per symbol cell (wide) to `candidates`.
    fn bars_of_row(
        &self,
        line: u64,
        time: DateTime<Utc>,
        record: &ByteRecord,
        candidates: &mut Vec<Candidate>,
        missing: &mut Vec<RejectedRow>,
    ) {
        // The timeframe is not known until every time has been read; `run` sets it on each bar.
        let placeholder = Timeframe::DAY;
        match &self.columns.prices {
            PriceColumns::Ohlcv(columns) => candidates.push(Candidate {
                line,
                symbol: 0,
                outcome: self.ohlcv_bar(columns, time, record, placeholder),
            }),
            PriceColumns::Wide(columns) => {
                for (index, column) in columns.iter().enumerate() {
                    if record
                        .get(*column)
                        .is_some_and(|cell| cell.trim_ascii().is_empty())
                    {
                        missing.push(RejectedRow {
                            line,
                            symbol: Some(self.symbols[index].clone()),
                            reason: "no close (empty cell)".to_owned(),
                        });
                        continue;
                    }
                    let outcome = price(record, *column, "close").map(|close| {
                        Bar::close_only(self.symbols[index].clone(), placeholder, time, close)
                    });
                    candidates.push(Candidate {
                        line,
                        symbol: index,
                        outcome,
                    });
                }
            }
        }
    }

    fn ohlcv_bar(
        &self,
        columns: &OhlcvColumns,
        time: DateTime<Utc>,
        record: &ByteRecord,
        timeframe: Timeframe,
    ) -> Result<Bar, String> {
        let open = price(record, columns.open, "open")?;
        let high = price(record, columns.high, "high")?;
        let low = price(record, columns.low, "low")?;
        let close = price(record, columns.close, "close")?;
        let volume = match columns.volume {
            Some(column) => quantity(record, column, "volume")?,
            None => Quantity::ZERO,
        };
        let symbol = self.symbols[0].clone();
        Bar::new(symbol, timeframe, time, open, high, low, close, volume)
            .map_err(|error| error.to_string())
    }

    /// Keeps each symbol's bars whose times strictly increase; the rest become rejections.
    fn accept_in_order(
        &self,
        candidates: Vec<Candidate>,
        rejected: &mut Vec<RejectedRow>,
    ) -> Vec<Bar> {
        let mut bars = Vec::with_capacity(candidates.len());
        let mut last_accepted: Vec<Option<(DateTime<Utc>, u64)>> = vec![None; self.symbols.len()];
        for candidate in candidates {
            let line = candidate.line;
            let symbol = match self.layout {
                Layout::Wide => Some(self.symbols[candidate.symbol].clone()),
                Layout::Ohlcv => None,
            };
            let bar = match candidate.outcome {
                Ok(bar) => bar,
                Err(reason) => {
                    rejected.push(RejectedRow {
                        line,
                        symbol,
                        reason,
                    });
                    continue;
                }
            };
            let last = &mut last_accepted[candidate.symbol];
            if let Some((previous, previous_line)) = *last {
                let reason = if bar.time == previous {
                    Some(format!(
                        "duplicate time {} (first seen on line {previous_line})",
                        show(bar.time)
                    ))
                } else if bar.time < previous {
                    Some(format!(
                        "out of order: {} is before {} on line {previous_line}",
                        show(bar.time),
                        show(previous)
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    rejected.push(RejectedRow {
                        line,
                        symbol,
                        reason,
                    });
                    continue;
                }
            }
            *last = Some((bar.time, line));
            bars.push(bar);
        }
        bars
    }

    fn infer_timeframe(
        &self,
        bars: &[Bar],
        rejected: &[RejectedRow],
    ) -> Result<Timeframe, CsvError> {
        let mut times: Vec<DateTime<Utc>> = bars.iter().map(|bar| bar.time).collect();
        times.sort_unstable();
        times.dedup();
        Timeframe::infer(&times).ok_or_else(|| CsvError::UnknownTimeframe {
            name: self.name.to_owned(),
            bars: times.len(),
            detail: match rejected.first() {
                Some(first) => format!(
                    " ({} rows rejected, the first on line {}: {})",
                    rejected.len(),
                    first.line,
                    first.reason
                ),
                None => String::new(),
            },
        })
    }
}

/// True when more consecutive rows go back in time than forward: a newest-first file.
fn is_descending(times: &[DateTime<Utc>]) -> bool {
    let (mut forward, mut backward) = (0_usize, 0_usize);
    for pair in times.windows(2) {
        match pair[1].cmp(&pair[0]) {
            std::cmp::Ordering::Greater => forward += 1,
            std::cmp::Ordering::Less => backward += 1,
            std::cmp::Ordering::Equal => {}
        }
    }
    backward > forward
}

fn show(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str, options: &CsvOptions) -> Result<ParsedFile, CsvError> {
        parse_reader(name, text.as_bytes(), options)
    }

    fn parsed(name: &str, text: &str) -> ParsedFile {
        parse(name, text, &CsvOptions::default()).expect("file-level problems are not expected")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid test timestamp")
    }

    fn symbol(text: &str) -> Symbol {
        Symbol::parse(text).expect("valid test symbol")
    }

    fn reasons(file: &ParsedFile) -> Vec<(u64, Option<&str>, &str)> {
        file.rejected
            .iter()
            .map(|row| {
                (
                    row.line,
                    row.symbol.as_ref().map(Symbol::as_str),
                    row.reason.as_str(),
                )
            })
            .collect()
    }

    const OHLCV_HEADER: &str = "Date,Open,High,Low,Close,Adj Close,Volume\n";

    #[test]
    fn a_bom_and_crlf_line_ends_are_read_like_plain_text() {
        let file = parsed(
            "crude.csv",
            "\u{feff}Date,Brent,WTI\r\n1987-05-15,18.58,19.44\r\n1987-06-15,18.86,20.07\r\n\r\n\
             1987-07-15,19.1,x\r\n",
        );
        assert_eq!(file.layout, Layout::Wide);
        assert_eq!(file.symbols, vec![symbol("BRENT"), symbol("WTI")]);
        assert_eq!(file.timeframe, Timeframe::MONTH);
        assert_eq!(file.rows_read, 3);
        assert_eq!(
            reasons(&file),
            vec![(5, Some("WTI"), "close is not a number: x")]
        );
        assert_eq!(file.bars.len(), 5);
        assert_eq!(file.bars[1].symbol, symbol("WTI"));
        assert_eq!(file.bars[1].close, "19.44".parse().expect("valid price"));
        // Monthly data keeps its day: midnight of the 15th in New York (daylight time).
        assert_eq!(file.bars[0].time, utc("1987-05-15T04:00:00Z"));
    }

    #[test]
    fn each_date_format_puts_bars_on_the_same_days() {
        let expected = [utc("2024-01-30T05:00:00Z"), utc("2024-01-31T05:00:00Z")];
        let files = [
            ("ymd", "Date,SPY\n2024-01-30,1\n2024-01-31,2\n", None),
            ("mdy", "Date,SPY\n1/30/2024,1\n1/31/2024,2\n", None),
            (
                "dmy",
                "Date,SPY\n30/01/2024,1\n31/01/2024,2\n",
                Some(DateFormat::DayMonthYear),
            ),
            (
                "custom",
                "Date,SPY\n30.01.2024,1\n31.01.2024,2\n",
                Some(DateFormat::Custom("%d.%m.%Y".to_owned())),
            ),
        ];
        for (name, text, date_format) in files {
            let options = CsvOptions {
                date_format,
                ..CsvOptions::default()
            };
            let file = parse(name, text, &options).expect("readable");
            let times: Vec<_> = file.bars.iter().map(|bar| bar.time).collect();
            assert_eq!(times, expected, "{name}");
            assert_eq!(file.timeframe, Timeframe::DAY, "{name}");
        }
    }

    #[test]
    fn evident_day_month_year_dates_are_a_file_error_that_says_what_to_pass() {
        let text = "Date,Shell,RDP\n02/01/1990,7.75,1.06\n16/02/1990,7.68,1.01\n";
        let error = parse("shell.csv", text, &CsvOptions::default()).expect_err("ambiguous");
        assert_eq!(
            error.to_string(),
            "shell.csv: dates such as 16/02/1990 (line 3) look like day/month/year; pass --date-format dmy"
        );
        let options = CsvOptions {
            date_format: Some(DateFormat::DayMonthYear),
            ..CsvOptions::default()
        };
        let file = parse("shell.csv", text, &options).expect("readable as dmy");
        assert_eq!(file.bars[0].time, utc("1990-01-02T05:00:00Z"));
    }

    #[test]
    fn slash_dates_of_both_orders_read_month_first_and_reject_the_rest() {
        let file = parsed(
            "mixed.csv",
            "Date,SPY\n12/31/2024,1\n13/01/2025,2\n1/2/2025,3\n",
        );
        assert_eq!(file.bars.len(), 2);
        assert_eq!(
            reasons(&file),
            vec![(
                3,
                None,
                "date `13/01/2025` is not month/day/year (m/d/yyyy)"
            )]
        );
    }

    #[test]
    fn each_kind_of_bad_row_is_reported_with_its_line_and_reason() {
        let text = [
            OHLCV_HEADER,
            "2024-01-02,10,11,9,10.5,10.5,1000\n", // 2: good
            "2024-01-03,10,11,9,NaN,10.5,1000\n",  // 3
            "2024-01-04,10,11,9,-3.2,10.5,1000\n", // 4
            "2024-01-05,0,11,9,10,10,1000\n",      // 5
            "2024-01-08,10,11,9,,10,1000\n",       // 6
            "2024-01-09,10,9,11,10,10,1000\n",     // 7
            "2024-01-10,12,11,9,10,10,1000\n",     // 8
            "2024-01-11,10,11,9,10,10,-5\n",       // 9
            "2024-01-12,10,11,9,10,10\n",          // 10
            "2024-13-45,10,11,9,10,10,1000\n",     // 11
            "\n",                                  // 12: blank, ignored
            "2024-01-16,10,11,9,10,10,1.5e6\n",    // 13: good
            "2024-01-16,10,11,9,10,10,1000\n",     // 14
            "2024-01-15,10,11,9,10,10,1000\n",     // 15
            "2024-01-17,10,11,9,inf,10,1000\n",    // 16
            "2024-01-18,10,11,9,10,10,1000\n",     // 17: good
        ]
        .concat();
        let file = parsed("spy.csv", &text);
        assert_eq!(
            reasons(&file),
            vec![
                (3, None, "close is not a number: NaN"),
                (4, None, "close is not a positive price: -3.2"),
                (5, None, "open is not a positive price: 0"),
                (6, None, "close is empty"),
                (7, None, "high 9 is below low 11"),
                (8, None, "open 12 is outside the range low 9 .. high 11"),
                (9, None, "volume is negative: -5"),
                (10, None, "expected 7 fields as in the header, found 6"),
                (
                    11,
                    None,
                    "date `2024-13-45` is not year-month-day (yyyy-mm-dd)"
                ),
                (
                    14,
                    None,
                    "duplicate time 2024-01-16T05:00:00Z (first seen on line 13)"
                ),
                (
                    15,
                    None,
                    "out of order: 2024-01-15T05:00:00Z is before 2024-01-16T05:00:00Z on line 13"
                ),
                (16, None, "close is not a number: inf"),
            ]
        );
        assert_eq!(file.rows_read, 15);
        let times: Vec<_> = file.bars.iter().map(|bar| bar.time).collect();
        assert_eq!(
            times,
            [
                utc("2024-01-02T05:00:00Z"),
                utc("2024-01-16T05:00:00Z"),
                utc("2024-01-18T05:00:00Z")
            ]
        );
        assert_eq!(file.bars[1].volume, "1500000".parse().expect("valid"));
        assert_eq!(file.symbols, vec![symbol("SPY")]);
    }

    #[test]
    fn a_bad_cell_in_a_wide_row_refuses_only_that_symbol() {
        let file = parsed(
            "pair.csv",
            "Date,GDX,GLD\n8/24/2015,13.68,110.52\n8/25/2015,,109.16\n8/26/2015,13.1,-1\n",
        );
        assert_eq!(
            reasons(&file),
            vec![(4, Some("GLD"), "close is not a positive price: -1")]
        );
        // An empty cell is a missing price, not a bad one: reported apart, and no bar made.
        assert_eq!(
            file.missing,
            vec![RejectedRow {
                line: 3,
                symbol: Some(symbol("GDX")),
                reason: "no close (empty cell)".to_owned(),
            }]
        );
        let kept: Vec<_> = file
            .bars
            .iter()
            .map(|bar| (bar.symbol.as_str(), bar.close.to_string()))
            .collect();
        assert_eq!(
            kept,
            [
                ("GDX", "13.68".to_owned()),
                ("GLD", "110.52".to_owned()),
                ("GLD", "109.16".to_owned()),
                ("GDX", "13.1".to_owned()),
            ]
        );
        let bar = &file.bars[0];
        assert_eq!(
            (bar.open, bar.high, bar.low),
            (bar.close, bar.close, bar.close)
        );
        assert!(bar.volume.is_zero());
    }

    #[test]
    fn a_newest_first_file_is_read_bottom_up() {
        let text = [
            OHLCV_HEADER,
            "2024-01-04,3,3,3,3,3,30\n",
            "2024-01-03,2,2,2,2,2,20\n",
            "2024-01-03,2,2,2,2,2,20\n",
            "2024-01-02,1,1,1,1,1,10\n",
        ]
        .concat();
        let file = parsed("spy.csv", &text);
        assert!(file.descending);
        let closes: Vec<_> = file.bars.iter().map(|bar| bar.close.to_string()).collect();
        assert_eq!(closes, ["1", "2", "3"]);
        assert_eq!(
            reasons(&file),
            vec![(
                3,
                None,
                "duplicate time 2024-01-03T05:00:00Z (first seen on line 4)"
            )]
        );
        assert!(
            !parsed(
                "spy.csv",
                &[
                    OHLCV_HEADER,
                    "2024-01-02,1,1,1,1,1,1\n",
                    "2024-01-03,1,1,1,1,1,1\n"
                ]
                .concat()
            )
            .descending
        );
    }

    #[test]
    fn an_ohlcv_symbol_comes_from_the_option_or_the_file_name() {
        let text = [
            OHLCV_HEADER,
            "2024-01-02,1,1,1,1,1,1\n",
            "2024-01-03,1,1,1,1,1,1\n",
        ]
        .concat();
        let from_name = parsed("/data/bars/orcl-1995-2014.txt", &text);
        assert_eq!(from_name.symbols, vec![symbol("ORCL")]);
        assert_eq!(from_name.bars[0].symbol, symbol("ORCL"));
        assert_eq!(parsed("brk_b.csv", &text).symbols, vec![symbol("BRK")]);

        let error = parse("2006-min-005.txt", &text, &CsvOptions::default())
            .expect_err("2006 is not a symbol");
        assert!(matches!(error, CsvError::CannotInferSymbol { .. }));
        assert!(error.to_string().ends_with("; pass --symbol"), "{error}");
        let options = CsvOptions {
            symbol: Some(symbol("NDX")),
            ..CsvOptions::default()
        };
        let given = parse("2006-min-005.txt", &text, &options).expect("symbol given");
        assert_eq!(given.symbols, vec![symbol("NDX")]);
    }

    #[test]
    fn date_and_time_columns_convert_with_the_offset_of_their_day() {
        let text = "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n\
                    2024-03-08,09:30:00,1,1,1,1,0,0\n\
                    2024-03-08,09:35:00,1,1,1,1,0,0\n\
                    2024-03-10,02:30:00,1,1,1,1,0,0\n\
                    2024-03-11,09:30:00,1,1,1,1,0,0\n\
                    2024-03-11,09:35:00,1,1,1,1,0,0\n";
        let options = CsvOptions {
            symbol: Some(symbol("SPY")),
            ..CsvOptions::default()
        };
        let file = parse("spy.csv", text, &options).expect("readable");
        let times: Vec<_> = file.bars.iter().map(|bar| bar.time).collect();
        assert_eq!(
            times,
            [
                utc("2024-03-08T14:30:00Z"),
                utc("2024-03-08T14:35:00Z"),
                utc("2024-03-11T13:30:00Z"),
                utc("2024-03-11T13:35:00Z"),
            ]
        );
        assert_eq!(file.timeframe, "5Min".parse().expect("valid"));
        assert_eq!(file.rejected.len(), 1);
        assert_eq!(file.rejected[0].line, 4);
        assert!(
            file.rejected[0]
                .reason
                .starts_with("local time 2024-03-10 02:30:00 does not exist in America/New_York"),
            "{}",
            file.rejected[0].reason
        );
    }

    #[test]
    fn blank_lines_are_skipped_and_lines_keep_their_physical_numbers() {
        let file = parsed(
            "spy.csv",
            "\nDate,SPY\n\n2024-01-02,1\n   \n,\n2024-01-03,x\n2024-01-04,3\n",
        );
        assert_eq!(file.rows_read, 3);
        assert_eq!(
            reasons(&file),
            vec![(7, Some("SPY"), "close is not a number: x")]
        );
    }

    #[test]
    fn headers_that_name_no_layout_are_file_errors() {
        let options = CsvOptions::default();
        let error = |text: &str| {
            parse("file.csv", text, &options)
                .expect_err("a file-level problem")
                .to_string()
        };
        assert_eq!(
            error("Date,Open,Close\n"),
            "file.csv has open, close but no high, low column: an OHLCV file needs all four, and a close-only file heads each column with its symbol"
        );
        assert!(error("When,SPY\n2024-01-02,1\n").starts_with("file.csv has no date column"));
        assert_eq!(
            error("Date\n2024-01-02\n"),
            "file.csv has a date column but no price columns"
        );
        assert_eq!(
            error("Date,SPY,Adj Close\n"),
            "file.csv: column 3 (`Adj Close`) is not a symbol: symbol `Adj Close` may contain only letters, digits, `.`, `-` and `/`, and must start with a letter"
        );
        assert_eq!(
            error("Date,SPY,spy\n"),
            "file.csv: symbol SPY heads more than one column"
        );
        assert_eq!(error(""), "file.csv is empty");
        assert_eq!(
            error("Date,SPY\n"),
            "file.csv has a header but no data rows"
        );
        assert_eq!(
            error("Date,SPY\n2024-01-02,1\n"),
            "cannot infer the timeframe of file.csv from 1 bar time(s); pass --timeframe"
        );
    }

    #[test]
    fn a_given_timeframe_needs_no_inference() {
        let options = CsvOptions {
            timeframe: Some(Timeframe::DAY),
            ..CsvOptions::default()
        };
        let file = parse("spy.csv", "Date,SPY\n2024-01-02,1\n", &options).expect("readable");
        assert_eq!(file.bars.len(), 1);
        assert_eq!(file.bars[0].timeframe, Timeframe::DAY);
    }

    #[test]
    fn timestamps_with_an_offset_in_the_date_column_are_taken_as_they_are() {
        let file = parsed(
            "spy.csv",
            "timestamp,SPY\n2024-01-02T14:30:00Z,1\n2024-01-02T09:31:00-05:00,2\n",
        );
        let times: Vec<_> = file.bars.iter().map(|bar| bar.time).collect();
        assert_eq!(
            times,
            [utc("2024-01-02T14:30:00Z"), utc("2024-01-02T14:31:00Z")]
        );
        assert_eq!(file.timeframe, Timeframe::MINUTE);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_accounts_for_every_row(
            body in "[0-9a-z/:., \\-\r\n\"]{0,200}",
            wide in proptest::bool::ANY,
        ) {
            let header = if wide { "Date,SPY,QQQ\n" } else { OHLCV_HEADER };
            let options = CsvOptions {
                symbol: Some(symbol("SPY")),
                timeframe: Some(Timeframe::DAY),
                ..CsvOptions::default()
            };
            if let Ok(file) = parse_reader("fuzz.csv", format!("{header}{body}").as_bytes(), &options) {
                let cells = if wide { 2 } else { 1 };
                proptest::prop_assert!(file.bars.len() + file.rejected.len() <= file.rows_read as usize * cells);
                proptest::prop_assert!(file.rejected.windows(2).all(|pair| pair[0].line <= pair[1].line));
            }
        }
    }
}
