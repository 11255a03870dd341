//! Run leases on both back ends: two store handles stand for two orchestrators; time is
//! passed in, never slept.

use super::*;

const TTL: u64 = 10_000;

fn acquired(claim: LeaseClaim) -> Lease {
    match claim {
        LeaseClaim::Acquired(lease) => lease,
        LeaseClaim::HeldBy(holder) => panic!("expected the lease, it is held by {holder:?}"),
    }
}

fn held_by(claim: LeaseClaim) -> Lease {
    match claim {
        LeaseClaim::HeldBy(holder) => holder,
        LeaseClaim::Acquired(lease) => panic!("expected a refusal, got {lease:?}"),
    }
}

fn event_kinds(store: &Store, run_id: &str) -> Vec<String> {
    store
        .events(run_id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// A fenced write that changes the run document and appends an event.
fn fenced_progress(store: &mut Store, fence: &Fence, kind: &str) -> Result<(), StoreError> {
    store.write_fenced(fence, |w| {
        let mut record = run(&fence.key, "main", 1);
        record.error = Some(format!("written by {}", fence.owner));
        w.save_run(&record)?;
        w.event(&fence.key, 5, kind, None, None, &fence.owner, None)
    })
}

on_both_back_ends! {
fn a_takeover_fences_the_previous_owner_out(at: &TestStore) {
    let mut a = at.open();
    let mut b = at.open();
    a.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();

    let lease_a = acquired(a.acquire_lease("r1", "orch-a", 1_000, TTL).unwrap());
    assert_eq!(lease_a.token, 1);
    assert_eq!(held_by(b.acquire_lease("r1", "orch-b", 2_000, TTL).unwrap()), lease_a);
    // Asking again while holding it extends the lease and keeps the token.
    let lease_a = acquired(a.acquire_lease("r1", "orch-a", 3_000, TTL).unwrap());
    assert_eq!((lease_a.token, lease_a.expires_ms), (1, 13_000));
    fenced_progress(&mut a, &lease_a.fence(), "a.first").unwrap();

    assert!(b.expired_leases(12_999, 10).unwrap().is_empty());
    assert_eq!(b.expired_leases(13_000, 10).unwrap(), vec![lease_a.clone()]);
    let lease_b = acquired(b.acquire_lease("r1", "orch-b", 13_000, TTL).unwrap());
    assert_eq!(lease_b.token, 2, "a takeover takes the next token");

    // A, back from a pause, still believes it owns r1: its write is refused whole.
    let refused = fenced_progress(&mut a, &lease_a.fence(), "a.stale").unwrap_err();
    match &refused {
        StoreError::LeaseLost { key, owner, token, holder } => {
            assert_eq!((key.as_str(), owner.as_str(), *token), ("r1", "orch-a", 1));
            assert_eq!(holder, &Some(("orch-b".to_string(), 2)));
        }
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    assert!(refused.to_string().contains("held by orch-b with token 2"), "{refused}");
    assert_eq!(b.run("r1").unwrap().unwrap().error.as_deref(), Some("written by orch-a"));
    assert_eq!(event_kinds(&b, "r1"), ["a.first"]);
    assert!(matches!(
        a.renew_lease(&lease_a.fence(), 14_000, TTL),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(!a.release_lease(&lease_a.fence()).unwrap(), "not A's to release");

    fenced_progress(&mut b, &lease_b.fence(), "b.first").unwrap();
    assert_eq!(a.run("r1").unwrap().unwrap().error.as_deref(), Some("written by orch-b"));
    assert_eq!(event_kinds(&a, "r1"), ["a.first", "b.first"]);
    assert_eq!(a.lease("r1").unwrap(), Some(lease_b));
}

fn an_expired_lease_renews_until_someone_takes_it(at: &TestStore) {
    let mut a = at.open();
    let b = at.open();
    a.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();
    let lease = acquired(a.acquire_lease("r1", "orch-a", 0, 100).unwrap());
    // Expired at 100, but nobody took it over: the token still holds.
    let renewed = a.renew_lease(&lease.fence(), 500, 100).unwrap();
    assert_eq!((renewed.token, renewed.expires_ms), (1, 600));
    fenced_progress(&mut a, &lease.fence(), "a.late").unwrap();
    assert_eq!(held_by(b.acquire_lease("r1", "orch-b", 550, TTL).unwrap()).owner, "orch-a");
    // Coming back after expiry through `acquire` is a new grant: the next token.
    let again = acquired(a.acquire_lease("r1", "orch-a", 600, 100).unwrap());
    assert_eq!(again.token, 2);
    assert!(fenced_progress(&mut a, &lease.fence(), "a.stale").is_err());
    assert_eq!(event_kinds(&a, "r1"), ["a.late"]);
}

fn a_released_or_missing_lease_fences_every_writer(at: &TestStore) {
    let mut a = at.open();
    let b = at.open();
    a.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();
    let never = Fence { key: "r1".into(), owner: "orch-a".into(), token: 1 };
    match fenced_progress(&mut a, &never, "a.unleased").unwrap_err() {
        StoreError::LeaseLost { holder, .. } => assert_eq!(holder, None),
        other => panic!("expected LeaseLost, got {other:?}"),
    }

    let lease = acquired(a.acquire_lease("r1", "orch-a", 1_000, TTL).unwrap());
    assert!(a.release_lease(&lease.fence()).unwrap());
    assert_eq!(a.lease("r1").unwrap(), None);
    assert!(a.expired_leases(u64::MAX / 2, 10).unwrap().is_empty(), "released: nothing to take over");
    assert!(fenced_progress(&mut a, &lease.fence(), "a.released").is_err());
    assert!(a.renew_lease(&lease.fence(), 1_500, TTL).is_err());
    // Free before it would have expired, and with a larger token.
    assert_eq!(acquired(b.acquire_lease("r1", "orch-b", 2_000, TTL).unwrap()).token, 2);
    assert!(event_kinds(&a, "r1").is_empty());
    assert_eq!(a.run("r1").unwrap().unwrap().error, None);
}

fn orchestrators_racing_for_a_run_get_one_owner(at: &TestStore) {
    // Eight connections ask for one run's lease at once, first while it is free, then
    // again once it expired: each time exactly one is granted, and every other one is
    // told who won.
    drop(at.open());
    let location = at.location();
    for (now_ms, token) in [(1_000, 1), (1_000 + TTL, 2)] {
        let start = std::sync::Barrier::new(8);
        let claims: Vec<LeaseClaim> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|i| {
                    let (start, location) = (&start, &location);
                    scope.spawn(move || {
                        let store = Store::open(location).unwrap();
                        start.wait();
                        store
                            .acquire_lease("r1", &format!("orch-{i}-{token}"), now_ms, TTL)
                            .unwrap()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let winners: Vec<&Lease> = claims
            .iter()
            .filter_map(|c| match c {
                LeaseClaim::Acquired(lease) => Some(lease),
                LeaseClaim::HeldBy(_) => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "{claims:?}");
        assert_eq!(winners[0].token, token);
        for claim in &claims {
            if let LeaseClaim::HeldBy(holder) = claim {
                assert_eq!(holder, winners[0]);
            }
        }
        assert_eq!(at.open().lease("r1").unwrap().as_ref(), Some(winners[0]));
    }
}
}

/// On PostgreSQL, a takeover asked for while the old owner's fenced write is in flight
/// waits for that transaction: the write lands before the new owner's token exists, never
/// after it. (SQLite has one writer at a time, so there the takeover cannot interleave.)
#[test]
fn a_takeover_waits_for_the_fenced_write_in_flight() {
    let test = concat!(module_path!(), "::postgres");
    let Some(at) = TestStore::postgres(test) else {
        return;
    };
    let (TestStore::Postgres(schema), StoreLocation::Postgres(url)) = (&at, at.location()) else {
        unreachable!("a PostgreSQL test store");
    };
    let taker_name = format!("{}_taker", schema.name());
    let taker_at = StoreLocation::Postgres(format!("{url}&application_name={taker_name}"));
    let mut a = at.open();
    let watch = at.open();
    a.write(|w| w.save_run(&run("r1", "main", 1))).unwrap();
    let lease_a = acquired(a.acquire_lease("r1", "orch-a", 0, 100).unwrap());

    let claim = std::thread::scope(|scope| {
        let taker = a
            .write_fenced(&lease_a.fence(), |w| {
                w.event("r1", 5, "a.in-flight", None, None, "orch-a", None)?;
                let taker = scope.spawn(|| {
                    Store::open(&taker_at)
                        .unwrap()
                        .acquire_lease("r1", "orch-b", 1_000, TTL)
                        .unwrap()
                });
                // Until the taker's upsert is seen waiting on the lease row's lock.
                for _ in 0..3_000 {
                    let waiting = watch
                        .db()
                        .query_one(
                            "SELECT count(*) FROM pg_stat_activity
                             WHERE application_name = ?1 AND wait_event_type = 'Lock'",
                            db::vals![taker_name.as_str()],
                        )?
                        .i64(0)?;
                    if waiting == 1 {
                        return Ok(taker);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                panic!("the takeover never waited on the lease row");
            })
            .unwrap();
        taker.join().unwrap()
    });
    assert_eq!(acquired(claim).token, 2);
    assert_eq!(event_kinds(&a, "r1"), ["a.in-flight"]);
    assert!(fenced_progress(&mut a, &lease_a.fence(), "a.stale").is_err());
    assert_eq!(event_kinds(&a, "r1"), ["a.in-flight"]);
}
