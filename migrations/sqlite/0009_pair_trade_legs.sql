-- The legs of a pair trade, looked up at every order sync while the trade is pending: without
-- an index each look-up reads every order ever placed, so a long backtest's syncs grew with its
-- history.
CREATE INDEX orders_pair_trade ON orders (pair_trade_id);
