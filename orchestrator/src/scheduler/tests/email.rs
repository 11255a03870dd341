//! Email notifications: asked of the email notifier by the pipeline's `notify` rules
//! when the tenant has email settings, with the run summary alone (no relay, login or
//! recipient), and the answer routed back to the email channel.

use super::*;
use crate::notify::EmailContent;
use crate::settings::EmailSettings;
use bosun_bus::PluginId;
use bosun_bus::notify::{NotifyReplyMessage, NotifyTaskMessage};

const PASSWORD: &str = "smtp-pa55w0rd-of-acme";

fn email_tenant(slack: bool) -> TenantSettings {
    let mut tenant = tenant(vec![]);
    if !slack {
        tenant.slack_webhook = Secret::default();
    }
    tenant.email = Some(EmailSettings {
        smtp_host: "smtp.acme.example".into(),
        smtp_port: 587,
        username: Some("ci-mailer".into()),
        password: Secret {
            value: Some(PASSWORD.into()),
            env: None,
        },
        from: "Bosun <ci@acme.example>".into(),
        to: vec!["team-shop@acme.example".into()],
        ca_file: None,
        notifier: "email".into(),
    });
    tenant
}

/// The notify requests among `effects`, with their raw payloads.
fn notify_requests(effects: &[Effect]) -> Vec<(NotifyTaskMessage, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, payload, .. } if topic == "agent.notify" => Some((
                messages::decode::<NotifyTaskMessage>(payload).unwrap(),
                String::from_utf8_lossy(payload).into_owned(),
            )),
            _ => None,
        })
        .collect()
}

/// Runs `lint` then a failing `test` stage (two tests fail); the wrap-up's effects.
fn failing_run(h: &mut Harness, config: &str) -> (String, Vec<Effect>) {
    let (run_id, effects) = h.start("main", config);
    let lint = only_task(&effects, "agent.lint");
    let test = only_task(&h.reply(&lint, pass("clean")), "agent.test");
    let end = h.reply(&test, failing_tests(&["test_total", "test_discount"]));
    (run_id, end)
}

#[test]
fn a_failed_run_asks_the_email_notifier_with_the_summary_and_its_reasons_alone() {
    let mut h = Harness::with_tenant(email_tenant(false));
    let (run_id, end) = failing_run(&mut h, "pipeline:\n  stages: [lint, test]\n");
    let requests = notify_requests(&end);
    assert_eq!(requests.len(), 1, "{end:?}");
    let (request, payload) = &requests[0];
    assert_eq!(request.request_id, format!("{run_id}/email/1"));
    assert_eq!(request.notifier, "email");
    assert!(request.config.is_empty());
    let test = request
        .summary
        .stages
        .iter()
        .find(|s| s.name == "test")
        .unwrap();
    assert_eq!(
        test.reasons,
        [
            "test failed: tests.test_cart::test_total: assert 3 == 4",
            "test failed: tests.test_cart::test_discount: assert 3 == 4",
        ]
    );
    for secret in [
        PASSWORD,
        "ci-mailer",
        "smtp.acme.example",
        "team-shop@acme.example",
    ] {
        assert!(
            !payload.contains(secret),
            "{secret} reached the notifier: {payload}"
        );
    }
    let events = h.scheduler.store().events(&run_id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "notify.requested" && e.message == "email asked of notifier email"),
        "{events:?}"
    );
}

#[test]
fn a_tenant_with_slack_and_email_gets_one_request_each_and_one_without_email_none() {
    let config = "pipeline:\n  stages: [lint, test]\n";
    let mut h = Harness::with_tenant(email_tenant(true));
    let (run_id, end) = failing_run(&mut h, config);
    let ids: Vec<String> = notify_requests(&end)
        .into_iter()
        .map(|(r, _)| r.request_id)
        .collect();
    assert_eq!(
        ids,
        [format!("{run_id}/notify/1"), format!("{run_id}/email/1")]
    );

    let mut h = Harness::new(vec![]);
    let (run_id, end) = failing_run(&mut h, config);
    let ids: Vec<String> = notify_requests(&end)
        .into_iter()
        .map(|(r, _)| r.request_id)
        .collect();
    assert_eq!(
        ids,
        [format!("{run_id}/notify/1")],
        "no email settings, no email"
    );
}

