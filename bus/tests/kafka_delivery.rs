//! Kafka transport against a real broker: publish, consume, ack, decode, topics, connect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_bus::messages::{MESSAGE_VERSION, TaskMessage, encode};
use bosun_bus::{Bus, BusError, KafkaBus, Task, connect_url};
use bosun_test_support::assert_contains;
use common::{broker, bus, config, next_within, nothing_within, unique};
use std::time::{Duration, Instant};

fn task_message(run_id: &str) -> TaskMessage {
    TaskMessage {
        version: MESSAGE_VERSION,
        task: Task {
            run_id: run_id.to_owned(),
            stage: "lint".to_owned(),
            attempt: 1,
            tenant: "acme".to_owned(),
            repository: "acme/app".to_owned(),
            commit: "0123abcd".to_owned(),
            branch: "main".to_owned(),
            event: "push".to_owned(),
            commit_message: String::new(),
            config: vec![("strict".to_owned(), "true".to_owned())],
        },
        plugin: None,
        clone_url: "file:///tmp/app".to_owned(),
        deadline_unix_ms: 4_102_444_800_000,
        network_allowed: false,
        secrets_granted: Vec::new(),
        secrets_withheld: Vec::new(),
        push_repository: None,
        image_repository: None,
        plugin_digest: None,
        artifacts: None,
    }
}

#[tokio::test]
async fn kafka_round_trip_publish_consume_ack() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.lint");
    let group = unique("bosun-agent-lint");
    let topics = vec![topic.clone()];
    let bus = bus(&address, 3, &topics).await;

    let mut sub = bus.subscribe(&group, &topics).await.unwrap();
    let sent = task_message("run-1");
    bus.publish(&topic, "run-1", encode(&sent)).await.unwrap();
    let delivery = next_within(sub.as_mut(), 60).await;
    assert_eq!(delivery.record.topic, topic);
    assert_eq!(delivery.record.key, "run-1");
    assert_eq!(delivery.record.redeliveries, 0);
    assert_contains(&delivery.position, "/");
    let received: TaskMessage = delivery.decode().unwrap();
    assert_eq!(received, sent);
    sub.ack(&delivery).await.unwrap();
    // Acknowledging twice is refused, not a crash.
    assert!(matches!(
        sub.ack(&delivery).await,
        Err(BusError::Consume { .. })
    ));
    drop(sub);
    // The dropped member leaves from its poll thread, a moment later. Tansu (0.6) can
    // stall a join that overlaps a leave for the whole rebalance timeout, so let the
    // leave land first.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // The offset was committed: a new member of the group starts after the record.
    let mut again = bus.subscribe(&group, &topics).await.unwrap();
    bus.publish(&topic, "run-2", encode(&task_message("run-2")))
        .await
        .unwrap();
    let second = next_within(again.as_mut(), 60).await;
    assert_eq!(
        second.record.key, "run-2",
        "run-1 was acked and must not return"
    );
    again.ack(&second).await.unwrap();
}

#[tokio::test]
async fn kafka_malformed_payload_is_decode_error() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.test");
    let topics = vec![topic.clone()];
    let bus = bus(&address, 1, &topics).await;
    let mut sub = bus.subscribe(&unique("g"), &topics).await.unwrap();
    bus.publish(&topic, "run-x", b"{not json".to_vec())
        .await
        .unwrap();
    let delivery = next_within(sub.as_mut(), 60).await;
    match delivery.decode::<TaskMessage>() {
        Err(BusError::Decode {
            topic: t, position, ..
        }) => {
            assert_eq!(t, topic);
            assert_eq!(position, delivery.position);
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    sub.ack(&delivery).await.unwrap();
}

#[tokio::test]
async fn kafka_ensure_topics_idempotent() {
    let Some(address) = broker() else { return };
    let first = unique("agent.build");
    let second = unique("agent.deploy");
    let bus = bus(&address, 2, std::slice::from_ref(&first)).await;
    bus.ensure_topics(std::slice::from_ref(&first))
        .await
        .unwrap();
    bus.ensure_topics(&[first.clone(), second.clone()])
        .await
        .unwrap();
    // Both are usable.
    bus.publish(&second, "k", b"{}".to_vec()).await.unwrap();
    let mut sub = bus.subscribe(&unique("g"), &[second]).await.unwrap();
    next_within(sub.as_mut(), 60).await;
}

#[tokio::test]
async fn kafka_held_delivery_pauses_its_partition() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.security");
    let topics = vec![topic.clone()];
    let bus = bus(&address, 2, &topics).await;
    let mut sub = bus.subscribe(&unique("g"), &topics).await.unwrap();
    for step in ["first", "second"] {
        bus.publish(&topic, "run-ordered", step.as_bytes().to_vec())
            .await
            .unwrap();
    }
    let first = next_within(sub.as_mut(), 60).await;
    assert_eq!(first.record.payload, b"first");
    // Same key, same partition: held back while the first is outstanding.
    nothing_within(sub.as_mut(), 1500).await;
    sub.ack(&first).await.unwrap();
    let second = next_within(sub.as_mut(), 30).await;
    assert_eq!(second.record.payload, b"second");
    sub.ack(&second).await.unwrap();
}

