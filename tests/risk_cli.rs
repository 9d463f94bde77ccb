//! The kill switch from the command line against a running daemon (through its API), and
//! `config/risk.toml` edited under the running daemon: a valid edit takes effect with the
//! loosening recorded, an invalid one is refused and the limits stay.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::daemon::{generated_key, open_store, start_with};

fn cli(
    root: &std::path::Path,
    address: &str,
    arguments: &[&str],
) -> (bool, serde_json::Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args(["--root", &root.display().to_string()])
        .args(arguments)
        .env("TRADEHOST_SERVER__BIND", address)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (output.status.success(), json, format!("{stdout}{stderr}"))
}

async fn limits(root: &std::path::Path, address: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("http://{address}/api/v1/risk"))
        .bearer_auth(generated_key(root))
        .send()
        .await
        .expect("risk status")
        .json::<serde_json::Value>()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_and_limit_reloads_work_on_a_running_daemon() {
    let project = tempfile::tempdir().expect("project");
    let root = project.path();
    std::fs::create_dir_all(root.join("config")).expect("config folder");
    let risk_file = root.join("config/risk.toml");
    std::fs::write(&risk_file, tradehost::trading::limits_file::EMBEDDED).expect("risk.toml");
    let daemon = start_with(root, 1, &[]);
    let address = daemon.address.clone();

    let (ok, status, text) = cli(root, &address, &["risk", "status"]);
    assert!(ok, "{text}");
    assert_eq!(status["mode"], "active", "{text}");

    let (ok, report, text) = cli(
        root,
        &address,
        &[
            "risk",
            "halt",
            "--reason",
            "drill",
            "--flatten",
            "--operator",
            "tester",
        ],
    );
    assert!(ok, "{text}");
    assert!(report["cancelled"].is_array(), "{text}");
    assert_eq!(limits(root, &address).await["mode"], "halted");
    let (ok, _, text) = cli(root, &address, &["risk", "resume", "--operator", "tester"]);
    assert!(ok, "{text}");
    assert_eq!(limits(root, &address).await["mode"], "active");
    let (ok, _, text) = cli(root, &address, &["risk", "resume", "--operator", "tester"]);
    assert!(
        !ok && text.contains("not halted"),
        "resuming twice is refused: {text}"
    );

    // A loosened limit takes effect and is recorded as loosening.
    std::fs::write(
        &risk_file,
        tradehost::trading::limits_file::EMBEDDED
            .replace("max_order_notional = 25000", "max_order_notional = 90000"),
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(15);
    while limits(root, &address).await["limits"]["max_order_notional"] != "90000" {
        assert!(Instant::now() < deadline, "the edit never took effect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // An invalid file is refused; the limits stay.
    std::fs::write(&risk_file, "max_order_notional = -1\n").expect("write");
    let store = open_store(root).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = store.risk_events(false, 10).await.expect("events");
        if events.iter().any(|event| event.kind == "limits_refused") {
            assert!(events.iter().any(|event| event.kind == "limits_loosened"
                && event.message.contains("max_order_notional")));
            assert!(events.iter().any(|event| event.kind == "kill_switch"));
            break;
        }
        assert!(Instant::now() < deadline, "the bad edit was never refused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        limits(root, &address).await["limits"]["max_order_notional"],
        "90000"
    );
    daemon.interrupt();
}
