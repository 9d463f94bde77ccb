//! Analytics against hand computations: every metric on short series, the edge cases, the
//! per-pair, per-period and trade-analysis group-bys, the trade exports and the HTML report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tradehost::analytics::{
    self, EquityPoint, HoldingBucket, Metrics, Period, ReportData, TradeRecord, ZPath,
};

const TOLERANCE: f64 = 1e-9;

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value, not None");
    assert!(
        (actual - expected).abs() <= TOLERANCE * expected.abs().max(1.0),
        "{actual} is not {expected}"
    );
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

fn point(time: DateTime<Utc>, equity: f64, exposure: f64) -> EquityPoint {
    EquityPoint {
        time,
        equity,
        exposure,
    }
}

fn trade(pair: &str, entry: DateTime<Utc>, exit: DateTime<Utc>, pnl: f64) -> TradeRecord {
    TradeRecord {
        pair: pair.to_owned(),
        entry_time: entry,
        exit_time: exit,
        direction: "long_spread".to_owned(),
        pnl,
        entry_z: -2.1,
        exit_z: -0.3,
        exit_reason: "exit".to_owned(),
    }
}

/// A quarter of a Julian year (365.25 days / 3 = 121.75 days), so four points span exactly one
/// year and CAGR equals the total return.
const STEP: TimeDelta = TimeDelta::seconds(10_519_200);

fn start() -> DateTime<Utc> {
    at("2025-01-01T00:00:00Z")
}

/// Equity 100, 110, 99, 120 one STEP apart; a position is held at the middle two points.
fn hand_curve() -> Vec<EquityPoint> {
    [100.0, 110.0, 99.0, 120.0]
        .iter()
        .enumerate()
        .map(|(index, equity)| {
            let exposure = if index == 1 || index == 2 {
                1000.0
            } else {
                0.0
            };
            point(start() + STEP * index as i32, *equity, exposure)
        })
        .collect()
}

/// Six trades exiting a day apart with P&L 10, 20, −5, −10, −5, 15 in exit order, handed over
/// shuffled so that the streaks prove the exit-time ordering.
fn hand_trades() -> Vec<TradeRecord> {
    let pnl = [10.0, 20.0, -5.0, -10.0, -5.0, 15.0];
    let mut trades: Vec<TradeRecord> = pnl
        .iter()
        .enumerate()
        .map(|(day, pnl)| {
            let exit = start() + TimeDelta::days(day as i64 + 1);
            trade("KO/PEP", exit - TimeDelta::hours(3), exit, *pnl)
        })
        .collect();
    trades.swap(0, 5);
    trades.swap(1, 3);
    trades
}

#[test]
fn every_metric_matches_the_hand_computation() {
    let result = analytics::metrics(&hand_curve(), &hand_trades(), 252.0);
    // Returns: 110/100 − 1 = 0.1; 99/110 − 1 = −0.1; 120/99 − 1 = 0.212121…
    // Mean = (0.1 − 0.1 + 0.2121212121) / 3 = 0.0707070707.
    // Sample variance = ((0.1 − m)² + (−0.1 − m)² + (0.2121212121 − m)²) / 2
    //                 = (0.0008580757 + 0.0291419243 + 0.0199979594) / 2 = 0.0249989797;
    // sample std = 0.1581090432.
    // Volatility = 0.1581090432 × √252 = 2.5099032501.
    // Sharpe = 0.0707070707 / 0.1581090432 × √252 = 7.0991508606.
    // Downside deviation = √((0² + (−0.1)² + 0²) / 3) = √(0.01/3) = 0.0577350269;
    // Sortino = 0.0707070707 / 0.0577350269 × √252 = 19.4412302210.
    assert_eq!(result.periods, 3);
    close(result.start_equity, 100.0);
    close(result.end_equity, 120.0);
    close(result.annualised_volatility, 2.509903250141103);
    close(result.sharpe, 7.099150860568081);
    close(result.sortino, 19.441230221024796);
    // Total return = 120 / 100 − 1 = 0.2. The span is 3 × 121.75 = 365.25 days = 1 year, so
    // CAGR = 1.2^(1/1) − 1 = 0.2.
    close(result.total_return, 0.2);
    close(result.cagr, 0.2);
    // Peak 110 (point 1), trough 99 (point 2): (110 − 99) / 110 = 0.1, recovered at point 3
    // (120 ≥ 110), so the duration is 2 steps = 243.5 days = 21,038,400 s. Calmar = 0.2 / 0.1 = 2.
    close(Some(result.max_drawdown), 0.1);
    assert_eq!(result.max_drawdown_duration_seconds, 21_038_400);
    close(result.calmar, 2.0);
    // Trades in exit order: +10 +20 −5 −10 −5 +15. Wins 3, losses 3, win rate 0.5.
    // Gross profit 45, gross loss 20, profit factor 2.25, net 25, expectancy 25 / 6.
    // Average win 45 / 3 = 15, average loss −20 / 3. Streaks: 2 wins (10, 20), 3 losses.
    assert_eq!((result.trades, result.wins, result.losses), (6, 3, 3));
    close(result.win_rate, 0.5);
    close(Some(result.gross_profit), 45.0);
    close(Some(result.gross_loss), 20.0);
    close(Some(result.net_pnl), 25.0);
    close(result.profit_factor, 2.25);
    close(result.expectancy, 25.0 / 6.0);
    close(result.average_win, 15.0);
    close(result.average_loss, -20.0 / 3.0);
    assert_eq!(result.max_consecutive_wins, 2);
    assert_eq!(result.max_consecutive_losses, 3);
    // Exposure above zero at 2 of 4 points.
    close(result.exposure, 0.5);
}

