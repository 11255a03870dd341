//! Reading a step's declared reports: each kind's globs, and missing, empty or corrupt
//! reports named.

use super::*;
use crate::spec::StepSpec;

const JUNIT: &str = r#"<testsuite name="pytest" tests="2"><testcase name="a"/><testcase name="b"><failure message="boom">x</failure></testcase></testsuite>"#;
const COBERTURA: &str =
    r#"<?xml version="1.0" ?><coverage lines-valid="10" lines-covered="8"><packages/></coverage>"#;

fn spec(reports: &[(&str, &[&str])]) -> StepSpec {
    StepSpec {
        image: "i".into(),
        commands: vec!["true".into()],
        reports: reports
            .iter()
            .map(|(k, p)| (k.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect(),
        ..StepSpec::default()
    }
}

fn collected(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(p, f)| (p.to_string(), f.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[test]
fn a_file_named_by_one_kind_is_not_read_by_another_kinds_glob() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("reports")).unwrap();
    std::fs::write(dir.path().join("reports/junit.xml"), JUNIT).unwrap();
    std::fs::write(dir.path().join("reports/coverage.xml"), COBERTURA).unwrap();
    let spec = spec(&[
        ("junit", &["reports/*.xml"]),
        ("coverage", &["reports/coverage.xml"]),
    ]);
    let got = collected(&[
        (
            "reports/*.xml",
            &["reports/coverage.xml", "reports/junit.xml"],
        ),
        ("reports/coverage.xml", &["reports/coverage.xml"]),
    ]);
    let read = read(&spec, &got, dir.path());
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    let tests = read.tests.unwrap();
    assert_eq!((tests.total, tests.failed), (2, 1));
    assert_eq!(read.failures[0].message, "boom");
    let coverage = read.coverage.unwrap();
    assert_eq!((coverage.lines_covered, coverage.lines_total), (8, 10));
}

#[test]
fn missing_empty_and_corrupt_reports_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.xml"), "  \n").unwrap();
    std::fs::write(dir.path().join("cut.xml"), "<testsuite><testcase name=").unwrap();
    std::fs::write(dir.path().join("lcov.info"), "garbage\n").unwrap();
    std::fs::write(dir.path().join("x.sarif"), "{\"runs\": 3}").unwrap();
    let spec = spec(&[
        ("junit", &["empty.xml", "cut.xml", "reports/*.xml"]),
        ("coverage", &["lcov.info"]),
        ("sarif", &["x.sarif"]),
    ]);
    let got = collected(&[
        ("empty.xml", &["empty.xml"]),
        ("cut.xml", &["cut.xml"]),
        ("reports/*.xml", &[]),
        ("lcov.info", &["lcov.info"]),
        ("x.sarif", &["x.sarif"]),
    ]);
    let read = read(&spec, &got, dir.path());
    let all = read.problems.join("\n");
    assert_eq!(read.problems.len(), 5, "{all}");
    assert!(all.contains("reports.junit: empty.xml is empty"), "{all}");
    assert!(all.contains("reports.junit: cut.xml: "), "{all}");
    assert!(
        all.contains("reports.junit: `reports/*.xml` matched no file"),
        "{all}"
    );
    assert!(all.contains("reports.coverage: lcov.info: "), "{all}");
    assert!(all.contains("reports.sarif: x.sarif: "), "{all}");
    assert!(read.tests.is_none() && read.coverage.is_none());
}
