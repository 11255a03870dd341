//! Unit tests of the in-memory bus: ordering per key, fan-out, sharing, redelivery.

use super::*;
use std::time::Duration;

fn topics(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn next(sub: &mut Box<dyn Subscription>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a delivery within 5 s")
        .expect("delivery")
}

async fn nothing_within(sub: &mut Box<dyn Subscription>, ms: u64) {
    let got = tokio::time::timeout(Duration::from_millis(ms), sub.next()).await;
    assert!(got.is_err(), "expected no delivery, got {got:?}");
}

#[tokio::test]
async fn memory_round_trip_publish_consume_ack() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("g", &topics(&["t"])).await.unwrap();
    bus.publish("t", "run-1", b"hello".to_vec()).await.unwrap();
    let d = next(&mut sub).await;
    assert_eq!(d.record.topic, "t");
    assert_eq!(d.record.key, "run-1");
    assert_eq!(d.record.payload, b"hello");
    assert_eq!(d.record.redeliveries, 0);
    sub.ack(&d).await.unwrap();
    assert_eq!(bus.group_backlog("g"), (0, 0));
    nothing_within(&mut sub, 50).await;
}

#[tokio::test]
async fn memory_ordering_kept_per_key() {
    let bus = MemoryBus::new();
    let t = topics(&["t"]);
    let mut a = bus.subscribe("g", &t).await.unwrap();
    let mut b = bus.subscribe("g", &t).await.unwrap();
    for i in 0..3 {
        bus.publish("t", "k1", format!("k1-{i}").into_bytes())
            .await
            .unwrap();
    }
    bus.publish("t", "k2", b"k2-0".to_vec()).await.unwrap();
    let first = next(&mut a).await;
    assert_eq!(first.record.payload, b"k1-0");
    // k1-1 must wait for k1-0: the other member gets k2 instead.
    let other = next(&mut b).await;
    assert_eq!(other.record.payload, b"k2-0");
    nothing_within(&mut b, 50).await;
    sub_ack(&mut a, &first).await;
    let second = next(&mut b).await;
    assert_eq!(second.record.payload, b"k1-1");
    sub_ack(&mut b, &second).await;
    sub_ack(&mut b, &other).await;
    let third = next(&mut a).await;
    assert_eq!(third.record.payload, b"k1-2");
}

async fn sub_ack(sub: &mut Box<dyn Subscription>, d: &Delivery) {
    sub.ack(d).await.unwrap();
}

#[tokio::test]
async fn memory_group_fan_out_every_group_gets_every_record() {
    let bus = MemoryBus::new();
    let t = topics(&["t"]);
    let mut g1 = bus.subscribe("g1", &t).await.unwrap();
    let mut g2 = bus.subscribe("g2", &t).await.unwrap();
    bus.publish("t", "k", b"x".to_vec()).await.unwrap();
    let d1 = next(&mut g1).await;
    let d2 = next(&mut g2).await;
    assert_eq!(d1.record, d2.record);
    // Once a topic has groups nothing is kept: a new group starts with new records.
    let mut late = bus.subscribe("late", &t).await.unwrap();
    nothing_within(&mut late, 30).await;
    bus.publish("t", "k", b"y".to_vec()).await.unwrap();
    assert_eq!(next(&mut late).await.record.payload, b"y");
}

#[tokio::test]
async fn memory_records_before_first_group_kept() {
    let bus = MemoryBus::new();
    let t = topics(&["agent.lint"]);
    bus.publish("agent.lint", "run-1", b"early".to_vec())
        .await
        .unwrap();
    let mut agents = bus.subscribe("bosun-agent-lint", &t).await.unwrap();
    let mut audit = bus.subscribe("audit", &t).await.unwrap();
    assert_eq!(next(&mut agents).await.record.payload, b"early");
    assert_eq!(next(&mut audit).await.record.payload, b"early");
}

#[tokio::test]
async fn memory_group_members_share_records() {
    let bus = MemoryBus::new();
    let t = topics(&["t"]);
    let mut a = bus.subscribe("g", &t).await.unwrap();
    let mut b = bus.subscribe("g", &t).await.unwrap();
    for i in 0..4 {
        bus.publish("t", &format!("k{i}"), vec![i]).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        let d = next(&mut a).await;
        seen.push(d.record.payload[0]);
        let d2 = next(&mut b).await;
        seen.push(d2.record.payload[0]);
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    nothing_within(&mut a, 30).await;
}

#[tokio::test]
async fn memory_waiting_subscriber_woken_by_publish() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("g", &topics(&["t"])).await.unwrap();
    let publisher = bus.clone();
    let handle = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        publisher.publish("t", "k", b"late".to_vec()).await
    });
    assert_eq!(next(&mut sub).await.record.payload, b"late");
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn memory_redelivery_on_release_counts() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("g", &topics(&["t"])).await.unwrap();
    bus.publish("t", "k", b"a".to_vec()).await.unwrap();
    bus.publish("t", "k", b"b".to_vec()).await.unwrap();
    let d = next(&mut sub).await;
    sub.release(&d).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(
        again.record.payload, b"a",
        "a released record keeps its place"
    );
    assert_eq!(again.record.redeliveries, 1);
    assert_ne!(again.token, d.token);
    // The old token is settled.
    assert!(matches!(sub.ack(&d).await, Err(BusError::Consume { .. })));
    sub.ack(&again).await.unwrap();
    assert_eq!(next(&mut sub).await.record.payload, b"b");
}

