-- Foundation tables: the same columns and names as migrations/sqlite/0001_foundation.sql (see the
-- conventions there). Timestamps are BIGINT epoch milliseconds UTC and decimals TEXT on both
-- backends, so one set of queries reads both.

CREATE TABLE bars (
    symbol    TEXT   NOT NULL,
    timeframe TEXT   NOT NULL,
    ts        BIGINT NOT NULL,
    open      TEXT   NOT NULL,
    high      TEXT   NOT NULL,
    low       TEXT   NOT NULL,
    close     TEXT   NOT NULL,
    volume    TEXT   NOT NULL,
    source    TEXT   NOT NULL,
    PRIMARY KEY (symbol, timeframe, ts)
);

CREATE TABLE load_runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source        TEXT   NOT NULL,
    target        TEXT   NOT NULL,
    status        TEXT   NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'refused')),
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    rows_read     BIGINT NOT NULL DEFAULT 0,
    bars_inserted BIGINT NOT NULL DEFAULT 0,
    bars_existing BIGINT NOT NULL DEFAULT 0,
    rows_rejected BIGINT NOT NULL DEFAULT 0,
    first_bar_ts  BIGINT,
    last_bar_ts   BIGINT,
    error         TEXT
);
CREATE INDEX load_runs_by_target ON load_runs (source, target, started_at);

CREATE TABLE data_quality_issues (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    load_run_id BIGINT REFERENCES load_runs (id),
    detected_at BIGINT NOT NULL,
    source      TEXT   NOT NULL,
    symbol      TEXT,
    timeframe   TEXT,
    ts          BIGINT,
    line        BIGINT,
    kind        TEXT   NOT NULL,
    severity    TEXT   NOT NULL CHECK (severity IN ('warning', 'error')),
    message     TEXT   NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX data_quality_issues_open ON data_quality_issues (resolved_at, detected_at);

CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    subject TEXT,
    details TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log (at);
