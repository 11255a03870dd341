//! `KafkaBus`: the distributed transport, over rdkafka (librdkafka built from source by
//! `rdkafka-sys`; the system library is never used).
//!
//! Design:
//! - **Publishing** goes through one idempotent producer (`enable.idempotence=true`,
//!   `acks=all`, `linger.ms=0`), keyed by run id so one run's records share a partition
//!   and stay ordered. `publish` returns once the delivery report says the broker has it.
//! - **Consuming**: one consumer group per stage topic, named by the caller (agents use
//!   `bosun-agent-<stage>`). Auto-commit and auto offset store are off; an offset is
//!   committed only in `ack`, i.e. after the caller has published the result.
//! - **Long tasks**: every subscription has a poll thread that keeps calling
//!   `poll`, so the member never exceeds `max.poll.interval.ms`. A record's partition is
//!   paused the moment the record is received and resumed by `ack`/`release`, so a task
//!   in progress holds back only the records behind it in its partition (its own run's
//!   among them, which keeps them ordered); other partitions keep flowing. A member
//!   takes at most one record per assigned partition at a time: parallelism comes from
//!   partitions (`topic_partitions`) and group members.
//! - **Redelivery counting**: Kafka does not count deliveries, so the count travels with
//!   the record, in the header `bosun-redeliveries`. `release` re-publishes the record to
//!   the same partition with the header incremented, then commits the original; any
//!   agent process that receives the copy sees the count. The copy goes to the end of
//!   its partition: a released record loses its place behind later records of the same
//!   key (the orchestrator's idempotence makes that harmless). If the copy cannot be
//!   published, `release` seeks back to the record instead, so it is still redelivered,
//!   uncounted.
//! - **Dead members**: a member killed without leaving is expired by the broker after
//!   the session timeout. Where the broker then hands its partitions to nobody (Tansu
//!   0.6 does), the survivors notice and rejoin the group (see `orphans`), so the dead
//!   member's unsettled record is redelivered.
//! - **Known gap**: a consumer that dies without releasing (crash, dropped subscription)
//!   leaves the record uncommitted; the group redelivers it with the same count. Offset
//!   commit metadata would have carried a per-offset count durably, but Tansu (0.6)
//!   answers `OffsetFetch` with empty metadata whatever was committed, so that is not
//!   portable across Kafka-protocol brokers.
//! - **Latency**: consumers default to `fetch.wait.max.ms=1` (see
//!   [`DEFAULT_FETCH_WAIT_MS`]): Tansu answers a fetch only after the full wait.
//! - **Dead letters**: [`crate::dead_letter::DeadLetterRule`] applies the N-deliveries
//!   rule over any transport, using that count.
//! - **Backlog**: `backlog` measures consumer lag and the oldest unsettled record per
//!   queue with a bounded number of requests and clients that never join a group
//!   (see `backlog`).
//! - **Topics** are created by `ensure_topics` through the admin API (an existing topic
//!   is fine); nothing relies on broker-side auto-creation.

mod backlog;
mod book;
mod config;
mod context;
mod orphans;
mod subscription;

pub(crate) use config::check_broker_address;
pub use config::{
    DEFAULT_CLIENT_ID, DEFAULT_FETCH_WAIT_MS, KafkaConfig, KafkaSecurity, SecurityProtocol,
    TLS_SUPPORTED,
};
pub use subscription::{KafkaSubscription, REDELIVERIES_HEADER};

use crate::memory::check_subscription;
use crate::transport::{BoxFuture, Bus, BusError, Subscription};
use context::LogContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::time::Duration;
use tracing::Instrument;

/// How long `publish` may wait for room in the producer queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long topic creation may take on the broker.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The Kafka transport. Clones share the producer and admin client.
#[derive(Clone)]
pub struct KafkaBus {
    config: KafkaConfig,
    address: String,
    producer: FutureProducer<LogContext>,
    admin: std::sync::Arc<AdminClient<LogContext>>,
    /// This process's subscriptions by group, for the orphaned-partition check.
    local_members: std::sync::Arc<orphans::LocalMembers>,
    /// The clients measuring consumer lag, made on first use.
    backlog: std::sync::Arc<backlog::BacklogProbe>,
}

impl KafkaBus {
    /// Create the clients and wait (at most `config.connect_timeout`) for the cluster's
    /// metadata. A broker that does not answer is `BusError::Unreachable` naming the
    /// configured address; callers retry with backoff.
    pub async fn connect(config: KafkaConfig) -> Result<Self, BusError> {
        config.validate()?;
        let address = config.bootstrap_servers();
        let span = tracing::info_span!("kafka.connect", brokers = %address);
        async move {
            let producer: FutureProducer<LogContext> = config
                .producer()
                .create_with_context(LogContext::new("producer"))
                .map_err(|e| client_error(&address, e))?;
            let admin: AdminClient<LogContext> = config
                .admin()
                .create_with_context(LogContext::new("admin"))
                .map_err(|e| client_error(&address, e))?;
            let probe = producer.clone();
            let timeout = config.connect_timeout;
            let metadata = tokio::task::spawn_blocking(move || {
                probe
                    .client()
                    .fetch_metadata(None, timeout)
                    .map(|m| m.brokers().len())
            })
            .await
            .map_err(|e| BusError::Unreachable {
                address: address.clone(),
                detail: format!("metadata probe did not finish: {e}"),
            })?;
            match metadata {
                Ok(brokers) if brokers > 0 => {
                    tracing::info!(cluster_brokers = brokers, "connected to Kafka");
                    Ok(Self {
                        backlog: std::sync::Arc::new(backlog::BacklogProbe::new(config.clone())),
                        config,
                        address,
                        producer,
                        admin: std::sync::Arc::new(admin),
                        local_members: Default::default(),
                    })
                }
                Ok(_) => Err(BusError::Unreachable {
                    address,
                    detail: "the cluster reported no brokers".to_owned(),
                }),
                Err(e) => Err(BusError::Unreachable {
                    address,
                    detail: format!(
                        "no metadata within {} ms: {}",
                        timeout.as_millis(),
                        kafka_detail(&e)
                    ),
                }),
            }
        }
        .instrument(span)
        .await
    }

