//! Time for everything in the host: the real clock or a simulated one behind one interface.
//!
//! Nothing in tradehost calls `Utc::now()` directly. The simulated clock starts at a chosen instant
//! and runs at `speed`× real time (0 pauses it); tests set and advance it by hand. Sleeping on the
//! clock wakes when simulated time reaches the deadline, also after a jump, so code that waits for
//! "the next bar" behaves the same at 1×, at 1000× and under a test that advances time explicitly.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio::sync::watch;

/// A shared handle to the host's clock. Cloning shares the same clock.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

enum Inner {
    Real,
    Simulated(Simulated),
}

struct Simulated {
    anchor: Mutex<Anchor>,
    /// Bumped on every `set`, `advance` or speed change so sleepers re-evaluate their deadline.
    changes: watch::Sender<u64>,
}

#[derive(Clone, Copy)]
struct Anchor {
    real: Instant,
    simulated: DateTime<Utc>,
    speed: f64,
}

impl Anchor {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.real.elapsed().as_secs_f64() * self.speed;
        // Microsecond resolution is plenty for bars and orders, and keeps the product exact.
        self.simulated + Duration::microseconds((elapsed * 1e6) as i64)
    }
}

/// What kind of clock this is, for health reports and logs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ClockMode {
    /// Wall-clock time.
    Real,
    /// Simulated time running at `speed`× (0 when paused).
    Simulated {
        /// Simulated seconds per real second.
        speed: f64,
    },
}

impl Clock {
    /// The system's wall clock.
    pub fn real() -> Self {
        Self {
            inner: Arc::new(Inner::Real),
        }
    }

    /// A simulated clock starting at `start` and running at `speed`× real time. A speed of zero
    /// gives a paused clock that moves only through [`Clock::set`] and [`Clock::advance`].
    pub fn simulated(start: DateTime<Utc>, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            0.0
        };
        let anchor = Anchor {
            real: Instant::now(),
            simulated: start,
            speed,
        };
        let (changes, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner::Simulated(Simulated {
                anchor: Mutex::new(anchor),
                changes,
            })),
        }
    }

    /// A paused simulated clock for tests.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self::simulated(start, 0.0)
    }

    /// The current time, UTC.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.inner {
            Inner::Real => Utc::now(),
            Inner::Simulated(simulated) => simulated.anchor().now(),
        }
    }

    /// Real or simulated, and how fast.
    pub fn mode(&self) -> ClockMode {
        match &*self.inner {
            Inner::Real => ClockMode::Real,
            Inner::Simulated(simulated) => ClockMode::Simulated {
                speed: simulated.anchor().speed,
            },
        }
    }

    /// Jumps a simulated clock to `time` (backwards too). Ignored by the real clock.
    pub fn set(&self, time: DateTime<Utc>) {
        self.reanchor(|anchor| anchor.simulated = time);
    }

    /// Moves a simulated clock forward by `duration`. Ignored by the real clock.
    pub fn advance(&self, duration: Duration) {
        self.reanchor(|anchor| anchor.simulated += duration);
    }

    /// Changes a simulated clock's speed from now on. Ignored by the real clock.
    pub fn set_speed(&self, speed: f64) {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            0.0
        };
        self.reanchor(|anchor| anchor.speed = speed);
    }

    /// Waits until the clock reads `deadline` or later.
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let simulated = match &*self.inner {
            Inner::Real => {
                let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                return;
            }
            Inner::Simulated(simulated) => simulated,
        };
        let mut changes = simulated.changes.subscribe();
        loop {
            let anchor = simulated.anchor();
            let now = anchor.now();
            if now >= deadline {
                return;
            }
            let remaining = (deadline - now).to_std().unwrap_or_default();
            if anchor.speed > 0.0 {
                // Never sleep less than a millisecond: at high speeds a sub-microsecond wait would spin.
                let real_wait = remaining
                    .div_f64(anchor.speed)
                    .max(StdDuration::from_millis(1));
                tokio::select! {
                    _ = tokio::time::sleep(real_wait) => {}
                    _ = changes.changed() => {}
                }
            } else if changes.changed().await.is_err() {
                // The clock is gone; nothing will ever wake us, so stop waiting.
                return;
            }
        }
    }

    /// Waits for `duration` of clock time.
    pub async fn sleep(&self, duration: Duration) {
        self.sleep_until(self.now() + duration).await;
    }

    fn reanchor(&self, change: impl FnOnce(&mut Anchor)) {
        if let Inner::Simulated(simulated) = &*self.inner {
            {
                let mut anchor = simulated
                    .anchor
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let now = anchor.now();
                anchor.real = Instant::now();
                anchor.simulated = now;
                change(&mut anchor);
            }
            simulated.changes.send_modify(|version| *version += 1);
        }
    }
}

impl Simulated {
    fn anchor(&self) -> Anchor {
        *self.anchor.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("mode", &self.mode())
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 14, 30, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(start());
        assert_eq!(clock.now(), start());
        clock.advance(Duration::minutes(5));
        assert_eq!(clock.now(), start() + Duration::minutes(5));
        clock.set(start());
        assert_eq!(clock.now(), start());
    }

    #[test]
    fn an_accelerated_clock_runs_faster_than_real_time() {
        let clock = Clock::simulated(start(), 3600.0);
        std::thread::sleep(StdDuration::from_millis(20));
        let elapsed = clock.now() - start();
        // 20 ms at 3600× is 72 simulated seconds; allow for a slow machine in one direction only.
        assert!(elapsed >= Duration::seconds(70), "only {elapsed} passed");
    }

    #[tokio::test]
    async fn a_sleeper_wakes_when_a_manual_clock_is_advanced_past_its_deadline() {
        let clock = Clock::manual(start());
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(start() + Duration::hours(1)).await }
        });
        clock.advance(Duration::minutes(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its deadline");
        clock.advance(Duration::minutes(31));
        tokio::time::timeout(StdDuration::from_secs(5), sleeper)
            .await
            .expect("sleeper woke")
            .expect("sleeper did not panic");
    }

    #[tokio::test]
    async fn an_accelerated_sleep_takes_proportionally_less_real_time() {
        let clock = Clock::simulated(start(), 60_000.0);
        let began = Instant::now();
        clock.sleep(Duration::minutes(10)).await; // 600 s at 60 000× is 10 ms.
        assert!(clock.now() >= start() + Duration::minutes(10));
        assert!(began.elapsed() < StdDuration::from_secs(2));
    }
}
