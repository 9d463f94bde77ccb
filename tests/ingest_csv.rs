//! CSV ingestion into a real SQLite store and through the real binary: every shared file lands
//! with the right counts, a second import adds nothing, bad rows are reported one by one and kept
//! as data-quality issues, and `--strict` refuses a file with any bad row.

mod support;

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use tradehost::clock::Clock;
use tradehost::domain::{Symbol, Timeframe};
use tradehost::ingest::csv::import_file;
use tradehost::market::csv::{CsvOptions, DateFormat};
use tradehost::store::{BarQuery, LoadRunStatus, Severity};

fn clock() -> Clock {
    Clock::manual(
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
            .single()
            .expect("valid time"),
    )
}

/// A file with one good row on each side of every kind of bad row.
const CRAFTED: &str = "\
Date,Open,High,Low,Close,Volume
2024-01-02,10,11,9,10.5,1000
2024-01-03,10,11,9,NaN,1000
2024-01-04,10,11,9,-2,1000
2024-01-05,10,9,11,10,1000
2024-01-08,10,11,9,10.5,1000
2024-01-08,10,11,9,10.6,1000
2024-01-05,10,11,9,10.5,1000
2024-13-45,10,11,9,10.5,1000
2024-01-09,10,11,9
2024-01-10,10,11,9,10.5,-5
2024-01-11,12,11.5,9,10,1000
2024-01-12,10,11,9,10.5,1200
";

fn write_crafted(folder: &Path) -> std::path::PathBuf {
    let path = folder.join("crafted-bad.csv");
    std::fs::write(&path, CRAFTED).expect("write crafted file");
    path
}

#[tokio::test]
async fn every_shared_file_imports_once_and_a_second_import_adds_nothing() {
    let Some(data) = support::shared_data() else {
        return;
    };
    let database = support::sqlite().await;
    let store = &database.store;
    let files: [(&str, Option<&str>, Option<DateFormat>, u64); 8] = [
        ("pairs/ANZ-ADB.csv", None, None, 842),
        ("pairs/BKD_ESC_2009_2011.csv", None, None, 2010),
        ("pairs/XLF-XLK.csv", None, None, 1452),
        ("pairs/crude.csv", None, None, 786),
        ("pairs/gld_gdx_data.csv", None, None, 150),
        // 4520 rows of two symbols less 623 empty cells (days one of them has no price).
        (
            "pairs/shell-rdp-close_USD.csv",
            None,
            Some(DateFormat::DayMonthYear),
            8417,
        ),
        ("bars/orcl-1995-2014.txt", None, None, 5036),
        ("bars/2006-min-005.txt", Some("IDX"), None, 2142),
    ];
    let mut total = 0;
    for (file, symbol, date_format, bars) in files {
        let options = CsvOptions {
            symbol: symbol.map(|text| Symbol::parse(text).expect("valid symbol")),
            date_format,
            ..CsvOptions::default()
        };
        let path = data.join(file);
        let first = import_file(store, &clock(), &path, &options, false)
            .await
            .expect(file);
        assert_eq!(first.status, LoadRunStatus::Completed, "{file}");
        assert_eq!(
            (first.summary.bars_inserted, first.summary.bars_existing),
            (bars, 0),
            "{file}"
        );
        assert!(
            first.rejected.is_empty(),
            "{file}: {:?}",
            first.rejected.first()
        );
        let second = import_file(store, &clock(), &path, &options, false)
            .await
            .expect(file);
        assert_eq!(
            (second.summary.bars_inserted, second.summary.bars_existing),
            (0, bars),
            "{file}"
        );
        total += bars;
    }
    assert_eq!(store.count_bars(None).await.expect("count"), total);

    // Values survive the trip digit for digit: ORCL's first bar and GDX's eight decimals.
    let orcl = store
        .bars(&BarQuery::all(
            Symbol::parse("ORCL").expect("valid"),
            Timeframe::DAY,
        ))
        .await
        .expect("read");
    assert_eq!(orcl.len(), 5036);
    let first = &orcl[0];
    assert_eq!(
        first.time,
        Utc.with_ymd_and_hms(1995, 1, 3, 5, 0, 0)
            .single()
            .expect("valid")
    );
    assert_eq!(
        [first.open, first.high, first.low, first.close].map(|price| price.to_string()),
        ["2.179012", "2.191358", "2.117284", "2.117284"]
    );
    assert_eq!(first.volume.to_string(), "36301200");
    let gdx = store
        .bars(&BarQuery::all(
            Symbol::parse("GDX").expect("valid"),
            Timeframe::DAY,
        ))
        .await
        .expect("read");
    assert_eq!(gdx.len(), 75);
    assert_eq!(gdx[0].close.to_string(), "13.68765831");
    let runs = store.load_runs(100).await.expect("load runs");
    assert_eq!(runs.len(), 16);
    assert!(
        runs.iter()
            .all(|run| run.status == LoadRunStatus::Completed)
    );
    // The shell file's empty cells are stored as warnings of its first load run.
    let shell_run = runs
        .iter()
        .rev()
        .find(|run| run.target.ends_with("shell-rdp-close_USD.csv"))
        .expect("shell run");
    let warnings = store
        .quality_issues_of_run(shell_run.id)
        .await
        .expect("issues");
    assert_eq!(warnings.len(), 623);
    assert!(
        warnings
            .iter()
            .all(|issue| issue.severity == Severity::Warning && issue.kind == "missing_price")
    );
}

