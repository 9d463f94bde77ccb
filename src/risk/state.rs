//! The risk engine's memory between checks: the trading mode, peak and start-of-day equity, and
//! the losing streak, with the transitions between ACTIVE, REDUCING and HALTED.
//!
//! REDUCING (exits only) follows a daily-loss breach and ends with the next trading day. HALTED
//! follows a drawdown breach or the kill switch and is latched: only an operator's `resume` ends it,
//! because a halt means something is wrong that a new day does not fix.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::limits::RiskLimits;
use crate::domain::Money;

/// The exchange date a time belongs to (New York): the risk engine's trading day.
pub fn trading_day(time: DateTime<Utc>) -> NaiveDate {
    time.with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}

/// What kind of orders may pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum TradingMode {
    /// Every rule applies; entries and exits may pass.
    Active,
    /// Only orders that reduce a position may pass, until the next trading day.
    Reducing {
        /// Why, with the numbers.
        reason: String,
        /// When the mode began.
        since: DateTime<Utc>,
    },
    /// Nothing passes except an operator's flatten, until an operator resumes.
    Halted {
        /// Why, with the numbers or the operator's words.
        reason: String,
        /// When the halt began.
        since: DateTime<Utc>,
    },
}

impl TradingMode {
    /// `active`, `reducing` or `halted`: the name stored, shown and checked by scripts.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Reducing { .. } => "reducing",
            Self::Halted { .. } => "halted",
        }
    }
}

/// A resume that cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Only a halt needs resuming.
    #[error("trading is not halted, so there is nothing to resume")]
    NotHalted,
    /// Every resume is attributed to someone.
    #[error("an operator name is required to resume trading")]
    NoOperator,
}

/// The engine's state between checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskState {
    /// The current mode.
    pub mode: TradingMode,
    /// The highest equity seen since start or the last resume; drawdown is measured from it.
    pub peak_equity: Money,
    /// Equity at the start of the trading day; the daily loss is measured from it.
    pub day_start_equity: Money,
    /// The trading day the daily figures belong to.
    pub trading_day: NaiveDate,
    /// The most recent equity observed.
    pub last_equity: Money,
    /// Losing trades in a row.
    pub consecutive_losses: u32,
    /// New entries are refused until then.
    pub cooldown_until: Option<DateTime<Utc>>,
}

impl RiskState {
    /// A fresh, active state at `equity` on `trading_day`.
    pub fn new(equity: Money, trading_day: NaiveDate) -> Self {
        Self {
            mode: TradingMode::Active,
            peak_equity: equity,
            day_start_equity: equity,
            trading_day,
            last_equity: equity,
            consecutive_losses: 0,
            cooldown_until: None,
        }
    }

    /// Starts a new trading day at `equity`: the daily loss starts again from zero, so REDUCING
    /// ends; a halt stays.
    pub fn start_day(&mut self, trading_day: NaiveDate, equity: Money) {
        self.trading_day = trading_day;
        self.day_start_equity = equity;
        if matches!(self.mode, TradingMode::Reducing { .. }) {
            self.mode = TradingMode::Active;
        }
    }

    /// The day's profit and loss: realised and unrealised together, as the change in equity.
    pub fn daily_pnl(&self) -> Money {
        self.last_equity - self.day_start_equity
    }

    /// The fall from peak equity in percent; zero at or above the peak.
    pub fn drawdown_percent(&self) -> Decimal {
        let peak = self.peak_equity.value();
        if peak <= Decimal::ZERO || self.last_equity >= self.peak_equity {
            return Decimal::ZERO;
        }
        (peak - self.last_equity.value()) / peak * Decimal::ONE_HUNDRED
    }

