//! The HTTP API against the real daemon on a free port: every documented endpoint with its keys
//! (none, wrong, read-only, admin), each class of bad input with its status and message, the
//! OpenAPI document, Prometheus metrics, the live event stream, rate limits, the generated key
//! file, and the refusal to listen beyond loopback without keys.

mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::daemon::{RunningDaemon, copy_project, generated_key, open_store, start_with};

const ADMIN: &str = "admin-key-for-the-api-tests-0001";
const READ: &str = "read-key-for-the-api-tests-00001";

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(daemon: &RunningDaemon) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{}", daemon.address),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// A raw body with a content type, for malformed and oversized input.
    async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value)
    }
}

/// An error reply: the status, a JSON `error` message containing `needle`, and no internals.
fn assert_error(reply: &(StatusCode, Value), status: StatusCode, needle: &str) {
    let (actual, body) = reply;
    assert_eq!(*actual, status, "{body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"));
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "`{message}` does not mention `{needle}`"
    );
    assert_eq!(body["status"], status.as_u16());
    for internal in ["sqlx", "SELECT", "panicked", "src/", "stack backtrace"] {
        assert!(!message.contains(internal), "internals leaked: {message}");
    }
}

fn daemon_with_keys(root: &std::path::Path, extra: &[(&str, &str)]) -> RunningDaemon {
    copy_project(root);
    let mut environment = vec![("TRADEHOST_ADMIN_KEY", ADMIN), ("TRADEHOST_READ_KEY", READ)];
    environment.extend_from_slice(extra);
    start_with(root, 60, &environment)
}

