//! pylint parser tests on pylint 2.16's real output (see `plugins/lint/tests/fixtures/TOOLS.txt`).

use super::*;

const SAMPLES: &[u8] = include_bytes!("../../../lint/tests/fixtures/pylint-samples.json");
const SAMPLES_EXIT: &str = include_str!("../../../lint/tests/fixtures/pylint-samples.exit");
const PYTHON_APP: &[u8] = include_bytes!("../../../lint/tests/fixtures/pylint-python-app.json");
const USAGE_EXIT: &str = include_str!("../../../lint/tests/fixtures/pylint-usage-error.exit");

fn exit(text: &str) -> i32 {
    text.trim().parse().unwrap()
}

#[test]
fn samples_give_every_kind_of_message() {
    let messages = parse(SAMPLES).unwrap();
    assert_eq!(messages.len(), 8);
    let count = |s: Severity| messages.iter().filter(|m| m.severity == s).count();
    // fatal F0001 + errors E0001, E0602, E1101.
    assert_eq!(count(Severity::High), 4);
    assert_eq!(count(Severity::Medium), 1);
    assert_eq!(count(Severity::Low), 3);
    let rules: Vec<&str> = messages.iter().map(|m| m.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "fatal",
            "syntax-error",
            "no-else-return",
            "missing-function-docstring",
            "undefined-variable",
            "no-member",
            "too-few-public-methods",
            "unused-import",
        ]
    );
}

#[test]
fn samples_keep_paths_lines_columns_and_codes() {
    let messages = parse(SAMPLES).unwrap();
    let undefined = messages
        .iter()
        .find(|m| m.rule == "undefined-variable")
        .unwrap();
    assert_eq!(undefined.rule_code.as_deref(), Some("E0602"));
    assert_eq!(undefined.path.as_deref(), Some("inventory/stock.py"));
    assert_eq!(undefined.line, Some(19));
    // pylint's column 11 counts from 0.
    assert_eq!(undefined.column, Some(12));
    assert_eq!(undefined.message, "Undefined variable 'totl'");
    let fatal = &messages[0];
    assert_eq!(fatal.path.as_deref(), Some("missing_module"));
    assert_eq!(fatal.message, "No module named missing_module");
    let syntax = &messages[1];
    assert_eq!(
        (syntax.path.as_deref(), syntax.line),
        (Some("inventory/broken.py"), Some(4))
    );
}

#[test]
fn python_app_has_one_fixme_warning() {
    let messages = parse(PYTHON_APP).unwrap();
    assert_eq!(messages.len(), 1);
    let fixme = &messages[0];
    assert_eq!(fixme.rule, "fixme");
    assert_eq!(fixme.rule_code.as_deref(), Some("W0511"));
    assert_eq!(fixme.severity, Severity::Medium);
    assert_eq!(fixme.path.as_deref(), Some("src/shop/cart.py"));
    assert_eq!((fixme.line, fixme.column), (Some(20), Some(6)));
}

#[test]
fn exit_status_bits_are_read() {
    // 31 = fatal | error | warning | refactor | convention: all lint, no problem.
    assert_eq!(exit(SAMPLES_EXIT), 31);
    assert_eq!(exit_problem(31), None);
    assert!(reported_fatal(31));
    assert_eq!(exit_problem(0), None);
    assert!(!reported_fatal(4));
    let usage = exit_problem(exit(USAGE_EXIT)).unwrap();
    assert!(usage.contains("usage error"), "{usage}");
    assert!(exit_problem(137).unwrap().contains("crashed (exit 137)"));
    assert!(exit_problem(-1).is_some());
}

#[test]
fn an_empty_run_is_an_empty_array() {
    assert_eq!(parse(b"[]\n").unwrap(), vec![]);
}

// Bad input below is derived from the real samples report: cut, garbled or emptied by
// hand, the way a crashed or killed pylint leaves it.

#[test]
fn truncated_report_is_an_error_at_its_end() {
    let cut = &SAMPLES[..SAMPLES.len() / 2];
    let error = parse(cut).unwrap_err();
    assert_eq!(error, ReportError::Truncated { offset: cut.len() });
    assert!(
        error
            .to_string()
            .contains(&format!("ends at byte {}", cut.len()))
    );
}

#[test]
fn garbled_report_names_the_byte() {
    let mut garbled = SAMPLES.to_vec();
    let at = garbled.iter().position(|&b| b == b':').unwrap();
    garbled[at] = b';';
    match parse(&garbled).unwrap_err() {
        ReportError::Invalid { offset, message } => {
            assert_eq!(offset, at);
            assert_eq!(message, "expected `:`");
        }
        other => panic!("expected invalid JSON, got {other:?}"),
    }
}

#[test]
fn text_output_and_wrong_shapes_are_refused() {
    let text = b"************* Module shop.cart\nsrc/shop/cart.py:20:5: W0511: TODO (fixme)\n";
    assert!(matches!(
        parse(text).unwrap_err(),
        ReportError::Invalid { offset: 0, .. }
    ));
    // An object is read as `json2`, which has `statistics` beside its messages.
    let object = parse(br#"{"messages": []}"#).unwrap_err();
    assert!(
        matches!(&object, ReportError::Shape { message, .. } if message.contains("statistics")),
        "{object:?}"
    );
    let missing = parse(br#"[{"type": "warning", "path": "a.py"}]"#).unwrap_err();
    assert!(
        missing.to_string().contains("missing field `message`"),
        "{missing}"
    );
    assert_eq!(parse(b"").unwrap_err(), ReportError::Empty);
    assert_eq!(parse(b"  \n").unwrap_err(), ReportError::Empty);
}

#[test]
fn json2_reports_read_like_json_ones() {
    let json2 = include_bytes!("../../../lint/tests/fixtures/pylint-json2-samples.json");
    let from_json2 = parse(json2).unwrap();
    assert_eq!(from_json2, parse(SAMPLES).unwrap());
    let syntax = &from_json2[1];
    assert_eq!(syntax.rule, "syntax-error");
    assert_eq!(syntax.rule_code.as_deref(), Some("E0001"));
    assert_eq!(syntax.path.as_deref(), Some("inventory/broken.py"));
    assert_eq!(syntax.column, Some(17));
    // An empty `path` falls back to `absolutePath`, made workspace-relative.
    let fallback = parse(
        br#"{"messages": [{"type": "warning", "symbol": "fixme", "message": "TODO",
            "messageId": "W0511", "path": "", "absolutePath": "/workspace/src/a.py",
            "line": 3, "column": 4}], "statistics": {"messageTypeCount": {}}}"#,
    )
    .unwrap();
    assert_eq!(fallback[0].path.as_deref(), Some("src/a.py"));
    assert_eq!(fallback[0].rule_code.as_deref(), Some("W0511"));
}
