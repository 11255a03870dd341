//! Parse tests of refused configs: every kind of problem with its exact line, column,
//! key and hint.

use super::parse;
use super::tests::{at, only, problems, stages_of};

#[test]
fn misspelt_stage_key_names_line_column_and_suggestion() {
    let problem = only(&stages_of("    - name: test\n      retires: 3\n"));
    assert_eq!(at(&problem), (4, 7));
    assert_eq!(problem.key.as_deref(), Some("retires"));
    assert_eq!(problem.message, "stage 'test': unknown key 'retires'");
    assert_eq!(
        problem.suggestion.as_deref(),
        Some("did you mean 'retries'?")
    );
    assert_eq!(problem.file, "p.yml");
    assert_eq!(
        parse("p.yml", &stages_of("    - name: test\n      retires: 3\n"))
            .unwrap_err()
            .to_string(),
        "p.yml:4:7: stage 'test': unknown key 'retires'\n  help: did you mean 'retries'?"
    );
}

#[test]
fn unknown_key_far_from_any_gets_no_suggestion() {
    let problem = only(&stages_of("    - name: test\n      colour: blue\n"));
    assert_eq!(at(&problem), (4, 7));
    assert_eq!(problem.suggestion, None);
}

#[test]
fn misspelt_top_level_and_pipeline_keys() {
    let problem = only("pipline:\n  stages: [a]\n");
    assert_eq!(at(&problem), (1, 1));
    assert_eq!(problem.message, "top level: unknown key 'pipline'");
    assert_eq!(
        problem.suggestion.as_deref(),
        Some("did you mean 'pipeline'?")
    );

    let problem = only("pipeline:\n  stages: [a]\n  retry_on_falure: true\n");
    assert_eq!(at(&problem), (3, 3));
    assert_eq!(
        problem.suggestion.as_deref(),
        Some("did you mean 'retry_on_failure'?")
    );

    let problem = only("pipeline:\n  stages: [a]\n  timeout: 5m\n");
    assert_eq!(at(&problem), (3, 3));
    assert!(problem.suggestion.unwrap().contains("stage key"));

    let problem = only("stages: [a]\npipeline:\n  stages: [a]\n");
    assert_eq!(
        problem.suggestion.as_deref(),
        Some("'stages' belongs under 'pipeline:'")
    );
}

