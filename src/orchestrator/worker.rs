//! Executing runs: claim, run the flow's script under its timeout with a renewed lease, then
//! record the ending — Completed, AwaitingRetry (with backoff), Failed, TimedOut or Cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;

use super::deployment::DeploymentSpec;
use crate::clock::Clock;
use crate::domain::RunState;
use crate::script::{CallOptions, ErrorKind, ScriptRuntime};
use crate::store::{RunEnding, RunLogRecord, RunRecord, Store};

/// What a worker needs to run flows.
#[derive(Clone)]
pub struct Worker {
    /// The database.
    pub store: Store,
    /// Host time.
    pub clock: Clock,
    /// The scripts.
    pub scripts: Arc<ScriptRuntime>,
    /// This process's worker id.
    pub id: String,
    /// How long a claim holds without renewal.
    pub lease: Duration,
    /// The clock leases are measured on: wall time, not the business clock, because a lease is
    /// about whether a process is alive, and a simulated clock may jump hours at once. Tests
    /// inject a manual one.
    pub lease_clock: Clock,
}

impl Worker {
    /// When a lease taken or renewed now runs out.
    pub fn lease_until(&self) -> DateTime<Utc> {
        self.lease_clock.now() + chrono::Duration::from_std(self.lease).unwrap_or_default()
    }

    /// Claims the next due run, if any.
    pub async fn claim(&self) -> crate::store::Result<Option<RunRecord>> {
        self.store
            .claim_next_run(&self.id, self.clock.now(), self.lease_until())
            .await
    }

    /// Runs a claimed run's attempt to its end and records it. Never panics on script failure.
    pub async fn execute(
        &self,
        run: RunRecord,
        spec: &DeploymentSpec,
    ) -> crate::store::Result<RunState> {
        let Some(script) = self.scripts.registry().get(&run.deployment) else {
            let ending = RunEnding {
                state: RunState::Failed,
                result: None,
                error: Some(format!(
                    "no flow script named `{}` is loaded",
                    run.deployment
                )),
                error_line: None,
                at: self.clock.now(),
            };
            self.store.finish_run(run.id, run.attempt, &ending).await?;
            return Ok(RunState::Failed);
        };
        self.store.set_run_script_hash(run.id, &script.hash).await?;
        let cancel = Arc::new(AtomicBool::new(false));
        let renewal = self.spawn_lease_renewal(run.id, run.attempt, cancel.clone());
        let options = CallOptions {
            budget: Some(spec.timeout()),
            cancel: Some(cancel.clone()),
            run_id: Some(run.id),
        };
        let outcome = self
            .scripts
            .call_compiled(script, "run", run.parameters.clone(), options)
            .await;
        renewal.abort();
        let now = self.clock.now();
        let logs = match &outcome {
            Ok(outcome) => &outcome.logs,
            Err(failure) => &failure.logs,
        };
        let records: Vec<RunLogRecord> = logs
            .iter()
            .map(|line| RunLogRecord {
                attempt: run.attempt,
                at: line.at,
                level: format!("{:?}", line.level).to_lowercase(),
                message: line.message.clone(),
            })
            .collect();
        self.store
            .append_run_logs(run.id, run.attempt, &records)
            .await?;
        let failure = match outcome {
            Ok(outcome) => {
                let ending = RunEnding {
                    state: RunState::Completed,
                    result: Some(outcome.result),
                    error: None,
                    error_line: None,
                    at: now,
                };
                self.store.finish_run(run.id, run.attempt, &ending).await?;
                return Ok(RunState::Completed);
            }
            Err(failure) => failure.error,
        };
        let error_line = failure.line.and_then(|line| i64::try_from(line).ok());
        let final_state = match failure.kind {
            ErrorKind::Cancelled => RunState::Cancelled,
            ErrorKind::Timeout => RunState::TimedOut,
            _ => RunState::Failed,
        };
        if final_state != RunState::Cancelled && run.attempt < run.max_attempts {
            let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(
                run.id as u64 ^ u64::from(run.attempt) << 32,
            );
            let delay = spec.retry_delay_with_jitter(run.attempt + 1, &mut random);
            let due = now + chrono::Duration::from_std(delay).unwrap_or_default();
            // The attempt's own ending goes into the history first, then the retry.
            let ending = RunEnding {
                state: final_state,
                result: None,
                error: Some(failure.to_string()),
                error_line,
                at: now,
            };
            self.store
                .record_attempt_ending(run.id, run.attempt, &ending)
                .await?;
            self.store
                .schedule_retry(
                    run.id,
                    run.attempt,
                    RunState::Running,
                    due,
                    Some(&failure.to_string()),
                    now,
                )
                .await?;
            tracing::warn!(run = run.id, attempt = run.attempt, error = %failure, retry_at = %due, "flow run failed; retrying");
            return Ok(RunState::AwaitingRetry);
        }
        let ending = RunEnding {
            state: final_state,
            result: None,
            error: Some(failure.to_string()),
            error_line,
            at: now,
        };
        self.store.finish_run(run.id, run.attempt, &ending).await?;
        tracing::warn!(run = run.id, state = %final_state, error = %failure, "flow run ended");
        Ok(final_state)
    }

    /// Renews the lease every third of its length (real time) and raises `cancel` when an
    /// operator cancels the run or the lease was lost.
    fn spawn_lease_renewal(
        &self,
        id: i64,
        attempt: u32,
        cancel: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<()> {
        let worker = self.clone();
        tokio::spawn(async move {
            // Renew at a third of the lease, but at least every second so a cancel is seen quickly.
            let period = (worker.lease / 3).min(Duration::from_secs(1));
            loop {
                tokio::time::sleep(period).await;
                match worker
                    .store
                    .renew_lease(id, attempt, worker.lease_until())
                    .await
                {
                    Ok(Some(false)) => {}
                    Ok(Some(true)) => cancel.store(true, Ordering::Relaxed),
                    Ok(None) => {
                        tracing::error!(run = id, "lost the lease of a running flow; stopping it");
                        cancel.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(run = id, %error, "renewing a lease failed; will retry")
                    }
                }
            }
        })
    }

    /// Marks runs whose lease expired as Crashed and retries those whose policy allows.
    pub async fn reap(
        &self,
        specs: &(dyn Fn(&str) -> Option<DeploymentSpec> + Sync),
    ) -> crate::store::Result<usize> {
        let now: DateTime<Utc> = self.clock.now();
        let reaped = self
            .store
            .reap_expired_leases(self.lease_clock.now(), now)
            .await?;
        for run in &reaped {
            tracing::error!(run = run.id, deployment = %run.deployment, attempt = run.attempt, "flow run crashed (its worker stopped renewing the lease)");
            if run.attempt < run.max_attempts {
                let delay = specs(&run.deployment)
                    .map(|spec| spec.retry_delay(run.attempt + 1))
                    .unwrap_or_default();
                let due = now + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store
                    .schedule_retry(
                        run.id,
                        run.attempt,
                        RunState::Crashed,
                        due,
                        Some("crashed"),
                        now,
                    )
                    .await?;
            }
        }
        Ok(reaped.len())
    }
}
