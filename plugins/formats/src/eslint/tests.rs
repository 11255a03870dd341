//! eslint parser tests on eslint 6.4's real output (see `plugins/lint/tests/fixtures/TOOLS.txt`).

use super::*;

const SAMPLES: &[u8] = include_bytes!("../../../lint/tests/fixtures/eslint-samples.json");
const NODE_APP: &[u8] = include_bytes!("../../../lint/tests/fixtures/eslint-node-app.json");
const NODE_APP_EXIT: &str = include_str!("../../../lint/tests/fixtures/eslint-node-app.exit");
const SAMPLES_EXIT: &str = include_str!("../../../lint/tests/fixtures/eslint-samples.exit");
const MISSING_CONFIG_EXIT: &str =
    include_str!("../../../lint/tests/fixtures/eslint-missing-config.exit");

fn exit(text: &str) -> i32 {
    text.trim().parse().unwrap()
}

fn summary(messages: &[LintMessage]) -> Vec<(String, Severity, String, u32, u32)> {
    messages
        .iter()
        .map(|m| {
            (
                m.rule.clone(),
                m.severity,
                m.path.clone().unwrap(),
                m.line.unwrap(),
                m.column.unwrap(),
            )
        })
        .collect()
}

#[test]
fn samples_give_errors_warnings_and_a_parse_error() {
    let messages = parse(SAMPLES).unwrap();
    assert_eq!(
        summary(&messages),
        [
            (
                "parse-error".into(),
                Severity::High,
                "src/broken.js".into(),
                5,
                3
            ),
            (
                "no-unused-vars".into(),
                Severity::Medium,
                "src/orders.js".into(),
                4,
                7
            ),
            (
                "eqeqeq".into(),
                Severity::High,
                "src/orders.js".into(),
                9,
                23
            ),
            (
                "semi".into(),
                Severity::Medium,
                "src/orders.js".into(),
                10,
                38
            ),
            (
                "no-undef".into(),
                Severity::High,
                "src/orders.js".into(),
                12,
                16
            ),
        ]
    );
    assert!(
        messages[0].message.starts_with("Parsing error:"),
        "{}",
        messages[0].message
    );
    assert_eq!(messages[4].message, "'shipping' is not defined.");
}

#[test]
fn node_app_has_three_warnings() {
    let messages = parse(NODE_APP).unwrap();
    assert_eq!(
        summary(&messages),
        [
            (
                "no-unused-vars".into(),
                Severity::Medium,
                "src/format.js".into(),
                4,
                35
            ),
            (
                "no-var".into(),
                Severity::Medium,
                "src/format.js".into(),
                5,
                3
            ),
            (
                "prefer-const".into(),
                Severity::Medium,
                "src/ledger.js".into(),
                31,
                9
            ),
        ]
    );
}

#[test]
fn exit_statuses_are_read() {
    assert_eq!(exit_problem(exit(NODE_APP_EXIT)), None);
    assert_eq!(exit_problem(exit(SAMPLES_EXIT)), None);
    let config = exit_problem(exit(MISSING_CONFIG_EXIT)).unwrap();
    assert!(config.contains("exit 2"), "{config}");
    assert!(exit_problem(139).unwrap().contains("crashed (exit 139)"));
}

#[test]
fn messages_without_a_rule_are_named() {
    let json = br#"[{"filePath":"/workspace/a.js","messages":[
        {"ruleId":null,"severity":1,"message":"File ignored because of a matching ignore pattern."}
    ]}]"#;
    let messages = parse(json).unwrap();
    assert_eq!(messages[0].rule, NO_RULE);
    assert_eq!(messages[0].severity, Severity::Medium);
    assert_eq!((messages[0].line, messages[0].column), (None, None));
}

#[test]
fn with_metadata_paths_in_the_checkout_are_relative_to_it_wherever_eslint_ran() {
    let ci = include_bytes!("../../../lint/tests/fixtures/eslint-json-with-metadata-ci.json");
    let from_ci = parse(ci).unwrap();
    assert_eq!(from_ci.len(), 5);
    assert!(
        from_ci
            .iter()
            .all(|m| m.path.as_deref().is_some_and(|p| p.starts_with("src/"))),
        "paths under a CI machine's cwd are made relative to it: {from_ci:?}"
    );
    // The same run in a folder of the checkout (`cd web && eslint …`).
    let text = String::from_utf8(ci.to_vec()).unwrap();
    let in_web = text.replace("/home/runner/work/shop/shop", "/workspace/web");
    let from_web = parse(in_web.as_bytes()).unwrap();
    assert_eq!(from_web.len(), 5);
    assert!(
        from_web
            .iter()
            .all(|m| m.path.as_deref().is_some_and(|p| p.starts_with("web/src/"))),
        "{from_web:?}"
    );
}

// Bad input below is derived from the real samples report: cut or garbled by hand.

#[test]
fn truncated_report_is_an_error_at_its_end() {
    let cut = &SAMPLES[..SAMPLES.len() - 3];
    assert_eq!(
        parse(cut).unwrap_err(),
        ReportError::Truncated { offset: cut.len() }
    );
}

#[test]
fn garbled_report_names_the_byte() {
    let text = String::from_utf8(SAMPLES.to_vec()).unwrap();
    let at = text.find("\"severity\":2").unwrap() + "\"severity\":".len();
    let garbled = format!("{}?{}", &text[..at], &text[at + 1..]);
    match parse(garbled.as_bytes()).unwrap_err() {
        ReportError::Invalid { offset, .. } => assert_eq!(offset, at),
        other => panic!("expected invalid JSON, got {other:?}"),
    }
}

#[test]
fn stylish_output_is_not_json() {
    let stylish = b"\n/workspace/src/orders.js\n  4:7  warning  'fs' is assigned a value but never used  no-unused-vars\n";
    assert!(matches!(
        parse(stylish).unwrap_err(),
        ReportError::Invalid { .. }
    ));
    assert!(matches!(
        parse(br#"[{"filePath":"a.js"}]"#).unwrap_err(),
        ReportError::Shape { .. }
    ));
}
