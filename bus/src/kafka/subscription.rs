//! `KafkaSubscription`: one consumer-group member, its poll thread, and the ack and
//! release paths (the partition book they share lives in `book`).
//!
//! The poll thread owns the consumer and never stops polling (that is what keeps the
//! member in its group during a long task). Each record it receives pauses its
//! partition and becomes an outstanding delivery; `ack` commits `offset + 1` and
//! resumes the partition, `release` re-publishes a counted copy (see the module
//! `kafka`) and then does the same. A rebalance that hands a partition back while a
//! delivery from it is still outstanding re-pauses it, and the settle step seeks to
//! the right offset before resuming, so nothing is fetched twice.

use super::book::{Book, GroupConsumer, GroupContext, Held, lock};
use super::context::LogContext;
use super::orphans::{LocalMembers, OrphanWatch};
use super::{KafkaBus, KafkaConfig, copy_headers, kafka_detail};
use crate::memory::not_outstanding;
use crate::transport::{BoxFuture, BusError, Delivery, Record, Subscription};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// Header carrying how many times a record was delivered before (absent means 0).
pub const REDELIVERIES_HEADER: &str = "bosun-redeliveries";

/// How long one `poll` call blocks; also how quickly the thread notices a dropped
/// subscription.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Bound on a seek.
const SEEK_TIMEOUT: Duration = Duration::from_secs(5);

/// One member of a consumer group on Kafka.
pub struct KafkaSubscription {
    group: String,
    topics: Vec<String>,
    book: Arc<Mutex<Book>>,
    /// The poll thread holds the only strong reference, so the consumer is closed
    /// (leaving the group) on that thread, never on an async worker.
    consumer: Weak<GroupConsumer>,
    producer: FutureProducer<LogContext>,
    deliveries: mpsc::UnboundedReceiver<Result<Delivery, BusError>>,
}

impl KafkaSubscription {
    pub(crate) fn start(
        config: &KafkaConfig,
        group: &str,
        topics: &[String],
        producer: FutureProducer<LogContext>,
        local_members: Arc<LocalMembers>,
    ) -> Result<Self, BusError> {
        let book = Arc::new(Mutex::new(Book::default()));
        local_members.register(group, &book);
        let context = GroupContext {
            group: group.to_owned(),
            book: Arc::clone(&book),
        };
        let consumer: GroupConsumer = config
            .consumer(group)
            .create_with_context(context)
            .map_err(|e| {
                BusError::Config(format!(
                    "Kafka consumer for group {group}: {}",
                    kafka_detail(&e)
                ))
            })?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(|e| BusError::Consume {
            topic: topics.join(","),
            detail: kafka_detail(&e),
        })?;
        let consumer = Arc::new(consumer);
        let weak = Arc::downgrade(&consumer);
        let (tx, rx) = mpsc::unbounded_channel();
        let poller = Poller {
            consumer,
            book: Arc::clone(&book),
            deliveries: tx,
            group: group.to_owned(),
            topics: topics.join(","),
            orphans: OrphanWatch::new(local_members, group, topics),
        };
        std::thread::Builder::new()
            .name(format!("kafka-poll-{group}"))
            .spawn(move || poller.run())
            .map_err(|e| BusError::Consume {
                topic: topics.join(","),
                detail: format!("cannot start the poll thread: {e}"),
            })?;
        tracing::info!(group, ?topics, "joined consumer group");
        Ok(Self {
            group: group.to_owned(),
            topics: topics.to_vec(),
            book,
            consumer: weak,
            producer,
            deliveries: rx,
        })
    }

    /// The partitions currently assigned to this member, as `(topic, partition)`.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        let book = lock(&self.book);
        let mut assigned: Vec<(String, i32)> = book.assigned().cloned().collect();
        assigned.sort();
        assigned
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Take an outstanding delivery out of the book (its partition stays held).
    fn take(&self, delivery: &Delivery) -> Result<Held, BusError> {
        lock(&self.book)
            .outstanding
            .remove(&delivery.token)
            .ok_or_else(|| not_outstanding(delivery))
    }

    fn consumer(&self, held: &Held) -> Result<Arc<GroupConsumer>, BusError> {
        self.consumer.upgrade().ok_or_else(|| BusError::Consume {
            topic: held.topic.clone(),
            detail: format!(
                "the consumer of group {} stopped; the record at {}/{} will be redelivered",
                self.group, held.partition, held.offset
            ),
        })
    }

