-- The trading core: the order outbox, fills, positions, risk decisions and state, pair trades and
-- reconciliation. Conventions as in 0001: BIGINT epoch ms UTC, decimals as TEXT, JSON as TEXT.

-- The outbox and every order's life. A row is written (status pending_new) before the broker is
-- called, so a crash between the two neither loses nor duplicates the order: at start the desk
-- looks each pending_new row up at the broker by client_order_id. script_hash names the script
-- version that decided the order.
CREATE TABLE orders (
    client_order_id    TEXT   PRIMARY KEY,
    strategy           TEXT   NOT NULL,
    script_hash        TEXT,
    run_id             BIGINT,
    pair_trade_id      TEXT,
    symbol             TEXT   NOT NULL,
    side               TEXT   NOT NULL,
    quantity           TEXT   NOT NULL,
    order_type         TEXT   NOT NULL,
    limit_price        TEXT,
    stop_price         TEXT,
    time_in_force      TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    broker             TEXT   NOT NULL,
    broker_order_id    TEXT,
    filled_quantity    TEXT   NOT NULL DEFAULT '0',
    average_fill_price TEXT,
    decision_id        BIGINT,
    error              TEXT,
    submit_attempts    BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    submitted_at       BIGINT,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_symbol ON orders (symbol, created_at);
CREATE INDEX orders_broker_id ON orders (broker_order_id);

-- Executions as the broker reported them; execution_id is the broker's, so a fill is stored once.
CREATE TABLE fills (
    execution_id    TEXT   PRIMARY KEY,
    client_order_id TEXT,
    broker_order_id TEXT   NOT NULL,
    strategy        TEXT,
    symbol          TEXT   NOT NULL,
    side            TEXT   NOT NULL,
    quantity        TEXT   NOT NULL,
    price           TEXT   NOT NULL,
    commission      TEXT   NOT NULL,
    ts              BIGINT NOT NULL
);
CREATE INDEX fills_time ON fills (ts);
CREATE INDEX fills_order ON fills (client_order_id);

-- The broker's positions as last read by update_positions, with marks and unrealised P&L.
CREATE TABLE positions (
    symbol              TEXT   PRIMARY KEY,
    quantity            TEXT   NOT NULL,
    average_entry_price TEXT   NOT NULL,
    current_price       TEXT,
    market_value        TEXT   NOT NULL,
    unrealised_pnl      TEXT   NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Equity over time, for drawdown, the equity curve and the daily loss.
CREATE TABLE portfolio_snapshots (
    ts             BIGINT PRIMARY KEY,
    equity         TEXT   NOT NULL,
    cash           TEXT   NOT NULL,
    gross_exposure TEXT   NOT NULL,
    net_exposure   TEXT   NOT NULL,
    unrealised_pnl TEXT   NOT NULL,
    mode           TEXT   NOT NULL
);

-- Every risk decision: accepted, clipped or refused, with the rule, its inputs and the outcome.
CREATE TABLE risk_decisions (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    ts                 BIGINT NOT NULL,
    strategy           TEXT   NOT NULL,
    script_hash        TEXT,
    client_order_id    TEXT,
    symbol             TEXT   NOT NULL,
    side               TEXT   NOT NULL,
    quantity           TEXT   NOT NULL,
    approved_quantity  TEXT,
    outcome            TEXT   NOT NULL,
    rule               TEXT,
    reason             TEXT,
    inputs             TEXT   NOT NULL
);
CREATE INDEX risk_decisions_time ON risk_decisions (ts);

-- The engine's state (mode, peak and day-start equity, loss streak), one row, so a halt survives
-- a restart.
CREATE TABLE risk_state (
    id         BIGINT PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What happened to risk: mode changes, halts and resumes, breaches, limit reloads (loosening
-- named as such). alerted_at is set once generate_risk_alerts has turned the event into an alert.
CREATE TABLE risk_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ts         BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    severity   TEXT   NOT NULL,
    message    TEXT   NOT NULL,
    details    TEXT   NOT NULL,
    alerted_at BIGINT
);
CREATE INDEX risk_events_time ON risk_events (ts);

-- Alerts raised for people (risk breaches, reconciliation mismatches, failed legs).
CREATE TABLE alerts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    ts       BIGINT NOT NULL,
    source   TEXT   NOT NULL,
    severity TEXT   NOT NULL,
    message  TEXT   NOT NULL,
    details  TEXT   NOT NULL
);
CREATE INDEX alerts_time ON alerts (ts);

-- A pair trade: two legs that must both fill. An orphan (one leg failed or still unfilled at the
-- deadline) is flattened by manage_orders.
CREATE TABLE pair_trades (
    id          TEXT   PRIMARY KEY,
    strategy    TEXT   NOT NULL,
    pair        TEXT   NOT NULL,
    leg_a       TEXT   NOT NULL,
    leg_b       TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    opened_at   BIGINT NOT NULL,
    deadline    BIGINT NOT NULL,
    closed_at   BIGINT,
    note        TEXT
);
CREATE INDEX pair_trades_status ON pair_trades (status);

-- One reconciliation of orders, positions and cash against the broker, with its whole diff.
CREATE TABLE reconciliations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ts         BIGINT NOT NULL,
    broker     TEXT   NOT NULL,
    mismatches BIGINT NOT NULL,
    diff       TEXT   NOT NULL
);

-- Each mismatch, the policy applied and what was done. An unresolved row whose policy blocks
-- (adopt waits for nothing; flatten and halt block until resolved) refuses new orders for the symbol.
CREATE TABLE reconciliation_mismatches (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    reconciliation_id BIGINT NOT NULL,
    symbol            TEXT,
    kind              TEXT   NOT NULL,
    local_value       TEXT,
    broker_value      TEXT,
    policy            TEXT   NOT NULL,
    action            TEXT   NOT NULL,
    blocking          BIGINT NOT NULL,
    resolved_at       BIGINT,
    resolved_by       TEXT
);
CREATE INDEX reconciliation_open ON reconciliation_mismatches (symbol, resolved_at);
