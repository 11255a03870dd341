//! `bosun validate FILE` as users run it: the real binary on real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_test_support::assert_contains;
use std::path::Path;
use std::process::{Command, Output};

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bosun"))
        .arg("validate")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/python-app/.bosun.yml"
);

#[test]
fn cli_validate_seed_prints_the_plan() {
    let out = validate(&[SEED]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert_contains(&text, "python-app/.bosun.yml: valid");
    assert_contains(&text, "pipeline: 5 stages in 5 waves");
    assert_contains(&text, "  wave 5: deploy\n");
    assert_contains(&text, "  environment  staging\n");
    assert_contains(&text, "  rollback     deploy with action=rollback\n");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn cli_validate_warns_about_a_stage_whose_plugin_is_not_built_in() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        ".bosun.yml",
        "pipeline:\n  stages: [lint, lnit]\n",
    );
    let out = validate(&[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warnings = stderr(&out);
    assert_contains(
        &warnings,
        "warning: stage 'lnit' uses plugin 'lnit', which is not built in",
    );
    assert!(!warnings.contains("stage 'lint'"), "{warnings}");
}

#[test]
fn cli_validate_shows_control_characters_in_names_as_escapes() {
    let dir = tempfile::tempdir().unwrap();
    // A stage name carrying a terminal escape (red text) and a carriage return.
    let file = write(
        dir.path(),
        ".bosun.yml",
        "pipeline:\n  stages:\n    - {name: \"lint\\e[31m\\rok\", plugin: lint}\n    - {name: test, needs: [\"x\\e[2J\"]}\n",
    );
    let out = validate(&[&file]);
    let (text, errors) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}{errors}");
    for shown in [&text, &errors] {
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\r'),
            "{shown:?}"
        );
    }
    assert_contains(&errors, "\\u{1b}[2J");
}

#[test]
fn cli_validate_good_file_in_parallel_waves() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        ".bosun.yml",
        "pipeline:\n  stages:\n    - lint\n    - {name: test, needs: []}\n    - {name: build, needs: [lint, test]}\n",
    );
    let out = validate(&[&file]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert_contains(&text, "  wave 1: lint, test\n  wave 2: build\n");
}

#[test]
fn cli_validate_json_plan() {
    let out = validate(&["--json", SEED]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["waves"][0], serde_json::json!(["lint"]));
    assert_eq!(plan["waves"].as_array().unwrap().len(), 5);
    let deploy = &plan["pipeline"]["stages"][4];
    assert_eq!(deploy["name"], "deploy");
    assert_eq!(deploy["environment"], "staging");
    assert_eq!(deploy["timeout"], "15m");
    assert_eq!(deploy["retries"], 2);
    assert_eq!(plan["pipeline"]["notify"]["on_success"], true);
}

#[test]
fn cli_validate_misspelt_key_exits_1_with_position_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        ".bosun.yml",
        "pipeline:\n  stages:\n    - lint\n    - name: test\n      retires: 3\n",
    );
    let out = validate(&[&file]);
    let errors = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{errors}");
    assert_contains(
        &errors,
        &format!(
            "{file}:5:7: stage 'test': unknown key 'retires'\n  help: did you mean 'retries'?\n"
        ),
    );
    assert_contains(&errors, &format!("{file}: 1 problem"));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn cli_validate_reports_every_problem_and_json_problems() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.yml",
        "pipeline:\n  stages:\n    - {name: a, needs: [b]}\n    - {name: b, needs: [a], timeout: 30}\n",
    );
    let out = validate(&["--json", &file]);
    let errors = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{errors}");
    assert_contains(
        &errors,
        &format!("{file}:3:17: stages wait on each other in a cycle: a -> b -> a"),
    );
    assert_contains(
        &errors,
        &format!("{file}:4:38: stage 'b': 'timeout' must be a duration"),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 2);
    assert_eq!(report["problems"][1]["key"], "timeout");
    assert_eq!(report["problems"][1]["line"], 4);
}

#[test]
fn cli_validate_unreadable_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yml").display().to_string();
    let out = validate(&[&missing]);
    let errors = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{errors}");
    assert_contains(&errors, &format!("cannot read pipeline config {missing}"));
}

#[test]
fn cli_validate_help_shows_an_example() {
    let out = validate(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_contains(&text, "bosun validate .bosun.yml");
    assert_contains(&text, "--json");
}
