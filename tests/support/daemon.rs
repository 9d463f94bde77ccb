//! Running the real `tradehost` binary in tests: start it on a project folder and a free port,
//! read its JSON logs, stop it with SIGINT or kill it with SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tradehost::config::DatabaseLocation;
use tradehost::store::Store;

/// A `tradehost run` child process and its log lines.
pub struct RunningDaemon {
    /// The process.
    pub child: Child,
    /// Where its API listens.
    pub address: String,
    /// Its stderr (JSON log lines).
    pub lines: mpsc::Receiver<String>,
}

/// Starts `tradehost run` in `root` on a free port at `speed`× and waits for it to listen.
/// Starts `tradehost run` in `root` on a free port at `speed`×, and waits for it to listen.
pub fn start(root: &Path, speed: u32) -> RunningDaemon {
    start_with(root, speed, &[])
}

/// As [`start`], with extra environment variables.
pub fn start_with(root: &Path, speed: u32, environment: &[(&str, &str)]) -> RunningDaemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args([
            "--root",
            &root.display().to_string(),
            "--log-format",
            "json",
            "run",
        ])
        .args(["--bind", "127.0.0.1:0", "--speed", &speed.to_string()])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        // Tests count bars from the configured start; one that wants history sets this itself.
        .env("TRADEHOST_MARKET__HISTORY_DAYS", "0")
        .envs(environment.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["fields"]["message"] == "api listening" {
            let address = event["fields"]["address"]
                .as_str()
                .expect("address field")
                .to_owned();
            return RunningDaemon {
                child,
                address,
                lines,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the daemon did not report a listening address within 60 s");
}

impl RunningDaemon {
    /// `GET /api/v1/health`, asserted 200.
    pub async fn health(&self) -> serde_json::Value {
        let url = format!("http://{}/api/v1/health", self.address);
        let response = reqwest::get(&url).await.expect("health request");
        assert_eq!(response.status(), 200);
        response.json().await.expect("health JSON")
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits for a clean exit.
    pub fn interrupt(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("send SIGINT");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "the daemon exited with {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop within 30 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.lines.try_iter().collect()
    }
}

/// Copies the repository's `scripts/`, `strategies/` and `config/` into a project folder: the
/// shipped defaults, as a fresh install has them.
pub fn copy_project(root: &Path) {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["scripts", "strategies", "config"] {
        copy_folder(&repository.join(folder), &root.join(folder));
    }
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

impl Drop for RunningDaemon {
    /// A test that panics before stopping its daemon must not leave it running (at 600× it loads
    /// the machine for every later test).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The admin key a daemon without configured keys generated in `root`.
pub fn generated_key(root: &Path) -> String {
    std::fs::read_to_string(root.join("data/api-key"))
        .expect("the daemon writes data/api-key")
        .trim()
        .to_owned()
}

/// The daemon's SQLite database in `root`.
pub async fn open_store(root: &Path) -> Store {
    Store::connect(&DatabaseLocation::Sqlite(root.join("data/tradehost.db")), 1)
        .await
        .expect("open the daemon's database")
}

impl RunningDaemon {
    /// Kills the process with SIGKILL: no shutdown code runs, as in a crash or power loss.
    pub fn kill(mut self) {
        self.child.kill().expect("send SIGKILL");
        self.child.wait().expect("reap the killed daemon");
    }
}