#[tokio::test]
async fn memory_redelivery_on_drop_goes_to_other_member() {
    let bus = MemoryBus::new();
    let t = topics(&["t"]);
    let mut dead = bus.subscribe("g", &t).await.unwrap();
    let mut alive = bus.subscribe("g", &t).await.unwrap();
    bus.publish("t", "k", b"task".to_vec()).await.unwrap();
    let d = next(&mut dead).await;
    nothing_within(&mut alive, 30).await;
    drop(dead);
    let again = next(&mut alive).await;
    assert_eq!(again.record.payload, d.record.payload);
    assert_eq!(again.record.redeliveries, 1);
}

#[tokio::test]
async fn memory_malformed_payload_is_decode_error() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("g", &topics(&["agent.lint"])).await.unwrap();
    bus.publish("agent.lint", "r", b"\xff not json".to_vec())
        .await
        .unwrap();
    let d = next(&mut sub).await;
    let err = d.decode::<crate::messages::TaskMessage>().unwrap_err();
    match &err {
        BusError::Decode {
            topic, position, ..
        } => {
            assert_eq!(topic, "agent.lint");
            assert_eq!(position, &d.position);
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(err.to_string().contains("agent.lint"), "{err}");
    sub.ack(&d).await.unwrap();
}

#[tokio::test]
async fn memory_ack_from_other_subscription_refused() {
    let bus = MemoryBus::new();
    let t = topics(&["t"]);
    let mut a = bus.subscribe("g", &t).await.unwrap();
    let mut b = bus.subscribe("g", &t).await.unwrap();
    bus.publish("t", "k", b"x".to_vec()).await.unwrap();
    let d = next(&mut a).await;
    let err = b.ack(&d).await.unwrap_err();
    assert!(err.to_string().contains("not outstanding"), "{err}");
    a.ack(&d).await.unwrap();
}

#[tokio::test]
async fn memory_close_wakes_waiters() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("g", &topics(&["t"])).await.unwrap();
    let closer = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        closer.close();
    });
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap();
    assert!(matches!(got, Err(BusError::Closed)));
    assert!(matches!(
        bus.publish("t", "k", vec![]).await,
        Err(BusError::Closed)
    ));
}

#[tokio::test]
async fn memory_subscribe_needs_group_and_topics() {
    let bus = MemoryBus::new();
    assert!(matches!(
        bus.subscribe("", &topics(&["t"])).await,
        Err(BusError::Config(_))
    ));
    assert!(matches!(
        bus.subscribe("g", &[]).await,
        Err(BusError::Config(_))
    ));
}

#[tokio::test]
async fn memory_retention_drops_oldest_for_late_groups() {
    let bus = MemoryBus::with_retention(2);
    for i in 0..3u8 {
        bus.publish("t", "k", vec![i]).await.unwrap();
    }
    let mut sub = bus.subscribe("g", &topics(&["t"])).await.unwrap();
    assert_eq!(next(&mut sub).await.record.payload, vec![1]);
}

#[tokio::test]
async fn memory_multi_topic_subscription_in_publish_order() {
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("g", &topics(&["a", "b"])).await.unwrap();
    bus.publish("b", "k1", b"1".to_vec()).await.unwrap();
    bus.publish("a", "k2", b"2".to_vec()).await.unwrap();
    let first = next(&mut sub).await;
    let second = next(&mut sub).await;
    assert_eq!(
        (first.record.topic.as_str(), second.record.topic.as_str()),
        ("b", "a")
    );
}

#[tokio::test]
async fn memory_backlog_counts_unacknowledged_records() {
    let bus = MemoryBus::new();
    let queue = Queue::agent_pool("lint");
    let other = Queue::agent_pool("deploy");
    let before = crate::backlog::now_unix_ms();
    for i in 0..3 {
        bus.publish("agent.lint", &format!("run-{i}"), vec![i])
            .await
            .unwrap();
    }
    // No agent yet: what the topic keeps for the group counts, oldest first.
    let backlogs = bus.backlog(&[queue.clone(), other]).await.unwrap();
    assert_eq!(backlogs[0].lag, 3);
    let oldest = backlogs[0].oldest_unix_ms.expect("an oldest record");
    assert!(oldest >= before, "{oldest} < {before}");
    assert_eq!(backlogs[1], Backlog::default());

    // Taken but not acknowledged still counts; acknowledged does not.
    let mut agent = bus
        .subscribe(&queue.group, std::slice::from_ref(&queue.topic))
        .await
        .unwrap();
    let first = next(&mut agent).await;
    assert_eq!(
        bus.backlog(std::slice::from_ref(&queue)).await.unwrap()[0].lag,
        3
    );
    agent.ack(&first).await.unwrap();
    for _ in 0..2 {
        let delivery = next(&mut agent).await;
        agent.ack(&delivery).await.unwrap();
    }
    assert_eq!(
        bus.backlog(std::slice::from_ref(&queue)).await.unwrap()[0],
        Backlog::default()
    );
}
