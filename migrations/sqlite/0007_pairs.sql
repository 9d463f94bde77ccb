-- The pairs strategy's tables (SPEC §6.5) and stored backtests (SPEC §7). Analytics values (hedge
-- ratios, z-scores) are f64; money is TEXT as everywhere. script_hash names the script version
-- that wrote the row.

-- One row per pair per cycle: the hedge ratio, the log spread and its rolling z-score.
CREATE TABLE pair_spread (
    strategy    TEXT   NOT NULL,
    pair        TEXT   NOT NULL,
    ts          BIGINT NOT NULL,
    hedge_ratio REAL   NOT NULL,
    intercept   REAL   NOT NULL,
    spread      REAL   NOT NULL,
    zscore      REAL,
    script_hash TEXT,
    run_id      BIGINT,
    PRIMARY KEY (strategy, pair, ts)
);

-- Every signal evaluated: enter, exit, stop, time stop or hold, with the z-score behind it.
CREATE TABLE pair_signal (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    strategy      TEXT   NOT NULL,
    pair          TEXT   NOT NULL,
    ts            BIGINT NOT NULL,
    signal        TEXT   NOT NULL,
    zscore        REAL,
    hedge_ratio   REAL,
    position      TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    pair_trade_id TEXT,
    script_hash   TEXT,
    run_id        BIGINT
);
CREATE INDEX pair_signal_time ON pair_signal (strategy, pair, ts);

-- The latest standing of each pair: position, P&L, trades, win rate, current z, holding time.
CREATE TABLE pair_performance (
    strategy       TEXT   NOT NULL,
    pair           TEXT   NOT NULL,
    position       TEXT   NOT NULL,
    realised_pnl   TEXT   NOT NULL,
    unrealised_pnl TEXT   NOT NULL,
    trades         BIGINT NOT NULL,
    wins           BIGINT NOT NULL,
    current_z      REAL,
    holding_hours  REAL,
    details        TEXT   NOT NULL,
    script_hash    TEXT,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (strategy, pair)
);

-- A stored backtest: what ran, on what, with which parameters, and what came out.
CREATE TABLE backtest_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  BIGINT NOT NULL,
    strategy    TEXT   NOT NULL,
    script_hash TEXT   NOT NULL,
    source      TEXT   NOT NULL,
    parameters  TEXT   NOT NULL,
    start_ts    BIGINT NOT NULL,
    end_ts      BIGINT NOT NULL,
    bars        BIGINT NOT NULL,
    metrics     TEXT   NOT NULL,
    trades      TEXT   NOT NULL,
    report      TEXT
);
