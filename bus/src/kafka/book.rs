//! The partition book of a Kafka subscription, and the rebalance callback that keeps it
//! in step with the group: which partitions are assigned, which are held by an
//! outstanding delivery, and which assignment epoch each delivery was made under.

use super::context::{forward_error, forward_log};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::TopicPartitionList;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The consumer type of a subscription.
pub(crate) type GroupConsumer = BaseConsumer<GroupContext>;

/// Partition bookkeeping shared by the poll thread, the rebalance callback and the
/// settle operations.
#[derive(Default)]
pub(crate) struct Book {
    pub(crate) next_token: u64,
    pub(crate) partitions: HashMap<(String, i32), PartitionState>,
    pub(crate) outstanding: HashMap<u64, Held>,
    /// When partitions were last assigned: the orphan check runs only for a while
    /// after a rebalance, which is when a dead member's partitions can be lost.
    pub(crate) last_assigned: Option<std::time::Instant>,
    /// The poll thread has stopped: this subscription is no longer a group member,
    /// whatever its book still says.
    pub(crate) closed: bool,
}

impl Book {
    /// The partitions this member holds now, as `(topic, partition)`.
    pub(crate) fn assigned(&self) -> impl Iterator<Item = &(String, i32)> {
        self.partitions
            .iter()
            .filter(|(_, state)| state.assigned)
            .map(|(tp, _)| tp)
    }
}

#[derive(Default)]
pub(crate) struct PartitionState {
    pub(crate) assigned: bool,
    /// Bumped on every assignment: a delivery made under an older epoch was followed
    /// by a reassignment, which reset the fetch position to the committed offset.
    pub(crate) epoch: u64,
    /// The outstanding delivery that keeps this partition paused.
    pub(crate) held: Option<u64>,
    /// A record from this partition was handed out by this subscription, so its
    /// committed offset is the ack path's to move, never the orphan check's.
    pub(crate) delivered: bool,
}

/// An outstanding delivery: where it came from and what a re-publish needs.
pub(crate) struct Held {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) redeliveries: u32,
    pub(crate) epoch: u64,
}

pub(crate) fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    // Updates to the book never panic midway, so a poisoned lock guards sound data.
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Consumer callbacks: logs, and keeping held partitions paused across rebalances.
pub(crate) struct GroupContext {
    pub(crate) group: String,
    pub(crate) book: Arc<Mutex<Book>>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        forward_log("consumer", level, facility, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        forward_error("consumer", &error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, consumer: &GroupConsumer, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let mut hold = TopicPartitionList::new();
                let mut free = TopicPartitionList::new();
                let mut assigned = Vec::new();
                {
                    let mut book = lock(&self.book);
                    for elem in tpl.elements() {
                        let state = book
                            .partitions
                            .entry((elem.topic().to_owned(), elem.partition()))
                            .or_default();
                        state.assigned = true;
                        state.epoch += 1;
                        if state.held.is_some() {
                            hold.add_partition(elem.topic(), elem.partition());
                        } else {
                            free.add_partition(elem.topic(), elem.partition());
                        }
                        assigned.push(format!("{}/{}", elem.topic(), elem.partition()));
                    }
                    book.last_assigned = Some(std::time::Instant::now());
                }
                // librdkafka (2.12) keeps an application pause across revoke/assign of
                // the same partition. So a partition whose delivery was settled while it
                // was revoked must be resumed here, or it would stay paused for good;
                // one still held is paused explicitly rather than relying on that.
                if hold.count() > 0
                    && let Err(e) = consumer.pause(&hold)
                {
                    tracing::warn!(group = %self.group, error = %e, "re-pausing held partitions failed");
                }
                if free.count() > 0
                    && let Err(e) = consumer.resume(&free)
                {
                    tracing::debug!(group = %self.group, error = %e, "resuming assigned partitions failed");
                }
                tracing::info!(group = %self.group, partitions = ?assigned, "partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                let mut book = lock(&self.book);
                for elem in tpl.elements() {
                    if let Some(state) = book
                        .partitions
                        .get_mut(&(elem.topic().to_owned(), elem.partition()))
                    {
                        state.assigned = false;
                    }
                }
                tracing::info!(group = %self.group, count = tpl.count(), "partitions revoked");
            }
            Rebalance::Error(e) => {
                tracing::warn!(group = %self.group, error = %e, "rebalance failed");
            }
        }
    }
}
