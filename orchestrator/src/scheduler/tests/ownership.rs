//! Two schedulers sharing one store as two orchestrators do: a repository's runs have
//! one owner; after its lease expires another takes them over, and the stale owner's
//! writes (a result it still receives, a new trigger) are refused whole.

use super::*;
use crate::model::StageState;
use crate::store::{LeaseClaim, repository_key};

const TTL: u64 = 2_000;
const TWO_STAGES: &str = "pipeline:
  stages:
    - name: lint
    - name: test
      needs: [lint]
";

fn shared(dir: &std::path::Path, owner: &str, settings: &Arc<ServerSettings>) -> Scheduler {
    let store = Store::open(&dir.join("runs.db")).unwrap();
    Scheduler::open_shared(store, Arc::clone(settings), owner.into()).unwrap()
}

/// Two schedulers on one store, and the lease key of acme/shop.
fn two_orchestrators() -> (tempfile::TempDir, String, Scheduler, Scheduler) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Arc::new(ServerSettings {
        tenants: vec![tenant(vec![])],
        ..ServerSettings::default()
    });
    let a = shared(dir.path(), "orch-a", &settings);
    let b = shared(dir.path(), "orch-b", &settings);
    (dir, repository_key("acme", "acme/shop"), a, b)
}

fn acquire(scheduler: &mut Scheduler, key: &str, now: u64) -> Option<Adopted> {
    let owner = scheduler.owner_id().unwrap().to_string();
    match scheduler
        .store()
        .acquire_lease(key, &owner, now, TTL)
        .unwrap()
    {
        LeaseClaim::Acquired(lease) => Some(scheduler.adopt(lease, Some("orch-a"), now).unwrap()),
        LeaseClaim::HeldBy(_) => None,
    }
}

fn kinds(scheduler: &Scheduler, run_id: &str) -> Vec<String> {
    let events = scheduler.store().events(run_id).unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

#[test]
fn a_stale_owner_writes_nothing_once_its_repository_was_taken_over() {
    let (_dir, key, mut a, mut b) = two_orchestrators();
    let mut now = 1_700_000_000_000;

    // A holds the repository and starts a run on it.
    let first = acquire(&mut a, &key, now).unwrap();
    assert_eq!(first.runs, 0);
    let Accepted::Queued { run_id } = a
        .accept(trigger("main"), Some(("d-1", "push")), now)
        .unwrap()
    else {
        panic!("not queued")
    };
    let effects = a
        .config_loaded(
            &run_id,
            Ok(LoadedConfig::new(TWO_STAGES, ".bosun.yml@0123456")),
            now,
        )
        .unwrap();
    let lint = only_task(&effects, "agent.lint");
    assert!(a.drives(&run_id));

    // B may not take it while A's lease lives, nor start a run of the repository.
    now += TTL / 2;
    assert!(acquire(&mut b, &key, now).is_none(), "A's lease is live");
    let refused = b
        .accept(trigger("main"), Some(("d-2", "push")), now)
        .unwrap_err();
    assert!(refused.is_lease_lost(), "{refused}");

    // A stops renewing (paused); after the lease, B takes the repository over: the run
    // comes with it and its task in flight is sent again.
    now += TTL;
    let taken = acquire(&mut b, &key, now).expect("expired: B takes it");
    assert_eq!(taken.runs, 1);
    assert_eq!(
        only_task(&taken.effects, "agent.lint").task.id(),
        lint.task.id()
    );
    assert!(b.drives(&run_id));

    // A, resumed, still has the run in memory and receives lint's result: refused whole.
    now += 5;
    let reply = |task: &TaskMessage| {
        AgentReply::Stage(ResultMessage {
            version: 1,
            agent_id: "agent-1".into(),
            result: StageResult {
                task_id: task.task.id(),
                ..pass("clean")
            },
        })
    };
    let before = kinds(&a, &run_id);
    let stale = a.on_reply(reply(&lint), now).unwrap_err();
    assert!(stale.is_lease_lost(), "{stale}");
    assert_eq!(
        kinds(&a, &run_id),
        before,
        "nothing of A's step was written"
    );
    assert_eq!(
        b.store().run(&run_id).unwrap().unwrap().stages[0].state,
        StageState::Running
    );
    assert!(!a.drives(&run_id), "the run left A's memory");
    // Nor can A start a new run of the repository.
    let refused = a
        .accept(trigger("main"), Some(("d-3", "push")), now)
        .unwrap_err();
    assert!(refused.is_lease_lost(), "{refused}");
    assert_eq!(a.store().delivery_count("d-3").unwrap(), 0);

    // B applies the same result: lint passes once, test is sent.
    let effects = b.on_reply(reply(&lint), now).unwrap();
    let test = only_task(&effects, "agent.test");
    assert_eq!(test.task.attempt, 1);
    let events = b.store().events(&run_id).unwrap();
    let owners: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "run.owner")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert!(owners[0].contains("orch-a (lease token 1)"), "{owners:?}");
    assert!(
        owners[1].contains("orch-b (lease token 2), taken over from orch-a"),
        "{owners:?}"
    );
    let passed = events
        .iter()
        .filter(|e| e.kind == "stage.passed" && e.stage.as_deref() == Some("lint"))
        .count();
    assert_eq!(passed, 1);
    // A redelivery of the first webhook, now at B, starts nothing new.
    let again = b
        .accept(trigger("main"), Some(("d-1", "push")), now)
        .unwrap();
    assert_eq!(
        again,
        Accepted::Duplicate {
            run_id: Some(run_id.clone())
        }
    );
}

#[test]
fn a_repository_released_by_a_stopping_owner_goes_to_the_next_with_its_queued_run() {
    let (_dir, key, mut a, mut b) = two_orchestrators();
    let now = 1_700_000_000_000;
    acquire(&mut a, &key, now).unwrap();
    assert!(a.idle_keys().len() == 1, "no run yet: idle");
    let Accepted::Queued { run_id } = a.accept(trigger("main"), None, now).unwrap() else {
        panic!("not queued")
    };
    assert!(
        a.idle_keys().is_empty(),
        "a run in flight keeps the key busy"
    );
    assert!(a.store().key_has_work(&key).unwrap());
    // A shuts down gracefully: released, B takes the queued run at once, to read its config.
    for fence in a.held_fences() {
        assert!(a.store().release_lease(&fence).unwrap());
        a.forget_key(&fence.key);
    }
    assert_eq!(
        b.store().keys_without_owner(now, 10).unwrap(),
        vec![key.clone()]
    );
    let taken = acquire(&mut b, &key, now + 1).unwrap();
    assert_eq!(
        taken
            .queued
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        [run_id.as_str()]
    );
    assert!(kinds(&b, &run_id).contains(&"run.owner".to_string()));
}
