//! Parser tests on whole reports kept under `tests/fixtures/`: suites that failed as a
//! whole, tests disabled by status, and a CDATA section that never closes.

use crate::{ParseError, Totals, parse};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_module_that_fails_to_import_is_an_errored_test() {
    let run = parse(&fixture("pytest-module-import-error.xml")).unwrap();
    assert_eq!(
        run.totals,
        Totals {
            total: 1,
            passed: 0,
            failed: 0,
            errors: 1,
            skipped: 0,
            duration_ms: 81,
        }
    );
    let failure = &run.failures[0];
    assert_eq!(failure.suite, "tests.test_orders");
    assert_eq!(failure.name, "tests.test_orders");
    assert_eq!(
        failure.message,
        "ImportError while importing test module '/workspace/tests/test_orders.py'."
    );
    assert_eq!(failure.file.as_deref(), Some("tests/test_orders.py"));
    assert_eq!(failure.line, Some(3));
}

#[test]
fn a_nested_suite_that_fails_to_load_counts_once_beside_its_siblings() {
    let run = parse(&fixture("ant-nested-suite-error.xml")).unwrap();
    // Two passing tests in the sibling suite; the broken suite's two <error>
    // elements are one errored test.
    assert_eq!(
        (run.totals.total, run.totals.passed, run.totals.errors),
        (3, 2, 1)
    );
    assert_eq!(run.totals.duration_ms, 412);
    assert_eq!(run.failures.len(), 1);
    let failure = &run.failures[0];
    assert_eq!(failure.suite, "com.example.shop.OrderDbTest");
    assert_eq!(
        failure.message,
        "Could not initialize class com.example.shop.Db"
    );
    // <system-err> text is not part of the error.
    assert!(!failure.message.contains("connection refused"));
}

#[test]
fn a_suite_level_failure_without_a_suite_name_still_counts() {
    let run = parse(br#"<testsuite><failure message="setUpClass failed"/></testsuite>"#).unwrap();
    assert_eq!((run.totals.total, run.totals.errors), (1, 1));
    assert_eq!(run.failures[0].name, "(test suite)");
    assert_eq!(run.failures[0].message, "setUpClass failed");
    // A result element inside something else in the suite is not the suite's.
    let run =
        parse(br#"<testsuite name="s"><properties><error/></properties></testsuite>"#).unwrap();
    assert_eq!(run.totals.total, 0);
}

#[test]
fn disabled_and_not_run_test_cases_are_skipped() {
    let run = parse(&fixture("googletest-disabled.xml")).unwrap();
    assert_eq!(
        (
            run.totals.total,
            run.totals.passed,
            run.totals.skipped,
            run.totals.failed
        ),
        (4, 2, 2, 0)
    );
    // A failure inside a disabled case still fails it.
    let run = parse(
        br#"<testsuite><testcase name="t" status="disabled"><failure message="ran anyway"/></testcase></testsuite>"#,
    )
    .unwrap();
    assert_eq!((run.totals.failed, run.totals.skipped), (1, 0));
}

#[test]
fn unclosed_cdata_is_named_not_called_truncated() {
    let xml = fixture("jest-unclosed-cdata.xml");
    let error = parse(&xml).unwrap_err();
    let start = xml.windows(9).position(|w| w == b"<![CDATA[").unwrap() as u64;
    assert_eq!(error, ParseError::UnclosedCData { offset: start });
    assert_eq!(error.offset(), start);
    let text = error.to_string();
    assert!(text.starts_with("unclosed CDATA section at byte"), "{text}");
    assert!(!text.contains("truncated"));
}