/// Concrete paths for the documented path templates.
fn concrete(template: &str) -> String {
    template
        .replace("{name}", "manage_orders")
        .replace("{id}", "1")
        .replace("{pair}", "all")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_checks_its_key_and_scope() {
    let project = tempfile::tempdir().expect("project");
    let daemon = daemon_with_keys(project.path(), &[]);
    let api = Api::new(&daemon);

    let (status, document) = api.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "only {} paths documented", paths.len());

    let mut checked = 0;
    for (template, item) in paths {
        let path = concrete(template);
        for method in ["get", "post"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let public = operation.get("security").is_none();
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = (method == Method::POST).then(|| json!({}));
            if public {
                let (status, _) = api.call(method.clone(), &path, None, body.as_ref()).await;
                assert_eq!(status, StatusCode::OK, "{method} {path} is public");
                continue;
            }
            if path == "/api/v1/events" {
                // A stream: its key checks are below, with a timeout.
                continue;
            }
            let missing = api.call(method.clone(), &path, None, body.as_ref()).await;
            assert_error(&missing, StatusCode::UNAUTHORIZED, "needs an API key");
            let wrong = api
                .call(
                    method.clone(),
                    &path,
                    Some("not-a-key-at-all-0000"),
                    body.as_ref(),
                )
                .await;
            assert_error(&wrong, StatusCode::UNAUTHORIZED, "not valid");
            if method == Method::POST {
                let read_only = api
                    .call(method.clone(), &path, Some(READ), body.as_ref())
                    .await;
                assert_error(&read_only, StatusCode::FORBIDDEN, "admin key");
            } else {
                let (status, body) = api.call(method.clone(), &path, Some(READ), None).await;
                // Readiness may honestly say 503: no bars are stored yet on this fresh daemon.
                let honest_503 = path == "/api/v1/health/ready"
                    && status == StatusCode::SERVICE_UNAVAILABLE
                    && body["status"] == "not_ready";
                assert!(
                    !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                        && (!status.is_server_error() || honest_503),
                    "GET {path} with a read key: {status} {body}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "checked {checked} operations");

    // The event stream needs a key too; with one it opens.
    let response = api
        .http
        .get(format!("{}/api/v1/events", api.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = api
        .http
        .get(format!("{}/api/v1/events", api.base))
        .bearer_auth(READ)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("type"),
        "text/event-stream"
    );
    drop(response);

    // Unknown routes and methods are JSON errors too.
    let reply = api.get("/api/v1/nothing-here", READ).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no endpoint");
    let reply = api
        .call(Method::DELETE, "/api/v1/orders", Some(ADMIN), None)
        .await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "does not accept");
    daemon.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_of_every_kind_gets_a_clear_4xx() {
    let project = tempfile::tempdir().expect("project");
    let daemon = daemon_with_keys(
        project.path(),
        &[("TRADEHOST_SERVER__BODY_LIMIT_BYTES", "4096")],
    );
    let api = Api::new(&daemon);

    // Malformed JSON, wrong types, missing and unknown fields, wrong content type, oversized.
    let reply = api
        .post_raw(
            "/api/v1/risk/halt",
            "application/json",
            b"{\"reason\": ".to_vec(),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "not valid JSON");
    let reply = api
        .post(
            "/api/v1/risk/halt",
            ADMIN,
            &json!({ "reason": 5, "operator": "x" }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid type");
    let reply = api
        .post("/api/v1/risk/halt", ADMIN, &json!({ "reason": "drill" }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "operator");
    let reply = api
        .post(
            "/api/v1/risk/halt",
            ADMIN,
            &json!({ "reason": "drill", "operator": "x", "flaten": true }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "unknown field");
    let reply = api
        .post(
            "/api/v1/risk/halt",
            ADMIN,
            &json!({ "reason": " ", "operator": "x" }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "may not be empty");
    let reply = api
        .post_raw("/api/v1/risk/halt", "text/plain", b"halt".to_vec())
        .await;
    assert_error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "application/json",
    );
    let huge = format!(
        "{{\"source\": \"{}\", \"kind\": \"flow\"}}",
        "x".repeat(10_000)
    );
    let reply = api
        .post_raw(
            "/api/v1/scripts/validate",
            "application/json",
            huge.into_bytes(),
        )
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
    let reply = api
        .post(
            "/api/v1/deployments/manage_orders/run",
            ADMIN,
            &json!({ "parameters": [1, 2] }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid type");
    let reply = api
        .post("/api/v1/backtests", ADMIN, &json!({ "days": -3 }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid value");
    let reply = api
        .post(
            "/api/v1/backtests",
            ADMIN,
            &json!({ "strategy": "../../etc/passwd" }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "script name");

    // Unknown ids and names.
    let reply = api.get("/api/v1/runs/987654", READ).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no run with id 987654");
    let reply = api.get("/api/v1/runs/abc", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "path parameter");
    let reply = api.get("/api/v1/runs/987654/logs", READ).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no run");
    let reply = api
        .post("/api/v1/runs/987654/cancel", ADMIN, &json!({}))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no run");
    let reply = api
        .post("/api/v1/runs/987654/retry", ADMIN, &json!({}))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no run");
    let reply = api
        .post("/api/v1/deployments/no_such_flow/pause", ADMIN, &json!({}))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no deployment");
    let reply = api
        .post("/api/v1/deployments/no_such_flow/run", ADMIN, &json!({}))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no deployment");
    let reply = api
        .get(&format!("/api/v1/orders/{}", "x".repeat(200)), READ)
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "client order id");
    let reply = api.get("/api/v1/orders/not-an-order", READ).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no order");
    let reply = api
        .get("/api/v1/orders/8c5f6a1e-3b0e-4c59-9a53-4e0b8f8f1c11", READ)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no order");
    let reply = api.get("/api/v1/backtests/424242", READ).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no backtest");
    let reply = api
        .get("/api/v1/scripts/no_such_script/versions", READ)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no script");
    let reply = api.get("/api/v1/pairs/KO-PEP/spreads", READ).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "no spreads");

    // Bad query strings.
    let reply = api.get("/api/v1/orders?limit=0", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "between 1 and 1000");
    let reply = api.get("/api/v1/orders?limit=many", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "query string");
    let reply = api.get("/api/v1/runs?state=exploded", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "query string");
    let reply = api.get("/api/v1/orders?limt=5", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unknown field");
    let reply = api.get("/api/v1/events?kinds=run,explosions", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unknown event kind");
    let reply = api.get("/api/v1/performance?days=0", READ).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "between 1 and 3650");

    // Injection strings are just text that names nothing.
    for hostile in [
        "x';DROP TABLE flow_runs;--",
        "%27%20OR%201%3D1%20--",
        "..%2F..%2Fetc%2Fpasswd",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let (status, body) = api
            .post(
                &format!("/api/v1/deployments/{hostile}/pause"),
                ADMIN,
                &json!({}),
            )
            .await;
        assert!(status.is_client_error(), "{hostile}: {status} {body}");
        let (status, body) = api
            .get(&format!("/api/v1/pairs/{hostile}/signals"), READ)
            .await;
        assert!(status.is_client_error(), "{hostile}: {status} {body}");
        let (status, body) = api
            .get(&format!("/api/v1/runs?deployment={hostile}"), READ)
            .await;
        assert_eq!(status, StatusCode::OK, "{hostile}: {body}");
        assert_eq!(body["runs"], json!([]));
    }
    let store = open_store(project.path()).await;
    assert!(!store.deployments().await.expect("deployments").is_empty());
    daemon.interrupt();
}

async fn wait_for_run_end(api: &Api, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, detail) = api.get(&format!("/api/v1/runs/{id}"), READ).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        let state = detail["run"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !["scheduled", "pending", "running", "awaiting_retry"].contains(&state.as_str()) {
            return detail;
        }
        assert!(Instant::now() < deadline, "run {id} still {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_do_what_they_say() {
    let project = tempfile::tempdir().expect("project");
    let daemon = daemon_with_keys(project.path(), &[]);
    let api = Api::new(&daemon);

    // Health and readiness.
    let (status, health) = api.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["database"]["status"], "ok");
    let (_, ready) = api.get("/api/v1/health/ready", READ).await;
    assert_eq!(ready["database"]["status"], "ok", "{ready}");
    assert_eq!(ready["broker"]["status"], "ok", "{ready}");

    // Deployments: listed with their next run; pause and resume.
    let (status, deployments) = api.get("/api/v1/deployments", READ).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = deployments
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|deployment| deployment["name"].as_str())
        .collect();
    assert!(names.contains(&"intraday_pairs_trading"), "{names:?}");
    let (status, paused) = api
        .post(
            "/api/v1/deployments/intraday_pairs_trading/pause",
            ADMIN,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["paused"], true);
    let (_, deployments) = api.get("/api/v1/deployments", READ).await;
    let pairs = deployments
        .as_array()
        .expect("list")
        .iter()
        .find(|deployment| deployment["name"] == "intraday_pairs_trading")
        .expect("pairs deployment");
    assert_eq!(pairs["paused"], true);
    assert!(pairs["next_run"].is_null());
    let (status, _) = api
        .post(
            "/api/v1/deployments/intraday_pairs_trading/resume",
            ADMIN,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A manual run with parameters, inspected, with logs; then retried.
    let (status, created) = api
        .post(
            "/api/v1/deployments/validate_risk_limits/run",
            ADMIN,
            &json!({ "parameters": { "note": "from the API test" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["run_id"].as_i64().expect("run id");
    let detail = wait_for_run_end(&api, id).await;
    assert_eq!(detail["run"]["parameters"]["note"], "from the API test");
    assert_eq!(detail["run"]["trigger"], "api");
    assert!(
        detail["states"].as_array().expect("states").len() >= 3,
        "{detail}"
    );
    let (status, logs) = api.get(&format!("/api/v1/runs/{id}/logs"), READ).await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs.is_array());
    let reply = api
        .post(&format!("/api/v1/runs/{id}/cancel"), ADMIN, &json!({}))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already ended");
    let (status, retried) = api
        .post(&format!("/api/v1/runs/{id}/retry"), ADMIN, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    let retried = wait_for_run_end(&api, retried["run_id"].as_i64().expect("id")).await;
    assert_eq!(retried["run"]["trigger"], "retry");
    assert_eq!(retried["run"]["parameters"]["note"], "from the API test");

    // Runs: filtered and paged.
    let (_, page) = api
        .get("/api/v1/runs?deployment=validate_risk_limits&limit=1", READ)
        .await;
    assert_eq!(page["runs"].as_array().expect("runs").len(), 1);
    let next = page["next"].as_i64().expect("a next page");
    let (_, older) = api
        .get(
            &format!("/api/v1/runs?deployment=validate_risk_limits&limit=1&before={next}"),
            READ,
        )
        .await;
    assert_eq!(older["runs"][0]["id"], id);

    // Scripts: listed with hashes, versions, validation.
    let (_, scripts) = api.get("/api/v1/scripts", READ).await;
    let pairs_script = scripts
        .as_array()
        .expect("scripts")
        .iter()
        .find(|script| script["name"] == "pairs")
        .expect("the pairs strategy");
    assert_eq!(pairs_script["kind"], "strategy");
    assert_eq!(pairs_script["hash"].as_str().expect("hash").len(), 64);
    let (status, versions) = api.get("/api/v1/scripts/pairs/versions", READ).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions[0]["hash"], pairs_script["hash"]);
    let (_, verdict) = api
        .post(
            "/api/v1/scripts/validate",
            ADMIN,
            &json!({ "kind": "flow", "source": "fn run(params) { 1 + 1 }" }),
        )
        .await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    let (_, verdict) = api
        .post(
            "/api/v1/scripts/validate",
            ADMIN,
            &json!({ "kind": "flow", "source": "fn run(params) {\n  let x = ;\n}" }),
        )
        .await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["error"]["line"], 2, "{verdict}");
    let (_, verdict) = api
        .post(
            "/api/v1/scripts/validate",
            ADMIN,
            &json!({ "kind": "strategy", "source": "fn run(params) { 1 }" }),
        )
        .await;
    assert_eq!(verdict["valid"], false);
    assert!(
        verdict["error"]["message"]
            .as_str()
            .expect("message")
            .contains("on_cycle"),
        "{verdict}"
    );

    // Trading reads.
    let (status, account) = api.get("/api/v1/account", READ).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert!(
        account["equity"].is_string(),
        "money travels as exact text: {account}"
    );
    for path in [
        "/api/v1/positions",
        "/api/v1/orders?limit=5",
        "/api/v1/risk/decisions",
        "/api/v1/risk/events",
        "/api/v1/pairs",
        "/api/v1/backtests",
    ] {
        let (status, body) = api.get(path, READ).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.is_array(), "{path}: {body}");
    }
    let (_, fills) = api.get("/api/v1/fills", READ).await;
    assert!(fills["fills"].is_array());
    let (_, limits) = api.get("/api/v1/risk/limits", READ).await;
    assert!(
        limits["limits"]["max_order_notional"].is_string(),
        "{limits}"
    );
    assert!(limits["utilisation"].is_array());
    let (_, performance) = api.get("/api/v1/performance?days=5", READ).await;
    assert!(performance["metrics"].is_object(), "{performance}");

    // The kill switch: halt, a second resume refused, status.
    let (status, report) = api
        .post(
            "/api/v1/risk/halt",
            ADMIN,
            &json!({ "reason": "API drill", "operator": "tests" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (_, risk) = api.get("/api/v1/risk", READ).await;
    assert_eq!(risk["mode"], "halted");
    let (status, _) = api
        .post(
            "/api/v1/risk/resume",
            ADMIN,
            &json!({ "operator": "tests" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let reply = api
        .post(
            "/api/v1/risk/resume",
            ADMIN,
            &json!({ "operator": "tests" }),
        )
        .await;
    assert_eq!(reply.0, StatusCode::CONFLICT, "{}", reply.1);

    // Backtests are submitted as runs of run_backtest.
    let (status, submitted) = api
        .post(
            "/api/v1/backtests",
            ADMIN,
            &json!({ "strategy": "pairs", "days": 5 }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    let detail = wait_for_run_end(&api, submitted["run_id"].as_i64().expect("id")).await;
    assert_eq!(detail["run"]["deployment"], "run_backtest");

    // Metrics count what was served.
    let response = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(READ)
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    assert!(
        text.contains(
            r#"tradehost_http_requests_total{method="GET",route="/api/v1/runs/{id}",status="200"}"#
        ),
        "{text}"
    );
    assert!(text.contains("tradehost_http_request_duration_seconds_bucket"));
    assert!(
        text.contains("tradehost_flow_runs{state=\"completed\"}"),
        "{text}"
    );
    assert!(text.contains("tradehost_trading_halted 0"), "{text}");
    daemon.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_delivers_runs_and_risk_events_as_they_commit() {
    let project = tempfile::tempdir().expect("project");
    let daemon = daemon_with_keys(project.path(), &[]);
    let api = Api::new(&daemon);
    let mut stream = api
        .http
        .get(format!("{}/api/v1/events?kinds=run,risk", api.base))
        .bearer_auth(READ)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut text = String::new();
    // The stream opens with a `ready` event: subscribed before anything is triggered.
    while !text.contains("event: ready") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("ready in time")
            .expect("chunk")
            .expect("open stream");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (status, created) = api
        .post(
            "/api/v1/deployments/validate_risk_limits/run",
            ADMIN,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["run_id"].as_i64().expect("id");
    let (status, _) = api
        .post(
            "/api/v1/risk/halt",
            ADMIN,
            &json!({ "reason": "stream drill", "operator": "tests" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(60);
    let has = |events: &[(String, Value)], kind: &str, test: &dyn Fn(&Value) -> bool| {
        events
            .iter()
            .any(|(name, event)| name == kind && test(&event["data"]))
    };
    loop {
        let events = parse_events(&text);
        let completed = has(&events, "run", &|data| {
            data["id"] == id && data["state"] == "completed"
        });
        let halted = has(&events, "risk", &|data| {
            data["message"]
                .as_str()
                .unwrap_or_default()
                .contains("stream drill")
        });
        if completed && halted {
            assert!(has(&events, "run", &|data| data["id"] == id
                && data["deployment"] == "validate_risk_limits"
                && data["state"] == "scheduled"));
            assert!(has(&events, "run", &|data| data["id"] == id
                && data["state"] == "running"));
            assert!(
                events
                    .iter()
                    .all(|(name, _)| ["ready", "run", "risk"].contains(&name.as_str())),
                "only the kinds asked for: {text}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "events so far:\n{text}");
        if let Ok(chunk) = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await {
            text.push_str(&String::from_utf8_lossy(
                &chunk.expect("chunk").expect("open"),
            ));
        }
    }
    daemon.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_per_address_and_key() {
    let project = tempfile::tempdir().expect("project");
    let daemon = daemon_with_keys(
        project.path(),
        &[
            ("TRADEHOST_SERVER__RATE_LIMIT_PER_SECOND", "2"),
            ("TRADEHOST_SERVER__RATE_LIMIT_BURST", "5"),
        ],
    );
    let api = Api::new(&daemon);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    let started = Instant::now();
    for _ in 0..12 {
        let response = api
            .http
            .get(format!("{}/api/v1/orders", api.base))
            .bearer_auth(READ)
            .send()
            .await
            .expect("request");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.expect("json");
            assert!(
                body["error"]
                    .as_str()
                    .expect("message")
                    .contains("too many requests")
            );
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    // The burst of 5 passes; after it only what the 2/s rate refilled meanwhile (a slow machine
    // may take a while over the twelve requests).
    let refilled = (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(statuses[..5].iter().all(|s| *s == 200), "{statuses:?}");
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!(passed <= 5 + refilled, "{passed} passed: {statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after
        .expect("Retry-After")
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=3).contains(&seconds));
    // Wrong keys are throttled by address as well: guessing keys is slow.
    let reply = api.get("/api/v1/orders", "guess-guess-guess-0001").await;
    assert_eq!(reply.0, StatusCode::TOO_MANY_REQUESTS);
    // After waiting, the bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = api.get("/api/v1/orders", READ).await;
    assert_eq!(status, StatusCode::OK);
    daemon.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_keys_an_owner_only_key_file_is_made_and_the_network_refused() {
    use std::os::unix::fs::PermissionsExt;
    let project = tempfile::tempdir().expect("project");
    copy_project(project.path());
    let daemon = start_with(project.path(), 60, &[]);
    let key_file = project.path().join("data/api-key");
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner read/write only");
    let key = generated_key(project.path());
    let api = Api::new(&daemon);
    // Loopback without a key is still refused for mutations and reads.
    let reply = api
        .call(Method::POST, "/api/v1/risk/halt", None, Some(&json!({})))
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "needs an API key");
    let (status, _) = api.get("/api/v1/risk", &key).await;
    assert_eq!(status, StatusCode::OK);
    daemon.interrupt();

    // The same project on a non-loopback address: refused at start, with the reason.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args(["--root", &project.path().display().to_string()])
        .args(["run", "--bind", "0.0.0.0:0"])
        .env_remove("DATABASE_URL")
        .env_remove("TRADEHOST_ADMIN_KEY")
        .env_remove("TRADEHOST_READ_KEY")
        .output()
        .expect("run the daemon");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without configured API keys"),
        "{stderr}"
    );
}

/// The (event name, JSON data) pairs of a server-sent event stream's text.
fn parse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            Some((name?, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_replies_follow_every_change_and_still_check_the_key() {
    let project = tempfile::tempdir().expect("project");
    let daemon = daemon_with_keys(project.path(), &[]);
    let api = Api::new(&daemon);

    // The same list twice: the second comes from memory and is the same.
    let (status, first) = api.get("/api/v1/runs?limit=5", READ).await;
    assert_eq!(status, StatusCode::OK);
    let (_, second) = api.get("/api/v1/runs?limit=5", READ).await;
    assert_eq!(first["runs"], second["runs"]);

    // A kept reply is not a way around the key.
    let (status, _) = api
        .call(Method::GET, "/api/v1/runs?limit=5", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .get("/api/v1/runs?limit=5", "not-the-key-at-all-0000")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A new run shows at once, not after the reply's age runs out.
    let (status, created) = api
        .post(
            "/api/v1/deployments/validate_risk_limits/run",
            ADMIN,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, after) = api.get("/api/v1/runs?limit=5", READ).await;
    assert_eq!(after["runs"][0]["id"], created["run_id"], "{after}");

    // So does a pause and a resume, and a halt on the risk status.
    for paused in [true, false] {
        let action = if paused { "pause" } else { "resume" };
        let (status, _) = api
            .post(
                &format!("/api/v1/deployments/manage_orders/{action}"),
                ADMIN,
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, deployments) = api.get("/api/v1/deployments", READ).await;
        let manage = deployments
            .as_array()
            .expect("list")
            .iter()
            .find(|deployment| deployment["name"] == "manage_orders")
            .expect("manage_orders");
        assert_eq!(manage["paused"], paused, "after {action}");
    }
    let (_, before) = api.get("/api/v1/risk", READ).await;
    assert_ne!(before["mode"], "halted", "{before}");
    let (status, _) = api
        .post(
            "/api/v1/risk/halt",
            ADMIN,
            &json!({ "reason": "cache test", "operator": "tests" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, halted) = api.get("/api/v1/risk", READ).await;
    assert_eq!(halted["mode"], "halted", "{halted}");
}