    /// Records the current equity and applies the breaches it causes: a drawdown beyond the limit
    /// halts, a daily loss beyond the limit reduces. A halt is never downgraded to reducing.
    ///
    /// The first observation on a later trading day starts that day at its equity, whoever
    /// observes: the desk's position update or a risk check. Without that, a desk that only
    /// checks orders (a backtest) would measure the daily loss from its first day forever, and a
    /// REDUCING mode would never end.
    pub fn observe_equity(&mut self, limits: &RiskLimits, equity: Money, now: DateTime<Utc>) {
        let day = trading_day(now);
        if day > self.trading_day {
            self.start_day(day, equity);
        }
        self.last_equity = equity;
        if equity > self.peak_equity {
            self.peak_equity = equity;
        }
        if matches!(self.mode, TradingMode::Halted { .. }) {
            return;
        }
        let drawdown = self.drawdown_percent();
        if drawdown >= limits.max_drawdown_percent {
            self.mode = TradingMode::Halted {
                reason: format!(
                    "drawdown of {:.2}% from peak equity {} to {} reached the limit of {}%",
                    drawdown.round_dp(2),
                    self.peak_equity,
                    equity,
                    limits.max_drawdown_percent
                ),
                since: now,
            };
            return;
        }
        let loss = -self.daily_pnl().value();
        if loss >= limits.max_daily_loss && self.mode == TradingMode::Active {
            self.mode = TradingMode::Reducing {
                reason: format!(
                    "daily loss of {} from the day's starting equity {} reached the limit of {}",
                    loss, self.day_start_equity, limits.max_daily_loss
                ),
                since: now,
            };
        }
    }

    /// The kill switch: halts at once, whatever the mode.
    pub fn halt(&mut self, reason: &str, now: DateTime<Utc>) {
        self.mode = TradingMode::Halted {
            reason: reason.to_owned(),
            since: now,
        };
    }

    /// Ends a halt. The peak restarts at the current equity, or the old drawdown would halt again
    /// at the next check.
    pub fn resume(&mut self, operator: &str) -> Result<(), StateError> {
        if operator.trim().is_empty() {
            return Err(StateError::NoOperator);
        }
        if !matches!(self.mode, TradingMode::Halted { .. }) {
            return Err(StateError::NotHalted);
        }
        self.mode = TradingMode::Active;
        self.peak_equity = self.last_equity;
        Ok(())
    }

    /// Counts a closed trade: a loss extends the streak and, at the limit, starts a cooldown; a
    /// win (or break-even) ends the streak.
    pub fn record_trade(&mut self, limits: &RiskLimits, pnl: Money, now: DateTime<Utc>) {
        if pnl < Money::ZERO {
            self.consecutive_losses += 1;
            if self.consecutive_losses >= limits.max_consecutive_losses {
                self.cooldown_until = Some(now + Duration::minutes(limits.cooldown_minutes));
                self.consecutive_losses = 0;
            }
        } else {
            self.consecutive_losses = 0;
        }
    }

    /// True while a cooldown refuses entries.
    pub fn in_cooldown(&self, now: DateTime<Utc>) -> bool {
        self.cooldown_until.is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::limits::tests::shipped_limits;
    use chrono::TimeZone;

    fn money(value: i64) -> Money {
        Money::new(Decimal::from(value))
    }

    fn day(number: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, number).expect("valid date")
    }

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn a_daily_loss_at_the_limit_switches_to_reducing_and_names_the_numbers() {
        let limits = shipped_limits();
        let mut state = RiskState::new(money(100_000), day(2));
        state.observe_equity(&limits, money(98_500), at(15));
        assert_eq!(state.mode, TradingMode::Active);
        state.observe_equity(&limits, money(98_000), at(16));
        match &state.mode {
            TradingMode::Reducing { reason, .. } => assert_eq!(
                reason,
                "daily loss of 2000 from the day's starting equity 100000 reached the limit of 2000"
            ),
            other => panic!("expected reducing, got {other:?}"),
        }
    }

    #[test]
    fn a_new_trading_day_ends_reducing() {
        let limits = shipped_limits();
        let mut state = RiskState::new(money(100_000), day(2));
        state.observe_equity(&limits, money(97_000), at(15));
        assert!(matches!(state.mode, TradingMode::Reducing { .. }));
        state.start_day(day(3), money(97_000));
        assert_eq!(state.mode, TradingMode::Active);
        state.observe_equity(&limits, money(96_000), at(16));
        assert_eq!(state.mode, TradingMode::Active);
    }