#[tokio::test]
async fn a_crafted_bad_file_is_reported_row_by_row_and_its_good_rows_are_kept() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = write_crafted(folder.path());
    let database = support::sqlite().await;
    let store = &database.store;
    let options = CsvOptions {
        symbol: Some(Symbol::parse("BAD").expect("valid")),
        ..CsvOptions::default()
    };
    let report = import_file(store, &clock(), &path, &options, false)
        .await
        .expect("import");
    let rejected: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|row| (row.line, row.reason.as_str()))
        .collect();
    let expected_lines = [3, 4, 5, 7, 8, 9, 10, 11, 12];
    assert_eq!(
        rejected.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        expected_lines,
        "{rejected:#?}"
    );
    let reason = |line: u64| {
        rejected
            .iter()
            .find(|(at, _)| *at == line)
            .map(|(_, reason)| *reason)
            .unwrap_or_default()
    };
    assert!(reason(3).contains("not a number"), "{}", reason(3));
    assert!(reason(4).contains("not a positive price"), "{}", reason(4));
    assert!(reason(5).contains("below low"), "{}", reason(5));
    assert!(reason(7).contains("duplicate"), "{}", reason(7));
    assert!(reason(8).contains("out of order"), "{}", reason(8));
    assert!(reason(9).contains("2024-13-45"), "{}", reason(9));
    assert!(reason(10).contains("fields"), "{}", reason(10));
    assert!(reason(11).contains("volume"), "{}", reason(11));
    assert!(reason(12).contains("outside the range"), "{}", reason(12));

    // The three good rows are stored; every bad one is a stored data-quality error.
    assert_eq!(report.summary.bars_inserted, 3);
    let stored = store
        .bars(&BarQuery::all(
            Symbol::parse("BAD").expect("valid"),
            Timeframe::DAY,
        ))
        .await
        .expect("read");
    assert_eq!(
        stored
            .iter()
            .map(|bar| bar.close.to_string())
            .collect::<Vec<_>>(),
        ["10.5", "10.5", "10.5"]
    );
    let issues = store
        .quality_issues_of_run(report.load_run_id)
        .await
        .expect("issues");
    assert_eq!(
        issues
            .iter()
            .map(|issue| issue.line.unwrap_or_default())
            .collect::<Vec<_>>(),
        expected_lines
    );
    assert!(issues.iter().all(|issue| issue.severity == Severity::Error));

    // Strict mode refuses the file whole: a new database stays empty.
    let strict_database = support::sqlite().await;
    let strict = import_file(&strict_database.store, &clock(), &path, &options, true)
        .await
        .expect("import");
    assert_eq!(strict.status, LoadRunStatus::Refused);
    assert_eq!(
        strict_database.store.count_bars(None).await.expect("count"),
        0
    );
    let runs = strict_database.store.load_runs(1).await.expect("runs");
    assert_eq!(runs[0].status, LoadRunStatus::Refused);
    assert!(
        runs[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("9 bad rows")
    );
}

#[test]
fn the_command_line_reports_each_bad_row_as_file_line_reason() {
    let project = tempfile::tempdir().expect("project folder");
    let path = write_crafted(project.path());
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tradehost"))
            .args([
                "--root",
                &project.path().display().to_string(),
                "ingest",
                "csv",
            ])
            .arg(&path)
            .args(["--symbol", "BAD"])
            .args(extra)
            .env_remove("DATABASE_URL")
            .output()
            .expect("run tradehost ingest csv")
    };
    let output = run(&[]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let file = path.display().to_string();
    for line in [3, 4, 5, 7, 8, 9, 10, 11, 12] {
        assert!(
            stderr.contains(&format!("{file}:{line}: ")),
            "line {line} missing from:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("3 bars new, 0 already stored, 9 rows rejected"),
        "{stdout}"
    );
    // Again: nothing new. Strict: refused with a failing exit status.
    let again = run(&[]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 bars new, 3 already stored"));
    let strict = run(&["--strict"]);
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stdout).contains("REFUSED"));
    // A file-level problem names the file and what to do.
    let missing = Command::new(env!("CARGO_BIN_EXE_tradehost"))
        .args([
            "--root",
            &project.path().display().to_string(),
            "ingest",
            "csv",
            "no-such-file.csv",
        ])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file.csv"));
}
