//! The dashboard in a real headless Chromium against the real daemon on accelerated simulated
//! time: a wrong key is refused, the key from `#key=` signs in, every page renders its data and
//! charts, live updates arrive without a reload, a deployment is paused, resumed and run from its
//! buttons, and the kill switch halts and resumes trading; the API confirms each action.
//! Screenshots of every page are saved under `$CARGO_TARGET_DIR/test-artifacts/dashboard/`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::browser::Browser;
use support::daemon::{RunningDaemon, copy_project, generated_key, start_with};

/// A flow that runs once a day, so pausing it for a moment changes nothing else in the test.
const PAUSED_DEPLOYMENT: &str = "cleanup_logs";
/// A quick flow to start with "Run now".
const RUN_NOW_DEPLOYMENT: &str = "monitor_system_health";

/// The daemon's API with the admin key, to check what the dashboard did.
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("a JSON body")
    }

    async fn deployment(&self, name: &str) -> Value {
        self.get("/api/v1/deployments")
            .await
            .as_array()
            .expect("a list of deployments")
            .iter()
            .find(|deployment| deployment["name"] == name)
            .unwrap_or_else(|| panic!("a deployment named {name}"))
            .clone()
    }

    /// Polls `check` on the API until it holds.
    async fn wait_for<F>(&self, what: &str, timeout: Duration, mut check: F)
    where
        F: AsyncFnMut(&Self) -> bool,
    {
        let deadline = Instant::now() + timeout;
        while !check(self).await {
            assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Kills the daemon if the test fails before stopping it: a failed assertion unwinds past the
/// clean stop, and a daemon left running at 600× would slow every later test on the machine.
struct StopOnDrop(Option<RunningDaemon>);

impl StopOnDrop {
    fn address(&self) -> &str {
        &self.0.as_ref().expect("running until the end").address
    }

    fn interrupt(mut self) {
        if let Some(daemon) = self.0.take() {
            daemon.interrupt();
        }
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(daemon) = self.0.take() {
            daemon.kill();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_every_page_live_and_drives_the_daemon() {
    let started = Instant::now();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let project = tempfile::tempdir().expect("project folder");
    let root = project.path();
    copy_project(root);
    // The shipped defaults with stored history, so the pairs strategy trades within a minute.
    let daemon = StopOnDrop(Some(start_with(
        root,
        600,
        &[("TRADEHOST_MARKET__HISTORY_DAYS", "130")],
    )));
    let base = format!("http://{}", daemon.address());
    let api = Api {
        http: reqwest::Client::new(),
        base: base.clone(),
        key: generated_key(root),
    };

    // A wrong key is refused on the sign-in form, and the fragment leaves the address bar.
    browser
        .client
        .goto(&format!("{base}/#key=not-the-right-key"))
        .await
        .expect("open the dashboard");
    let message = browser
        .wait_until(
            "!document.querySelector('#login-error').hidden && document.querySelector('#login-error').textContent",
            PAGE_TIMEOUT,
            "the wrong key's error",
        )
        .await;
    assert!(
        message.as_str().unwrap_or_default().contains("not valid"),
        "the error names the key: {message}"
    );
    assert_eq!(browser.eval("location.hash.includes('key=')").await, false);
    assert_eq!(browser.eval("document.body.dataset.auth").await, "out");
    browser.screenshot("login").await;

    // The key from the fragment signs in; it is kept in sessionStorage and not in the address.
    browser
        .client
        .goto(&format!("{base}/#key={}", api.key))
        .await
        .expect("open the dashboard with the key");
    browser
        .wait_until(
            "document.body.dataset.auth === 'in' && document.querySelector('#live').dataset.state === 'live'",
            PAGE_TIMEOUT,
            "signed in with the event stream live",
        )
        .await;
    assert_eq!(browser.eval("location.hash").await, "#/portfolio");
    assert_eq!(
        browser
            .eval("sessionStorage.getItem('tradehost.key')")
            .await
            .as_str(),
        Some(api.key.as_str())
    );
    // Marks this document: if any later step reloaded the page, the mark would be gone.
    browser.eval("(window.testMark = 'no reload', true)").await;

    // Let the pairs strategy trade so every page has something to show. Whether the simulated
    // spreads cross the entry threshold in time depends on how fast this machine runs the flow at
    // 600×; without a trade the pages are still checked, with their empty tables.
    let deadline = Instant::now() + Duration::from_secs(150);
    let traded = loop {
        let orders = api.get("/api/v1/orders?limit=10").await;
        let pairs = api.get("/api/v1/pairs").await;
        let orders = orders.as_array().map_or(0, Vec::len);
        let pairs = pairs.as_array().map_or(0, Vec::len);
        if orders >= 2 && pairs >= 2 {
            break true;
        }
        if Instant::now() >= deadline && pairs >= 2 {
            let signals = api.get("/api/v1/pairs/all/signals?limit=5").await;
            println!(
                "NOTE: no pair trade within 150 s; the pages are checked without orders. Latest signals: {}",
                signals["signals"]
            );
            break false;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(90),
            "the pairs strategy recorded no standings ({pairs} pairs)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Portfolio: account figures, the equity curve, positions and orders.
    open(&browser, "portfolio").await;
    browser
        .wait_until(
            if traded {
                "document.querySelector('[data-test=equity-chart] canvas') && document.querySelectorAll('[data-test=orders] tbody tr:not(.empty)').length > 0"
            } else {
                "document.querySelector('[data-test=equity-chart] canvas') && document.querySelector('[data-test=orders] tbody')"
            },
            PAGE_TIMEOUT,
            "the equity curve and orders",
        )
        .await;
    let equity = browser
        .eval("document.querySelector('[data-test=equity] .figure-value').textContent")
        .await;
    assert!(
        equity.as_str().is_some_and(|text| text.contains(',')),
        "equity with thousands separators: {equity}"
    );
    no_errors(&browser, "portfolio").await;
    browser.screenshot("portfolio").await;

    // Pairs: a row and a z-score chart per pair.
    open(&browser, "pairs").await;
    browser
        .wait_until(
            "document.querySelectorAll('[data-test=pair-row]').length >= 2 && document.querySelectorAll('[data-test=zchart] canvas').length >= 2",
            PAGE_TIMEOUT,
            "two pairs with z-score charts",
        )
        .await;
    no_errors(&browser, "pairs").await;
    browser.screenshot("pairs").await;

    // Runs: the list grows live (no reload), and a run opens with its states and logs.
    open(&browser, "runs").await;
    let newest = browser
        .wait_until(
            "Number(document.querySelector('[data-test=run-row]')?.dataset.runId || 0)",
            PAGE_TIMEOUT,
            "runs listed",
        )
        .await
        .as_i64()
        .expect("a run id");
    let events = browser
        .eval("Number(document.querySelector('#live').dataset.events)")
        .await;
    browser
        .wait_until(
            &format!(
                "Number(document.querySelector('[data-test=run-row]')?.dataset.runId || 0) > {newest}"
            ),
            PAGE_TIMEOUT,
            "a new run arriving live",
        )
        .await;
    assert!(
        browser
            .eval(&format!(
                "Number(document.querySelector('#live').dataset.events) > {events}"
            ))
            .await
            == true,
        "the event counter moved"
    );
    assert_eq!(browser.eval("window.testMark").await, "no reload");
    assert!(
        browser
            .eval("document.querySelector('#last-event').textContent")
            .await
            .as_str()
            .is_some_and(|text| text.contains(':')),
        "the last event's time is shown"
    );
    browser.click("[data-test=run-row]").await;
    browser
        .wait_until(
            "document.querySelectorAll('[data-test=run-detail] [data-test=run-states] tbody tr:not(.empty)').length > 0 && document.querySelector('[data-test=run-logs]')",
            PAGE_TIMEOUT,
            "a run's states and logs",
        )
        .await;
    no_errors(&browser, "runs").await;
    browser.screenshot("runs").await;

    // Deployments: pause and resume by the buttons, checked through the API; then run now.
    open(&browser, "deployments").await;
    let row = format!("[data-test=deployment-row][data-deployment={PAUSED_DEPLOYMENT}]");
    browser
        .wait_until(
            &format!("document.querySelector('{row}')"),
            PAGE_TIMEOUT,
            "the deployment listed",
        )
        .await;
    assert_eq!(api.deployment(PAUSED_DEPLOYMENT).await["paused"], false);
    browser
        .click(&format!("{row} button[data-action=pause]"))
        .await;
    api.wait_for("paused through the API", PAGE_TIMEOUT, async |api| {
        api.deployment(PAUSED_DEPLOYMENT).await["paused"] == true
    })
    .await;
    browser
        .wait_until(
            &format!("document.querySelector('{row}').dataset.paused === 'true' && document.querySelector('{row} button[data-action=resume]')"),
            PAGE_TIMEOUT,
            "the row showing paused",
        )
        .await;
    browser.screenshot("deployments").await;
    browser
        .click(&format!("{row} button[data-action=resume]"))
        .await;
    api.wait_for("resumed through the API", PAGE_TIMEOUT, async |api| {
        api.deployment(PAUSED_DEPLOYMENT).await["paused"] == false
    })
    .await;
    browser
        .wait_until(
            &format!("document.querySelector('{row}').dataset.paused === 'false'"),
            PAGE_TIMEOUT,
            "the row showing active",
        )
        .await;
    browser
        .click(&format!(
            "[data-test=deployment-row][data-deployment={RUN_NOW_DEPLOYMENT}] button[data-action=run]"
        ))
        .await;
    api.wait_for(
        "a run started from the dashboard",
        PAGE_TIMEOUT,
        async |api| {
            api.get(&format!(
                "/api/v1/runs?deployment={RUN_NOW_DEPLOYMENT}&limit=20"
            ))
            .await["runs"]
                .as_array()
                .is_some_and(|runs| runs.iter().any(|run| run["trigger"] == "api"))
        },
    )
    .await;
    no_errors(&browser, "deployments").await;

    // Risk: limit use and decisions; the kill switch with its reason, then resume.
    open(&browser, "risk").await;
    browser
        .wait_until(
            "document.querySelectorAll('[data-test=limit-row]').length > 0 && document.querySelectorAll('[data-test=decision-row]').length > 0",
            PAGE_TIMEOUT,
            "limit use and decisions",
        )
        .await;
    no_errors(&browser, "risk").await;
    browser.screenshot("risk").await;
    browser.click("#kill-switch").await;
    browser
        .wait_until(
            "document.querySelector('#kill-reason')",
            PAGE_TIMEOUT,
            "the kill switch asking for a reason",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#kill-confirm-button').disabled")
            .await,
        true,
        "no halt without a reason"
    );
    browser
        .type_into("#kill-reason", "browser test of the kill switch")
        .await;
    browser.screenshot("risk-confirm").await;
    browser.click("#kill-confirm-button").await;
    api.wait_for("halted through the API", PAGE_TIMEOUT, async |api| {
        api.get("/api/v1/risk").await["mode"] == "halted"
    })
    .await;
    browser
        .wait_until(
            "document.querySelector('#risk-mode')?.dataset.mode === 'halted' && document.querySelector('#risk-badge').dataset.mode === 'halted' && document.querySelector('#risk-resume')",
            PAGE_TIMEOUT,
            "the page showing halted with a Resume button",
        )
        .await;
    browser.screenshot("risk-halted").await;
    browser.click("#risk-resume").await;
    browser
        .wait_until(
            "document.querySelector('#resume-confirm-button')",
            PAGE_TIMEOUT,
            "the resume confirmation",
        )
        .await;
    browser.click("#resume-confirm-button").await;
    api.wait_for(
        "resumed trading through the API",
        PAGE_TIMEOUT,
        async |api| api.get("/api/v1/risk").await["mode"] != "halted",
    )
    .await;
    browser
        .wait_until(
            "document.querySelector('#risk-mode')?.dataset.mode !== 'halted' && document.querySelector('#kill-switch')",
            PAGE_TIMEOUT,
            "the kill switch back after resuming",
        )
        .await;

    // Scripts: every script with its hash; one opens with its versions.
    open(&browser, "scripts").await;
    browser
        .wait_until(
            "document.querySelectorAll('[data-test=script-row]').length >= 20",
            PAGE_TIMEOUT,
            "the scripts listed",
        )
        .await;
    browser
        .click("[data-test=script-row][data-script=pairs]")
        .await;
    browser
        .wait_until(
            "document.querySelectorAll('[data-test=script-versions] tbody tr:not(.empty)').length > 0",
            PAGE_TIMEOUT,
            "the strategy's versions",
        )
        .await;
    no_errors(&browser, "scripts").await;
    browser.screenshot("scripts").await;

    // Trades: fills and the entries and exits of the pairs.
    open(&browser, "trades").await;
    browser
        .wait_until(
            if traded {
                "document.querySelectorAll('[data-test=fill-row]').length > 0 && document.querySelectorAll('[data-test=trade-signals] tbody tr:not(.empty)').length > 0"
            } else {
                "document.querySelector('[data-test=trade-signals] tbody')"
            },
            PAGE_TIMEOUT,
            "fills and pair signals",
        )
        .await;
    no_errors(&browser, "trades").await;
    browser.screenshot("trades").await;

    assert_eq!(
        browser.eval("window.testMark").await,
        "no reload",
        "every page came from one document"
    );

    // Sign out forgets the key.
    browser.click("#sign-out").await;
    browser
        .wait_until(
            "document.body.dataset.auth === 'out' && !document.querySelector('#login').hidden",
            PAGE_TIMEOUT,
            "the sign-in form after signing out",
        )
        .await;
    assert_eq!(
        browser
            .eval("sessionStorage.getItem('tradehost.key')")
            .await,
        Value::Null
    );

    browser.close().await;
    daemon.interrupt();
    println!(
        "dashboard browser test passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Opens a page by its navigation link (a hash route, no reload) and waits for its first render.
async fn open(browser: &Browser, page: &str) {
    browser.click(&format!("#nav a[data-nav={page}]")).await;
    browser
        .wait_until(
            &format!(
                "!document.querySelector('section.page[data-page={page}]').hidden && document.querySelector('section.page[data-page={page}]').dataset.loaded === 'true'"
            ),
            PAGE_TIMEOUT,
            &format!("the {page} page"),
        )
        .await;
}

/// No request of the page failed (a failed refresh shows an error banner).
async fn no_errors(browser: &Browser, page: &str) {
    let banner = browser
        .eval(&format!(
            "document.querySelector('section.page[data-page={page}] .error-banner')?.textContent || ''"
        ))
        .await;
    assert_eq!(banner, "", "the {page} page shows an error");
}