#[test]
fn nothing_at_all_gives_nones_and_zeros() {
    let result = analytics::metrics(&[], &[], 252.0);
    assert_eq!(result, Metrics::default());
    assert_eq!(result.total_return, None);
    assert_eq!(result.win_rate, None);
    assert_eq!(result.max_drawdown, 0.0);
    let json = serde_json::to_string(&result).expect("json");
    assert!(
        json.contains("\"sharpe\":null") && !json.contains("NaN"),
        "{json}"
    );
}

#[test]
fn one_equity_point_has_no_returns_but_has_exposure() {
    let result = analytics::metrics(&[point(start(), 100.0, 5.0)], &[], 252.0);
    assert_eq!(result.periods, 0);
    assert_eq!(result.total_return, None);
    assert_eq!(result.cagr, None);
    assert_eq!(result.annualised_volatility, None);
    assert_eq!(result.sharpe, None);
    assert_eq!(result.sortino, None);
    assert_eq!(result.calmar, None);
    close(result.exposure, 1.0);
}

#[test]
fn flat_equity_has_zero_volatility_and_no_ratios() {
    let curve: Vec<EquityPoint> = (0..5)
        .map(|day| point(start() + TimeDelta::days(day), 100.0, 0.0))
        .collect();
    let result = analytics::metrics(&curve, &[], 252.0);
    close(result.total_return, 0.0);
    close(result.cagr, 0.0);
    close(result.annualised_volatility, 0.0);
    assert_eq!(
        result.sharpe, None,
        "a zero standard deviation has no Sharpe"
    );
    assert_eq!(result.sortino, None, "no downside has no Sortino");
    assert_eq!(result.max_drawdown, 0.0);
    assert_eq!(result.max_drawdown_duration_seconds, 0);
    assert_eq!(result.calmar, None, "no drawdown has no Calmar");
    close(result.exposure, 0.0);
}

#[test]
fn a_drawdown_that_never_recovers_lasts_until_the_last_point() {
    // 100 → 80 → 90: peak 100 at day 0, trough 80: (100 − 80) / 100 = 0.2, still below the peak at
    // day 2, so the duration is 2 days = 172,800 s.
    let curve = [
        point(start(), 100.0, 0.0),
        point(start() + TimeDelta::days(1), 80.0, 0.0),
        point(start() + TimeDelta::days(2), 90.0, 0.0),
    ];
    let result = analytics::metrics(&curve, &[], 252.0);
    close(Some(result.max_drawdown), 0.2);
    assert_eq!(result.max_drawdown_duration_seconds, 172_800);
}

#[test]
fn only_winners_have_no_profit_factor_and_a_flat_trade_breaks_streaks() {
    let day = |n: i64| start() + TimeDelta::days(n);
    let trades = [
        trade("A/B", day(0), day(1), 5.0),
        trade("A/B", day(1), day(2), 0.0),
        trade("A/B", day(2), day(3), 7.0),
    ];
    let result = analytics::metrics(&[], &trades, 252.0);
    assert_eq!(
        result.profit_factor, None,
        "no loss: infinite, reported as None"
    );
    assert_eq!(result.average_loss, None);
    assert_eq!((result.wins, result.losses), (2, 0));
    // A trade at exactly zero counts: 2 wins of 3 trades.
    close(result.win_rate, 2.0 / 3.0);
    close(result.expectancy, 4.0);
    assert_eq!(result.max_consecutive_wins, 1);
    assert_eq!(result.max_consecutive_losses, 0);
}

