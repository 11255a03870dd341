//! Parser tests on small documents shaped like the reports pytest, mocha and jest write.

use crate::{Failure, MESSAGE_CAP, ParseError, Totals, parse};

const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" errors="0" failures="1" skipped="1" tests="99" time="0.734"
             timestamp="2025-03-04T10:00:00.000000+00:00" hostname="runner">
    <properties><property name="python" value="3.12"/></properties>
    <testcase classname="tests.test_cart" name="test_add_item" time="0.002"/>
    <testcase classname="tests.test_cart" name="test_total" time="0.003">
      <failure message="assert 3 == 4&#10; +  where 3 = total([1, 2])">def test_total():
&gt;       assert total([1, 2]) == 4
E       assert 3 == 4

tests/test_cart.py:12: AssertionError</failure>
    </testcase>
    <testcase classname="tests.test_cart" name="test_refund" time="0.000">
      <skipped type="pytest.skip" message="refunds not ready">tests/test_cart.py:20: refunds not ready</skipped>
    </testcase>
    <testcase classname="tests.test_db" name="test_connect" time="0.010">
      <error message="failed on setup with &quot;ConnectionRefusedError: [Errno 111]&quot;">@pytest.fixture
def db():
&gt;       return connect("localhost:5432")

tests/conftest.py:7: ConnectionRefusedError</error>
    </testcase>
    <testcase classname="tests.test_cart" name="test_empty" time="0.001">
      <system-out>cart is empty</system-out>
    </testcase>
  </testsuite>
</testsuites>
"#;

const MOCHA_XUNIT: &str = r#"<testsuite name="Mocha Tests" tests="3" failures="1" errors="1" skipped="1" timestamp="Tue, 04 Mar 2025 10:00:00 GMT" time="0.031">
<testcase classname="Cart #total()" name="sums line items" file="/workspace/test/cart.spec.js" time="0.002"/>
<testcase classname="Cart #total()" name="applies the discount" file="/workspace/test/cart.spec.js" time="0.004"><failure>expected 90 to equal 81&#xA;+ expected - actual&#xA;&#xA;-90&#xA;+81&#xA;
AssertionError: expected 90 to equal 81
    at Context.&#x3C;anonymous&#x3E; (test/cart.spec.js:21:32)
    at process.processImmediate (node:internal/timers:478:21)</failure></testcase>
<testcase classname="Cart #checkout()" name="charges the card" file="/workspace/test/cart.spec.js" time="0"><skipped/></testcase>
</testsuite>"#;

const JEST_JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="4" failures="1" errors="0" time="1.349">
  <testsuite name="sum" errors="0" failures="1" skipped="0" timestamp="2025-03-04T10:00:00" time="0.487" tests="2">
    <testcase classname="sum adds 1 + 2" name="sum adds 1 + 2" time="0.002">
    </testcase>
    <testcase classname="sum adds big numbers" name="sum adds big numbers" time="0.001">
      <failure><![CDATA[Error: expect(received).toBe(expected) // Object.is equality

Expected: 4
Received: 3
    at Object.toBe (/workspace/src/sum.test.js:8:20)
    at Promise.then.completed (/workspace/node_modules/jest-circus/build/utils.js:298:28)]]></failure>
    </testcase>
  </testsuite>
  <testsuite name="format" errors="0" failures="0" skipped="1" timestamp="2025-03-04T10:00:01" time="0.089" tests="2">
    <testcase classname="format pads" name="format pads" time="0.004">
    </testcase>
    <testcase classname="format rounds" name="format rounds" time="0">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>
"#;

#[test]
fn pytest_report_is_counted_from_its_test_cases() {
    let run = parse(PYTEST.as_bytes()).unwrap();
    // The header claims 99 tests; the file holds five.
    assert_eq!(
        run.totals,
        Totals {
            total: 5,
            passed: 2,
            failed: 1,
            errors: 1,
            skipped: 1,
            duration_ms: 734,
        }
    );
    assert_eq!(
        run.failures,
        vec![
            Failure {
                suite: "pytest".into(),
                classname: "tests.test_cart".into(),
                name: "test_total".into(),
                message: "assert 3 == 4\n +  where 3 = total([1, 2])".into(),
                file: Some("tests/test_cart.py".into()),
                line: Some(12),
            },
            Failure {
                suite: "pytest".into(),
                classname: "tests.test_db".into(),
                name: "test_connect".into(),
                message: "failed on setup with \"ConnectionRefusedError: [Errno 111]\"".into(),
                file: Some("tests/conftest.py".into()),
                line: Some(7),
            },
        ]
    );
}