    /// Commit `offset + 1` (when `commit`), then free the partition and resume it at
    /// `resume_at`, on a blocking thread.
    async fn settle(&self, held: Held, commit: bool, resume_at: i64) -> Result<(), BusError> {
        let consumer = match self.consumer(&held) {
            Ok(consumer) => consumer,
            Err(e) => {
                free(&self.book, &held);
                return Err(e);
            }
        };
        let book = Arc::clone(&self.book);
        let group = self.group.clone();
        tokio::task::spawn_blocking(move || {
            let committed = if commit {
                commit_next(&consumer, &held)
            } else {
                Ok(())
            };
            resume(&consumer, &book, &held, resume_at, &group);
            committed
        })
        .await
        .map_err(|e| BusError::Consume {
            topic: self.topics.join(","),
            detail: format!("settling a delivery did not finish: {e}"),
        })?
    }
}

fn commit_next(consumer: &GroupConsumer, held: &Held) -> Result<(), BusError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&held.topic, held.partition, Offset::Offset(held.offset + 1))
        .and_then(|()| consumer.commit(&tpl, CommitMode::Sync))
        .map_err(|e| BusError::Consume {
            topic: held.topic.clone(),
            detail: format!(
                "committing offset {} of partition {}: {}",
                held.offset + 1,
                held.partition,
                kafka_detail(&e)
            ),
        })
}

/// Clear the partition's hold without touching the consumer.
fn free(book: &Mutex<Book>, held: &Held) -> Option<(bool, u64)> {
    let mut book = lock(book);
    let state = book
        .partitions
        .get_mut(&(held.topic.clone(), held.partition))?;
    state.held = None;
    Some((state.assigned, state.epoch))
}

/// Free the partition and let fetching go on from `resume_at`.
fn resume(consumer: &GroupConsumer, book: &Mutex<Book>, held: &Held, resume_at: i64, group: &str) {
    let Some((assigned, epoch)) = free(book, held) else {
        return;
    };
    if !assigned {
        // Revoked meanwhile: whoever owns it now fetches from the committed offset.
        return;
    }
    // Pausing remembered `offset + 1` as the place to go on; anything else (a
    // reassignment reset the position, or the record must come again) needs a seek.
    if (epoch != held.epoch || resume_at != held.offset + 1)
        && let Err(e) = consumer.seek(
            &held.topic,
            held.partition,
            Offset::Offset(resume_at),
            SEEK_TIMEOUT,
        )
    {
        tracing::warn!(group, topic = %held.topic, partition = held.partition, offset = resume_at, error = %e, "seek failed");
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&held.topic, held.partition);
    if let Err(e) = consumer.resume(&tpl) {
        tracing::warn!(group, topic = %held.topic, partition = held.partition, error = %e, "resume failed");
    }
}

impl Subscription for KafkaSubscription {
    fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>> {
        Box::pin(async move {
            match self.deliveries.recv().await {
                Some(delivery) => delivery,
                None => Err(BusError::Closed),
            }
        })
    }

    fn ack(&mut self, delivery: &Delivery) -> BoxFuture<'_, Result<(), BusError>> {
        let taken = self.take(delivery);
        let span = tracing::debug_span!("kafka.ack", group = %self.group, topic = %delivery.record.topic, position = %delivery.position);
        Box::pin(tracing::Instrument::instrument(
            async move {
                let held = taken?;
                let next = held.offset + 1;
                self.settle(held, true, next).await
            },
            span,
        ))
    }

    fn release(&mut self, delivery: &Delivery) -> BoxFuture<'_, Result<(), BusError>> {
        let taken = self.take(delivery);
        let span = tracing::debug_span!("kafka.release", group = %self.group, topic = %delivery.record.topic, position = %delivery.position);
        Box::pin(tracing::Instrument::instrument(
            async move {
                let held = taken?;
                let count = held.redeliveries.saturating_add(1);
                let copy = KafkaBus::send(
                    &self.producer,
                    &held.topic,
                    Some(held.partition),
                    &held.key,
                    &held.payload,
                    Some(copy_headers(&held.headers, count)),
                )
                .await;
                match copy {
                    Ok((partition, offset)) => {
                        tracing::debug!(
                            partition,
                            offset,
                            redeliveries = count,
                            "released record re-published"
                        );
                        let next = held.offset + 1;
                        self.settle(held, true, next).await
                    }
                    Err(e) => {
                        // Still redeliver it, uncounted: go back to the record itself.
                        tracing::warn!(error = %e, "re-publishing a released record failed; seeking back to it");
                        let at = held.offset;
                        self.settle(held, false, at).await
                    }
                }
            },
            span,
        ))
    }
}