    /// The settings this bus was built from.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Join `group` on `topics` and return the concrete subscription (which can report
    /// its partition assignment); [`Bus::subscribe`] boxes this.
    pub async fn subscribe_kafka(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<KafkaSubscription, BusError> {
        check_subscription(group, topics)?;
        KafkaSubscription::start(
            &self.config,
            group,
            topics,
            self.producer.clone(),
            std::sync::Arc::clone(&self.local_members),
        )
    }

    /// Publish `payload` with extra headers, to a fixed partition when given.
    pub(crate) async fn send(
        producer: &FutureProducer<LogContext>,
        topic: &str,
        partition: Option<i32>,
        key: &str,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<(i32, i64), BusError> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        match producer.send(record, Timeout::After(QUEUE_TIMEOUT)).await {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((e, _)) => Err(BusError::Publish {
                topic: topic.to_owned(),
                detail: kafka_detail(&e),
            }),
        }
    }
}

impl Bus for KafkaBus {
    fn describe(&self) -> String {
        format!("kafka://{}", self.address)
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), BusError>> {
        let span = tracing::info_span!("kafka.ensure_topics", brokers = %self.address, ?topics);
        Box::pin(
            async move {
                let partitions = self.config.topic_partitions;
                let replication = self.config.topic_replication;
                let new: Vec<NewTopic<'_>> = topics
                    .iter()
                    .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
                    .collect();
                let options = AdminOptions::new()
                    .operation_timeout(Some(ADMIN_TIMEOUT))
                    .request_timeout(Some(ADMIN_TIMEOUT));
                let first = topics.first().cloned().unwrap_or_default();
                let results = self
                    .admin
                    .create_topics(new.iter(), &options)
                    .await
                    .map_err(|e| BusError::Topic {
                        topic: first,
                        detail: kafka_detail(&e),
                    })?;
                for result in results {
                    match result {
                        Ok(topic) => tracing::info!(%topic, partitions, "created topic"),
                        Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                            tracing::debug!(%topic, "topic already exists");
                        }
                        Err((topic, code)) => {
                            return Err(BusError::Topic {
                                detail: format!("{code:?} ({code})"),
                                topic,
                            });
                        }
                    }
                }
                Ok(())
            }
            .instrument(span),
        )
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        let span = tracing::debug_span!("kafka.publish", topic, key, bytes = payload.len());
        Box::pin(
            async move {
                let (partition, offset) =
                    Self::send(&self.producer, topic, None, key, &payload, None).await?;
                tracing::trace!(partition, offset, "published");
                Ok(())
            }
            .instrument(span),
        )
    }

    fn backlog<'a>(
        &'a self,
        queues: &'a [crate::backlog::Queue],
    ) -> BoxFuture<'a, Result<Vec<crate::backlog::Backlog>, BusError>> {
        let span =
            tracing::debug_span!("kafka.backlog", brokers = %self.address, queues = queues.len());
        let probe = std::sync::Arc::clone(&self.backlog);
        let owned = queues.to_vec();
        Box::pin(
            async move {
                // librdkafka's calls block; they run on a blocking thread.
                tokio::task::spawn_blocking(move || probe.measure(&owned))
                    .await
                    .map_err(|e| BusError::Consume {
                        topic: "backlog".to_owned(),
                        detail: format!("the measurement did not finish: {e}"),
                    })?
            }
            .instrument(span),
        )
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Box<dyn Subscription>, BusError>> {
        Box::pin(async move {
            let subscription = self.subscribe_kafka(group, topics).await?;
            Ok(Box::new(subscription) as Box<dyn Subscription>)
        })
    }
}

/// Headers for a copy of a record with its redelivery count set to `redeliveries`.
pub(crate) fn copy_headers(
    original: &[(String, Option<Vec<u8>>)],
    redeliveries: u32,
) -> OwnedHeaders {
    let count = redeliveries.to_string();
    let mut headers = OwnedHeaders::new_with_capacity(original.len() + 1);
    for (key, value) in original {
        if key != REDELIVERIES_HEADER {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
    }
    headers.insert(Header {
        key: REDELIVERIES_HEADER,
        value: Some(count.as_bytes()),
    })
}

/// A client could not be created from the settings.
fn client_error(address: &str, error: KafkaError) -> BusError {
    BusError::Config(format!(
        "Kafka client for {address}: {}",
        kafka_detail(&error)
    ))
}

/// A short description of a librdkafka error.
pub(crate) fn kafka_detail(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}: {code}"),
        None => error.to_string(),
    }
}
