//! CSV import against the real price files in the shared data folder, read in place.
//!
//! The folder comes from `TRADEHOST_SHARED_DATA`, by default `../shared/data` next to the crate.
//! Where it is absent (a fresh clone) each test prints `skipped: …` and returns.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use tradehost::domain::{Bar, Price, Quantity, Symbol, Timeframe};
use tradehost::market::csv::{
    CsvError, CsvOptions, DateFormat, Layout, ParsedFile, RejectedRow, parse_file,
};

fn data_folder() -> Option<PathBuf> {
    let folder = std::env::var_os("TRADEHOST_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    if folder.is_dir() {
        Some(folder)
    } else {
        println!(
            "skipped: shared data folder {} is absent (set TRADEHOST_SHARED_DATA)",
            folder.display()
        );
        None
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid test timestamp")
}

fn price(text: &str) -> Price {
    text.parse().expect("valid test price")
}

fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("valid test symbol")
}

/// Data rows as the file text counts them: lines after the header that are not blank.
fn data_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).expect("readable test file");
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// One real file and what reading it must give.
struct Expected {
    file: &'static str,
    date_format: Option<DateFormat>,
    symbols: &'static [&'static str],
    rows: u64,
    timeframe: Timeframe,
    /// The first and last row: UTC time, and per symbol (open, high, low, close, volume), or the
    /// close alone for wide files.
    first: (&'static str, &'static [&'static str]),
    last: (&'static str, &'static [&'static str]),
}

fn wide_files() -> Vec<Expected> {
    vec![
        Expected {
            file: "pairs/ANZ-ADB.csv",
            date_format: None,
            symbols: &["ANZ", "ADB"],
            rows: 421,
            timeframe: Timeframe::DAY,
            first: ("2001-01-02T05:00:00Z", &["14.0189112", "5.23"]),
            last: ("2002-08-30T04:00:00Z", &["18.133344", "7.55"]),
        },
        Expected {
            file: "pairs/BKD_ESC_2009_2011.csv",
            date_format: None,
            symbols: &["BKD", "ESC"],
            rows: 1005,
            timeframe: Timeframe::DAY,
            first: ("2009-01-02T05:00:00Z", &["6.03", "10.24"]),
            last: ("2012-12-28T05:00:00Z", &["24.299999", "23.7"]),
        },
        Expected {
            file: "pairs/XLF-XLK.csv",
            date_format: None,
            symbols: &["XLF", "XLK"],
            rows: 726,
            timeframe: Timeframe::DAY,
            first: ("2018-01-02T05:00:00Z", &["27.92", "64.74"]),
            last: ("2020-11-17T05:00:00Z", &["27.59", "121.69"]),
        },
        Expected {
            file: "pairs/crude.csv",
            date_format: None,
            symbols: &["BRENT", "WTI"],
            rows: 393,
            timeframe: Timeframe::MONTH,
            // Monthly closes stay on the 15th, at midnight New York time.
            first: ("1987-05-15T04:00:00Z", &["18.58", "19.44"]),
            last: ("2020-01-15T05:00:00Z", &["63.83", "57.52"]),
        },
        Expected {
            file: "pairs/gld_gdx_data.csv",
            date_format: None,
            symbols: &["GDX", "GLD"],
            rows: 75,
            timeframe: Timeframe::DAY,
            first: ("2015-08-24T04:00:00Z", &["13.68765831", "110.5299988"]),
            last: ("2015-12-08T05:00:00Z", &["13.63922405", "102.8399963"]),
        },
        Expected {
            file: "pairs/shell-rdp-close_USD.csv",
            date_format: Some(DateFormat::DayMonthYear),
            symbols: &["SHELL", "RDP"],
            rows: 4520,
            timeframe: Timeframe::DAY,
            // 02/01/1990 is the 2nd of January.
            first: ("1990-01-02T05:00:00Z", &["7.75", "1.06"]),
            last: ("2005-07-19T04:00:00Z", &["9.19", "0.88"]),
        },
    ]
}

fn ohlcv_files() -> Vec<(Expected, CsvOptions)> {
    vec![
        (
            Expected {
                file: "bars/orcl-1995-2014.txt",
                date_format: None,
                symbols: &["ORCL"],
                rows: 5036,
                timeframe: Timeframe::DAY,
                first: (
                    "1995-01-03T05:00:00Z",
                    &["2.179012", "2.191358", "2.117284", "2.117284", "36301200"],
                ),
                last: (
                    "2014-12-31T05:00:00Z",
                    &[
                        "45.450001",
                        "45.560001",
                        "44.970001",
                        "44.970001",
                        "13269200",
                    ],
                ),
            },
            CsvOptions::default(),
        ),
        (
            Expected {
                file: "bars/2006-min-005.txt",
                date_format: None,
                symbols: &["IDX"],
                rows: 2142,
                timeframe: "5Min".parse().expect("valid timeframe"),
                // Read in UTC, the local 09:05 is 09:05Z.
                first: (
                    "2006-01-02T09:05:00Z",
                    &["3578.73", "3587.88", "3578.73", "3582.99", "0"],
                ),
                last: (
                    "2006-01-30T17:30:00Z",
                    &["3679.29", "3679.40", "3676.31", "3677.52", "0"],
                ),
            },
            CsvOptions {
                symbol: Some(symbol("IDX")),
                timezone: chrono_tz::UTC,
                ..CsvOptions::default()
            },
        ),
    ]
}

fn check_bar(bar: &Bar, expected_symbol: &str, time: &str, values: &[&str], layout: Layout) {
    assert_eq!(bar.symbol, symbol(expected_symbol));
    assert_eq!(bar.time, utc(time), "{expected_symbol}");
    match layout {
        Layout::Wide => {
            let close = price(values[0]);
            assert_eq!(
                (bar.open, bar.high, bar.low, bar.close),
                (close, close, close, close),
                "{expected_symbol} at {time}"
            );
            assert_eq!(bar.volume, Quantity::ZERO);
        }
        Layout::Ohlcv => {
            assert_eq!(
                (bar.open, bar.high, bar.low, bar.close),
                (
                    price(values[0]),
                    price(values[1]),
                    price(values[2]),
                    price(values[3])
                ),
                "{expected_symbol} at {time}"
            );
            assert_eq!(bar.volume, values[4].parse().expect("valid volume"));
        }
    }
}

/// Checks what every real file must give: the rows, symbols, timeframe, the first and last bars.
fn check_file(folder: &Path, expected: &Expected, parsed: &ParsedFile, layout: Layout) {
    let path = folder.join(expected.file);
    let symbols: Vec<Symbol> = expected.symbols.iter().map(|text| symbol(text)).collect();
    assert_eq!(parsed.layout, layout, "{}", expected.file);
    assert_eq!(parsed.symbols, symbols, "{}", expected.file);
    assert_eq!(parsed.rows_read, expected.rows, "{}", expected.file);
    assert_eq!(
        parsed.rows_read,
        data_lines(&path).len() as u64,
        "{}",
        expected.file
    );
    assert_eq!(parsed.timeframe, expected.timeframe, "{}", expected.file);
    assert!(!parsed.descending, "{}", expected.file);
    assert!(
        parsed
            .bars
            .iter()
            .all(|bar| bar.timeframe == expected.timeframe)
    );
    for (index, name) in expected.symbols.iter().enumerate() {
        let bars: Vec<&Bar> = parsed
            .bars
            .iter()
            .filter(|bar| bar.symbol.as_str() == *name)
            .collect();
        assert!(
            bars.windows(2).all(|pair| pair[0].time < pair[1].time),
            "{name} bars increase in time"
        );
        let values = |row: &'static [&'static str]| -> &'static [&'static str] {
            match layout {
                Layout::Wide => &row[index..=index],
                Layout::Ohlcv => row,
            }
        };
        let (first, last) = (
            bars.first().expect("some bars"),
            bars.last().expect("some bars"),
        );
        check_bar(
            first,
            name,
            expected.first.0,
            values(expected.first.1),
            layout,
        );
        check_bar(last, name, expected.last.0, values(expected.last.1), layout);
    }
}

#[test]
fn every_real_file_is_covered_by_these_tests() {
    let Some(folder) = data_folder() else { return };
    let mut listed: Vec<String> = ["pairs", "bars"]
        .iter()
        .flat_map(|sub| {
            fs::read_dir(folder.join(sub))
                .expect("readable data folder")
                .map(move |entry| {
                    format!(
                        "{sub}/{}",
                        entry.expect("readable entry").file_name().to_string_lossy()
                    )
                })
        })
        .collect();
    listed.sort();
    let mut covered: Vec<String> = wide_files()
        .iter()
        .map(|expected| expected.file)
        .chain(ohlcv_files().iter().map(|(expected, _)| expected.file))
        .map(str::to_owned)
        .collect();
    covered.sort();
    assert_eq!(listed, covered);
}

#[test]
fn wide_pair_files_give_one_close_only_bar_per_symbol_and_row() {
    let Some(folder) = data_folder() else { return };
    for expected in wide_files() {
        let options = CsvOptions {
            date_format: expected.date_format.clone(),
            ..CsvOptions::default()
        };
        let parsed = parse_file(&folder.join(expected.file), &options)
            .unwrap_or_else(|error| panic!("{}: {error}", expected.file));
        check_file(&folder, &expected, &parsed, Layout::Wide);
        let cells = expected.rows as usize * expected.symbols.len();
        assert_eq!(
            parsed.bars.len() + parsed.rejected.len() + parsed.missing.len(),
            cells,
            "{}",
            expected.file
        );
        if expected.file != "pairs/shell-rdp-close_USD.csv" {
            assert_eq!(parsed.rejected, Vec::new(), "{}", expected.file);
        }
    }
}

#[test]
fn the_empty_cells_of_the_shell_file_are_missing_prices_and_nothing_is_rejected() {
    let Some(folder) = data_folder() else { return };
    let path = folder.join("pairs/shell-rdp-close_USD.csv");
    let options = CsvOptions {
        date_format: Some(DateFormat::DayMonthYear),
        ..CsvOptions::default()
    };
    let parsed = parse_file(&path, &options).expect("readable as day/month/year");
    // Every empty cell in the text, by line and column; nothing else is wrong with the file.
    let mut empty_cells = Vec::new();
    for (index, line) in data_lines(&path).iter().enumerate() {
        for (column, cell) in line.split(',').enumerate().skip(1) {
            if cell.trim().is_empty() {
                let name = ["SHELL", "RDP"][column - 1];
                empty_cells.push(RejectedRow {
                    line: index as u64 + 2,
                    symbol: Some(symbol(name)),
                    reason: "no close (empty cell)".to_owned(),
                });
            }
        }
    }
    assert_eq!(parsed.missing, empty_cells);
    assert_eq!(parsed.rejected, Vec::new());
    let count = |name: &str| {
        let bars = parsed.bars.iter().filter(|bar| bar.symbol.as_str() == name);
        let rejected = parsed.missing.iter().filter(|row| {
            row.symbol
                .as_ref()
                .is_some_and(|symbol| symbol.as_str() == name)
        });
        (bars.count(), rejected.count())
    };
    assert_eq!(count("SHELL"), (4477, 43));
    assert_eq!(count("RDP"), (3940, 580));
    assert_eq!((parsed.missing[0].line, parsed.missing[4].line), (35, 89));
}

#[test]
fn the_shell_file_without_a_date_format_is_refused_with_what_to_pass() {
    let Some(folder) = data_folder() else { return };
    let path = folder.join("pairs/shell-rdp-close_USD.csv");
    let error = parse_file(&path, &CsvOptions::default()).expect_err("day/month/year dates");
    assert!(matches!(error, CsvError::DayMonthYear { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.ends_with(
            "dates such as 15/01/1990 (line 11) look like day/month/year; pass --date-format dmy"
        ),
        "{message}"
    );
}

#[test]
fn ohlcv_bar_files_give_every_row_as_a_bar() {
    let Some(folder) = data_folder() else { return };
    for (expected, options) in ohlcv_files() {
        let parsed = parse_file(&folder.join(expected.file), &options)
            .unwrap_or_else(|error| panic!("{}: {error}", expected.file));
        check_file(&folder, &expected, &parsed, Layout::Ohlcv);
        assert_eq!(parsed.rejected, Vec::new(), "{}", expected.file);
        assert_eq!(parsed.bars.len() as u64, expected.rows, "{}", expected.file);
    }
}

#[test]
fn the_orcl_file_takes_its_symbol_from_its_name_and_the_index_file_asks_for_one() {
    let Some(folder) = data_folder() else { return };
    let orcl = parse_file(
        &folder.join("bars/orcl-1995-2014.txt"),
        &CsvOptions::default(),
    )
    .expect("readable");
    assert_eq!(orcl.symbols, vec![symbol("ORCL")]);
    let error = parse_file(
        &folder.join("bars/2006-min-005.txt"),
        &CsvOptions::default(),
    )
    .expect_err("2006 is not a symbol");
    assert!(
        matches!(error, CsvError::CannotInferSymbol { ref stem, .. } if stem == "2006"),
        "{error:?}"
    );
    assert!(error.to_string().ends_with("pass --symbol"), "{error}");
}

#[test]
fn the_intraday_file_in_new_york_time_is_five_hours_later_in_utc() {
    let Some(folder) = data_folder() else { return };
    let options = CsvOptions {
        symbol: Some(symbol("IDX")),
        ..CsvOptions::default()
    };
    let parsed = parse_file(&folder.join("bars/2006-min-005.txt"), &options).expect("readable");
    assert_eq!(parsed.bars[0].time, utc("2006-01-02T14:05:00Z"));
    assert_eq!(parsed.rejected, Vec::new());
}

#[test]
fn a_crafted_file_reports_each_bad_row_and_keeps_the_good_ones() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("bad-rows.csv");
    let text = [
        "Date,Open,High,Low,Close,Adj Close,Volume\n", // 1
        "2024-01-02,10,11,9,10.5,10.5,1000\n",         // 2: good
        "2024-01-03,10,11,9,NaN,10.5,1000\n",          // 3
        "2024-01-04,10,11,9,-3.2,10.5,1000\n",         // 4
        "2024-01-05,10,11,9,,10,1000\n",               // 5
        "2024-01-08,10,9,11,10,10,1000\n",             // 6
        "2024-01-09,12,11,9,10,10,1000\n",             // 7
        "2024-01-10,10,11,9,10,10,-5\n",               // 8
        "2024-01-11,10,11,9,10,10\n",                  // 9
        "2024-02-30,10,11,9,10,10,1000\n",             // 10
        "\n",                                          // 11: blank
        "2024-01-16,10,11,9,10,10,1.5e6\n",            // 12: good
        "2024-01-16,10,11,9,10,10,1000\n",             // 13
        "2024-01-12,10,11,9,10,10,1000\n",             // 14
        "2024-01-17,10.25,11,9,10.75,10,2000\n",       // 15: good
    ]
    .concat();
    fs::write(&path, text).expect("writable temporary file");
    let parsed = parse_file(&path, &CsvOptions::default()).expect("readable");
    let reasons: Vec<(u64, &str)> = parsed
        .rejected
        .iter()
        .map(|row| (row.line, row.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (3, "close is not a number: NaN"),
            (4, "close is not a positive price: -3.2"),
            (5, "close is empty"),
            (6, "high 9 is below low 11"),
            (7, "open 12 is outside the range low 9 .. high 11"),
            (8, "volume is negative: -5"),
            (9, "expected 7 fields as in the header, found 6"),
            (10, "date `2024-02-30` is not year-month-day (yyyy-mm-dd)"),
            (
                13,
                "duplicate time 2024-01-16T05:00:00Z (first seen on line 12)"
            ),
            (
                14,
                "out of order: 2024-01-12T05:00:00Z is before 2024-01-16T05:00:00Z on line 12"
            ),
        ]
    );
    assert!(parsed.rejected.iter().all(|row| row.symbol.is_none()));
    assert_eq!(parsed.rows_read, 13);
    assert_eq!(parsed.symbols, vec![symbol("BAD")]);
    let kept: Vec<(DateTime<Utc>, Price, Quantity)> = parsed
        .bars
        .iter()
        .map(|bar| (bar.time, bar.close, bar.volume))
        .collect();
    assert_eq!(
        kept,
        [
            (
                utc("2024-01-02T05:00:00Z"),
                price("10.5"),
                "1000".parse().expect("valid")
            ),
            (
                utc("2024-01-16T05:00:00Z"),
                price("10"),
                "1500000".parse().expect("valid")
            ),
            (
                utc("2024-01-17T05:00:00Z"),
                price("10.75"),
                "2000".parse().expect("valid")
            ),
        ]
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("absent.csv");
    let error = parse_file(&path, &CsvOptions::default()).expect_err("no such file");
    assert!(matches!(error, CsvError::Read { .. }));
    assert!(error.to_string().contains("absent.csv"), "{error}");
}