/// The poll thread's state.
struct Poller {
    consumer: Arc<GroupConsumer>,
    book: Arc<Mutex<Book>>,
    deliveries: mpsc::UnboundedSender<Result<Delivery, BusError>>,
    group: String,
    topics: String,
    orphans: OrphanWatch,
}

impl Poller {
    fn run(mut self) {
        let _span =
            tracing::info_span!("kafka.poll", group = %self.group, topics = %self.topics).entered();
        while !self.deliveries.is_closed() {
            self.orphans.tick(&self.consumer, &self.book);
            match self.consumer.poll(POLL_INTERVAL) {
                None => {}
                Some(Ok(message)) => {
                    let delivery = self.hold(&message);
                    if self.deliveries.send(Ok(delivery)).is_err() {
                        break;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    tracing::error!(error = %code, "fatal consumer error; subscription closes");
                    let _ = self.deliveries.send(Err(BusError::Consume {
                        topic: self.topics.clone(),
                        detail: format!("fatal consumer error: {code:?}: {code}"),
                    }));
                    break;
                }
                Some(Err(e)) => {
                    // Transient (a topic not created yet, a broker restarting):
                    // librdkafka recovers by itself.
                    tracing::warn!(error = %kafka_detail(&e), "consumer error");
                }
            }
        }
        tracing::debug!("poll thread stopping; closing the consumer");
        lock(&self.book).closed = true;
        // Dropping the last reference closes the consumer and leaves the group, here
        // rather than on an async worker.
    }

    /// Pause the record's partition and record the delivery as outstanding.
    fn hold(&self, message: &BorrowedMessage<'_>) -> Delivery {
        let topic = message.topic().to_owned();
        let partition = message.partition();
        let offset = message.offset();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, partition);
        if let Err(e) = self.consumer.pause(&tpl) {
            tracing::warn!(%topic, partition, error = %e, "pausing a partition failed");
        }
        let key = message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let payload = message.payload().map(<[u8]>::to_vec).unwrap_or_default();
        let headers: Vec<(String, Option<Vec<u8>>)> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        let redeliveries = redeliveries_of(&headers, &topic, partition, offset);
        let mut book = lock(&self.book);
        let token = book.next_token;
        book.next_token += 1;
        let state = book
            .partitions
            .entry((topic.clone(), partition))
            .or_default();
        state.held = Some(token);
        state.delivered = true;
        let epoch = state.epoch;
        book.outstanding.insert(
            token,
            Held {
                topic: topic.clone(),
                partition,
                offset,
                key: key.clone(),
                payload: payload.clone(),
                headers,
                redeliveries,
                epoch,
            },
        );
        tracing::trace!(%topic, partition, offset, redeliveries, "delivery held");
        Delivery {
            record: Record {
                topic,
                key,
                payload,
                redeliveries,
            },
            position: format!("{partition}/{offset}"),
            token,
        }
    }
}

/// The count carried by `bosun-redeliveries`; a missing or garbled header counts as 0.
fn redeliveries_of(
    headers: &[(String, Option<Vec<u8>>)],
    topic: &str,
    partition: i32,
    offset: i64,
) -> u32 {
    let Some((_, value)) = headers.iter().rev().find(|(k, _)| k == REDELIVERIES_HEADER) else {
        return 0;
    };
    let parsed = value
        .as_deref()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    parsed.unwrap_or_else(|| {
        tracing::warn!(
            topic,
            partition,
            offset,
            "ignoring a garbled bosun-redeliveries header"
        );
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &[u8]) -> Vec<(String, Option<Vec<u8>>)> {
        vec![
            ("other".to_owned(), None),
            (REDELIVERIES_HEADER.to_owned(), Some(value.to_vec())),
        ]
    }

    #[test]
    fn redeliveries_header_parsed() {
        assert_eq!(redeliveries_of(&[], "t", 0, 0), 0);
        assert_eq!(redeliveries_of(&header(b"3"), "t", 0, 0), 3);
    }

    #[test]
    fn redeliveries_header_garbled_counts_zero() {
        assert_eq!(redeliveries_of(&header(b"three"), "t", 0, 0), 0);
        assert_eq!(redeliveries_of(&header(&[0xff, 0xfe]), "t", 0, 0), 0);
        assert_eq!(redeliveries_of(&header(b"-1"), "t", 0, 0), 0);
    }

    #[test]
    fn redeliveries_copy_headers_replace_count() {
        let copied = copy_headers(&header(b"3"), 4);
        let pairs: Vec<(String, Option<Vec<u8>>)> = copied
            .iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(pairs.len(), 2);
        assert_eq!(redeliveries_of(&pairs, "t", 0, 0), 4);
    }
}
