//! Kafka consumer groups against a real broker: sharing, fan-out, redelivery to the
//! surviving member.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_bus::{Bus, Delivery, KafkaSubscription, Subscription};
use common::{broker, bus, next_within, nothing_within, unique, wait_for_assignment};
use std::collections::BTreeSet;
use std::time::Duration;

/// Whichever of two members receives the next delivery, within `secs`.
async fn next_of_two(
    a: &mut KafkaSubscription,
    b: &mut KafkaSubscription,
    secs: u64,
) -> (usize, Delivery) {
    let got = tokio::time::timeout(Duration::from_secs(secs), async {
        tokio::select! {
            d = a.next() => (0, d),
            d = b.next() => (1, d),
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no delivery within {secs} s"));
    (got.0, got.1.expect("delivery"))
}

#[tokio::test]
async fn kafka_group_members_share_records() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.lint");
    let group = unique("bosun-agent-lint");
    let topics = vec![topic.clone()];
    let bus = bus(&address, 4, &topics).await;
    let mut a = bus.subscribe_kafka(&group, &topics).await.unwrap();
    let mut b = bus.subscribe_kafka(&group, &topics).await.unwrap();
    wait_for_assignment(&[&a, &b], 4).await;

    let total = 40;
    for i in 0..total {
        bus.publish(&topic, &format!("run-{i}"), vec![i])
            .await
            .unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut per_member = [0usize; 2];
    while seen.len() < usize::from(total) {
        let (member, delivery) = next_of_two(&mut a, &mut b, 60).await;
        assert!(
            seen.insert(delivery.record.payload[0]),
            "record {:?} delivered twice",
            delivery.record.key
        );
        per_member[member] += 1;
        if member == 0 {
            a.ack(&delivery).await.unwrap();
        } else {
            b.ack(&delivery).await.unwrap();
        }
    }
    assert!(
        per_member.iter().all(|n| *n > 0),
        "both members must get records: {per_member:?}"
    );
}

#[tokio::test]
async fn kafka_every_group_gets_every_record() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.results");
    let topics = vec![topic.clone()];
    let bus = bus(&address, 2, &topics).await;
    let mut orchestrator = bus
        .subscribe(&unique("orchestrator"), &topics)
        .await
        .unwrap();
    let mut dashboard = bus.subscribe(&unique("dashboard"), &topics).await.unwrap();
    bus.publish(&topic, "run-1", b"result".to_vec())
        .await
        .unwrap();
    for sub in [&mut orchestrator, &mut dashboard] {
        let delivery = next_within(sub.as_mut(), 60).await;
        assert_eq!(delivery.record.payload, b"result");
        sub.ack(&delivery).await.unwrap();
    }
}

/// Publish one record to a settled two-member group; return (holder, other, delivery).
async fn one_record_held(
    address: &str,
) -> (
    KafkaSubscription,
    KafkaSubscription,
    Delivery,
    bosun_bus::KafkaBus,
) {
    let topic = unique("agent.test");
    let group = unique("bosun-agent-test");
    let topics = vec![topic.clone()];
    let bus = bus(address, 2, &topics).await;
    let mut a = bus.subscribe_kafka(&group, &topics).await.unwrap();
    let mut b = bus.subscribe_kafka(&group, &topics).await.unwrap();
    wait_for_assignment(&[&a, &b], 2).await;
    bus.publish(&topic, "run-9", b"task".to_vec())
        .await
        .unwrap();
    let (member, delivery) = next_of_two(&mut a, &mut b, 60).await;
    assert_eq!(delivery.record.redeliveries, 0);
    if member == 0 {
        (a, b, delivery, bus)
    } else {
        (b, a, delivery, bus)
    }
}

#[tokio::test]
async fn kafka_released_record_redelivered_to_other_member() {
    let Some(address) = broker() else { return };
    let (mut holder, mut other, delivery, _bus) = one_record_held(&address).await;
    holder.release(&delivery).await.unwrap();
    drop(holder);
    let again = next_within(&mut other, 60).await;
    assert_eq!(again.record.payload, b"task");
    assert_eq!(again.record.key, "run-9");
    assert_eq!(again.record.redeliveries, 1, "a release is counted");
    other.ack(&again).await.unwrap();
    // The released original was committed: only the counted copy comes back.
    nothing_within(&mut other, 2000).await;
}

#[tokio::test]
async fn kafka_dropped_subscription_record_redelivered() {
    let Some(address) = broker() else { return };
    let (holder, mut other, _delivery, _bus) = one_record_held(&address).await;
    // A consumer that dies without settling: the group hands the record on.
    drop(holder);
    let again = next_within(&mut other, 60).await;
    assert_eq!(again.record.payload, b"task");
    // Kafka keeps no count of deliveries to a consumer that died (see `kafka` docs).
    assert_eq!(again.record.redeliveries, 0);
    other.ack(&again).await.unwrap();
}

#[tokio::test]
async fn kafka_held_delivery_survives_rebalance() {
    let Some(address) = broker() else { return };
    let tasks = unique("agent.lint");
    let other = unique("agent.policy");
    let group = unique("bosun-agent");
    let bus = bus(&address, 1, &[tasks.clone(), other.clone()]).await;
    let mut a = bus
        .subscribe_kafka(&group, std::slice::from_ref(&tasks))
        .await
        .unwrap();
    for step in ["first", "second"] {
        bus.publish(&tasks, "run-1", step.as_bytes().to_vec())
            .await
            .unwrap();
    }
    let first = next_within(&mut a, 60).await;
    assert_eq!(first.record.payload, b"first");

    // A member joining the group for another topic forces a rebalance: `a` loses and
    // regains its partition while `first` is still outstanding.
    let b = bus
        .subscribe_kafka(&group, std::slice::from_ref(&other))
        .await
        .unwrap();
    wait_for_assignment(&[&a, &b], 2).await;
    // The regained partition stays paused: `first` is not fetched again, nor `second`.
    nothing_within(&mut a, 2000).await;
    a.ack(&first).await.unwrap();
    let second = next_within(&mut a, 60).await;
    assert_eq!(second.record.payload, b"second", "first must not come back");
    a.ack(&second).await.unwrap();
    nothing_within(&mut a, 1500).await;
}
