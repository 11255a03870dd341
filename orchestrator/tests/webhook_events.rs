//! Parsing GitHub deliveries (the recorded payloads in `fixtures/github/` and edits of
//! them) into triggers, pings and ignored events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_orchestrator::webhook::{
    EventError, EventOptions, RerunTarget, Trigger, WebhookEvent, parse_event,
};
use bosun_test_support::assert_contains;
use serde_json::{Value, json};

const PING: &[u8] = include_bytes!("fixtures/github/ping-payload.json");
const PR_OPENED: &[u8] = include_bytes!("fixtures/github/pull_request-opened.payload.json");
const PR_SYNCHRONIZE: &[u8] =
    include_bytes!("fixtures/github/pull_request-synchronize.payload.json");
const PUSH_NEW_BRANCH: &[u8] = include_bytes!("fixtures/github/push-with-new-branch.payload.json");
const TAG_DELETIONS: [(&str, &[u8]); 3] = [
    (
        "push-payload",
        include_bytes!("fixtures/github/push-payload.json"),
    ),
    (
        "push-1",
        include_bytes!("fixtures/github/push-1.payload.json"),
    ),
    (
        "push-with-organization",
        include_bytes!("fixtures/github/push-with-organization.payload.json"),
    ),
];

const HEAD: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const PR_HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn parse(event: &str, body: &[u8]) -> WebhookEvent {
    parse_event(event, body, &EventOptions::default()).unwrap()
}

fn parse_with(event: &str, body: &Value, options: EventOptions) -> WebhookEvent {
    parse_event(event, &serde_json::to_vec(body).unwrap(), &options).unwrap()
}