#[test]
fn misspelt_keys_in_nested_mappings() {
    let text = stages_of(
        "    - name: deploy
      when: {branch: [main], evnts: [push]}
      backoff: {initail: 1s}
      rollback: {plugn: x}
",
    ) + "  notify: {notifer: slack}\n";
    let found = problems(&text);
    let summary: Vec<(usize, usize, &str, &str)> = found
        .iter()
        .map(|p| {
            (
                p.line,
                p.column,
                p.key.as_deref().unwrap_or(""),
                p.suggestion.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (4, 14, "branch", "did you mean 'branches'?"),
            (4, 30, "evnts", "did you mean 'events'?"),
            (5, 17, "initail", "did you mean 'initial'?"),
            (6, 18, "plugn", "did you mean 'plugin'?"),
            (7, 12, "notifer", "did you mean 'notifier'?"),
        ]
    );
    assert_eq!(
        found[0].message,
        "stage 'deploy', in 'when': unknown key 'branch'"
    );
    assert_eq!(found[4].message, "notify: unknown key 'notifer'");
}

#[test]
fn wrong_types_point_at_the_value() {
    let found = problems(&stages_of(
        "    - name: test
      retries: two
      network: \"yes\"
      needs: {a: 1}
      with: [x]
      agent: 7
",
    ));
    let summary: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|p| (p.line, p.column, p.key.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        summary,
        [
            (4, 16, "retries"),
            (5, 16, "network"),
            (6, 14, "needs"),
            (7, 13, "with"),
            (8, 14, "agent")
        ]
    );
    assert_eq!(
        found[0].message,
        "stage 'test': 'retries' must be a whole number from 0 to 10, found the text 'two'"
    );
    assert_eq!(
        found[1].suggestion.as_deref(),
        Some("write true, without quotes")
    );
    assert_eq!(
        found[2].message,
        "stage 'test': 'needs' must be a list of texts, found a mapping"
    );
    assert_eq!(
        found[4].message,
        "stage 'test': 'agent' must be text, found the number 7"
    );
}

#[test]
fn stage_entries_must_be_names_or_mappings() {
    let found = problems("pipeline:\n  stages: [a, 3, [b], \"bad name\"]\n");
    let summary: Vec<(usize, usize)> = found.iter().map(at).collect();
    assert_eq!(summary, [(2, 15), (2, 18), (2, 23)]);
    assert_eq!(
        found[0].message,
        "stage #2 must be a stage name or a mapping with a 'name', found the number 3"
    );
    assert!(
        found[2].message.contains("may use only letters, digits"),
        "{}",
        found[2].message
    );

    let problem = only(&stages_of("    - plugin: x\n"));
    assert_eq!(at(&problem), (3, 7));
    assert_eq!(problem.message, "stage #1 has no 'name'");
}

#[test]
fn duplicate_stage_names_are_refused() {
    let problem = only(&stages_of("    - lint\n    - test\n    - name: lint\n"));
    assert_eq!(at(&problem), (5, 13));
    assert_eq!(problem.key.as_deref(), Some("name"));
    assert_eq!(
        problem.message,
        "stage 'lint' is defined twice (first on line 3)"
    );
    let problem = only("pipeline:\n  stages: [a, b, a]\n");
    assert_eq!(at(&problem), (2, 18));
    assert_eq!(problem.key, None);
}

#[test]
fn needs_naming_an_unknown_stage_suggests_a_close_one() {
    let problem = only(&stages_of(
        "    - build\n    - name: deploy\n      needs: [biuld]\n",
    ));
    assert_eq!(at(&problem), (5, 15));
    assert_eq!(problem.key.as_deref(), Some("needs"));
    assert_eq!(
        problem.message,
        "stage 'deploy' needs 'biuld', which is not a stage in this pipeline"
    );
    assert_eq!(problem.suggestion.as_deref(), Some("did you mean 'build'?"));

    let found = problems(&stages_of("    - name: a\n      needs: [zzz, a, zzz]\n"));
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "stage 'a' needs 'zzz', which is not a stage in this pipeline",
            "stage 'a' needs itself",
            "stage 'a' needs 'zzz', which is not a stage in this pipeline",
        ]
    );
    assert_eq!(found[0].suggestion, None);
}

#[test]
fn needs_listing_a_stage_twice_is_refused() {
    let problem = only(&stages_of("    - a\n    - {name: b, needs: [a, a]}\n"));
    assert_eq!(at(&problem), (4, 28));
    assert_eq!(problem.message, "stage 'b' lists 'a' twice in 'needs'");
}

#[test]
fn cycles_are_named_with_their_path() {
    let problem = only(&stages_of(
        "    - {name: a, needs: [c]}\n    - {name: b, needs: [a]}\n    - {name: c, needs: [b]}\n",
    ));
    assert_eq!(at(&problem), (3, 17));
    assert_eq!(problem.key.as_deref(), Some("needs"));
    assert_eq!(
        problem.message,
        "stages wait on each other in a cycle: a -> c -> b -> a"
    );
}

#[test]
fn cycles_through_implicit_needs_explain_the_order() {
    let problem = only(&stages_of(
        "    - lint\n    - {name: test, needs: [build]}\n    - build\n",
    ));
    assert_eq!(at(&problem), (4, 20));
    assert_eq!(
        problem.message,
        "stages wait on each other in a cycle: test -> build -> test \
         ('build' has no 'needs', so it waits for 'test', the stage listed before it)"
    );
}

#[test]
fn separate_cycles_are_each_reported_once() {
    let found = problems(&stages_of(
        "    - {name: a, needs: [b]}\n    - {name: b, needs: [a]}\n    - {name: c, needs: [d]}\n    - {name: d, needs: [c]}\n    - {name: e, needs: [d]}\n",
    ));
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "stages wait on each other in a cycle: a -> b -> a",
            "stages wait on each other in a cycle: c -> d -> c",
        ]
    );
}

#[test]
fn empty_stage_list_and_missing_stages_are_refused() {
    let problem = only("pipeline:\n  stages: []\n");
    assert_eq!(at(&problem), (2, 11));
    assert_eq!(problem.message, "pipeline: the stage list is empty");
    let problem = only("pipeline:\n  retry_on_failure: true\n");
    assert_eq!(at(&problem), (1, 1));
    assert_eq!(problem.message, "pipeline: no 'stages' list");
    let problem = only("pipeline:\n  stages: lint\n");
    assert_eq!(at(&problem), (2, 11));
}

