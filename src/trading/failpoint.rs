//! Failpoints for crash tests: `TRADEHOST_FAILPOINT=<name>` makes the desk stop dead at that
//! point of order submission, so a test can SIGKILL the daemon exactly there and check that the
//! restart repairs it. Unset (always, in production), a failpoint costs one comparison.

use std::sync::OnceLock;

/// After the intent is written to the outbox, before the broker is called.
pub const AFTER_INTENT: &str = "after_intent";
/// After the broker accepted the order, before its acknowledgement is stored.
pub const AFTER_SUBMIT: &str = "after_submit";

fn configured() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| std::env::var("TRADEHOST_FAILPOINT").ok())
        .as_deref()
}

/// Stops here forever when `name` is the configured failpoint; the test kills the process.
pub async fn reach(name: &str) {
    if configured() == Some(name) {
        // Printed, not only logged, so the test sees it whatever the log settings.
        eprintln!("FAILPOINT {name} reached; waiting to be killed");
        tracing::error!(failpoint = name, "failpoint reached; waiting to be killed");
        std::future::pending::<()>().await;
    }
}
