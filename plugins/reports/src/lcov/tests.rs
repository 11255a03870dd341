//! LCOV reader tests on tracefiles in the shapes istanbul (nyc/c8), llvm-cov and
//! summarising tools print; bad input is derived from them.

use super::*;

const ISTANBUL: &[u8] = include_bytes!("../../tests/fixtures/lcov/istanbul-node-app.info");
const TWO_TESTS: &[u8] = include_bytes!("../../tests/fixtures/lcov/two-tests-one-file.info");
const SUMMARY: &[u8] = include_bytes!("../../tests/fixtures/lcov/summary-only.info");

#[test]
fn da_entries_are_counted_over_every_file() {
    assert_eq!(
        parse(ISTANBUL).unwrap(),
        LineCoverage {
            covered: 6,
            total: 8
        }
    );
}

#[test]
fn records_of_one_file_merge_per_line() {
    // Each test covers half the lines; together they cover all four, once each.
    assert_eq!(
        parse(TWO_TESTS).unwrap(),
        LineCoverage {
            covered: 4,
            total: 4
        }
    );
}

#[test]
fn lf_and_lh_count_only_without_da_entries() {
    assert_eq!(
        parse(SUMMARY).unwrap(),
        LineCoverage {
            covered: 31,
            total: 40
        }
    );
    // The istanbul records' LF/LH agree with their DA lines, and are not added twice.
    let text = String::from_utf8_lossy(ISTANBUL).replace("LF:4\nLH:3", "LF:99\nLH:98");
    assert_eq!(parse(text.as_bytes()).unwrap().total, 8);
}

#[test]
fn empty_input_is_an_error() {
    assert_eq!(parse(b"").unwrap_err(), LcovError::Empty);
    assert_eq!(parse(b"\n  \n").unwrap_err(), LcovError::Empty);
    assert_eq!(parse(b"TN:\n").unwrap_err(), LcovError::Empty);
}

#[test]
fn a_cut_tracefile_is_an_error_naming_the_open_record() {
    let text = String::from_utf8_lossy(ISTANBUL);
    let cut = text.rsplit_once("end_of_record").unwrap().0;
    let error = parse(cut.as_bytes()).unwrap_err();
    assert_eq!(
        error,
        LcovError::Unterminated {
            line: 21,
            file: "/workspace/src/index.js".into()
        }
    );
    assert!(error.to_string().starts_with("truncated LCOV tracefile"));
    // A new SF: before the last record ended is the same fault.
    let joined = text.replacen("end_of_record\n", "", 1);
    assert!(matches!(
        parse(joined.as_bytes()).unwrap_err(),
        LcovError::Unterminated { line: 2, .. }
    ));
}

#[test]
fn non_numeric_fields_name_their_line() {
    let text = String::from_utf8_lossy(ISTANBUL).replace("DA:9,0", "DA:9,zero");
    let error = parse(text.as_bytes()).unwrap_err();
    assert_eq!(
        error,
        LcovError::NotANumber {
            line: 13,
            tag: "DA".into(),
            value: "zero".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "LCOV DA: at line 13 has \"zero\" where a whole number belongs"
    );
    let text = String::from_utf8_lossy(SUMMARY).replace("LH:31", "LH:");
    assert!(matches!(
        parse(text.as_bytes()).unwrap_err(),
        LcovError::NotANumber { line: 4, .. }
    ));
}

#[test]
fn other_files_are_not_lcov() {
    let xml = b"<?xml version=\"1.0\" ?>\n<coverage/>";
    assert!(matches!(
        parse(xml).unwrap_err(),
        LcovError::NotLcov { line: 1, .. }
    ));
    assert!(matches!(
        parse(b"DA:1,1\nend_of_record\n").unwrap_err(),
        LcovError::OutsideRecord { line: 1, .. }
    ));
}

#[test]
fn absurd_summary_totals_saturate_instead_of_overflowing() {
    // Two summary records whose LF/LH add up past u64: a debug build panicked on the
    // addition, a release build wrapped around to a tiny total.
    let huge = u64::MAX;
    let text = format!(
        "SF:a.py\nLF:{huge}\nLH:{huge}\nend_of_record\nSF:b.py\nLF:{huge}\nLH:1\nend_of_record\n"
    );
    let coverage = parse(text.as_bytes()).unwrap();
    assert_eq!(coverage.total, u64::MAX);
    assert!(coverage.covered <= coverage.total, "{coverage:?}");
    assert!((0.0..=100.0).contains(&coverage.percent()));
}
