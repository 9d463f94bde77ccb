//! What a CSV header says: the layout, which column holds what, and the symbols.

use std::path::Path;

use super::{CsvError, CsvOptions, Layout};
use crate::domain::Symbol;

/// Where a file's columns are.
#[derive(Debug)]
pub(super) struct Columns {
    pub(super) date: usize,
    pub(super) time: Option<usize>,
    /// The number of fields every row must have.
    pub(super) width: usize,
    pub(super) prices: PriceColumns,
}

/// The columns that hold prices, by layout.
#[derive(Debug)]
pub(super) enum PriceColumns {
    /// One symbol's open, high, low, close and volume.
    Ohlcv(OhlcvColumns),
    /// The column of each symbol, in the order of [`super::ParsedFile::symbols`].
    Wide(Vec<usize>),
}

/// The columns of an OHLCV file's prices and volume.
#[derive(Debug)]
pub(super) struct OhlcvColumns {
    pub(super) open: usize,
    pub(super) high: usize,
    pub(super) low: usize,
    pub(super) close: usize,
    pub(super) volume: Option<usize>,
}

/// Finds the layout and columns from the header, and the symbols.
pub(super) fn read_header(
    name: &str,
    header: &[String],
    options: &CsvOptions,
) -> Result<(Layout, Columns, Vec<Symbol>), CsvError> {
    let keys: Vec<String> = header.iter().map(|field| key(field)).collect();
    let find = |wanted: &[&str]| keys.iter().position(|key| wanted.contains(&key.as_str()));
    let time_column = find(&["time"]);
    let (date, time) = match find(&["date", "datetime", "timestamp"]) {
        Some(date) => (date, time_column),
        // A lone time column holds full timestamps.
        None => match time_column {
            Some(time) => (time, None),
            None => {
                return Err(CsvError::NoDateColumn {
                    name: name.to_owned(),
                    header: header.join(","),
                });
            }
        },
    };
    let width = header.len();
    let names = ["open", "high", "low", "close"];
    let found = names.map(|price| find(&[price]));
    if let [Some(open), Some(high), Some(low), Some(close)] = found {
        let symbol = match &options.symbol {
            Some(symbol) => symbol.clone(),
            None => symbol_from_name(name)?,
        };
        let prices = PriceColumns::Ohlcv(OhlcvColumns {
            open,
            high,
            low,
            close,
            volume: find(&["volume", "vol"]),
        });
        let columns = Columns {
            date,
            time,
            width,
            prices,
        };
        return Ok((Layout::Ohlcv, columns, vec![symbol]));
    }
    if found.iter().any(Option::is_some) {
        let list = |present: bool| {
            names
                .iter()
                .zip(&found)
                .filter(|(_, column)| column.is_some() == present)
                .map(|(price, _)| *price)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(CsvError::IncompleteOhlcv {
            name: name.to_owned(),
            present: list(true),
            missing: list(false),
        });
    }
    let mut symbols: Vec<Symbol> = Vec::new();
    let mut symbol_columns = Vec::new();
    for (column, field) in header.iter().enumerate() {
        if column == date || Some(column) == time {
            continue;
        }
        let symbol = Symbol::parse(field).map_err(|source| CsvError::InvalidSymbolColumn {
            name: name.to_owned(),
            column: column + 1,
            header: field.clone(),
            source,
        })?;
        if symbols.contains(&symbol) {
            return Err(CsvError::DuplicateSymbolColumn {
                name: name.to_owned(),
                symbol,
            });
        }
        symbols.push(symbol);
        symbol_columns.push(column);
    }
    if symbols.is_empty() {
        return Err(CsvError::NoPriceColumns {
            name: name.to_owned(),
        });
    }
    let columns = Columns {
        date,
        time,
        width,
        prices: PriceColumns::Wide(symbol_columns),
    };
    Ok((Layout::Wide, columns, symbols))
}

/// A header name reduced to what identifies a column: `Adj Close`, `adj_close` and `AdjClose`
/// are the same column.
pub(super) fn key(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The symbol at the start of a file name, up to the first `-`, `_` or `.`.
pub(super) fn symbol_from_name(name: &str) -> Result<Symbol, CsvError> {
    let file_name = Path::new(name)
        .file_name()
        .map(|file_name| file_name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file_name
        .split(['-', '_', '.'])
        .next()
        .unwrap_or_default()
        .to_owned();
    Symbol::parse(&stem).map_err(|source| CsvError::CannotInferSymbol {
        name: name.to_owned(),
        stem,
        source,
    })
}