#[test]
fn non_finite_inputs_never_reach_the_output() {
    let day = |n: i64| start() + TimeDelta::days(n);
    let curve = [
        point(day(0), 100.0, 0.0),
        point(day(1), f64::NAN, 0.0),
        point(day(2), 0.0, 0.0),
        point(day(3), 50.0, 0.0),
    ];
    let trades = [trade("A/B", day(0), day(1), f64::INFINITY)];
    let result = analytics::metrics(&curve, &trades, f64::NAN);
    let json = serde_json::to_string(&result).expect("json");
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    assert_eq!(result.trades, 0, "a trade without a finite P&L is left out");
    assert_eq!(
        result.sharpe, None,
        "no annualisation without periods per year"
    );
}

#[test]
fn metrics_by_pair_use_each_pairs_trades_and_realised_curve() {
    let day = |n: i64| start() + TimeDelta::days(n);
    let curve: Vec<EquityPoint> = (0..5).map(|n| point(day(n), 1000.0, 0.0)).collect();
    let trades = [
        // KO/PEP: open over days 1..3 (bars 1 and 2), +50 realised at day 3.
        trade("KO/PEP", day(1), day(3), 50.0),
        // XOM/CVX: −20 at day 2, +10 at day 4.
        trade("XOM/CVX", day(1), day(2), -20.0),
        trade("XOM/CVX", day(3), day(4), 10.0),
    ];
    let by_pair = analytics::metrics_by_pair(&curve, &trades, 252.0).expect("by pair");
    assert_eq!(
        by_pair.keys().cloned().collect::<Vec<_>>(),
        ["KO/PEP", "XOM/CVX"]
    );
    let ko = &by_pair["KO/PEP"];
    assert_eq!(ko.trades, 1);
    // Realised curve 1000, 1000, 1000, 1050, 1050: total return 50 / 1000 = 0.05, no drawdown;
    // open at bars 1 and 2 of 5: exposure 0.4.
    close(ko.total_return, 0.05);
    assert_eq!(ko.max_drawdown, 0.0);
    close(ko.exposure, 0.4);
    let xom = &by_pair["XOM/CVX"];
    assert_eq!((xom.trades, xom.wins, xom.losses), (2, 1, 1));
    close(Some(xom.net_pnl), -10.0);
    close(xom.profit_factor, 0.5);
    // Realised curve 1000, 1000, 980, 980, 990: drawdown 20 / 1000 = 0.02 from day 1 (the last
    // point at the peak) to the end (never recovered): 3 days.
    close(Some(xom.max_drawdown), 0.02);
    assert_eq!(xom.max_drawdown_duration_seconds, 3 * 86_400);
    close(xom.total_return, -0.01);
    // Open at bars 1 and 3 (entry ≤ bar < exit): 2 of 5.
    close(xom.exposure, 0.4);
    assert!(
        analytics::metrics_by_pair(&curve, &[], 252.0)
            .expect("empty")
            .is_empty()
    );
    // Without an equity curve a pair has its trade metrics only.
    let trades_only = analytics::metrics_by_pair(&[], &trades, 252.0).expect("trades only");
    assert_eq!(trades_only["XOM/CVX"].trades, 2);
    assert_eq!(trades_only["XOM/CVX"].total_return, None);
    assert_eq!(trades_only["XOM/CVX"].exposure, None);
}

