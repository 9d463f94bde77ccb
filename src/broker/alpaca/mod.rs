//! Alpaca through apca (SPEC §6.1), with our own market-data client.
