//! The bus trait every transport implements; nothing above it knows which one is in use.
//!
//! Delivery is at-least-once: a consumer acknowledges a delivery only after the work it
//! triggered is settled (for an agent: after the stage result is published). A delivery
//! that is released, or whose consumer dies, comes back.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, so transports can sit behind `dyn Bus`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or refused the connection.
    #[error("broker {address} unreachable: {detail}")]
    Unreachable {
        /// Broker address as configured.
        address: String,
        /// What the client reported.
        detail: String,
    },
    /// A publish was not acknowledged by the broker.
    #[error("publishing to {topic} failed: {detail}")]
    Publish {
        /// Target topic.
        topic: String,
        /// What the client reported.
        detail: String,
    },
    /// Consuming or committing failed.
    #[error("consuming from {topic} failed: {detail}")]
    Consume {
        /// Source topic (or topics).
        topic: String,
        /// What the client reported.
        detail: String,
    },
    /// A message could not be decoded.
    #[error("message on {topic} at {position} is not valid: {detail}")]
    Decode {
        /// Source topic.
        topic: String,
        /// `partition/offset` or an in-memory sequence number.
        position: String,
        /// What was wrong.
        detail: crate::messages::DecodeError,
    },
    /// A topic could not be created or checked.
    #[error("creating topic {topic} failed: {detail}")]
    Topic {
        /// The topic.
        topic: String,
        /// What the broker or client reported.
        detail: String,
    },
    /// The bus (or this subscription) was shut down.
    #[error("the bus is closed")]
    Closed,
    /// Bad transport settings (address, security options).
    #[error("bus configuration: {0}")]
    Config(String),
}

/// One message as the transport carries it: opaque bytes keyed by run id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic it was published to.
    pub topic: String,
    /// Partitioning key: the run id, so one run's messages stay ordered.
    pub key: String,
    /// JSON payload (see `messages`).
    pub payload: Vec<u8>,
    /// How many times this record has been delivered to the group before (0 on the
    /// first delivery), as far as the transport can tell; the dead-letter rule uses it.
    pub redeliveries: u32,
}

/// A received record plus the transport's handle to acknowledge it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The record.
    pub record: Record,
    /// Transport-specific position (`partition/offset` for Kafka), for logs.
    pub position: String,
    /// Opaque handle used by `ack`/`release`.
    pub token: u64,
}

impl Delivery {
    /// Decode the payload as a versioned message; a malformed one is
    /// [`BusError::Decode`] naming the topic and position.
    pub fn decode<'a, T>(&'a self) -> Result<T, BusError>
    where
        T: serde::Deserialize<'a> + crate::messages::Versioned,
    {
        crate::messages::decode(&self.record.payload).map_err(|detail| BusError::Decode {
            topic: self.record.topic.clone(),
            position: self.position.clone(),
            detail,
        })
    }
}

/// A consumer in a group, reading a set of topics.
pub trait Subscription: Send {
    /// Wait for the next delivery. While a delivery is outstanding the transport keeps
    /// the group membership alive (Kafka: the partition is paused and polling goes on).
    /// Cancel-safe: a `next` dropped before it completes loses no record.
    fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>>;

    /// The work for this delivery is settled: commit it, never to be delivered again.
    ///
    /// Afterwards the delivery is no longer outstanding, even on error: an error means
    /// the transport could not record the settlement (Kafka: the commit failed), so the
    /// record may be delivered again later, after a rebalance or restart.
    fn ack(&mut self, delivery: &Delivery) -> BoxFuture<'_, Result<(), BusError>>;

    /// Give the delivery back unsettled (graceful shutdown, or work that could not be
    /// done): it will be redelivered, with `redeliveries` incremented where the
    /// transport can count (both transports count a release). Afterwards the delivery
    /// is no longer outstanding, even on error.
    fn release(&mut self, delivery: &Delivery) -> BoxFuture<'_, Result<(), BusError>>;
}

/// A message bus: in-memory for the embedded default, Kafka when distributed.
pub trait Bus: Send + Sync {
    /// A short description for logs (`in-memory`, `kafka://127.0.0.1:9092`).
    fn describe(&self) -> String;

    /// Create the topics if they do not exist (idempotent).
    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), BusError>>;

    /// Publish one record and wait until the broker has it.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Join consumer group `group` on `topics`.
    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Box<dyn Subscription>, BusError>>;

    /// How far each group is behind on its topic, one answer per queue in order (see
    /// [`crate::backlog`]). Reads only: it joins no group and commits nothing. Kafka
    /// answers with a bounded number of broker requests per call, whatever the number
    /// of queues (one metadata, two offset lists, one committed-offset fetch per group,
    /// one fetch of the oldest records).
    fn backlog<'a>(
        &'a self,
        queues: &'a [crate::backlog::Queue],
    ) -> BoxFuture<'a, Result<Vec<crate::backlog::Backlog>, BusError>>;
}