#[test]
fn metrics_by_month_chain_to_the_runs_total_return() {
    // Month-end equity: 100 (Jan 31), 110 (Feb 28), 99 (Mar 31), plus mid-month points.
    let curve = [
        point(at("2026-01-15T00:00:00Z"), 100.0, 0.0),
        point(at("2026-01-31T00:00:00Z"), 100.0, 10.0),
        point(at("2026-02-14T00:00:00Z"), 105.0, 10.0),
        point(at("2026-02-28T00:00:00Z"), 110.0, 0.0),
        point(at("2026-03-31T00:00:00Z"), 99.0, 0.0),
    ];
    let trades = [
        trade(
            "A/B",
            at("2026-01-30T00:00:00Z"),
            at("2026-02-10T00:00:00Z"),
            10.0,
        ),
        trade(
            "A/B",
            at("2026-03-01T00:00:00Z"),
            at("2026-03-20T00:00:00Z"),
            -11.0,
        ),
    ];
    let months =
        analytics::metrics_by_period(&curve, &trades, Period::Month, 252.0).expect("by month");
    let labels: Vec<&str> = months.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, ["2026-01", "2026-02", "2026-03"]);
    // January: 100 → 100 = 0. February starts from Jan 31 (100): 110 / 100 − 1 = 0.1.
    // March starts from Feb 28 (110): 99 / 110 − 1 = −0.1.
    close(months[0].1.total_return, 0.0);
    close(months[1].1.total_return, 0.1);
    close(months[2].1.total_return, -0.1);
    // (1 + 0)(1 + 0.1)(1 − 0.1) = 0.99 = 99 / 100.
    let chained: f64 = months
        .iter()
        .map(|(_, m)| 1.0 + m.total_return.expect("return"))
        .product();
    close(Some(chained - 1.0), -0.01);
    // Trades by exit month: February one win, March one loss, January none.
    assert_eq!(months[0].1.trades, 0);
    assert_eq!((months[1].1.trades, months[1].1.wins), (1, 1));
    assert_eq!((months[2].1.trades, months[2].1.losses), (1, 1));
    // Exposure counts only the month's own points: January 1 of 2, February 1 of 2 (the opening
    // Jan 31 point, which held a position, is not February's).
    close(months[0].1.exposure, 0.5);
    close(months[1].1.exposure, 0.5);
    close(months[2].1.exposure, 0.0);

    let years = analytics::metrics_by_period(&curve, &trades, Period::Year, 252.0).expect("year");
    assert_eq!(years.len(), 1);
    assert_eq!(years[0].0, "2026");
    close(years[0].1.total_return, -0.01);
    assert_eq!(years[0].1.trades, 2);
}

#[test]
fn a_trade_exiting_in_a_month_without_equity_points_still_has_its_period() {
    let curve = [point(at("2026-01-15T00:00:00Z"), 100.0, 0.0)];
    let trades = [trade(
        "A/B",
        at("2026-01-20T00:00:00Z"),
        at("2026-02-02T00:00:00Z"),
        3.0,
    )];
    let months =
        analytics::metrics_by_period(&curve, &trades, Period::Month, 252.0).expect("by month");
    assert_eq!(months.len(), 2);
    assert_eq!(months[1].0, "2026-02");
    assert_eq!(months[1].1.trades, 1);
    assert_eq!(months[1].1.total_return, None);
}

#[test]
fn entry_hours_are_new_york_hours_across_daylight_saving_time() {
    let held = TimeDelta::minutes(30);
    let entries = [
        // 14:30 UTC in January is 09:30 EST (UTC−5).
        at("2026-01-06T14:30:00Z"),
        // 13:30 UTC in July is 09:30 EDT (UTC−4).
        at("2026-07-07T13:30:00Z"),
        // 14:30 UTC in July is 10:30 EDT.
        at("2026-07-07T14:30:00Z"),
        // 2026-03-08 is the spring-forward Sunday: 06:59 UTC is 01:59 EST, 07:00 UTC is 03:00 EDT.
        at("2026-03-08T06:59:00Z"),
        at("2026-03-08T07:00:00Z"),
        // 2026-11-01 is the fall-back Sunday: 05:30 UTC is 01:30 EDT and 06:30 UTC is 01:30 EST,
        // the same local hour twice.
        at("2026-11-01T05:30:00Z"),
        at("2026-11-01T06:30:00Z"),
    ];
    let trades: Vec<TradeRecord> = entries
        .iter()
        .zip([1.0, -1.0, 2.0, 3.0, 4.0, 5.0, -6.0])
        .map(|(entry, pnl)| trade("A/B", *entry, *entry + held, pnl))
        .collect();
    let analysis = analytics::trade_analysis(&trades).expect("analysis");
    let hours: Vec<(&str, usize)> = analysis
        .by_entry_hour
        .iter()
        .map(|group| (group.key.as_str(), group.trades))
        .collect();
    assert_eq!(
        hours,
        [("01:00", 3), ("03:00", 1), ("09:00", 2), ("10:00", 1)]
    );
    // 01:00 holds the spring 01:59 EST entry (+3) and both fall-back 01:30 entries (+5, −6).
    close(Some(analysis.by_entry_hour[0].pnl), 2.0);
    assert_eq!(analysis.by_entry_hour[0].wins, 2);
    let nine = &analysis.by_entry_hour[2];
    close(Some(nine.pnl), 0.0);
    assert_eq!(nine.wins, 1);
    close(Some(nine.win_rate), 0.5);
    close(Some(nine.average_pnl), 0.0);
}

