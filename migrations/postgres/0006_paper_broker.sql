-- The built-in paper broker's own book (SPEC §6.1), apart from the host's outbox in 0005: what a
-- real broker would hold on its side. Conventions as in 0001: BIGINT epoch ms UTC, decimals as TEXT.
-- Cash and positions are rows updated in the same transaction as each execution, so a crash can
-- never leave them disagreeing with paper_executions.

-- One row (id 1): the account's cash.
CREATE TABLE paper_account (
    id           BIGINT PRIMARY KEY,
    initial_cash TEXT   NOT NULL,
    cash         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Every order the paper broker accepted, in any status. A rejected submission stores nothing.
-- triggered: a stop or stop-limit whose stop traded (0/1). expires_at: the session close that ends
-- a day, IOC or FOK order. last_bar_at: the start of the last bar that changed the order.
CREATE TABLE paper_orders (
    broker_order_id    TEXT   PRIMARY KEY,
    client_order_id    TEXT   NOT NULL UNIQUE,
    symbol             TEXT   NOT NULL,
    side               TEXT   NOT NULL,
    quantity           TEXT   NOT NULL,
    order_type         TEXT   NOT NULL,
    limit_price        TEXT,
    stop_price         TEXT,
    time_in_force      TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    filled_quantity    TEXT   NOT NULL,
    average_fill_price TEXT,
    triggered          BIGINT NOT NULL,
    expires_at         BIGINT,
    last_bar_at        BIGINT,
    execution_count    BIGINT NOT NULL,
    replaces           TEXT,
    submitted_at       BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX paper_orders_status ON paper_orders (status);
CREATE INDEX paper_orders_submitted ON paper_orders (submitted_at);

-- Executions: each fill or partial fill.
CREATE TABLE paper_executions (
    execution_id    TEXT   PRIMARY KEY,
    broker_order_id TEXT   NOT NULL REFERENCES paper_orders (broker_order_id),
    symbol          TEXT   NOT NULL,
    side            TEXT   NOT NULL,
    quantity        TEXT   NOT NULL,
    price           TEXT   NOT NULL,
    commission      TEXT   NOT NULL,
    ts              BIGINT NOT NULL
);
CREATE INDEX paper_executions_time ON paper_executions (ts);

-- Net holdings with their realised P&L; a flat symbol keeps its row (quantity 0).
CREATE TABLE paper_positions (
    symbol              TEXT   PRIMARY KEY,
    quantity            TEXT   NOT NULL,
    average_entry_price TEXT,
    realised_pnl        TEXT   NOT NULL,
    updated_at          BIGINT NOT NULL
);
