-- Scripts: every version the registry saw, and each script's key-value state.

-- One row per compiled file content. status: active (serving), superseded (an older version that
-- served), rejected (failed to compile or validate; the previous version kept serving), retired
-- (the file was deleted).
CREATE TABLE script_versions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    name      TEXT   NOT NULL,
    path      TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    hash      TEXT   NOT NULL,
    source    TEXT   NOT NULL,
    loaded_at BIGINT NOT NULL,
    status    TEXT   NOT NULL CHECK (status IN ('active', 'superseded', 'rejected', 'retired')),
    error     TEXT,
    line      BIGINT,
    col       BIGINT
);
CREATE INDEX script_versions_by_name ON script_versions (name, id);

-- state::get/set of each script, surviving reloads and restarts. value is JSON.
CREATE TABLE script_state (
    script     TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (script, key)
);