#[test]
fn weekdays_are_new_york_weekdays_monday_first() {
    let trades = [
        // Tuesday 03:00 UTC is Monday 22:00 in New York.
        trade(
            "A/B",
            at("2026-01-06T03:00:00Z"),
            at("2026-01-06T04:00:00Z"),
            1.0,
        ),
        // Saturday 2026-01-10 15:00 UTC is Saturday in New York.
        trade(
            "A/B",
            at("2026-01-10T15:00:00Z"),
            at("2026-01-10T16:00:00Z"),
            -2.0,
        ),
        // Friday 2026-01-09 20:00 UTC is Friday 15:00.
        trade(
            "A/B",
            at("2026-01-09T20:00:00Z"),
            at("2026-01-09T21:00:00Z"),
            5.0,
        ),
        trade(
            "A/B",
            at("2026-01-09T19:00:00Z"),
            at("2026-01-09T21:00:00Z"),
            -1.0,
        ),
    ];
    let analysis = analytics::trade_analysis(&trades).expect("analysis");
    let days: Vec<(&str, usize, f64)> = analysis
        .by_weekday
        .iter()
        .map(|group| (group.key.as_str(), group.trades, group.pnl))
        .collect();
    assert_eq!(days, [("Mon", 1, 1.0), ("Fri", 2, 4.0), ("Sat", 1, -2.0)]);
}

#[test]
fn holding_times_fall_in_buckets_that_include_their_lower_bound() {
    let entry = at("2026-01-05T15:00:00Z");
    let held = [
        TimeDelta::minutes(59),
        TimeDelta::hours(1),
        TimeDelta::minutes(239),
        TimeDelta::hours(4),
        TimeDelta::hours(23),
        TimeDelta::days(1),
        TimeDelta::days(4),
        TimeDelta::days(5),
        TimeDelta::days(10),
    ];
    let trades: Vec<TradeRecord> = held
        .iter()
        .map(|held| trade("A/B", entry, entry + *held, 1.0))
        .collect();
    let analysis = analytics::trade_analysis(&trades).expect("analysis");
    let buckets: Vec<(&str, usize)> = analysis
        .by_holding_time
        .iter()
        .map(|group| (group.key.as_str(), group.trades))
        .collect();
    assert_eq!(
        buckets,
        [
            ("<1h", 1),
            ("1h–4h", 2),
            ("4h–1d", 2),
            ("1d–5d", 2),
            ("≥5d", 2)
        ]
    );
    assert_eq!(HoldingBucket::of(TimeDelta::hours(4)).label(), "4h–1d");
}

#[test]
fn analysis_by_pair_counts_pnl_and_wins_per_pair() {
    let mut trades = hand_trades();
    trades[0].pair = "XOM/CVX".to_owned();
    // hand_trades()[0] after the swaps is the +15 trade.
    let analysis = analytics::trade_analysis(&trades).expect("analysis");
    let pairs: Vec<(&str, usize, f64, usize)> = analysis
        .by_pair
        .iter()
        .map(|group| (group.key.as_str(), group.trades, group.pnl, group.wins))
        .collect();
    assert_eq!(pairs, [("KO/PEP", 5, 10.0, 2), ("XOM/CVX", 1, 15.0, 1)]);
    assert_eq!(
        analytics::trade_analysis(&[]).expect("empty"),
        analytics::TradeAnalysis::default()
    );
}

