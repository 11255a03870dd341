//! The dead-letter rule over the Kafka transport: counted releases, then the dead-letter
//! topic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_bus::messages::DeadLetter;
use bosun_bus::{Bus, DeadLetterRule, Failed, Screened};
use bosun_test_support::assert_contains;
use common::{broker, bus, next_within, nothing_within, unique};

#[tokio::test]
async fn kafka_dead_letter_after_max_deliveries() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.build");
    let dead = unique("agent.dead-letter");
    let bus = bus(&address, 2, &[topic.clone(), dead.clone()]).await;
    let rule = DeadLetterRule::new(3).with_topic(dead.clone());
    let mut letters = bus
        .subscribe(&unique("dashboard"), std::slice::from_ref(&dead))
        .await
        .unwrap();
    let mut sub = bus
        .subscribe(&unique("bosun-agent-build"), std::slice::from_ref(&topic))
        .await
        .unwrap();
    bus.publish(&topic, "run-poison", b"{\"poison\":1}".to_vec())
        .await
        .unwrap();

    let mut outcomes = Vec::new();
    for expected in 0..3 {
        let delivery = next_within(sub.as_mut(), 60).await;
        assert_eq!(
            delivery.record.redeliveries, expected,
            "count carried by the header"
        );
        assert_eq!(
            rule.screen(&bus, sub.as_mut(), &delivery).await.unwrap(),
            Screened::Process
        );
        outcomes.push(
            rule.fail(&bus, sub.as_mut(), &delivery, "image build crashed")
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        outcomes,
        vec![Failed::Released, Failed::Released, Failed::DeadLettered]
    );

    let letter = next_within(letters.as_mut(), 60).await;
    assert_eq!(letter.record.key, "run-poison");
    let body: DeadLetter = letter.decode().unwrap();
    assert_eq!(body.topic, topic);
    assert_eq!(body.deliveries, 3);
    assert_eq!(body.payload, "{\"poison\":1}");
    assert_contains(&body.reason, "image build crashed");
    letters.ack(&letter).await.unwrap();
    // Dead-lettered means acknowledged: it does not come back.
    nothing_within(sub.as_mut(), 2000).await;
}
