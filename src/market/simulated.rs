//! The simulated market: a seeded, deterministic feed of realistic intraday bars with cointegrated pairs.