#[test]
fn trades_round_trip_through_csv_and_parquet() {
    let folder = tempfile::tempdir().expect("folder");
    let trades = hand_trades();
    let csv = folder.path().join("trades.csv");
    assert_eq!(analytics::write_trades_csv(&csv, &trades).expect("csv"), 6);
    let text = std::fs::read_to_string(&csv).expect("read csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("pair,entry_time,exit_time,direction,pnl,entry_z,exit_z,exit_reason")
    );
    assert_eq!(lines.count(), 6);
    assert!(text.contains("KO/PEP,2025-01-06T21:00:00Z,2025-01-07T00:00:00Z,long_spread,15.0"));

    let parquet = folder.path().join("trades.parquet");
    assert_eq!(
        analytics::write_trades_parquet(&parquet, &trades).expect("parquet"),
        6
    );
    assert_eq!(analytics::archive::row_count(&parquet).expect("rows"), 6);

    let empty = folder.path().join("none.csv");
    assert_eq!(analytics::write_trades_csv(&empty, &[]).expect("empty"), 0);
}

fn z_path(pair: &str) -> ZPath {
    let times: Vec<DateTime<Utc>> = (0..50)
        .map(|hour| start() + TimeDelta::hours(hour))
        .collect();
    let z: Vec<f64> = (0..50)
        .map(|step| 2.5 * (step as f64 / 6.0).sin())
        .collect();
    ZPath {
        pair: pair.to_owned(),
        entries: vec![(times[9], z[9])],
        exits: vec![(times[18], z[18])],
        times,
        z,
        entry: 2.0,
        exit: 0.5,
        stop: 3.5,
    }
}

fn small_report(pairs: &[&str]) -> ReportData {
    let curve = hand_curve();
    let trades: Vec<TradeRecord> = hand_trades()
        .into_iter()
        .enumerate()
        .map(|(index, mut trade)| {
            trade.pair = pairs[index % pairs.len()].to_owned();
            trade
        })
        .collect();
    let parameters = BTreeMap::from([
        ("entry".to_owned(), "2.0".to_owned()),
        ("strategy".to_owned(), "pairs.rhai".to_owned()),
    ]);
    let z_paths = pairs.iter().map(|pair| z_path(pair)).collect();
    ReportData::from_run(
        "Backtest <pairs>",
        parameters,
        curve,
        trades,
        z_paths,
        Period::Month,
        252.0,
    )
    .expect("report data")
}

#[test]
fn the_report_has_every_chart_the_pairs_and_the_metrics() {
    let folder = tempfile::tempdir().expect("folder");
    let path = folder.path().join("report.html");
    let report = small_report(&["KO/PEP", "XOM/CVX"]);
    analytics::write_report(&path, &report).expect("write");
    let html = std::fs::read_to_string(&path).expect("read");
    // Equity, drawdown, per-pair P&L and one z-score chart per pair.
    assert_eq!(html.matches("<svg").count(), 3 + 2, "one <svg per chart");
    for text in [
        "KO/PEP",
        "XOM/CVX",
        "z-score: KO/PEP",
        "Sharpe",
        "Sortino",
        "Calmar",
        "Max drawdown",
        "Profit factor",
        "By entry hour (New York)",
        "pairs.rhai",
        // Total return 20% and max drawdown 10% from the hand curve.
        "20.00%",
        "10.00%",
    ] {
        assert!(html.contains(text), "the report lacks {text}");
    }
    assert!(html.contains("Backtest &lt;pairs&gt;"));
    assert!(!html.contains("<script"), "a report runs no scripts");
    assert!(
        !html.contains("<link") && !html.contains("src=\"http"),
        "no network"
    );
}