#[tokio::test]
async fn kafka_long_task_keeps_membership() {
    let Some(address) = broker() else { return };
    let topic = unique("agent.deploy");
    let topics = vec![topic.clone()];
    let mut settings = config(&address, 1);
    // A task that outlives max.poll.interval.ms must not cost the member its place.
    for (key, value) in [
        ("session.timeout.ms", "6000"),
        ("max.poll.interval.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ] {
        settings.extra.push((key.to_owned(), value.to_owned()));
    }
    let bus = KafkaBus::connect(settings).await.unwrap();
    bus.ensure_topics(&topics).await.unwrap();
    let mut sub = bus.subscribe(&unique("g"), &topics).await.unwrap();
    bus.publish(&topic, "run-long", b"long".to_vec())
        .await
        .unwrap();
    bus.publish(&topic, "run-long", b"after".to_vec())
        .await
        .unwrap();
    let long = next_within(sub.as_mut(), 60).await;
    assert_eq!(long.record.payload, b"long");
    tokio::time::sleep(Duration::from_secs(8)).await;
    sub.ack(&long).await.unwrap();
    let after = next_within(sub.as_mut(), 30).await;
    assert_eq!(
        after.record.payload, b"after",
        "the long task must not come back"
    );
    assert_eq!(after.record.redeliveries, 0);
    sub.ack(&after).await.unwrap();
}

#[tokio::test]
async fn kafka_connect_unreachable_names_address() {
    // Needs no broker: a port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    let mut settings = config(&address, 1);
    settings.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = KafkaBus::connect(settings)
        .await
        .err()
        .expect("no broker listens there");
    assert!(started.elapsed() < Duration::from_secs(15), "bounded wait");
    match &err {
        BusError::Unreachable { address: a, .. } => assert_eq!(a, &address),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.to_string().contains(&address), "{err}");

    let err = connect_url(&format!("kafka://{address}"))
        .await
        .err()
        .expect("no broker listens there");
    assert!(matches!(err, BusError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn kafka_backlog_counts_uncommitted_tasks_until_acked() {
    let Some(address) = broker() else { return };
    // A pool of its own: topics and groups are shared by tests running on this broker.
    let pool = unique("backlog");
    let queue = bosun_bus::Queue::agent_pool(&pool);
    let missing = bosun_bus::Queue::agent_pool(&unique("backlog-none"));
    let topics = vec![queue.topic.clone()];
    let bus = bus(&address, 3, &topics).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for i in 0..5 {
        let run = format!("run-{i}");
        bus.publish(&queue.topic, &run, encode(&task_message(&run)))
            .await
            .unwrap();
    }

    // No agent has ever consumed: every task counts, dated by its publish time.
    let queues = [queue.clone(), missing];
    let measured = bus.backlog(&queues).await.unwrap();
    assert_eq!(measured[0].lag, 5, "{measured:?}");
    let oldest = measured[0].oldest_unix_ms.expect("the oldest task's time");
    assert!(oldest >= before.saturating_sub(1000), "{oldest} < {before}");
    assert_eq!(measured[0].oldest_seconds(oldest + 2_500), 2.5);
    // A pool whose topic does not exist has nothing waiting.
    assert_eq!(measured[1], bosun_bus::Backlog::default());

    // A consumer of the agents' group takes every task and commits it: nothing is left.
    let mut agent = bus.subscribe(&queue.group, &topics).await.unwrap();
    for _ in 0..5 {
        let delivery = next_within(agent.as_mut(), 60).await;
        agent.ack(&delivery).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let measured = bus.backlog(std::slice::from_ref(&queue)).await.unwrap();
        if measured[0] == bosun_bus::Backlog::default() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lag not back to 0 after every task was acked: {measured:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
