-- Technical indicator values computed by the indicators flow: one per symbol, timeframe,
-- indicator and bar start. Values are f64 (analytics, not money). A recomputation replaces.
CREATE TABLE indicator_values (
    symbol      TEXT   NOT NULL,
    timeframe   TEXT   NOT NULL,
    indicator   TEXT   NOT NULL,
    ts          BIGINT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (symbol, timeframe, indicator, ts)
);