fn parse_error(event: &str, body: &Value) -> EventError {
    parse_event(
        event,
        &serde_json::to_vec(body).unwrap(),
        &EventOptions::default(),
    )
    .unwrap_err()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn trigger(event: WebhookEvent) -> Trigger {
    match event {
        WebhookEvent::Trigger(trigger) => trigger,
        other => panic!("expected a trigger, got {other:?}"),
    }
}

fn ignored_reason(event: WebhookEvent) -> String {
    match event {
        WebhookEvent::Ignored { reason } => reason,
        other => panic!("expected an ignored event, got {other:?}"),
    }
}

fn both_options() -> EventOptions {
    EventOptions {
        build_tags: true,
        build_deletions: true,
    }
}

/// The new-branch fixture turned into a push of tag `v1.0` pointing at master's head.
fn tag_push() -> Value {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["ref"] = json!("refs/tags/v1.0");
    body["base_ref"] = json!("refs/heads/master");
    body
}

#[test]
fn events_push_with_new_branch_triggers_its_head() {
    assert_eq!(
        parse("push", PUSH_NEW_BRANCH),
        WebhookEvent::Trigger(Trigger {
            tenant: "Codertocat".to_owned(),
            repository: "Codertocat/Hello-World".to_owned(),
            clone_url: "https://github.com/Codertocat/Hello-World.git".to_owned(),
            default_branch: "master".to_owned(),
            commit: HEAD.to_owned(),
            branch: "master".to_owned(),
            event: "push".to_owned(),
            tag: None,
            pull_request: None,
            changed_paths: Some(vec!["README.md".to_owned()]),
            sender: "Codertocat".to_owned(),
            message: Some("Initial commit".to_owned()),
            fork: false,
        })
    );
}

#[test]
fn events_pull_request_opened_triggers_its_head_commit() {
    assert_eq!(
        parse("pull_request", PR_OPENED),
        WebhookEvent::Trigger(Trigger {
            tenant: "Codertocat".to_owned(),
            repository: "Codertocat/Hello-World".to_owned(),
            clone_url: "https://github.com/Codertocat/Hello-World.git".to_owned(),
            default_branch: "master".to_owned(),
            commit: PR_HEAD.to_owned(),
            branch: "changes".to_owned(),
            event: "pull_request".to_owned(),
            tag: None,
            pull_request: Some(2),
            changed_paths: None,
            sender: "Codertocat".to_owned(),
            message: Some("Update the README with new information.".to_owned()),
            fork: false,
        })
    );
}

#[test]
fn events_pull_request_synchronize_triggers_the_new_head() {
    let synchronized = trigger(parse("pull_request", PR_SYNCHRONIZE));
    assert_eq!(synchronized.commit, PR_HEAD);
    assert_eq!(synchronized.branch, "changes");
    assert_eq!(synchronized.pull_request, Some(2));
    assert_eq!(synchronized.event, "pull_request");
    assert_eq!(synchronized.changed_paths, None);
}

#[test]
fn events_pull_request_from_a_fork_is_marked_as_one() {
    let mut body = json_of(PR_OPENED);
    body["pull_request"]["head"]["repo"]["full_name"] = json!("mallory/Hello-World");
    body["pull_request"]["head"]["label"] = json!("mallory:main");
    body["pull_request"]["head"]["ref"] = json!("main");
    let from_fork = trigger(parse_with("pull_request", &body, EventOptions::default()));
    assert!(from_fork.fork);
    // Its `main` is the fork's, named by its label: never the base's default branch.
    assert_eq!(from_fork.branch, "mallory:main");
    // A deleted fork leaves `head.repo` null: still a fork, never the base's trust.
    body["pull_request"]["head"]["repo"] = Value::Null;
    assert!(trigger(parse_with("pull_request", &body, EventOptions::default())).fork);
    // Same repository, spelled in another case: not a fork, and its branch as named.
    body["pull_request"]["head"]["repo"] = json!({ "full_name": "codertocat/hello-world" });
    let same = trigger(parse_with("pull_request", &body, EventOptions::default()));
    assert!(!same.fork);
    assert_eq!(same.branch, "main");
}

#[test]
fn events_a_repository_whose_full_name_is_another_owners_is_refused() {
    // Signed by tenant B (owner.login), speaking for A's repository (full_name).
    for (event, fixture) in [("push", PUSH_NEW_BRANCH), ("pull_request", PR_OPENED)] {
        let mut body = json_of(fixture);
        body["repository"]["full_name"] = json!("someone-else/Hello-World");
        let err = parse_error(event, &body).to_string();
        assert!(
            err.contains("repository.full_name") && err.contains("owner.login"),
            "{event}: {err}"
        );
        let mut body = json_of(fixture);
        body["repository"]["name"] = json!("other");
        let err = parse_error(event, &body).to_string();
        assert!(err.contains("repository.name"), "{event}: {err}");
        let mut body = json_of(fixture);
        body["repository"]["full_name"] = json!("Codertocat/../a/shop");
        let err = parse_error(event, &body).to_string();
        assert!(err.contains("repository.full_name"), "{event}: {err}");
    }
}

#[test]
fn events_pull_request_reopened_triggers() {
    let mut body = json_of(PR_OPENED);
    body["action"] = json!("reopened");
    let reopened = trigger(parse_with("pull_request", &body, EventOptions::default()));
    assert_eq!(reopened.commit, PR_HEAD);
}

#[test]
fn events_pull_request_closed_is_ignored_naming_the_action() {
    let mut body = json_of(PR_OPENED);
    body["action"] = json!("closed");
    let reason = ignored_reason(parse_with("pull_request", &body, both_options()));
    assert_contains(&reason, "`closed`");
}

#[test]
fn events_ping_answers_with_hook_id_and_zen() {
    assert_eq!(
        parse("ping", PING),
        WebhookEvent::Ping {
            hook_id: Some(109948940),
            zen: Some("Anything added dilutes everything else.".to_owned()),
        }
    );
    assert_eq!(
        parse("ping", b"{}"),
        WebhookEvent::Ping {
            hook_id: None,
            zen: None
        }
    );
}

#[test]
fn events_tag_deletion_fixtures_are_ignored() {
    for (name, body) in TAG_DELETIONS {
        for options in [EventOptions::default(), both_options()] {
            let event = parse_event("push", body, &options).unwrap();
            let reason = ignored_reason(event);
            assert!(
                reason.contains("tag `simple-tag` was deleted"),
                "{name}: {reason}"
            );
        }
    }
}

#[test]
fn events_branch_deletion_is_ignored_without_build_deletions() {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["ref"] = json!("refs/heads/feature/old");
    body["before"] = json!(HEAD);
    body["after"] = json!("0000000000000000000000000000000000000000");
    body["created"] = json!(false);
    body["deleted"] = json!(true);
    body["commits"] = json!([]);
    body["head_commit"] = Value::Null;
    let reason = ignored_reason(parse_with("push", &body, EventOptions::default()));
    assert_contains(&reason, "branch `feature/old` was deleted");
    assert_contains(&reason, "not built");

    let reason = ignored_reason(parse_with("push", &body, both_options()));
    assert_contains(&reason, "no commit to build");
}

#[test]
fn events_tag_push_is_ignored_without_build_tags() {
    let reason = ignored_reason(parse_with("push", &tag_push(), EventOptions::default()));
    assert_contains(&reason, "tag `v1.0`");
    assert_contains(&reason, "build_tags");
}

#[test]
fn events_tag_push_triggers_with_build_tags() {
    let options = EventOptions {
        build_tags: true,
        build_deletions: false,
    };
    let tagged = trigger(parse_with("push", &tag_push(), options));
    assert_eq!(tagged.tag.as_deref(), Some("v1.0"));
    assert_eq!(tagged.commit, HEAD);
    assert_eq!(tagged.branch, "master", "taken from base_ref");
    assert_eq!(tagged.event, "push");
}

#[test]
fn events_annotated_tag_builds_the_tagged_commit_not_the_tag_object() {
    let mut body = tag_push();
    body["after"] = json!("1111111111111111111111111111111111111111");
    body["base_ref"] = Value::Null;
    let tagged = trigger(parse_with("push", &body, both_options()));
    assert_eq!(tagged.commit, HEAD, "head_commit.id is the tagged commit");
    assert_eq!(tagged.branch, "", "no base_ref, no branch");
}

#[test]
fn events_push_to_another_ref_kind_is_ignored() {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["ref"] = json!("refs/notes/commits");
    let reason = ignored_reason(parse_with("push", &body, both_options()));
    assert_contains(&reason, "refs/notes/commits");
}

#[test]
fn events_push_changed_paths_are_the_sorted_union() {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["created"] = json!(false);
    body["commits"] = json!([
        {"id": HEAD, "message": "a", "added": ["src/z.rs", "docs/a.md"], "modified": ["README.md"], "removed": []},
        {"id": HEAD, "message": "b", "added": [], "modified": ["src/z.rs"], "removed": ["old/x.py"]},
    ]);
    let pushed = trigger(parse_with("push", &body, EventOptions::default()));
    assert_eq!(
        pushed.changed_paths,
        Some(
            ["README.md", "docs/a.md", "old/x.py", "src/z.rs"]
                .map(str::to_owned)
                .to_vec()
        )
    );
}

#[test]
fn events_push_changed_paths_unknown_without_a_trustworthy_commit_list() {
    let mut empty_on_existing_ref = json_of(PUSH_NEW_BRANCH);
    empty_on_existing_ref["created"] = json!(false);
    empty_on_existing_ref["commits"] = json!([]);
    let pushed = trigger(parse_with(
        "push",
        &empty_on_existing_ref,
        EventOptions::default(),
    ));
    assert_eq!(pushed.changed_paths, None);

    let mut forced = json_of(PUSH_NEW_BRANCH);
    forced["forced"] = json!(true);
    let pushed = trigger(parse_with("push", &forced, EventOptions::default()));
    assert_eq!(pushed.changed_paths, None);

    let mut missing = json_of(PUSH_NEW_BRANCH);
    missing.as_object_mut().unwrap().remove("commits");
    let pushed = trigger(parse_with("push", &missing, EventOptions::default()));
    assert_eq!(pushed.changed_paths, None);
}

#[test]
fn events_unknown_event_is_ignored_naming_it() {
    let reason = ignored_reason(parse("issues", b"not even json"));
    assert_contains(&reason, "`issues`");
}

#[test]
fn events_missing_event_name_is_an_error() {
    let error = parse_event("", PUSH_NEW_BRANCH, &EventOptions::default()).unwrap_err();
    assert!(matches!(error, EventError::MissingEventName), "{error}");
}

#[test]
fn events_malformed_json_is_an_error_naming_the_problem() {
    let error = parse_event("push", b"{\"ref\": ", &EventOptions::default()).unwrap_err();
    assert!(matches!(error, EventError::Malformed { event: "push", .. }));
    let message = error.to_string();
    assert!(
        message.starts_with("the push payload is not valid"),
        "{message}"
    );
    assert_contains(&message, "line 1 column");

    let error = parse_event("ping", b"\xff", &EventOptions::default()).unwrap_err();
    assert!(matches!(error, EventError::Malformed { event: "ping", .. }));
}

#[test]
fn events_wrong_field_type_is_an_error_naming_it() {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["after"] = json!(5);
    let message = parse_error("push", &body).to_string();
    assert_contains(&message, "invalid type: integer `5`");
}

#[test]
fn events_missing_fields_are_named_by_path() {
    let cases: [(&str, &[u8], &[&str], &str); 6] = [
        ("push", PUSH_NEW_BRANCH, &["after"], "after"),
        ("push", PUSH_NEW_BRANCH, &["ref"], "ref"),
        (
            "push",
            PUSH_NEW_BRANCH,
            &["repository", "owner", "login"],
            "repository.owner.login",
        ),
        ("push", PUSH_NEW_BRANCH, &["sender"], "sender.login"),
        (
            "pull_request",
            PR_OPENED,
            &["pull_request", "head", "sha"],
            "pull_request.head.sha",
        ),
        (
            "pull_request",
            PR_OPENED,
            &["repository", "clone_url"],
            "repository.clone_url",
        ),
    ];
    for (event, fixture, path, named) in cases {
        let mut body = json_of(fixture);
        let (last, parents) = path.split_last().unwrap();
        let parent = parents
            .iter()
            .fold(&mut body, |value, key| &mut value[*key]);
        parent.as_object_mut().unwrap().remove(*last);
        let error = parse_error(event, &body);
        assert_eq!(
            error.to_string(),
            format!("the {event} payload has no `{named}`"),
            "removing {path:?}"
        );
    }
}

#[test]
fn events_empty_required_string_counts_as_missing() {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["repository"]["full_name"] = json!("");
    let error = parse_error("push", &body);
    assert!(
        matches!(
            error,
            EventError::MissingField {
                field: "repository.full_name",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn events_commit_that_is_not_a_full_sha_is_refused() {
    let mut body = json_of(PUSH_NEW_BRANCH);
    body["after"] = json!("6113728f; rm -rf /");
    let error = parse_error("push", &body);
    assert!(
        matches!(error, EventError::InvalidField { field: "after", .. }),
        "{error}"
    );

    let mut body = json_of(PR_OPENED);
    body["pull_request"]["head"]["sha"] = json!("EC26C3E57CA3A959CA5AAD62DE7213C562F8C821");
    let error = parse_error("pull_request", &body);
    assert!(
        matches!(
            error,
            EventError::InvalidField {
                field: "pull_request.head.sha",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn events_trigger_serialises_with_its_field_names() {
    let pushed = trigger(parse("push", PUSH_NEW_BRANCH));
    let value = serde_json::to_value(&pushed).unwrap();
    assert_eq!(value["tenant"], "Codertocat");
    assert_eq!(value["commit"], HEAD);
    assert_eq!(value["changed_paths"], json!(["README.md"]));
    assert_eq!(value["pull_request"], Value::Null);
}

const CHECK_RUN_RERUN: &[u8] = include_bytes!("fixtures/github/check_run__rerequested.json");
const CHECK_SUITE_RERUN: &[u8] = include_bytes!("fixtures/github/check_suite__rerequested.json");

#[test]
fn events_check_suite_rerequested_asks_for_its_commits_failed_stages() {
    let WebhookEvent::Rerun(ask) = parse("check_suite", CHECK_SUITE_RERUN) else {
        panic!("not a re-run");
    };
    assert_eq!(ask.tenant, "Codertocat");
    assert_eq!(ask.repository, "Codertocat/Hello-World");
    assert_eq!(ask.commit, PR_HEAD);
    assert_eq!(ask.sender, "octocoders-linter[bot]");
    assert_eq!(ask.target, RerunTarget::FailedOfCommit);
}

#[test]
fn events_check_run_rerequested_names_bosuns_stage_by_its_external_id() {
    // GitHub's example is another app's check run (an empty external id): not Bosun's.
    let reason = ignored_reason(parse("check_run", CHECK_RUN_RERUN));
    assert_contains(&reason, "check run `randscape` is not one of Bosun's");
    let mut body = json_of(CHECK_RUN_RERUN);
    body["check_run"]["external_id"] = "0192a3b4c5d-1f-2/test".into();
    let WebhookEvent::Rerun(ask) = parse_with("check_run", &body, EventOptions::default()) else {
        panic!("not a re-run");
    };
    assert_eq!(ask.repository, "github/hello-world");
    assert_eq!(ask.commit, "d6fde92930d4715a2b49857d24b940956b26d2d3");
    assert_eq!(
        ask.target,
        RerunTarget::Stage {
            run_id: "0192a3b4c5d-1f-2".into(),
            stage: "test".into()
        }
    );
}

#[test]
fn events_check_actions_other_than_rerequested_start_nothing() {
    for (event, fixture) in [
        ("check_run", CHECK_RUN_RERUN),
        ("check_suite", CHECK_SUITE_RERUN),
    ] {
        let mut body = json_of(fixture);
        body["action"] = "completed".into();
        let reason = ignored_reason(parse_with(event, &body, EventOptions::default()));
        assert_contains(&reason, "only `rerequested` re-runs");
    }
    let mut body = json_of(CHECK_SUITE_RERUN);
    body["check_suite"]["head_sha"] = "HEAD~1".into();
    let error = parse_error("check_suite", &body);
    assert_contains(error.to_string(), "check_suite.head_sha");
}
