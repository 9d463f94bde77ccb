//! The HTML report of a run: one self-contained file (inline CSS and SVG charts, no scripts, no
//! network), every piece of text HTML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::analysis::{GroupStats, TradeAnalysis, trade_analysis};
use super::charts;
use super::error::AnalyticsError;
use super::grouping::{Period, metrics_by_pair, metrics_by_period};
use super::metrics::{Metrics, metrics};
use super::records::{EquityPoint, TradeRecord, ZPath};

/// Everything a report shows. The backtester and the daily report fill it, usually through
/// [`ReportData::from_run`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReportData {
    /// The heading and the page title.
    pub title: String,
    /// The run's parameters (strategy, pairs, thresholds, dates), shown as given.
    pub parameters: BTreeMap<String, String>,
    /// The metrics of the whole run.
    pub metrics: Metrics,
    /// Metrics per pair.
    pub by_pair: BTreeMap<String, Metrics>,
    /// Metrics per period, in time order.
    pub by_period: Vec<(String, Metrics)>,
    /// Trades grouped by pair, entry hour, weekday and holding time.
    pub analysis: TradeAnalysis,
    /// The equity curve.
    pub equity: Vec<EquityPoint>,
    /// The closed trades.
    pub trades: Vec<TradeRecord>,
    /// One z-score chart per path.
    pub z_paths: Vec<ZPath>,
}

impl ReportData {
    /// Computes every table of a report from a run's output: metrics for the run, per pair and
    /// per `period`, and the trade analysis.
    pub fn from_run(
        title: impl Into<String>,
        parameters: BTreeMap<String, String>,
        equity: Vec<EquityPoint>,
        trades: Vec<TradeRecord>,
        z_paths: Vec<ZPath>,
        period: Period,
        periods_per_year: f64,
    ) -> Result<Self, AnalyticsError> {
        Ok(Self {
            title: title.into(),
            parameters,
            metrics: metrics(&equity, &trades, periods_per_year),
            by_pair: metrics_by_pair(&equity, &trades, periods_per_year)?,
            by_period: metrics_by_period(&equity, &trades, period, periods_per_year)?,
            analysis: trade_analysis(&trades)?,
            equity,
            trades,
            z_paths,
        })
    }
}

/// Writes the report to `path` as one HTML file (replacing it).
pub fn write_report(path: &Path, report: &ReportData) -> Result<(), AnalyticsError> {
    let html = render_report(report)?;
    std::fs::write(path, html).map_err(|error| AnalyticsError::file(path, error))
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{:.2}%", value * 100.0))
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.2}"))
}

fn usd(value: f64) -> String {
    number(value.is_finite().then_some(value))
}

/// A duration in seconds as days, hours and minutes (`3d 4h 0m`).
fn duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    format!(
        "{}d {}h {}m",
        minutes / 1440,
        minutes % 1440 / 60,
        minutes % 60
    )
}

/// The rows of the metrics table: label and formatted value.
fn metric_rows(m: &Metrics) -> Vec<(&'static str, String)> {
    vec![
        ("Start equity", number(m.start_equity)),
        ("End equity", number(m.end_equity)),
        ("Total return", percent(m.total_return)),
        ("CAGR", percent(m.cagr)),
        ("Annualised volatility", percent(m.annualised_volatility)),
        ("Sharpe", number(m.sharpe)),
        ("Sortino", number(m.sortino)),
        ("Max drawdown", percent(Some(m.max_drawdown))),
        (
            "Max drawdown duration",
            duration(m.max_drawdown_duration_seconds),
        ),
        ("Calmar", number(m.calmar)),
        ("Trades", m.trades.to_string()),
        ("Wins / losses", format!("{} / {}", m.wins, m.losses)),
        ("Win rate", percent(m.win_rate)),
        ("Net P&L", usd(m.net_pnl)),
        ("Profit factor", number(m.profit_factor)),
        ("Expectancy", number(m.expectancy)),
        ("Average win", number(m.average_win)),
        ("Average loss", number(m.average_loss)),
        ("Max consecutive wins", m.max_consecutive_wins.to_string()),
        (
            "Max consecutive losses",
            m.max_consecutive_losses.to_string(),
        ),
        ("Exposure", percent(m.exposure)),
        ("Return periods", m.periods.to_string()),
    ]
}

/// An HTML table from a header and rows of already formatted cells (escaped here).
fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    out.push_str("<table><thead><tr>");
    for cell in header {
        let _ = write!(out, "<th>{}</th>", escape(cell));
    }
    out.push_str("</tr></thead><tbody>");
    let mut any = false;
    for row in rows {
        any = true;
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    if !any {
        let _ = write!(out, "<tr><td colspan=\"{}\">none</td></tr>", header.len());
    }
    out.push_str("</tbody></table>\n");
}

const SUMMARY_HEADER: [&str; 10] = [
    "",
    "Trades",
    "Net P&L",
    "Win rate",
    "Profit factor",
    "Expectancy",
    "Return",
    "Max drawdown",
    "Sharpe",
    "Exposure",
];

fn summary_row(name: &str, m: &Metrics) -> Vec<String> {
    vec![
        name.to_owned(),
        m.trades.to_string(),
        usd(m.net_pnl),
        percent(m.win_rate),
        number(m.profit_factor),
        number(m.expectancy),
        percent(m.total_return),
        percent(Some(m.max_drawdown)),
        number(m.sharpe),
        percent(m.exposure),
    ]
}