#[test]
fn bad_durations_are_refused_with_reasons() {
    let found = problems(&stages_of(
        "    - name: a
      timeout: 0s
      backoff: 10x
    - name: b
      timeout: 30
      backoff: {initial: 10s, max: 5s, factor: 0.5}
    - name: c
      timeout: 48h
",
    ));
    let summary: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|p| (p.line, p.column, p.key.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        summary,
        [
            (4, 16, "timeout"),
            (5, 16, "backoff"),
            (7, 16, "timeout"),
            (8, 36, "max"),
            (8, 48, "factor"),
            (10, 16, "timeout"),
        ]
    );
    assert_eq!(
        found[0].message,
        "stage 'a': 'timeout' of 0s is zero: it must lie between 1s and 24h"
    );
    assert!(
        found[1].message.contains("unknown unit 'x'"),
        "{}",
        found[1].message
    );
    assert_eq!(
        found[2].suggestion.as_deref(),
        Some("durations need a unit: write '30s' for 30 seconds")
    );
    assert_eq!(
        found[3].message,
        "stage 'b', in 'backoff': 'max' (5s) is shorter than 'initial' (10s)"
    );
    assert!(
        found[4].message.contains("from 1 to 10"),
        "{}",
        found[4].message
    );
    assert!(
        found[5].message.contains("out of range"),
        "{}",
        found[5].message
    );
}

#[test]
fn pipeline_values_are_checked() {
    let found = problems(
        "pipeline:\n  stages: [a]\n  max_failures: 0\n  cancel_superseded: maybe\n  notify_on_success: true\n  notify: {on_success: false}\n",
    );
    let summary: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|p| (p.line, p.column, p.key.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        summary,
        [
            (3, 17, "max_failures"),
            (4, 22, "cancel_superseded"),
            (6, 12, "on_success")
        ]
    );
}

#[test]
fn deploy_environment_needs_a_deploy_stage() {
    let problem =
        only("pipeline:\n  stages: [build, deploy-prod]\n  deploy_environment: staging\n");
    assert_eq!(at(&problem), (3, 3));
    assert_eq!(
        problem.message,
        "pipeline: 'deploy_environment' is set but no stage is named 'deploy'"
    );
    assert_eq!(
        problem.suggestion.as_deref(),
        Some("rename stage 'deploy-prod' to 'deploy', or set 'environment' on it")
    );
}

#[test]
fn when_patterns_that_never_match_are_refused() {
    let found = problems(&stages_of(
        "    - name: a\n      when:\n        paths: [/src/**, ok/**]\n        branches: []\n        events: [\"\"]\n",
    ));
    let summary: Vec<(usize, usize)> = found.iter().map(at).collect();
    assert_eq!(summary, [(5, 17), (6, 19), (7, 18)]);
    assert_eq!(found[0].suggestion.as_deref(), Some("write 'src/**'"));
}

#[test]
fn reserved_agent_pools_are_refused() {
    let problem = only(&stages_of("    - name: collect\n      agent: results\n"));
    assert_eq!(at(&problem), (4, 14));
    assert!(
        problem.message.contains("'results' is reserved"),
        "{}",
        problem.message
    );
    let problem = only("pipeline:\n  stages: [results]\n");
    assert_eq!(at(&problem), (2, 12));
    // A stage's tasks on the policy or notification topics would be read as questions
    // to policies or notification requests.
    for pool in ["policy", "notify"] {
        let problem = only(&format!("pipeline:\n  stages: [{pool}]\n"));
        assert!(
            problem.message.contains(&format!("'{pool}' is reserved")),
            "{}",
            problem.message
        );
    }
}

#[test]
fn with_values_must_be_plain() {
    let problem = only(&stages_of(
        "    - name: a\n      with:\n        list: [1, {x: 2}]\n",
    ));
    assert_eq!(at(&problem), (5, 19));
    assert!(
        problem.message.contains("item 2 of 'list'"),
        "{}",
        problem.message
    );
}

#[test]
fn yaml_syntax_errors_carry_the_parser_location() {
    let problem = only("pipeline:\n  stages: [lint, test\n  retry_on_failure: true\n");
    assert_eq!(at(&problem), (3, 19));
    assert!(
        problem.message.starts_with("invalid YAML: "),
        "{}",
        problem.message
    );
    assert!(
        !problem.message.contains("at line 3 column 19"),
        "{}",
        problem.message
    );

    let problem = only("pipeline:\n\tstages: [a]\n");
    assert_eq!(problem.line, 2);
}

