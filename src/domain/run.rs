//! Flow run states, as Prefect named them, with the one rule that matters most: terminal states
//! are final.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a flow run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created for a future time.
    Scheduled,
    /// Claimed by a worker, about to start.
    Pending,
    /// Its script is running.
    Running,
    /// Finished without error. Terminal.
    Completed,
    /// Failed with no retries left. Terminal.
    Failed,
    /// Failed (or crashed) and waiting for its next attempt.
    AwaitingRetry,
    /// Cancelled by an operator or a policy. Terminal.
    Cancelled,
    /// Its worker died while it ran (its lease expired). Terminal unless retried.
    Crashed,
    /// Stopped at its timeout. Terminal.
    TimedOut,
    /// Not run, by policy (overlap, missed tick). Terminal.
    Skipped,
}

impl RunState {
    /// Every state.
    pub const ALL: [Self; 10] = [
        Self::Scheduled,
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::AwaitingRetry,
        Self::Cancelled,
        Self::Crashed,
        Self::TimedOut,
        Self::Skipped,
    ];

    /// True when nothing more will happen to the run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Failed
                | Self::Cancelled
                | Self::Crashed
                | Self::TimedOut
                | Self::Skipped
        )
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::AwaitingRetry => "awaiting_retry",
            Self::Cancelled => "cancelled",
            Self::Crashed => "crashed",
            Self::TimedOut => "timed_out",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no run state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a run state")]
pub struct RunStateError(pub String);

impl FromStr for RunState {
    type Err = RunStateError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| RunStateError(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_terminal_states_are_the_six_final_ones() {
        for state in RunState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
        let terminal: Vec<_> = RunState::ALL
            .into_iter()
            .filter(|state| state.is_terminal())
            .collect();
        assert_eq!(terminal.len(), 6);
        assert!(!RunState::AwaitingRetry.is_terminal());
    }
}
