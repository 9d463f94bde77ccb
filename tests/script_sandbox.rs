//! Hostile scripts against the real sandbox: each is stopped or refused with a clear error that
//! names its file (and its line, where Rhai knows it), within its budget, and the runtime goes on
//! serving other scripts meanwhile and afterwards (SPEC §4.1, §13).

mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use support::scripts::{ScriptProject, line_of};
use tradehost::config::DatabaseLocation;
use tradehost::script::{ErrorKind, Limits, ScriptError};
use tradehost::store::AuditEntry;

/// The wall-clock budget hostile loops run into.
const BUDGET_MS: u64 = 500;

/// How long any hostile call may take: generous, for a debug build on two busy cores. A loop
/// stopped by its 500 ms budget must still come back well inside this.
const RETURN_BOUND: Duration = Duration::from_secs(3);

/// Limits where the wall-clock budget, not the operation count, is what stops a loop.
fn budget_limits() -> Limits {
    Limits {
        timeout_ms: BUDGET_MS,
        max_operations: 1_000_000_000,
        ..Limits::default()
    }
}

fn start() -> DateTime<Utc> {
    "2024-01-10T15:00:00Z".parse().expect("a valid time")
}

/// A project serving one flow, `name`, with `source`.
async fn project_with(limits: Limits, name: &str, source: &str) -> ScriptProject {
    let project = ScriptProject::new(limits, start()).await;
    project.write_flow(name, source);
    project.load().await;
    project
}

/// Asserts `error` is displayed as `file:line:column: message`, at `line` of the script.
fn assert_points_at(error: &ScriptError, label: &str, line: usize) {
    assert_eq!(error.script, label, "{error}");
    assert_eq!(error.line, Some(line), "wrong line: {error}");
    assert!(error.column.is_some(), "no column: {error}");
    assert!(
        error.to_string().starts_with(&format!("{label}:{line}:")),
        "{error}"
    );
}

/// Asserts `error` is displayed as `file: message` without a line. Rhai treats budget and limit
/// errors as system exceptions and, leaving each script function, overwrites their position with
/// that function's call site; the entry point is called from Rust, at no position, so these
/// errors reach the host without a line. Recovering it would need Rhai's `debugging` feature.
fn assert_names_the_file_without_a_line(error: &ScriptError, label: &str) {
    assert_eq!(error.script, label, "{error}");
    assert_eq!(
        error.line, None,
        "Rhai now reports a line; assert it: {error}"
    );
    assert_eq!(error.to_string(), format!("{label}: {}", error.message));
}

fn assert_returned_promptly(elapsed: Duration) {
    assert!(
        elapsed < RETURN_BOUND,
        "the call took {elapsed:?}, more than {RETURN_BOUND:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_infinite_loop_is_stopped_by_the_time_budget() {
    let source = r#"fn run(params) {
    let x = 1;
    loop {}
}
"#;
    let project = project_with(budget_limits(), "spin", source).await;
    let (error, elapsed) = project.run_err("spin").await;
    assert_eq!(error.kind, ErrorKind::Timeout, "{error}");
    assert_eq!(
        error.message,
        "stopped: the call ran past its time budget of 500 ms"
    );
    assert_names_the_file_without_a_line(&error, &project.flow_label("spin"));
    assert!(
        elapsed >= Duration::from_millis(BUDGET_MS - 50),
        "stopped after {elapsed:?}, before its budget"
    );
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_while_true_loop_is_stopped_by_the_time_budget() {
    let source = r#"fn run(params) {
    let x = 0;
    while true {
        x += 1;
    }
    x
}
"#;
    let project = project_with(budget_limits(), "count_forever", source).await;
    let (error, elapsed) = project.run_err("count_forever").await;
    assert_eq!(error.kind, ErrorKind::Timeout, "{error}");
    assert!(error.message.contains("time budget of 500 ms"), "{error}");
    assert_names_the_file_without_a_line(&error, &project.flow_label("count_forever"));
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_is_stopped_by_the_operation_limit_when_that_comes_first() {
    let limits = Limits {
        timeout_ms: 60_000,
        max_operations: 100_000,
        ..Limits::default()
    };
    let source = r#"fn run(params) {
    let x = 0;
    loop {
        x += 1;
    }
}
"#;
    let project = project_with(limits, "busy", source).await;
    let (error, elapsed) = project.run_err("busy").await;
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("too many operations"), "{error}");
    assert!(error.message.contains("operation limit"), "{error}");
    assert_names_the_file_without_a_line(&error, &project.flow_label("busy"));
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_is_stopped_by_the_call_depth_limit() {
    let source = r#"fn f(n) {
    f(n + 1)
}

