//! Shared set-up for the Kafka integration tests: find the broker, name things uniquely.
//!
//! The broker address comes from `BOSUN_TEST_KAFKA` (e.g. `127.0.0.1:9092`). Without a
//! broker a test fails under `CI=true` and is skipped loudly otherwise.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bosun_bus::{Bus, Delivery, KafkaBus, KafkaConfig, KafkaSubscription, Subscription};
use bosun_test_support::missing_service;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The broker address, or `None` when the test must be skipped (outside CI).
/// Also routes the bus's tracing to the test output (`RUST_LOG=bosun_bus=debug`).
pub fn broker() -> Option<String> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let test = std::thread::current()
        .name()
        .unwrap_or("kafka test")
        .to_owned();
    let address = match std::env::var("BOSUN_TEST_KAFKA") {
        Ok(address) if !address.trim().is_empty() => address.trim().to_owned(),
        _ => return missing_service(&test, "BOSUN_TEST_KAFKA (the Kafka broker) is not set"),
    };
    let first = address.split(',').next().unwrap_or_default().to_owned();
    let answers = first.to_socket_addrs().ok().and_then(|mut addrs| {
        addrs.find(|a| TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok())
    });
    match answers {
        Some(_) => Some(address),
        None => missing_service(&test, &format!("no Kafka broker answers at {first}")),
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{:x}-{}",
        std::process::id(),
        nanos & 0xffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings for tests: the broker, a few partitions.
pub fn config(address: &str, partitions: i32) -> KafkaConfig {
    let mut config = KafkaConfig::new(address.split(','));
    config.client_id = "bosun-bus-tests".to_owned();
    config.topic_partitions = partitions;
    config
}

/// Connect and create `topics`.
pub async fn bus(address: &str, partitions: i32, topics: &[String]) -> KafkaBus {
    let bus = KafkaBus::connect(config(address, partitions))
        .await
        .expect("connect to the test broker");
    bus.ensure_topics(topics).await.expect("create test topics");
    bus
}

/// The next delivery, within `secs`.
pub async fn next_within(sub: &mut dyn Subscription, secs: u64) -> Delivery {
    tokio::time::timeout(Duration::from_secs(secs), sub.next())
        .await
        .unwrap_or_else(|_| panic!("no delivery within {secs} s"))
        .expect("delivery")
}

/// Assert nothing is delivered for `ms`.
pub async fn nothing_within(sub: &mut dyn Subscription, ms: u64) {
    let got = tokio::time::timeout(Duration::from_millis(ms), sub.next()).await;
    if let Ok(got) = got {
        panic!("expected no delivery, got {got:?}");
    }
}

/// Wait until the members together own all `partitions` of their topic, each some.
pub async fn wait_for_assignment(members: &[&KafkaSubscription], partitions: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let owned: Vec<usize> = members.iter().map(|m| m.assignment().len()).collect();
        if owned.iter().all(|n| *n > 0) && owned.iter().sum::<usize>() == partitions {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group did not settle within 60 s: partitions per member {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