#[test]
fn mocha_xunit_report_takes_the_message_from_the_failure_text() {
    let run = parse(MOCHA_XUNIT.as_bytes()).unwrap();
    assert_eq!(
        run.totals,
        Totals {
            total: 3,
            passed: 1,
            failed: 1,
            errors: 0,
            skipped: 1,
            duration_ms: 31,
        }
    );
    let failure = &run.failures[0];
    assert_eq!(failure.suite, "Mocha Tests");
    assert_eq!(failure.classname, "Cart #total()");
    assert_eq!(failure.name, "applies the discount");
    assert!(
        failure
            .message
            .starts_with("expected 90 to equal 81\n+ expected - actual\n\n-90\n+81\n")
    );
    assert!(
        failure
            .message
            .contains("at Context.<anonymous> (test/cart.spec.js:21:32)")
    );
    // The `file` attribute wins; the line comes from the stack frame in that file.
    assert_eq!(
        failure.file.as_deref(),
        Some("/workspace/test/cart.spec.js")
    );
    assert_eq!(failure.line, Some(21));
}

#[test]
fn jest_junit_report_reads_cdata_and_sums_nothing_twice() {
    let run = parse(JEST_JUNIT.as_bytes()).unwrap();
    assert_eq!(
        run.totals,
        Totals {
            total: 4,
            passed: 2,
            failed: 1,
            errors: 0,
            skipped: 1,
            // The root's own time, not root + suites + cases.
            duration_ms: 1349,
        }
    );
    let failure = &run.failures[0];
    assert_eq!(failure.suite, "sum");
    assert!(
        failure
            .message
            .starts_with("Error: expect(received).toBe(expected)")
    );
    assert_eq!(failure.file.as_deref(), Some("/workspace/src/sum.test.js"));
    assert_eq!(failure.line, Some(8));
}

#[test]
fn duration_falls_back_to_suites_then_test_cases() {
    let suites = br#"<testsuites><testsuite time="1.5"/><testsuite time="0.25"/></testsuites>"#;
    assert_eq!(parse(suites).unwrap().totals.duration_ms, 1750);
    let cases = br#"<testsuite><testcase name="a" time="0.010"/><testcase name="b" time="0.0305"/>
        <testcase name="c" time="not-a-number"/></testsuite>"#;
    let run = parse(cases).unwrap();
    assert_eq!(run.totals.duration_ms, 41);
    assert_eq!(run.totals.passed, 3);
}

#[test]
fn blank_message_attribute_falls_back_to_trimmed_text() {
    let xml = br#"<testsuite name="s"><testcase name="t"><failure message="  ">
        boom
    </failure></testcase></testsuite>"#;
    assert_eq!(parse(xml).unwrap().failures[0].message, "boom");
}

#[test]
fn long_messages_are_capped_on_a_character_boundary() {
    let long = "é".repeat(MESSAGE_CAP); // two bytes each
    let xml =
        format!(r#"<testsuite><testcase name="t"><error>{long}</error></testcase></testsuite>"#);
    let message = &parse(xml.as_bytes()).unwrap().failures[0].message;
    assert_eq!(message.len(), MESSAGE_CAP);
    assert!(message.chars().all(|c| c == 'é'));
}

#[test]
fn first_result_element_decides_and_failure_beats_skipped() {
    let xml = br#"<testsuite>
        <testcase name="fail-then-error"><failure message="a"/><error message="teardown"/></testcase>
        <testcase name="skip-then-fail"><skipped/><failure message="b"/></testcase>
    </testsuite>"#;
    let run = parse(xml).unwrap();
    assert_eq!(
        (run.totals.failed, run.totals.errors, run.totals.skipped),
        (2, 0, 0)
    );
    let messages: Vec<&str> = run.failures.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages, ["a", "b"]);
}

#[test]
fn byte_order_mark_and_unknown_entities_are_tolerated() {
    let xml = b"\xEF\xBB\xBF<testsuite><testcase name=\"t\"><failure>R&D &nbsp; x</failure></testcase></testsuite>";
    let run = parse(xml).unwrap();
    assert_eq!(run.failures[0].message, "R&D &nbsp; x");
}

