//! The report's charts as SVG text, drawn by plotters' SVG backend (which escapes the text it
//! writes, so pair names cannot break out of a label).

use std::error::Error;
use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};
use plotters::prelude::*;

use super::error::AnalyticsError;
use super::records::{EquityPoint, ZPath};

const SIZE: (u32, u32) = (960, 320);
const FONT: &str = "sans-serif";

type Drawn = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Draws one chart into an SVG string; `draw` gets a white canvas.
fn svg(name: &str, draw: impl FnOnce(&Area) -> Drawn) -> Result<String, AnalyticsError> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Box::<dyn Error>::from)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Box::<dyn Error>::from));
        drawn.map_err(|error| AnalyticsError::Chart {
            chart: name.to_owned(),
            reason: error.to_string(),
        })?;
    }
    Ok(text)
}

/// A chart with nothing to plot says so instead of drawing empty axes.
fn empty(root: &Area, title: &str) -> Drawn {
    root.draw(&Text::new(
        format!("{title}: no data"),
        (20, 20),
        (FONT, 16).into_font(),
    ))?;
    Ok(())
}

/// The time span of the points, widened to an hour when it is a single instant.
fn time_range(times: impl Iterator<Item = DateTime<Utc>> + Clone) -> Range<DateTime<Utc>> {
    let first = times.clone().min().unwrap_or_default();
    let last = times.max().unwrap_or_default();
    if last > first {
        first..last
    } else {
        first - TimeDelta::minutes(30)..first + TimeDelta::minutes(30)
    }
}

/// The span of the values with 5% padding, widened when flat so the axis is never empty.
fn value_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (low, high) = values
        .filter(|value| value.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
            (low.min(value), high.max(value))
        });
    if !low.is_finite() || !high.is_finite() {
        return -1.0..1.0;
    }
    let pad = if high > low {
        (high - low) * 0.05
    } else {
        low.abs().max(1.0) * 0.05
    };
    low - pad..high + pad
}

/// Dollar axes in whole units (`0.0` adds nothing but clutter at these magnitudes).
fn whole(value: &f64) -> String {
    format!("{value:.0}")
}

/// Percent axes; adding 0.0 turns −0.0 into 0.0, so the top label is not `-0.00%`.
fn percent_label(value: &f64) -> String {
    format!("{:.2}%", value + 0.0)
}

fn day_label(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%d").to_string()
}