fn group_table(out: &mut String, title: &str, groups: &[GroupStats]) {
    let _ = write!(out, "<div class=\"group\"><h3>{}</h3>", escape(title));
    table(
        out,
        &["", "Trades", "P&L", "Win rate", "Average"],
        groups.iter().map(|group| {
            vec![
                group.key.clone(),
                group.trades.to_string(),
                usd(group.pnl),
                percent(Some(group.win_rate)),
                usd(group.average_pnl),
            ]
        }),
    );
    out.push_str("</div>");
}

fn figure(out: &mut String, svg: &str) {
    let _ = writeln!(out, "<figure>{svg}</figure>");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;\
color:#222;padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{padding:.25rem .6rem;\
border-bottom:1px solid #e4e4e4;text-align:right}th:first-child,td:first-child{text-align:left}\
thead th{background:#f3f3f3}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}\
.groups{display:flex;flex-wrap:wrap;gap:1.5rem}.note{color:#666;font-size:.85rem}";

/// The most trades listed in the report's trade table; the CSV and Parquet exports hold them all.
const LISTED_TRADES: usize = 1000;

/// Renders the report as one HTML document.
pub fn render_report(report: &ReportData) -> Result<String, AnalyticsError> {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape(&report.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    if let (Some(first), Some(last)) = (report.equity.first(), report.equity.last()) {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} to {} (UTC), {} equity points, {} trades</p>",
            first.time.format("%Y-%m-%d %H:%M"),
            last.time.format("%Y-%m-%d %H:%M"),
            report.equity.len(),
            report.trades.len()
        );
    }

    out.push_str("<h2>Parameters</h2>\n");
    table(
        &mut out,
        &["Parameter", "Value"],
        report
            .parameters
            .iter()
            .map(|(key, value)| vec![key.clone(), value.clone()]),
    );

    out.push_str("<h2>Metrics</h2>\n");
    table(
        &mut out,
        &["Metric", "Value"],
        metric_rows(&report.metrics)
            .into_iter()
            .map(|(label, value)| vec![label.to_owned(), value]),
    );

    out.push_str("<h2>Equity and drawdown</h2>\n");
    figure(&mut out, &charts::equity(&report.equity)?);
    figure(&mut out, &charts::drawdown(&report.equity)?);

    out.push_str("<h2>Per pair</h2>\n");
    let pair_pnl: Vec<(String, f64)> = report
        .by_pair
        .iter()
        .map(|(pair, m)| (pair.clone(), m.net_pnl))
        .collect();
    figure(&mut out, &charts::pair_pnl(&pair_pnl)?);
    table(
        &mut out,
        &SUMMARY_HEADER,
        report.by_pair.iter().map(|(pair, m)| summary_row(pair, m)),
    );
    out.push_str(
        "<p class=\"note\">A pair's return, drawdown and Sharpe are those of the run's starting \
         equity plus the pair's realised P&amp;L; its exposure is the share of bars with a trade \
         of the pair open.</p>\n",
    );

    out.push_str("<h2>Per period</h2>\n");
    table(
        &mut out,
        &SUMMARY_HEADER,
        report
            .by_period
            .iter()
            .map(|(period, m)| summary_row(period, m)),
    );

    out.push_str("<h2>Trade analysis</h2>\n<div class=\"groups\">");
    group_table(&mut out, "By pair", &report.analysis.by_pair);
    group_table(
        &mut out,
        "By entry hour (New York)",
        &report.analysis.by_entry_hour,
    );
    group_table(
        &mut out,
        "By entry weekday (New York)",
        &report.analysis.by_weekday,
    );
    group_table(
        &mut out,
        "By holding time",
        &report.analysis.by_holding_time,
    );
    out.push_str("</div>\n");

    out.push_str("<h2>z-scores</h2>\n");
    if report.z_paths.is_empty() {
        out.push_str("<p class=\"note\">No z-score paths in this run.</p>\n");
    }
    for path in &report.z_paths {
        figure(&mut out, &charts::z_score(path)?);
    }

    out.push_str("<h2>Trades</h2>\n");
    if report.trades.len() > LISTED_TRADES {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {LISTED_TRADES} of {} trades.</p>",
            report.trades.len()
        );
    }
    table(
        &mut out,
        &[
            "Pair",
            "Entry (UTC)",
            "Exit (UTC)",
            "Direction",
            "P&L",
            "Entry z",
            "Exit z",
            "Reason",
        ],
        report.trades.iter().take(LISTED_TRADES).map(|trade| {
            vec![
                trade.pair.clone(),
                trade.entry_time.format("%Y-%m-%d %H:%M").to_string(),
                trade.exit_time.format("%Y-%m-%d %H:%M").to_string(),
                trade.direction.clone(),
                usd(trade.pnl),
                usd(trade.entry_z),
                usd(trade.exit_z),
                trade.exit_reason.clone(),
            ]
        }),
    );
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_markup_character() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn durations_read_as_days_hours_and_minutes() {
        assert_eq!(duration(0), "0d 0h 0m");
        assert_eq!(duration(21_038_400), "243d 12h 0m");
    }

    #[test]
    fn undefined_values_show_as_a_dash_never_nan() {
        assert_eq!(percent(None), "—");
        assert_eq!(usd(f64::NAN), "—");
        assert_eq!(percent(Some(0.1234)), "12.34%");
    }
}
