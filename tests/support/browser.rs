//! A real headless Chromium for dashboard tests: Debian's `chromedriver` started on a free port,
//! a WebDriver session through fantoccini on a fresh profile, polling helpers, and screenshots
//! saved as test artifacts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// Where Debian's `chromium` and `chromium-driver` packages put their programs.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one browser session on a throw-away profile.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    processes: Processes,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1400×900, or returns `None` after printing
    /// why the calling test is skipped when either program is missing.
    pub async fn start() -> Option<Self> {
        let chromium = program("TRADEHOST_CHROMIUM", CHROMIUM);
        let chromedriver = program("TRADEHOST_CHROMEDRIVER", CHROMEDRIVER);
        for (name, path, package) in [
            ("chromium", &chromium, "chromium"),
            ("chromedriver", &chromedriver, "chromium-driver"),
        ] {
            if !path.is_file() {
                println!(
                    "SKIPPED: {name} is not installed at {} (apt-get install {package})",
                    path.display()
                );
                return None;
            }
        }
        let port = free_port();
        let processes = Processes {
            driver: Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
            profile: tempfile::tempdir().expect("browser profile folder"),
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_for_driver(&webdriver).await;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", processes.profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal");
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("open a Chromium session through chromedriver");
        Some(Self { client, processes })
    }

    /// Evaluates `expression` in the page and returns its value.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|error| panic!("evaluate `{expression}`: {error}"))
    }

    /// Polls `expression` until it is truthy (not false, null, 0 or ""), and returns its value;
    /// panics with `what` and the page's visible text after `timeout`.
    pub async fn wait_until(&self, expression: &str, timeout: Duration, what: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(flag) => *flag,
                Value::Number(number) => number.as_f64() != Some(0.0),
                Value::String(text) => !text.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                let text = self.eval("document.body.innerText.slice(0, 3000)").await;
                panic!(
                    "{what}: not within {timeout:?} (`{expression}` is {value}); the page shows:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks the first element matching `selector`, by WebDriver (a real click). Live pages
    /// rebuild their tables, so an element found just before a refresh can go stale before the
    /// click lands; then it is found again.
    pub async fn click(&self, selector: &str) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = match self.client.find(fantoccini::Locator::Css(selector)).await {
                Ok(element) => element.click().await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => return,
                Err(error) if attempts < 5 && error.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) if error.to_string().contains("stale element") => {
                    // The live page re-rendered between every find and click (a busy stream at
                    // 600×): find and click in one step inside the page, where nothing can
                    // change between the two.
                    let clicked = self
                        .client
                        .execute(
                            "const element = document.querySelector(arguments[0]); \
                             if (!element) { return false; } element.click(); return true;",
                            vec![serde_json::json!(selector)],
                        )
                        .await
                        .unwrap_or_else(|error| panic!("click `{selector}` in the page: {error}"));
                    assert_eq!(clicked, serde_json::json!(true), "no `{selector}` to click");
                    return;
                }
                Err(error) => panic!("click `{selector}`: {error}"),
            }
        }
    }

    /// Types `text` into the first element matching `selector`.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self
            .client
            .find(fantoccini::Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("find `{selector}`: {error}"));
        element
            .clear()
            .await
            .unwrap_or_else(|error| panic!("clear `{selector}`: {error}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("type into `{selector}`: {error}"));
    }

    /// Saves a PNG of the viewport as `<artifacts>/dashboard/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let folder = artifact_folder().join("dashboard");
        std::fs::create_dir_all(&folder).expect("create the artifact folder");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        println!("screenshot: {}", path.display());
        path
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.close().await;
        drop(self.processes);
    }
}

/// `$CARGO_TARGET_DIR/test-artifacts`, or `target/test-artifacts` beside the crate.
pub fn artifact_folder() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("test-artifacts")
}

fn program(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

async fn wait_for_driver(webdriver: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = format!("{webdriver}/status");
    loop {
        if let Ok(response) = reqwest::get(&status).await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer at {status} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The processes a browser owns, cleaned up however the test ends (a failed assertion panics
/// before `close`): chromedriver by its id, and the Chromium processes that run on this test's
/// own profile folder, found by that folder in their command line.
struct Processes {
    driver: Child,
    profile: tempfile::TempDir,
}

impl Drop for Processes {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_processes_using(self.profile.path());
    }
}

/// Sends SIGKILL to each process whose command line names `profile` (only this test's Chromium
/// runs on it), so a failed test leaves no browser behind.
fn kill_processes_using(profile: &Path) {
    let needle = profile.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(command_line) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&command_line).contains(&needle) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}
