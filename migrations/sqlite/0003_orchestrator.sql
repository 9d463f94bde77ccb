-- The orchestrator: deployments, flow runs with their state history and logs, task runs, the
-- task result cache and events. Conventions as in 0001 (BIGINT epoch ms, TEXT JSON).

-- One row per deployment (a flow script with a schedule or triggers). spec is the effective
-- deployment as JSON; paused is 0 or 1; concurrency is the spec's limit, here so that claims can
-- check it in SQL; scheduled_until: every tick up to it has its run.
CREATE TABLE deployments (
    name            TEXT   PRIMARY KEY,
    spec            TEXT   NOT NULL,
    paused          BIGINT NOT NULL DEFAULT 0,
    concurrency     BIGINT NOT NULL DEFAULT 1,
    scheduled_until BIGINT,
    updated_at      BIGINT NOT NULL
);

-- One row per flow run. A scheduled tick exists once: (deployment, schedule_key, scheduled_at) is
-- unique, and manual, event and subflow runs have no schedule_key. attempt is the fencing token:
-- every state change names the attempt it belongs to, so a late zombie cannot overwrite a newer
-- attempt's state. due_at is when a Scheduled or AwaitingRetry run may start.
CREATE TABLE flow_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment       TEXT   NOT NULL,
    parent_run_id    BIGINT,
    trigger          TEXT   NOT NULL,
    schedule_key     TEXT,
    scheduled_at     BIGINT NOT NULL,
    due_at           BIGINT NOT NULL,
    state            TEXT   NOT NULL,
    attempt          BIGINT NOT NULL DEFAULT 1,
    max_attempts     BIGINT NOT NULL DEFAULT 1,
    parameters       TEXT   NOT NULL DEFAULT '{}',
    result           TEXT,
    error            TEXT,
    error_line       BIGINT,
    script_hash      TEXT,
    worker           TEXT,
    lease_until      BIGINT,
    started_at       BIGINT,
    ended_at         BIGINT,
    created_at       BIGINT NOT NULL,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    UNIQUE (deployment, schedule_key, scheduled_at)
);
CREATE INDEX flow_runs_due ON flow_runs (state, due_at);
CREATE INDEX flow_runs_by_deployment ON flow_runs (deployment, id);
-- Claims count a deployment's running runs for every candidate: this keeps that count cheap.
CREATE INDEX flow_runs_by_deployment_state ON flow_runs (deployment, state);

CREATE TABLE flow_run_states (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    state   TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    message TEXT
);
CREATE INDEX flow_run_states_by_run ON flow_run_states (run_id, id);

CREATE TABLE flow_run_logs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    level   TEXT   NOT NULL,
    message TEXT   NOT NULL
);
CREATE INDEX flow_run_logs_by_run ON flow_run_logs (run_id, id);

-- Task runs inside a flow run (flow::task), with their attempts and cache hits.
CREATE TABLE task_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      BIGINT,
    name        TEXT   NOT NULL,
    cache_key   TEXT,
    state       TEXT   NOT NULL,
    attempts    BIGINT NOT NULL,
    cache_hit   BIGINT NOT NULL DEFAULT 0,
    result      TEXT,
    error       TEXT,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX task_runs_by_run ON task_runs (run_id, id);

-- Task results by cache key, valid until expires_at.
CREATE TABLE task_cache (
    cache_key  TEXT   PRIMARY KEY,
    result     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Events (bars.ingested, order.filled, flow::emit …) that may start deployments. A deployment's
-- run for an event has schedule_key 'event:<id>', so an event starts each deployment once even
-- when several workers see it.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    emitted_at   BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX events_unprocessed ON events (processed_at, id);