#[test]
fn a_pair_named_like_a_script_is_escaped_everywhere() {
    let hostile = "<script>alert(1)</script>";
    let html = analytics::render_report(&small_report(&[hostile, "KO/PEP"])).expect("render");
    assert!(
        !html.contains("<script"),
        "the pair name broke out of its text"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn an_empty_run_still_renders_every_section() {
    let report = ReportData::from_run(
        "Empty",
        BTreeMap::new(),
        vec![],
        vec![],
        vec![],
        Period::Year,
        252.0,
    )
    .expect("data");
    let html = analytics::render_report(&report).expect("render");
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains("Equity: no data"));
    assert!(!html.contains("NaN"));
}

/// A deterministic synthetic run: two pairs on hourly bars (7 a weekday) over four months, a
/// mean-reverting z-score per pair, entries at |z| > 2, exits at |z| < 0.5, stops at |z| > 3.5.
fn synthetic_run() -> ReportData {
    let pairs = ["KO/PEP", "XOM/CVX"];
    let mut seed: u64 = 42;
    let mut noise = move || {
        // A 64-bit linear congruential generator: reproducible without a dependency.
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut times = Vec::new();
    let mut day = Utc
        .with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("day");
    while day
        < Utc
            .with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
            .single()
            .expect("end")
    {
        if chrono::Datelike::weekday(&day).num_days_from_monday() < 5 {
            times.extend((14..21).map(|hour| day + TimeDelta::hours(hour)));
        }
        day += TimeDelta::days(1);
    }
    let (entry, exit, stop) = (2.0, 0.5, 3.5);
    let notional = 20_000.0;
    let mut trades = Vec::new();
    let mut z_paths = Vec::new();
    let mut pnl_by_bar = vec![0.0; times.len()];
    let mut open_by_bar = vec![0.0; times.len()];
    let mut unrealised_by_bar = vec![0.0; times.len()];
    for pair in pairs {
        let mut z = 0.0;
        let mut path = Vec::with_capacity(times.len());
        let mut open: Option<(usize, f64)> = None;
        let (mut entries, mut exits) = (Vec::new(), Vec::new());
        for (bar, time) in times.iter().enumerate() {
            z = 0.93 * z + 1.6 * noise();
            path.push(z);
            match open {
                None if z.abs() > entry && z.abs() < stop => {
                    open = Some((bar, z));
                    entries.push((*time, z));
                }
                Some((start_bar, start_z)) => {
                    // The spread's P&L: the fall of |z| times a dollar value per unit of z.
                    // plus noise, so that some reversions still lose after costs.
                    let unrealised = (start_z.abs() - z.abs()) * notional * 0.01 + 60.0 * noise();
                    open_by_bar[bar] += notional;
                    let reason = if z.abs() < exit {
                        Some("exit")
                    } else if z.abs() > stop {
                        Some("stop")
                    } else if bar - start_bar > 70 {
                        Some("time_stop")
                    } else if bar + 1 == times.len() {
                        Some("end")
                    } else {
                        None
                    };
                    if reason.is_none() {
                        unrealised_by_bar[bar] += unrealised;
                    }
                    if let Some(reason) = reason {
                        let pnl = unrealised - 8.0;
                        pnl_by_bar[bar] += pnl;
                        exits.push((*time, z));
                        trades.push(TradeRecord {
                            pair: pair.to_owned(),
                            entry_time: times[start_bar],
                            exit_time: *time,
                            direction: if start_z > 0.0 {
                                "short_spread"
                            } else {
                                "long_spread"
                            }
                            .to_owned(),
                            pnl,
                            entry_z: start_z,
                            exit_z: z,
                            exit_reason: reason.to_owned(),
                        });
                        open = None;
                    }
                }
                None => {}
            }
        }
        z_paths.push(ZPath {
            pair: pair.to_owned(),
            times: times.clone(),
            z: path,
            entries,
            exits,
            entry,
            exit,
            stop,
        });
    }
    let mut equity = 100_000.0;
    let curve: Vec<EquityPoint> = times
        .iter()
        .enumerate()
        .map(|(bar, time)| {
            equity += pnl_by_bar[bar];
            // Marked to market: realised cash plus the open trades' unrealised P&L.
            point(*time, equity + unrealised_by_bar[bar], open_by_bar[bar])
        })
        .collect();
    trades.sort_by_key(|trade| trade.exit_time);
    let parameters = BTreeMap::from([
        ("pairs".to_owned(), pairs.join(", ")),
        ("entry".to_owned(), entry.to_string()),
        ("exit".to_owned(), exit.to_string()),
        ("stop".to_owned(), stop.to_string()),
        ("timeframe".to_owned(), "1h".to_owned()),
        ("seed".to_owned(), "42".to_owned()),
    ]);
    ReportData::from_run(
        "Pairs backtest (synthetic)",
        parameters,
        curve,
        trades,
        z_paths,
        Period::Month,
        252.0 * 6.5,
    )
    .expect("report data")
}

#[test]
fn an_example_report_of_a_synthetic_run_is_written_under_the_target_folder() {
    let report = synthetic_run();
    assert!(report.metrics.trades > 10, "the synthetic run trades");
    assert_eq!(report.by_period.len(), 4, "January to April");
    // The target folder is the parent of the integration tests' scratch folder.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target folder")
        .to_path_buf();
    let path = target.join("analytics-report-example.html");
    analytics::write_report(&path, &report).expect("write");
    let html = std::fs::read_to_string(&path).expect("read");
    assert_eq!(html.matches("<svg").count(), 5);
    println!("example report: {}", path.display());
}
