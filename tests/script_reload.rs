//! Hot reload on a running daemon: a script rewritten in place, then replaced by rename, then
//! saved with a syntax error. The first two serve the next calls; after the third the previous
//! version keeps serving and the error is in the store and in `tradehost check`. A call in flight
//! finishes on the version it started with, and a deleted script is retired.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tradehost::app::Daemon;
use tradehost::config::{Overrides, Sources, load};
use tradehost::store::VersionStatus;

async fn start_daemon(root: &Path) -> Daemon {
    let sources = Sources {
        root: root.to_path_buf(),
        ..Sources::default()
    };
    let overrides = Overrides {
        bind: Some("127.0.0.1:0".parse().expect("address")),
        ..Overrides::default()
    };
    let settings = load(&sources, &overrides).expect("valid configuration");
    tradehost::app::start(&settings)
        .await
        .expect("daemon starts")
}

async fn call(daemon: &Daemon) -> String {
    let outcome = daemon
        .scripts()
        .call("echo", "run", json!({}))
        .await
        .expect("the call succeeds");
    outcome.result.as_str().expect("a string result").to_owned()
}

/// Polls (in real time, bounded) until the daemon serves `expected`.
async fn wait_for(daemon: &Daemon, expected: &str) -> Duration {
    let started = Instant::now();
    loop {
        if call(daemon).await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still not serving {expected} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn version(marker: &str) -> String {
    format!("// Echoes its version.\nfn run(params) {{\n    \"{marker}\"\n}}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_reload_broken_saves_keep_the_old_version_and_deletes_retire() {
    let project = tempfile::tempdir().expect("project folder");
    let root = project.path();
    let scripts = root.join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts folder");
    let file = scripts.join("echo.rhai");
    std::fs::write(&file, version("v1")).expect("write v1");

    let daemon = start_daemon(root).await;
    assert_eq!(call(&daemon).await, "v1");

    // 1. Rewritten in place (truncate and write, as most simple editors do).
    std::fs::write(&file, version("v2")).expect("write v2");
    wait_for(&daemon, "v2").await;

    // 2. Written to a temporary file and renamed over the original (vim, most IDEs).
    let temporary = scripts.join("echo.rhai.tmp");
    std::fs::write(&temporary, version("v3")).expect("write v3");
    std::fs::rename(&temporary, &file).expect("rename over the script");
    wait_for(&daemon, "v3").await;

    // 3. Saved with a syntax error: refused, recorded, and v3 keeps serving.
    let broken = "fn run(params) {\n    \"v4\"\n";
    std::fs::write(&file, broken).expect("write a broken version");
    let store = daemon.store().clone();
    let started = Instant::now();
    // The rejection of this content: on a loaded machine the watcher may also have seen the file
    // truncated and empty for a moment (refused too, for want of `run`).
    let broken_hash = tradehost::script::content_hash(broken);
    let rejected = loop {
        let versions = store
            .script_versions(Some("echo"), 10)
            .await
            .expect("versions");
        if let Some(rejected) = versions.iter().find(|version| {
            version.status == VersionStatus::Rejected && version.hash == broken_hash
        }) {
            break rejected.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the broken save was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        call(&daemon).await,
        "v3",
        "the previous version keeps serving"
    );
    let error = rejected.error.expect("the rejection's error");
    assert!(error.contains("echo.rhai:"), "{error}");
    assert!(rejected.line.is_some(), "the error has a line");
    let outcome = daemon
        .scripts()
        .registry()
        .outcomes()
        .into_iter()
        .find(|outcome| outcome.name == "echo")
        .expect("outcome");
    assert!(
        outcome.error.is_some(),
        "the registry reports the refused save"
    );
    let versions = store
        .script_versions(Some("echo"), 10)
        .await
        .expect("versions");
    let active: Vec<_> = versions
        .iter()
        .filter(|version| version.status == VersionStatus::Active)
        .collect();
    assert_eq!(active.len(), 1, "exactly one active version");
    assert!(active[0].source.contains("v3"));
    assert_eq!(
        versions
            .iter()
            .filter(|version| version.status == VersionStatus::Superseded)
            .count(),
        2
    );

    // `tradehost check` shows the same error as file:line:column.
    let check = Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args(["--root", &root.display().to_string(), "check"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run tradehost check");
    assert_eq!(check.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&check.stdout);
    assert!(
        printed.lines().any(|line| line.contains("echo.rhai:")
            && line
                .split(':')
                .nth(1)
                .is_some_and(|n| n.parse::<u32>().is_ok())),
        "{printed}"
    );

    // 4. A call in flight finishes on its version although a new one is saved meanwhile.
    std::fs::write(
        &file,
        "fn run(params) {\n    let n = 0;\n    while n < 400000 { n += 1; }\n    \"slow\"\n}\n",
    )
    .expect("write slow");
    wait_for(&daemon, "slow").await;
    let in_flight = tokio::spawn({
        let scripts = daemon.scripts().clone();
        async move { scripts.call("echo", "run", json!({})).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&file, version("v6")).expect("write v6");
    let finished = in_flight
        .await
        .expect("joined")
        .expect("the slow call succeeds");
    assert_eq!(finished.result, json!("slow"));
    wait_for(&daemon, "v6").await;

    // 5. Deleted: retired, and no longer callable.
    std::fs::remove_file(&file).expect("delete");
    let started = Instant::now();
    while daemon.scripts().registry().get("echo").is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the deleted script is still serving"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let versions = store
        .script_versions(Some("echo"), 1)
        .await
        .expect("versions");
    assert_eq!(versions[0].status, VersionStatus::Retired);
    assert!(
        daemon
            .scripts()
            .call("echo", "run", json!({}))
            .await
            .is_err()
    );

    daemon.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_broken_while_the_daemon_was_down_serves_its_last_good_version() {
    let project = tempfile::tempdir().expect("project folder");
    let root = project.path();
    let file = root.join("scripts/echo.rhai");
    std::fs::create_dir_all(root.join("scripts")).expect("scripts folder");
    std::fs::write(&file, version("good")).expect("write");
    let daemon = start_daemon(root).await;
    assert_eq!(call(&daemon).await, "good");
    daemon.stop().await.expect("stop");

    std::fs::write(&file, "fn run(params) { oops(").expect("break it");
    let daemon = start_daemon(root).await;
    assert_eq!(
        call(&daemon).await,
        "good",
        "the stored good version serves"
    );
    let outcome = daemon
        .scripts()
        .registry()
        .outcomes()
        .into_iter()
        .find(|outcome| outcome.name == "echo")
        .expect("outcome");
    assert!(outcome.error.is_some(), "the broken file is still reported");
    daemon.stop().await.expect("stop");
}