fn run(params) {
    f(0)
}
"#;
    let project = project_with(budget_limits(), "recurse", source).await;
    let (error, elapsed) = project.run_err("recurse").await;
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("nested too deeply"), "{error}");
    assert!(error.message.contains("call-depth limit"), "{error}");
    assert!(error.message.contains("recursion"), "{error}");
    assert_names_the_file_without_a_line(&error, &project.flow_label("recurse"));
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_string_doubled_in_a_loop_is_stopped_by_the_string_size_limit() {
    let source = r#"fn run(params) {
    let text = "x";
    loop {
        text += text;
    }
}
"#;
    let project = project_with(budget_limits(), "grow_text", source).await;
    let (error, elapsed) = project.run_err("grow_text").await;
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("string"), "{error}");
    assert!(error.message.contains("size limit"), "{error}");
    assert_names_the_file_without_a_line(&error, &project.flow_label("grow_text"));
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_pushed_in_a_loop_is_stopped_by_the_array_size_limit() {
    // Rhai re-measures the whole array after every push, so pushing n elements costs n²/2 steps:
    // under the default 100 000-element limit a debug build runs into the time budget first.
    // A small limit shows the array limit itself stopping the loop.
    let limits = Limits {
        max_array_size: 1_000,
        ..budget_limits()
    };
    let source = r#"fn run(params) {
    let items = [];
    loop {
        items.push(1);
    }
}
"#;
    let project = project_with(limits, "grow_array", source).await;
    let (error, elapsed) = project.run_err("grow_array").await;
    assert_eq!(error.kind, ErrorKind::Limit, "{error}");
    assert!(error.message.contains("array"), "{error}");
    assert!(error.message.contains("size limit"), "{error}");
    assert_names_the_file_without_a_line(&error, &project.flow_label("grow_array"));
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_doubled_or_padded_past_the_default_limit_are_stopped() {
    let project = ScriptProject::new(budget_limits(), start()).await;
    project.write_flow(
        "double_array",
        "fn run(params) {\n    let items = [0];\n    loop {\n        items += items;\n    }\n}\n",
    );
    project.write_flow(
        "pad_array",
        "fn run(params) {\n    let items = [];\n    items.pad(100000000, 0);\n    items.len()\n}\n",
    );
    project.load().await;
    for name in ["double_array", "pad_array"] {
        let (error, elapsed) = project.run_err(name).await;
        assert_eq!(error.kind, ErrorKind::Limit, "{error}");
        assert!(error.message.contains("array"), "{error}");
        assert_names_the_file_without_a_line(&error, &project.flow_label(name));
        assert_returned_promptly(elapsed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_grown_key_by_key_is_stopped_within_the_time_budget() {
    // Rhai checks the size of the value assigned by `map[key] = value`, not of the map a new key
    // grows, so the map limit does not stop this loop; the time budget does. Either way the call
    // is contained.
    let source = r#"fn run(params) {
    let table = #{};
    let index = 0;
    loop {
        table[`key${index}`] = index;
        index += 1;
    }
}
"#;
    let project = project_with(budget_limits(), "grow_map", source).await;
    let (error, elapsed) = project.run_err("grow_map").await;
    assert!(
        matches!(error.kind, ErrorKind::Timeout | ErrorKind::Limit),
        "{error}"
    );
    assert!(error.message.starts_with("stopped: "), "{error}");
    assert_names_the_file_without_a_line(&error, &project.flow_label("grow_map"));
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_is_refused_when_the_script_loads() {
    let source = r#"fn run(params) {
    let x = 1;
    eval("1 + 1")
}
"#;
    let project = project_with(budget_limits(), "uses_eval", source).await;
    let error = project.load_error("uses_eval");
    assert_eq!(error.kind, ErrorKind::Syntax, "{error}");
    assert!(error.message.contains("'eval'"), "{error}");
    assert!(error.message.contains("disabled"), "{error}");
    assert_points_at(
        &error,
        &project.flow_label("uses_eval"),
        line_of(source, "eval("),
    );
    // Refused, so not serving: a call says there is no such script.
    assert!(project.runtime.registry().get("uses_eval").is_none());
    let (error, _) = project.run_err("uses_eval").await;
    assert!(
        error.message.contains("no script named `uses_eval`"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_by_absolute_path_is_refused_when_the_script_loads() {
    let source = r#"import "/etc/passwd" as secrets;

fn run(params) {
    1
}
"#;
    let project = project_with(budget_limits(), "import_passwd", source).await;
    let error = project.load_error("import_passwd");
    assert_eq!(error.kind, ErrorKind::Validation, "{error}");
    assert!(
        error
            .message
            .contains("import `/etc/passwd` is not allowed"),
        "{error}"
    );
    assert!(error.message.contains("scripts/lib"), "{error}");
    assert_points_at(&error, &project.flow_label("import_passwd"), 1);
    assert!(project.runtime.registry().get("import_passwd").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_climbing_out_of_the_library_folder_is_refused_when_the_script_loads() {
    let source = r#"fn run(params) {
    let x = 1;
    import "../secrets" as secrets;
    x
}
"#;
    let project = ScriptProject::new(budget_limits(), start()).await;
    // A module really is there, one folder up from `scripts/lib`: the path is refused, not missed.
    let path = project.write_flow("import_parent", source);
    let scripts = path.parent().expect("the scripts folder");
    std::fs::write(scripts.join("secrets.rhai"), "fn run(params) { 42 }\n").expect("write");
    project.load().await;
    let error = project.load_error("import_parent");
    assert_eq!(error.kind, ErrorKind::Validation, "{error}");
    assert!(
        error.message.contains("import `../secrets` is not allowed"),
        "{error}"
    );
    assert!(error.message.contains("no `..`"), "{error}");
    assert_points_at(
        &error,
        &project.flow_label("import_parent"),
        line_of(source, "import"),
    );
    assert!(project.runtime.registry().get("import_parent").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_that_does_not_parse_is_reported_at_the_import_line() {
    let project = ScriptProject::new(budget_limits(), start()).await;
    project.write_library("broken", "fn fine() {\n    1\n}\n\nfn broken( {\n}\n");
    let source = "// Uses a broken library.\nimport \"broken\" as broken;\n\nfn run(params) {\n    broken::fine()\n}\n";
    project.write_flow("uses_broken", source);
    project.load().await;
    let error = project.load_error("uses_broken");
    assert_eq!(error.kind, ErrorKind::Syntax, "{error}");
    // The script's line is the import; the library's own line is named in the message.
    assert_points_at(&error, &project.flow_label("uses_broken"), 2);
    assert!(
        error.message.starts_with("import `broken`, line 5: "),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_an_undefined_function_fails_naming_the_function() {
    let source = r#"fn run(params) {
    let x = 1;
    no_such_function(x)
}
"#;
    let project = project_with(budget_limits(), "undefined", source).await;
    let (error, elapsed) = project.run_err("undefined").await;
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(
        error.message.contains("no function no_such_function (i64)"),
        "{error}"
    );
    assert_points_at(
        &error,
        &project.flow_label("undefined"),
        line_of(source, "no_such_function"),
    );
    assert_returned_promptly(elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thrown_error_fails_the_call_with_its_message() {
    let source = r#"fn check(x) {
    if x > 0 {
        throw "boom";
    }
    x
}

fn run(params) {
    check(1)
}
"#;
    let project = project_with(budget_limits(), "throws", source).await;
    let (error, _) = project.run_err("throws").await;
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(error.message.contains("boom"), "{error}");
    // The innermost line, and the function it is in.
    assert!(error.message.contains("(in check)"), "{error}");
    assert_points_at(
        &error,
        &project.flow_label("throws"),
        line_of(source, "throw"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_errors_fail_at_their_line() {
    let subtract = r#"fn run(params) {
    let x = 1;
    "text" - 1
}
"#;
    let logarithm = r#"fn run(params) {
    let word = "text";
    let y = 2;
    word.ln()
}
"#;
    let project = ScriptProject::new(budget_limits(), start()).await;
    project.write_flow("subtract_text", subtract);
    project.write_flow("log_of_text", logarithm);
    project.load().await;

    let (error, _) = project.run_err("subtract_text").await;
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(error.message.contains("no function -"), "{error}");
    assert!(error.message.contains("String, i64"), "{error}");
    assert!(error.message.contains("wrong types"), "{error}");
    assert_points_at(&error, &project.flow_label("subtract_text"), 3);

    let (error, _) = project.run_err("log_of_text").await;
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(error.message.contains("no function ln"), "{error}");
    assert_points_at(&error, &project.flow_label("log_of_text"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn there_are_no_functions_that_reach_files_processes_or_the_network() {
    let project = ScriptProject::new(budget_limits(), start()).await;
    let calls = [
        ("shell", r#"system("ls")"#, "system"),
        ("open_file", r#"open("/etc/passwd")"#, "open"),
        ("read_file", r#"read_file("/etc/passwd")"#, "read_file"),
        ("fetch", r#"http_get("http://example.com")"#, "http_get"),
    ];
    for (name, call, _) in calls {
        project.write_flow(name, &format!("fn run(params) {{\n    {call}\n}}\n"));
    }
    // A path into a Rust-style namespace names a module that does not exist: refused at load.
    let namespaced = "fn run(params) {\n    std::fs::read_to_string(\"/etc/passwd\")\n}\n";
    project.write_flow("rust_namespace", namespaced);
    project.load().await;

    for (name, _, function) in calls {
        let (error, _) = project.run_err(name).await;
        assert_eq!(error.kind, ErrorKind::Runtime, "{name}: {error}");
        assert!(
            error
                .message
                .starts_with(&format!("no function {function} (")),
            "{name}: {error}"
        );
        assert_points_at(&error, &project.flow_label(name), 2);
    }
    let error = project.load_error("rust_namespace");
    assert_eq!(error.kind, ErrorKind::Syntax, "{error}");
    assert!(error.message.contains("std"), "{error}");
    assert_points_at(&error, &project.flow_label("rust_namespace"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_query_refuses_writes_files_and_second_statements_and_the_tables_are_unchanged() {
    let project = ScriptProject::new(budget_limits(), start()).await;
    let store = &project.database.store;
    let entry = AuditEntry {
        at: start(),
        actor: "test".into(),
        action: "test.setup".into(),
        subject: None,
        details: serde_json::json!({}),
    };
    store.audit(&entry).await.expect("write an audit entry");
    // Another SQLite file on disk, and a path a copy of the database could be written to.
    let other = support::sqlite().await;
    let DatabaseLocation::Sqlite(other_file) = &other.location else {
        panic!("support::sqlite() gives a SQLite file");
    };
    let copy = other_file.with_file_name("copy.db");
    let only_reads = "db::query only reads";
    let statements = [
        ("insert_bar", "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, source) VALUES ('SIMA', '1Min', 0, '1', '1', '1', '1', '1', 'script')".to_owned(), only_reads),
        ("delete_audit", "DELETE FROM audit_log".to_owned(), only_reads),
        ("update_audit", "UPDATE audit_log SET actor = 'script'".to_owned(), only_reads),
        ("drop_bars", "DROP TABLE bars".to_owned(), only_reads),
        ("create_table", "CREATE TEMP TABLE mine (x INTEGER)".to_owned(), only_reads),
        ("pragma", "PRAGMA journal_mode = DELETE".to_owned(), only_reads),
        ("attach", format!("ATTACH DATABASE '{}' AS other", other_file.display()), only_reads),
        ("vacuum_into", format!("VACUUM INTO '{}'", copy.display()), only_reads),
        ("second_statement", "SELECT 1; DELETE FROM audit_log".to_owned(), "one statement per query"),
        // Past the statement check, the read-only connection still refuses the write.
        ("insert_after_with", "WITH source AS (SELECT 1 AS n) INSERT INTO audit_log (at, actor, action, details) SELECT n, 'script', 'x', '{}' FROM source".to_owned(), "readonly database"),
    ];
    for (name, sql, _) in &statements {
        let source = format!("fn run(params) {{\n    let x = 1;\n    db::query(\"{sql}\")\n}}\n");
        project.write_flow(name, &source);
    }
    project.load().await;

    for (name, _, reason) in &statements {
        let (error, _) = project.run_err(name).await;
        assert_eq!(error.kind, ErrorKind::Runtime, "{name}: {error}");
        assert!(error.message.contains("db::query"), "{name}: {error}");
        assert!(error.message.contains(reason), "{name}: {error}");
        // The refused host call points at the line that made it.
        assert_points_at(&error, &project.flow_label(name), 3);
    }

    assert_eq!(store.count_bars(None).await.expect("count bars"), 0);
    assert_eq!(
        store.audit_entries(10).await.expect("read the audit log"),
        vec![entry]
    );
    assert!(!copy.exists(), "VACUUM INTO wrote {}", copy.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_host_call_in_a_helper_points_at_the_helper_line() {
    let source = r#"fn wipe(table) {
    let sql = "DELETE FROM " + table;
    db::query(sql)
}

fn run(params) {
    wipe("bars")
}
"#;
    let project = project_with(budget_limits(), "wipe", source).await;
    let (error, _) = project.run_err("wipe").await;
    assert_eq!(error.kind, ErrorKind::Runtime, "{error}");
    assert!(error.message.contains("(in wipe)"), "{error}");
    assert_points_at(&error, &project.flow_label("wipe"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_script_neither_stalls_other_calls_nor_stops_the_runtime() {
    // A longer budget, so the hostile call is surely still running while the good one is served.
    let limits = Limits {
        timeout_ms: 2_000,
        max_operations: 1_000_000_000,
        ..Limits::default()
    };
    let project = ScriptProject::new(limits, start()).await;
    project.write_flow(
        "spin",
        "fn run(params) {\n    state::set(\"started\", true);\n    loop {}\n}\n",
    );
    project.write_flow(
        "good",
        "fn run(params) {\n    let rows = db::query(\"SELECT 41 AS n\");\n    rows[0].n + 1\n}\n",
    );
    project.load().await;

    let runtime = project.runtime.clone();
    let hostile = tokio::spawn(async move {
        let started = Instant::now();
        let result = runtime.call("spin", "run", serde_json::json!({})).await;
        (result, started.elapsed())
    });
    // Wait until the hostile call is inside its loop: it records that it started.
    let waiting = Instant::now();
    while project
        .database
        .store
        .script_state("spin", "started")
        .await
        .expect("read script state")
        .is_none()
    {
        assert!(
            waiting.elapsed() < RETURN_BOUND,
            "the hostile call never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    for _ in 0..3 {
        let (result, elapsed) = project.run("good").await;
        let outcome = result.expect("the good script is served while the hostile one spins");
        assert_eq!(outcome.result, serde_json::json!(42));
        assert!(
            elapsed < Duration::from_millis(500),
            "the good call took {elapsed:?}"
        );
    }
    assert!(
        !hostile.is_finished(),
        "the hostile call ended before the good calls were done"
    );

    let (result, elapsed) = hostile.await.expect("the hostile call's task");
    let failure = result.expect_err("the hostile call is stopped");
    assert_eq!(failure.error.kind, ErrorKind::Timeout, "{failure}");
    assert!(
        failure.error.message.contains("2000 ms"),
        "{}",
        failure.error
    );
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");

    // The daemon goes on: good calls still succeed, and the hostile one is stopped again.
    assert_eq!(project.run_ok("good").await, serde_json::json!(42));
    let (error, elapsed) = project.run_err("spin").await;
    assert_eq!(error.kind, ErrorKind::Timeout, "{error}");
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    assert_eq!(project.run_ok("good").await, serde_json::json!(42));
}