#[test]
fn empty_input_is_rejected() {
    assert_eq!(parse(b""), Err(ParseError::Empty { offset: 0 }));
    assert_eq!(
        parse(b"").unwrap_err().to_string(),
        "empty input: expected a JUnit XML document"
    );
    assert_eq!(parse(b" \n\t "), Err(ParseError::Empty { offset: 4 }));
    let declaration_only = br#"<?xml version="1.0"?><!-- no tests ran -->"#;
    let error = parse(declaration_only).unwrap_err();
    assert_eq!(error, ParseError::Empty { offset: 42 });
    assert!(error.to_string().contains("no XML element in the 42 bytes"));
}

#[test]
fn truncated_input_names_the_unclosed_element_and_where_it_ends() {
    let cut = &PYTEST.as_bytes()[..PYTEST
        .find("<testcase classname=\"tests.test_db\"")
        .unwrap()];
    let error = parse(cut).unwrap_err();
    assert_eq!(
        error,
        ParseError::Truncated {
            offset: cut.len() as u64,
            unclosed: Some("testsuite".into()),
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "truncated XML at byte {}: the input ends before </testsuite>",
            cut.len()
        )
    );
}

#[test]
fn input_cut_inside_a_tag_is_truncated() {
    let xml = br#"<testsuites><testsuite name="a"><testcase name="x" tim"#;
    assert_eq!(
        parse(xml),
        Err(ParseError::Truncated {
            offset: xml.len() as u64,
            unclosed: Some("testsuite".into()),
        })
    );
    assert_eq!(
        parse(b"<testsui"),
        Err(ParseError::Truncated {
            offset: 8,
            unclosed: None,
        })
    );
}

#[test]
fn mismatched_end_tag_is_invalid_xml_with_its_offset() {
    let xml = br#"<testsuite><testcase name="t"></testsuite></testcase>"#;
    let error = parse(xml).unwrap_err();
    let ParseError::Invalid { offset, message } = &error else {
        panic!("expected Invalid, got {error:?}");
    };
    assert_eq!(*offset, 30, "{message}");
    assert!(message.contains("testcase"), "{message}");
    assert!(error.to_string().starts_with("invalid XML at byte 30: "));
}

#[test]
fn text_and_second_roots_outside_the_document_are_invalid() {
    assert_eq!(
        parse(b"Segmentation fault (core dumped)"),
        Err(ParseError::Invalid {
            offset: 0,
            message: "text outside the root element".into(),
        })
    );
    let two_roots = b"<testsuite/>\n<testsuite/>";
    let error = parse(two_roots).unwrap_err();
    assert_eq!(error.offset(), 13);
    assert!(
        error
            .to_string()
            .contains("second root element <testsuite>")
    );
}

#[test]
fn malformed_attribute_is_invalid_xml_naming_the_tag() {
    let xml = br#"<testsuite><testcase name=unquoted/></testsuite>"#;
    let error = parse(xml).unwrap_err();
    assert_eq!(error.offset(), 11);
    assert!(
        error.to_string().contains("bad attribute in <testcase>"),
        "{error}"
    );
}

#[test]
fn wrong_root_element_is_named() {
    let html = b"<?xml version=\"1.0\"?>\n<html><body>502 Bad Gateway</body></html>";
    let error = parse(html).unwrap_err();
    assert_eq!(
        error,
        ParseError::WrongRoot {
            offset: 22,
            found: "html".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "wrong root element <html> at byte 22: expected <testsuites> or <testsuite>"
    );
}

#[test]
fn large_reports_parse_in_one_pass() {
    let mut xml = String::from("<testsuites><testsuite name=\"big\">");
    for i in 0..50_000 {
        if i % 100 == 0 {
            xml.push_str(&format!(
                "<testcase classname=\"m\" name=\"t{i}\" time=\"0.001\"><failure message=\"no\">x</failure></testcase>\n"
            ));
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"m\" name=\"t{i}\" time=\"0.001\"/>\n"
            ));
        }
    }
    xml.push_str("</testsuite></testsuites>");
    assert!(xml.len() > 2_000_000);
    let run = parse(xml.as_bytes()).unwrap();
    assert_eq!(run.totals.total, 50_000);
    assert_eq!(run.totals.failed, 500);
    assert_eq!(run.totals.duration_ms, 50_000);
    assert_eq!(run.failures.len(), 500);
}
