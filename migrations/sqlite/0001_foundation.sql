-- Foundation tables. Conventions every later table follows (see ARCHITECTURE.md):
--   * timestamps are BIGINT milliseconds since the Unix epoch, UTC, in columns named *_at or ts;
--   * prices, quantities and money are exact decimals stored as TEXT;
--   * JSON documents are TEXT;
--   * the PostgreSQL migration of the same number creates the same columns with the same names.

-- One bar per symbol, timeframe and bar start. WITHOUT ROWID clusters rows by the key, which is
-- how they are read (a symbol's bars in time order).
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
) WITHOUT ROWID;

-- One row per ingestion: a CSV file, a provider fetch or a simulated batch.
CREATE TABLE load_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- Problems found in data: rejected rows at import, and later the checks of validate_data_quality.
CREATE TABLE data_quality_issues (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- Who did what: operator commands, configuration changes, and every state change that matters.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    subject TEXT,
    details TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log (at);
