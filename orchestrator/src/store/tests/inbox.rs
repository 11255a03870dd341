//! The owners' inboxes and claims on both back ends: two store handles stand for two
//! orchestrators.

use super::*;

const TTL: u64 = 10_000;

on_both_back_ends! {
fn an_inbox_is_read_by_the_holder_of_its_key_and_a_request_gets_its_answer(at: &TestStore) {
    let mut a = at.open();
    let mut b = at.open();
    let mut record = run("r1", "main", 1);
    record.status = RunStatus::Queued;
    let key = repository_key(&record.trigger.tenant, &record.trigger.repository);
    b.write(|w| w.save_run(&record)).unwrap();
    assert_eq!(b.run_lease_key("r1").unwrap(), Some((key.clone(), false)));
    assert_eq!(b.run_lease_key("nope").unwrap(), None);
    // Nobody owns the repository yet: it has work, and is what a takeover scan finds.
    assert!(b.key_has_work(&key).unwrap());
    assert_eq!(b.keys_without_owner(1_000, 10).unwrap(), vec![key.clone()]);
    assert!(matches!(a.acquire_lease(&key, "orch-a", 1_000, TTL).unwrap(), LeaseClaim::Acquired(_)));
    assert!(b.keys_without_owner(1_000, 10).unwrap().is_empty());
    assert_eq!(a.unfinished_runs_of(&key).unwrap().len(), 1);

    // B hands A a request and a reply; only A's inbox has them, oldest first.
    let request = b.post_to_owner(&key, "cancel", "{\"cancel\":1}", "orch-b", 1_100).unwrap();
    let reply = b.post_to_owner(&key, "dead-letter", "{}", "orch-b", 1_200).unwrap();
    assert!(b.owner_inbox("orch-b", 10).unwrap().is_empty());
    let items = a.owner_inbox("orch-a", 10).unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [request, reply]);
    assert_eq!((items[0].kind.as_str(), items[0].sender.as_str()), ("cancel", "orch-b"));
    assert_eq!(b.take_inbox_answer(request).unwrap(), None, "not answered yet");

    a.settle_inbox_item(request, Some("{\"Ok\":true}"), 1_300).unwrap();
    a.settle_inbox_item(reply, None, 1_300).unwrap();
    assert!(a.owner_inbox("orch-a", 10).unwrap().is_empty(), "answered and removed items are read no more");
    assert_eq!(b.take_inbox_answer(request).unwrap().as_deref(), Some("{\"Ok\":true}"));
    assert_eq!(b.take_inbox_answer(request).unwrap(), None, "taken once");

    // A request nobody answers is withdrawn; an answer nobody came for is pruned.
    let late = b.post_to_owner(&key, "cancel", "{}", "orch-b", 1_400).unwrap();
    assert!(b.withdraw_inbox_item(late).unwrap());
    let orphan = b.post_to_owner(&key, "cancel", "{}", "orch-b", 1_500).unwrap();
    a.settle_inbox_item(orphan, Some("{}"), 1_600).unwrap();
    assert!(!b.withdraw_inbox_item(orphan).unwrap(), "answered: not withdrawn");
    assert_eq!(a.prune_inbox_answers(1_601).unwrap(), 1);

    // Finished, with nothing in its inbox: no work left under the key.
    record.status = RunStatus::Success;
    a.write(|w| w.save_run(&record)).unwrap();
    assert!(!a.key_has_work(&key).unwrap());
    assert!(a.unfinished_runs_of(&key).unwrap().is_empty());
}

fn a_message_every_orchestrator_reads_is_claimed_by_one(at: &TestStore) {
    let a = at.open();
    let b = at.open();
    assert!(a.claim("notify:r1/notify/1", "orch-a", 1_000).unwrap());
    assert!(!b.claim("notify:r1/notify/1", "orch-b", 1_001).unwrap());
    assert!(!a.claim("notify:r1/notify/1", "orch-a", 1_002).unwrap(), "once, even for its claimant");
    assert!(b.claim("notify:r2/notify/1", "orch-b", 1_003).unwrap());
    assert_eq!(a.prune_claims(1_002).unwrap(), 1);
    assert!(a.claim("notify:r1/notify/1", "orch-a", 1_004).unwrap(), "pruned: claimable again");
}
}
