//! The US equity market calendar: sessions, holidays and early closes of NYSE.