#[test]
fn duplicate_yaml_keys_point_at_the_second_one() {
    let problem = only("pipeline:\n  stages: [a]\n  max_failures: 1\n  max_failures: 2\n");
    assert_eq!(at(&problem), (4, 3));
    assert_eq!(problem.key.as_deref(), Some("max_failures"));
    assert_eq!(
        problem.message,
        "key 'max_failures' appears twice in one mapping (first on line 3)"
    );
}

#[test]
fn empty_non_mapping_and_pipeline_less_files_get_clear_messages() {
    let empty = only("");
    assert_eq!(at(&empty), (1, 1));
    assert!(
        empty.message.starts_with("the file is empty"),
        "{}",
        empty.message
    );
    assert_eq!(only("# nothing yet\n").message, empty.message);

    let list = only("- lint\n- test\n");
    assert_eq!(
        list.message,
        "the file must be a mapping with a 'pipeline:' key, found a list"
    );

    let found = problems("name: app\n");
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "top level: unknown key 'name'",
            "the file has no 'pipeline:' key"
        ]
    );

    let scalar = only("pipeline: yes\n");
    assert_eq!(at(&scalar), (1, 11));
    assert_eq!(
        scalar.message,
        "'pipeline' must be a mapping with a 'stages' list, found the text 'yes'"
    );

    let docs = only("pipeline: {stages: [a]}\n---\npipeline: {stages: [b]}\n");
    assert!(
        docs.message.contains("more than one YAML document"),
        "{}",
        docs.message
    );
}

#[test]
fn all_problems_are_reported_in_line_order() {
    let found = problems(
        "pipeline:
  notify: {notifer: x}
  stages:
    - name: a
      timout: 5m
    - name: b
      needs: [c]
    - a
",
    );
    let lines: Vec<usize> = found.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 5, 7, 8], "{found:#?}");
}

#[test]
fn a_config_past_the_size_cap_is_refused_before_it_is_parsed() {
    let padding = "# filler\n".repeat(super::parse::MAX_CONFIG_BYTES / 9 + 1);
    let problem = only(&format!("{padding}{}", stages_of("    - lint\n")));
    assert_eq!(at(&problem), (1, 1));
    assert!(problem.message.contains("at most 256 KiB"), "{problem:?}");
    // Just under the cap is read as usual.
    let fits = "# filler\n".repeat((super::parse::MAX_CONFIG_BYTES - 100) / 9);
    assert!(parse("p.yml", &format!("{fits}{}", stages_of("    - lint\n"))).is_ok());
}

#[test]
fn stage_count_needs_and_when_patterns_are_capped() {
    let many: String = (0..=super::parse::MAX_STAGES)
        .map(|i| format!("    - s{i}\n"))
        .collect();
    let problem = only(&stages_of(&many));
    assert!(problem.message.contains("at most 200"), "{problem:?}");
    let allowed: String = (0..super::parse::MAX_STAGES)
        .map(|i| format!("    - s{i}\n"))
        .collect();
    assert!(parse("p.yml", &stages_of(&allowed)).is_ok());

    let names: Vec<String> = (0..=super::stage::MAX_NEEDS)
        .map(|i| format!("s{i}"))
        .collect();
    let mut body: String = names.iter().map(|n| format!("    - {n}\n")).collect();
    body.push_str(&format!(
        "    - {{name: last, needs: [{}]}}\n",
        names.join(", ")
    ));
    let problem = only(&stages_of(&body));
    assert_eq!(problem.key.as_deref(), Some("needs"));
    assert!(problem.message.contains("at most 64"), "{problem:?}");

    let long = format!("src/{}", "*a".repeat(200));
    let problem = only(&stages_of(&format!(
        "    - name: test\n      when: {{paths: [\"{long}\"]}}\n"
    )));
    assert!(problem.message.contains("longer than 256"), "{problem:?}");
    let patterns: Vec<String> = (0..65).map(|i| format!("\"p{i}/**\"")).collect();
    let problem = only(&stages_of(&format!(
        "    - name: test\n      when: {{paths: [{}]}}\n",
        patterns.join(", ")
    )));
    assert!(problem.message.contains("at most 64"), "{problem:?}");
}