/// The equity curve.
pub(crate) fn equity(points: &[EquityPoint]) -> Result<String, AnalyticsError> {
    let series: Vec<(DateTime<Utc>, f64)> = points
        .iter()
        .filter(|point| point.equity.is_finite())
        .map(|point| (point.time, point.equity))
        .collect();
    svg("equity", |root| {
        if series.is_empty() {
            return empty(root, "Equity");
        }
        let mut chart = ChartBuilder::on(root)
            .caption("Equity (USD)", (FONT, 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(
                time_range(series.iter().map(|(time, _)| *time)),
                value_range(series.iter().map(|(_, value)| *value)),
            )?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&day_label)
            .y_label_formatter(&whole)
            .draw()?;
        chart.draw_series(LineSeries::new(
            series.iter().copied(),
            BLUE.stroke_width(2),
        ))?;
        Ok(())
    })
}

/// The underwater chart: percent below the running peak at each point.
pub(crate) fn drawdown(points: &[EquityPoint]) -> Result<String, AnalyticsError> {
    let mut peak = f64::NEG_INFINITY;
    let series: Vec<(DateTime<Utc>, f64)> = points
        .iter()
        .filter(|point| point.equity.is_finite())
        .map(|point| {
            peak = peak.max(point.equity);
            let below = if peak > 0.0 {
                (point.equity - peak) / peak * 100.0
            } else {
                0.0
            };
            (point.time, below)
        })
        .collect();
    svg("drawdown", |root| {
        if series.is_empty() {
            return empty(root, "Drawdown");
        }
        let lowest = series.iter().map(|(_, value)| *value).fold(0.0, f64::min);
        let mut chart = ChartBuilder::on(root)
            .caption("Drawdown (% below peak)", (FONT, 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(
                time_range(series.iter().map(|(time, _)| *time)),
                value_range([lowest, 0.0].into_iter()),
            )?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&day_label)
            .y_label_formatter(&percent_label)
            .draw()?;
        chart.draw_series(
            AreaSeries::new(series.iter().copied(), 0.0, RED.mix(0.25)).border_style(RED),
        )?;
        Ok(())
    })
}

/// The fewest bar slots the per-pair P&L chart divides its width into.
const MIN_BAR_SLOTS: usize = 3;

/// Net P&L per pair as bars, green above zero and red below.
pub(crate) fn pair_pnl(pairs: &[(String, f64)]) -> Result<String, AnalyticsError> {
    svg("pair P&L", |root| {
        if pairs.is_empty() {
            return empty(root, "P&L per pair");
        }
        let values = pairs.iter().map(|(_, pnl)| *pnl).chain([0.0]);
        // At least three slots, the pairs centred in them, so one or two pairs get bars as wide
        // as one of three rather than the whole chart.
        let slots = pairs.len().max(MIN_BAR_SLOTS);
        let offset = (slots - pairs.len()) / 2;
        let mut chart = ChartBuilder::on(root)
            .caption("Net P&L per pair (USD)", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(
                // Integer ranges are inclusive in plotters: n slots are the segments 0..=n−1.
                (0..slots - 1).into_segmented(),
                value_range(values),
            )?;
        let name = |value: &SegmentValue<usize>| match value {
            SegmentValue::CenterOf(slot) => slot
                .checked_sub(offset)
                .and_then(|index| pairs.get(index))
                .map(|(pair, _)| pair.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(slots)
            .x_label_formatter(&name)
            .y_label_formatter(&whole)
            .draw()?;
        chart.draw_series(pairs.iter().enumerate().map(|(index, (_, pnl))| {
            let colour = if *pnl >= 0.0 { GREEN } else { RED };
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(offset + index), 0.0),
                    (SegmentValue::Exact(offset + index + 1), *pnl),
                ],
                colour.mix(0.7).filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))?;
        Ok(())
    })
}

/// A pair's z-score with its thresholds (± entry, exit, stop) as dashed lines and its entries and
/// exits as markers.
pub(crate) fn z_score(path: &ZPath) -> Result<String, AnalyticsError> {
    let series: Vec<(DateTime<Utc>, f64)> = path
        .times
        .iter()
        .zip(&path.z)
        .filter(|(_, z)| z.is_finite())
        .map(|(time, z)| (*time, *z))
        .collect();
    let title = format!("z-score: {}", path.pair);
    svg(&title, |root| {
        let marks = path.entries.iter().chain(&path.exits);
        let times = series
            .iter()
            .map(|(time, _)| *time)
            .chain(marks.clone().map(|(time, _)| *time));
        if times.clone().next().is_none() {
            return empty(root, &title);
        }
        let thresholds: Vec<(f64, RGBColor, &str)> = [
            (path.entry, RGBColor(230, 140, 0), "entry"),
            (path.exit, RGBColor(0, 140, 70), "exit"),
            (path.stop, RGBColor(200, 0, 0), "stop"),
        ]
        .into_iter()
        .filter(|(level, _, _)| level.is_finite())
        .collect();
        let values = series
            .iter()
            .map(|(_, z)| *z)
            .chain(marks.map(|(_, z)| *z))
            .chain(
                thresholds
                    .iter()
                    .flat_map(|(level, _, _)| [*level, -*level]),
            );
        let range = time_range(times);
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(range.clone(), value_range(values))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&day_label)
            .draw()?;
        chart
            .draw_series(LineSeries::new(series.iter().copied(), BLUE))?
            .label("z")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
        for (level, colour, name) in &thresholds {
            for signed in [*level, -*level] {
                let line = [(range.start, signed), (range.end, signed)];
                let drawn = chart.draw_series(DashedLineSeries::new(line, 6, 4, colour.into()))?;
                if signed == *level {
                    let colour = *colour;
                    drawn
                        .label(format!("±{name} {level}"))
                        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
                }
            }
        }
        chart
            .draw_series(
                path.entries
                    .iter()
                    .filter(|(_, z)| z.is_finite())
                    .map(|point| TriangleMarker::new(*point, 7, GREEN.filled())),
            )?
            .label("entries")
            .legend(|(x, y)| TriangleMarker::new((x + 8, y), 6, GREEN.filled()));
        chart
            .draw_series(
                path.exits
                    .iter()
                    .filter(|(_, z)| z.is_finite())
                    .map(|point| Cross::new(*point, 6, BLACK.stroke_width(2))),
            )?
            .label("exits")
            .legend(|(x, y)| Cross::new((x + 8, y), 5, BLACK.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_series_still_gets_an_axis() {
        let range = value_range([5.0, 5.0].into_iter());
        assert!(range.start < 5.0 && range.end > 5.0);
        assert_eq!(value_range(std::iter::empty()), -1.0..1.0);
        assert_eq!(value_range([f64::NAN].into_iter()), -1.0..1.0);
    }

    #[test]
    fn plotters_escapes_the_labels_it_writes() {
        let svg = pair_pnl(&[("<b>&".to_owned(), 3.0), ("A/B".to_owned(), -1.0)]).expect("svg");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("&lt;b&gt;&amp;"), "{svg}");
        assert!(!svg.contains("<b>"));
    }

    /// The widths of the bars (plotters writes each as a `<rect>` with the bars' opacity, 0.7;
    /// the white background is opaque).
    fn bar_widths(svg: &str) -> Vec<f64> {
        svg.split("<rect")
            .skip(1)
            .filter(|element| element.contains("opacity=\"0.7\""))
            .filter_map(|element| {
                let width = element.split("width=\"").nth(1)?.split('"').next()?;
                width.parse().ok()
            })
            .collect()
    }

    #[test]
    fn a_lone_pair_gets_a_bar_as_wide_as_one_of_three() {
        let one = pair_pnl(&[("KO/PEP".to_owned(), 120.0)]).expect("svg");
        let three = pair_pnl(&[
            ("KO/PEP".to_owned(), 120.0),
            ("XOM/CVX".to_owned(), -40.0),
            ("GLD/GDX".to_owned(), 10.0),
        ])
        .expect("svg");
        let (one, three) = (bar_widths(&one), bar_widths(&three));
        assert_eq!((one.len(), three.len()), (1, 3), "{one:?} {three:?}");
        assert!(
            (one[0] - three[0]).abs() <= 1.0,
            "a lone bar {} wide, one of three {}",
            one[0],
            three[0]
        );
    }
}