#[test]
fn the_notify_rules_decide_for_email_too() {
    // on_failure off: a failed run sends nothing.
    let mut h = Harness::with_tenant(email_tenant(false));
    let quiet = "pipeline:\n  stages: [lint, test]\n  notify: { on_failure: false }\n";
    let (_, end) = failing_run(&mut h, quiet);
    assert!(notify_requests(&end).is_empty(), "{end:?}");
    // on_success is off by default: a passing run sends nothing either.
    let (_, effects) = h.start("main", "pipeline:\n  stages: [lint]\n");
    let lint = only_task(&effects, "agent.lint");
    let end = h.reply(&lint, pass("clean"));
    assert_eq!(h.run(&lint.task.run_id).status, RunStatus::Success);
    assert!(notify_requests(&end).is_empty(), "{end:?}");
}

fn answer(run_id: &str, body: Option<&str>, error: Option<&str>) -> AgentReply {
    AgentReply::Notify(NotifyReplyMessage {
        version: 1,
        agent_id: "agent-1".into(),
        request_id: format!("{run_id}/email/1"),
        run_id: run_id.into(),
        notifier: Some(PluginId {
            name: "email".into(),
            version: "0.1.0".into(),
            digest: "sha256:00".into(),
        }),
        body: body.map(str::to_string),
        error: error.map(str::to_string),
    })
}

#[test]
fn the_email_notifiers_answer_becomes_an_email_or_a_recorded_failure() {
    let mut h = Harness::with_tenant(email_tenant(false));
    let (run_id, _) = failing_run(&mut h, "pipeline:\n  stages: [lint, test]\n");
    let body =
        r#"{"subject":"Failure: acme/shop","text":"test failed","html":"<p>test failed</p>"}"#;
    let effects = h
        .scheduler
        .on_reply(answer(&run_id, Some(body), None), h.now)
        .unwrap();
    assert_eq!(
        effects,
        [Effect::Email {
            run_id: run_id.clone(),
            tenant: "acme".into(),
            content: EmailContent {
                subject: "Failure: acme/shop".into(),
                text: "test failed".into(),
                html: "<p>test failed</p>".into(),
            },
        }]
    );

    let slack_shaped = r#"{"text":"Failure","blocks":[]}"#;
    let effects = h
        .scheduler
        .on_reply(answer(&run_id, Some(slack_shaped), None), h.now)
        .unwrap();
    assert!(effects.is_empty());
    let effects = h
        .scheduler
        .on_reply(answer(&run_id, None, Some("notifier email trapped")), h.now)
        .unwrap();
    assert!(effects.is_empty());
    let rows = h.scheduler.store().notifications(&run_id).unwrap();
    let recorded: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.channel.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(recorded, [("email", "failed"), ("email", "failed")]);
    assert!(
        rows[0]
            .detail
            .starts_with("notifier email did not return an email"),
        "{}",
        rows[0].detail
    );
    assert_eq!(rows[1].detail, "notifier email trapped");
}

/// A notifier's answer is routed by the request id Bosun sent; an id it did not send
/// (another channel, another run's, or garbage) is ignored rather than read as Slack.
#[test]
fn an_answer_with_a_request_id_bosun_did_not_send_is_ignored() {
    let mut h = Harness::with_tenant(email_tenant(true));
    let (run_id, _) = failing_run(&mut h, "pipeline:\n  stages: [lint, test]\n");
    let body = r#"{"text":"Failure","blocks":[]}"#;
    for request_id in [
        format!("{run_id}/sms/1"),
        "another-run/notify/1".to_string(),
        format!("{run_id}/notify"),
    ] {
        let AgentReply::Notify(mut message) = answer(&run_id, Some(body), None) else {
            unreachable!()
        };
        message.request_id = request_id.clone();
        let effects = h
            .scheduler
            .on_reply(AgentReply::Notify(message), h.now)
            .unwrap();
        assert!(effects.is_empty(), "{request_id}: {effects:?}");
    }
    assert!(
        h.scheduler
            .store()
            .notifications(&run_id)
            .unwrap()
            .is_empty()
    );
    // The id Bosun sent for Slack is posted.
    let AgentReply::Notify(mut message) = answer(&run_id, Some(body), None) else {
        unreachable!()
    };
    message.request_id = format!("{run_id}/notify/1");
    let effects = h
        .scheduler
        .on_reply(AgentReply::Notify(message), h.now)
        .unwrap();
    assert!(
        matches!(effects.as_slice(), [Effect::Notify { .. }]),
        "{effects:?}"
    );
}
