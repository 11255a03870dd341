//! Run scenarios: a broken config, a superseded run, a fork's run awaiting approval.

use super::*;

/// A config the loader parsed (off the scheduler's task) is taken as parsed: the
/// scheduler neither parses the text again nor second-guesses the outcome.
#[test]
fn a_config_parsed_by_the_loader_is_not_parsed_again_by_the_scheduler() {
    let mut h = Harness::new(vec![]);
    let queued = |h: &mut Harness, branch: &str| {
        let Accepted::Queued { run_id } = h.scheduler.accept(trigger(branch), None, h.now).unwrap()
        else {
            panic!("not queued")
        };
        run_id
    };
    // Text that does not parse, with the loader's parse of a valid pipeline beside it:
    // the run starts from the loader's parse.
    let run_id = queued(&mut h, "main");
    let good = crate::config::parse(".bosun.yml", "pipeline:\n  stages: [lint]\n").unwrap();
    let loaded = LoadedConfig {
        parsed: Some(Ok(Arc::new(good))),
        ..LoadedConfig::new("pipeline: [not, a, mapping", ".bosun.yml@0123456")
    };
    let effects = h
        .scheduler
        .config_loaded(&run_id, Ok(loaded), h.now)
        .unwrap();
    only_task(&effects, "agent.lint");
    assert_eq!(h.run(&run_id).status, RunStatus::Running);
    // The loader's parse error is the run's config error, word for word.
    let run_id = queued(&mut h, "feature");
    let loaded = LoadedConfig {
        parsed: Some(Err(".bosun.yml:3:5: unknown key `retires`".into())),
        ..LoadedConfig::new("pipeline:\n  stages: [lint]\n", ".bosun.yml@0123456")
    };
    h.scheduler
        .config_loaded(&run_id, Ok(loaded), h.now)
        .unwrap();
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::ConfigError);
    assert_eq!(
        run.error.as_deref(),
        Some(".bosun.yml:3:5: unknown key `retires`")
    );
}

#[test]
fn a_broken_config_is_recorded_with_its_message_and_a_commit_status() {
    let mut h = Harness::new(vec![]);
    let (run_id, effects) = h.start("main", "pipeline:\n  stages: [lint]\n  retires: 2\n");
    let run = h.run(&run_id);
    assert_eq!(run.status, RunStatus::ConfigError);
    let error = run.error.unwrap();
    assert!(error.contains("retires"), "{error}");
    let status = effects
        .iter()
        .find_map(|e| match e {
            Effect::Status { update, .. } => Some(update.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(status.state, StatusState::Error);
    assert!(status.description.contains("config"));
    assert_eq!(h.scheduler.active_runs(), 0);
}

#[test]
fn a_newer_push_cancels_the_superseded_run() {
    let mut h = Harness::new(vec![]);
    let (old, _) = h.start("main", "pipeline:\n  stages: [lint]\n");
    h.now += 10;
    let (new, effects) = h.start("main", "pipeline:\n  stages: [lint]\n");
    assert_eq!(tasks(&effects).len(), 1);
    assert_eq!(h.run(&old).status, RunStatus::Cancelled);
    assert!(h.run(&old).error.unwrap().contains(&new));
    assert_eq!(h.run(&new).status, RunStatus::Running);
}

#[test]
fn a_fork_run_awaiting_approval_survives_a_restart_and_can_be_approved_or_cancelled() {
    let mut h = Harness::new(vec![]);
    let mut fork = trigger("patch-1");
    fork.event = "pull_request".into();
    fork.pull_request = Some(7);
    fork.fork = true;
    let accepted = h.scheduler.accept(fork.clone(), None, h.now).unwrap();
    let Accepted::AwaitingApproval { run_id } = accepted else {
        panic!("a fork's run waits: {accepted:?}")
    };
    let Accepted::AwaitingApproval { run_id: other } =
        h.scheduler.accept(fork, None, h.now + 1).unwrap()
    else {
        panic!("waits")
    };
    assert!(
        h.scheduler.queued_runs().is_empty(),
        "nothing of a fork is loaded"
    );
    h.restart();
    let approved = h
        .scheduler
        .approve(&run_id, "octo", h.now)
        .unwrap()
        .unwrap();
    assert!(approved.fork);
    assert_eq!(h.run(&run_id).status, RunStatus::Queued);
    let (found, _) = h.scheduler.cancel(&other, "not this one", h.now).unwrap();
    assert!(found);
    assert_eq!(h.run(&other).status, RunStatus::Cancelled);
    let again = h.scheduler.approve(&run_id, "octo", h.now).unwrap();
    assert!(again.unwrap_err().contains("does not wait"));
}

#[test]
fn the_commit_message_reaches_each_task_capped_also_after_a_restart() {
    let mut h = Harness::new(vec![]);
    let message = "fix: cart\n\n$(touch /tmp/pwned) `id` \"; rm -rf /\n";
    let mut pushed = trigger("main");
    pushed.message = Some(message.into());
    let Accepted::Queued { run_id } = h.scheduler.accept(pushed.clone(), None, h.now).unwrap()
    else {
        panic!("not queued")
    };
    h.restart();
    let config = "pipeline:\n  stages: [lint]\n";
    let effects = h.load(&run_id, config);
    let task = only_task(&effects, "agent.lint");
    assert_eq!(task.task.commit_message, message, "carried verbatim");

    // A message past the cap reaches the task cut to it.
    h.now += 10;
    pushed.commit = "1111111111111111111111111111111111111111".into();
    pushed.message = Some("m".repeat(bosun_bus::types::COMMIT_MESSAGE_MAX_BYTES + 10));
    let Accepted::Queued { run_id } = h.scheduler.accept(pushed, None, h.now).unwrap() else {
        panic!("not queued")
    };
    let effects = h.load(&run_id, config);
    let task = only_task(&effects, "agent.lint");
    assert_eq!(
        task.task.commit_message.len(),
        bosun_bus::types::COMMIT_MESSAGE_MAX_BYTES
    );
}
