//! CSV import: Yahoo-style OHLCV, date and time intraday, and wide close-only files.