    #[test]
    fn the_first_observation_of_a_later_day_starts_it_even_without_start_day() {
        let limits = shipped_limits();
        let mut state = RiskState::new(money(100_000), day(2));
        state.observe_equity(&limits, money(97_000), at(15));
        assert!(matches!(state.mode, TradingMode::Reducing { .. }));
        // 14:00 UTC on 3 March is 09:00 in New York: the next trading day.
        let next_morning = at(14) + Duration::days(1);
        state.observe_equity(&limits, money(96_500), next_morning);
        assert_eq!(state.mode, TradingMode::Active);
        assert_eq!(state.trading_day, day(3));
        assert_eq!(state.day_start_equity, money(96_500));
        // The day's loss counts from there: 1,500 more is not yet the 2,000 limit; 2,000 is.
        state.observe_equity(&limits, money(95_000), next_morning + Duration::hours(1));
        assert_eq!(state.mode, TradingMode::Active);
        state.observe_equity(&limits, money(94_500), next_morning + Duration::hours(2));
        assert!(matches!(state.mode, TradingMode::Reducing { .. }));
        // An observation stamped earlier than the day held (a clock set back) starts nothing.
        state.observe_equity(&limits, money(94_500), at(16));
        assert_eq!(state.trading_day, day(3));
        assert!(matches!(state.mode, TradingMode::Reducing { .. }));
    }

    #[test]
    fn a_drawdown_breach_halts_and_the_halt_survives_a_new_day_until_resumed() {
        let limits = shipped_limits();
        let mut state = RiskState::new(money(100_000), day(2));
        state.observe_equity(&limits, money(110_000), at(14));
        state.start_day(day(3), money(110_000));
        state.observe_equity(&limits, money(99_000), at(15));
        match &state.mode {
            TradingMode::Halted { reason, .. } => assert_eq!(
                reason,
                "drawdown of 10.00% from peak equity 110000 to 99000 reached the limit of 10%"
            ),
            other => panic!("expected halted, got {other:?}"),
        }
        state.start_day(day(4), money(99_000));
        state.observe_equity(&limits, money(120_000), at(16));
        assert!(matches!(state.mode, TradingMode::Halted { .. }));
        assert_eq!(state.resume(" "), Err(StateError::NoOperator));
        assert_eq!(state.resume("alice"), Ok(()));
        assert_eq!(state.mode, TradingMode::Active);
        assert_eq!(state.resume("alice"), Err(StateError::NotHalted));
    }

    #[test]
    fn resuming_restarts_the_peak_so_the_old_drawdown_does_not_halt_again() {
        let limits = shipped_limits();
        let mut state = RiskState::new(money(100_000), day(2));
        state.observe_equity(&limits, money(89_000), at(15));
        state.resume("alice").expect("halted");
        state.start_day(day(3), money(89_000));
        state.observe_equity(&limits, money(89_000), at(16));
        assert_eq!(state.mode, TradingMode::Active);
        assert_eq!(state.peak_equity, money(89_000));
    }

    #[test]
    fn the_kill_switch_halts_an_active_state() {
        let mut state = RiskState::new(money(100_000), day(2));
        state.halt("operator pressed the kill switch", at(15));
        assert_eq!(
            state.mode,
            TradingMode::Halted {
                reason: "operator pressed the kill switch".to_owned(),
                since: at(15)
            }
        );
    }

    #[test]
    fn a_losing_streak_at_the_limit_starts_a_cooldown_and_a_win_resets_the_streak() {
        let limits = shipped_limits();
        let mut state = RiskState::new(money(100_000), day(2));
        for _ in 0..3 {
            state.record_trade(&limits, money(-10), at(14));
        }
        state.record_trade(&limits, money(5), at(14));
        assert_eq!(state.consecutive_losses, 0);
        for _ in 0..4 {
            state.record_trade(&limits, money(-10), at(15));
        }
        assert!(state.in_cooldown(at(15)));
        assert!(!state.in_cooldown(at(15) + Duration::minutes(30)));
    }
}
