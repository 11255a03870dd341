//! Cobertura parser tests on coverage.py 6.5's real reports, captured for the test
//! plugin (see `plugins/test/tests/fixtures/TOOLS.txt`) and read from there.

use super::*;

const SAMPLES: &[u8] = include_bytes!("../../../test/tests/fixtures/coverage-samples.xml");
const PYTHON_APP: &[u8] =
    include_bytes!("../../../test/tests/fixtures/coverage-python-app-attempt2.xml");

#[test]
fn samples_report_thirteen_of_fifteen_lines() {
    let coverage = parse(SAMPLES).unwrap();
    assert_eq!(
        coverage,
        LineCoverage {
            covered: 13,
            total: 15
        }
    );
    assert!((coverage.percent() - 86.666).abs() < 0.01);
}

#[test]
fn python_app_is_fully_covered() {
    assert_eq!(
        parse(PYTHON_APP).unwrap(),
        LineCoverage {
            covered: 13,
            total: 13
        }
    );
}

#[test]
fn line_elements_are_counted_without_root_totals() {
    // The samples report with the root's totals removed (derived by hand).
    let text = std::str::from_utf8(SAMPLES).unwrap();
    let stripped = text
        .replace(r#"lines-valid="15" lines-covered="13" "#, "")
        .replace("<methods/>", "<methods><method name=\"m\"><lines><line number=\"4\" hits=\"1\"/></lines></method></methods>");
    assert_eq!(
        parse(stripped.as_bytes()).unwrap(),
        LineCoverage {
            covered: 13,
            total: 15
        }
    );
}

#[test]
fn nothing_measured_counts_as_full() {
    let coverage = parse(br#"<coverage lines-valid="0" lines-covered="0"/>"#).unwrap();
    assert_eq!(coverage.percent(), 100.0);
}

// Bad input below is derived from the real samples report: cut, garbled or replaced.

#[test]
fn truncated_report_is_an_error() {
    let cut = &SAMPLES[..SAMPLES.len() - 40];
    assert_eq!(
        parse(cut).unwrap_err(),
        CoverageError::Truncated {
            offset: cut.len() as u64
        }
    );
    let mid_tag = &SAMPLES[..SAMPLES.len() / 2];
    assert!(matches!(
        parse(mid_tag).unwrap_err(),
        CoverageError::Truncated { .. }
    ));
}

#[test]
fn garbled_and_foreign_reports_are_errors() {
    let text = std::str::from_utf8(SAMPLES).unwrap();
    let garbled = text.replacen("</class>", "</klass>", 1);
    let error = parse(garbled.as_bytes()).unwrap_err();
    assert!(matches!(error, CoverageError::Invalid { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("invalid coverage XML at byte")
    );
    let junit = include_bytes!("../../../test/tests/fixtures/pytest-samples.xml");
    assert_eq!(
        parse(junit).unwrap_err().to_string(),
        "wrong root element <testsuites> at byte 38: expected Cobertura's <coverage>"
    );
    assert_eq!(parse(b"").unwrap_err(), CoverageError::Empty);
    assert_eq!(
        parse(b"<?xml version=\"1.0\" ?>\n").unwrap_err(),
        CoverageError::Empty
    );
}
