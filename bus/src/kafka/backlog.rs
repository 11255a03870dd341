//! Consumer lag and the oldest unsettled record of each queue, read from the broker.
//!
//! Per call, whatever the number of queues: one metadata request (which partitions
//! each topic has), two offset lists over every partition (low and high watermarks),
//! one committed-offset fetch per group, and one fetch of the record at each lagging
//! partition's committed offset (for its publish time). The clients doing it are made
//! once and kept: a reader that is assigned partitions by hand (it joins no group and
//! commits nothing), and one client per measured group, used only to ask for that
//! group's committed offsets (it never subscribes, so the group never sees a member).
//!
//! A partition the group never committed starts at the low watermark, as the agents'
//! `auto.offset.reset=earliest` does; a committed offset below the low watermark
//! (records deleted by retention) counts from the low watermark too.

use super::context::LogContext;
use super::{KafkaConfig, kafka_detail};
use crate::backlog::{Backlog, Queue};
use crate::transport::BusError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bound on each broker request.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the reader waits for the oldest records; a partition not answered by then
/// gives no age (the lag is still reported).
const OLDEST_WAIT: Duration = Duration::from_secs(2);
/// The reader's `group.id`: librdkafka wants one, and no member ever joins it.
const READER_GROUP: &str = "bosun-backlog-reader";

type Client = BaseConsumer<LogContext>;
type Partition = (String, i32);

/// The clients that measure backlogs; one measurement at a time.
pub(crate) struct BacklogProbe {
    config: KafkaConfig,
    clients: Mutex<Option<Clients>>,
}

struct Clients {
    reader: Client,
    /// Committed-offset clients by group: only the groups asked for last time are kept.
    groups: HashMap<String, Client>,
}

impl BacklogProbe {
    pub(crate) fn new(config: KafkaConfig) -> Self {
        BacklogProbe {
            config,
            clients: Mutex::new(None),
        }
    }

    /// Measure `queues` (blocking: run it off the async threads).
    pub(crate) fn measure(&self, queues: &[Queue]) -> Result<Vec<Backlog>, BusError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let clients = match &mut *clients {
            Some(clients) => clients,
            empty => empty.insert(Clients {
                reader: self.client(READER_GROUP, true)?,
                groups: HashMap::new(),
            }),
        };
        let fail = |what: &str, e: KafkaError| BusError::Consume {
            topic: queue_topics(queues),
            detail: format!("{what}: {}", kafka_detail(&e)),
        };

        let partitions = partitions(&clients.reader, queues).map_err(|e| fail("metadata", e))?;
        let all: Vec<&Partition> = partitions.values().flatten().collect();
        let high = watermarks(&clients.reader, &all, Offset::End)
            .map_err(|e| fail("high watermarks", e))?;
        let low = watermarks(&clients.reader, &all, Offset::Beginning)
            .map_err(|e| fail("low watermarks", e))?;

        let asked: BTreeSet<&str> = queues.iter().map(|q| q.group.as_str()).collect();
        clients
            .groups
            .retain(|group, _| asked.contains(group.as_str()));
        let mut committed: HashMap<(&str, Partition), Offset> = HashMap::new();
        for group in asked {
            let mut list = TopicPartitionList::new();
            for queue in queues.iter().filter(|q| q.group == group) {
                for (topic, partition) in partitions.get(&queue.topic).into_iter().flatten() {
                    list.add_partition(topic, *partition);
                }
            }
            if list.count() == 0 {
                continue;
            }
            let client = match clients.groups.entry(group.to_owned()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(self.client(group, false)?)
                }
            };
            let answer = client
                .committed_offsets(list, QUERY_TIMEOUT)
                .map_err(|e| fail(&format!("committed offsets of group {group}"), e))?;
            for elem in answer.elements() {
                let key = (elem.topic().to_owned(), elem.partition());
                committed.insert((group, key), elem.offset());
            }
        }

        // Where each queue's unsettled records start, partition by partition.
        let mut backlogs = vec![Backlog::default(); queues.len()];
        let mut lagging: BTreeMap<Partition, i64> = BTreeMap::new();
        let mut starts: Vec<Vec<(Partition, i64)>> = vec![Vec::new(); queues.len()];
        for (index, queue) in queues.iter().enumerate() {
            for key in partitions.get(&queue.topic).into_iter().flatten() {
                let (Some(&low), Some(&high)) = (low.get(key), high.get(key)) else {
                    continue;
                };
                let start = match committed.get(&(queue.group.as_str(), key.clone())) {
                    Some(Offset::Offset(at)) => (*at).max(low),
                    _ => low,
                };
                if high > start {
                    backlogs[index].lag += (high - start) as u64;
                    starts[index].push((key.clone(), start));
                    // Two groups on one topic may start at different offsets; the
                    // reader fetches one record per partition, from the earliest.
                    let earliest = lagging.entry(key.clone()).or_insert(start);
                    *earliest = (*earliest).min(start);
                }
            }
        }
        let published = oldest_records(&clients.reader, &lagging);
        for (index, queue_starts) in starts.iter().enumerate() {
            for (key, start) in queue_starts {
                // A record before this queue's start (read for another group on the
                // same topic) does not date it; one past it (a deleted or control
                // record at the start) dates it closely enough.
                if let Some(&(offset, at)) = published.get(key)
                    && offset >= *start
                {
                    let oldest = &mut backlogs[index].oldest_unix_ms;
                    *oldest = Some(oldest.map_or(at, |o| o.min(at)));
                }
            }
        }
        Ok(backlogs)
    }

    /// A consumer client for `group` that never subscribes or commits.
    fn client(&self, group: &str, reader: bool) -> Result<Client, BusError> {
        let mut config = self.config.consumer(group);
        if reader {
            // One record per partition is all it reads.
            config.set("max.partition.fetch.bytes", "65536");
            config.set("queued.max.messages.kbytes", "1024");
        }
        config
            .create_with_context(LogContext::new("backlog"))
            .map_err(|e| {
                BusError::Config(format!(
                    "Kafka client measuring group {group}: {}",
                    kafka_detail(&e)
                ))
            })
    }
}

/// The partitions of each asked topic that exists (one metadata request).
fn partitions(
    reader: &Client,
    queues: &[Queue],
) -> Result<HashMap<String, Vec<Partition>>, KafkaError> {
    let metadata = reader.fetch_metadata(None, QUERY_TIMEOUT)?;
    let asked: BTreeSet<&str> = queues.iter().map(|q| q.topic.as_str()).collect();
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| asked.contains(t.name()) && t.error().is_none())
        .map(|t| {
            let name = t.name().to_owned();
            let list = t.partitions().iter().map(|p| (name.clone(), p.id()));
            (name.clone(), list.collect())
        })
        .collect())
}

/// The low (`Offset::Beginning`) or high (`Offset::End`) watermark of every partition,
/// in one offset-list request.
fn watermarks(
    reader: &Client,
    partitions: &[&Partition],
    which: Offset,
) -> Result<HashMap<Partition, i64>, KafkaError> {
    if partitions.is_empty() {
        return Ok(HashMap::new());
    }
    let mut list = TopicPartitionList::new();
    for (topic, partition) in partitions {
        list.add_partition_offset(topic, *partition, which)?;
    }
    let answer = reader.offsets_for_times(list, QUERY_TIMEOUT)?;
    let mut marks = HashMap::new();
    for elem in answer.elements() {
        elem.error()?;
        if let Offset::Offset(at) = elem.offset() {
            marks.insert((elem.topic().to_owned(), elem.partition()), at);
        }
    }
    Ok(marks)
}

/// The offset and publish time of the first record at or after each start offset,
/// read by assigning the partitions to the reader for a moment.
fn oldest_records(
    reader: &Client,
    starts: &BTreeMap<Partition, i64>,
) -> HashMap<Partition, (i64, u64)> {
    let mut found = HashMap::new();
    if starts.is_empty() {
        return found;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), start) in starts {
        if list
            .add_partition_offset(topic, *partition, Offset::Offset(*start))
            .is_err()
        {
            return found;
        }
    }
    if let Err(e) = reader.assign(&list) {
        tracing::debug!(error = %e, "backlog: could not assign the oldest records' partitions");
        return found;
    }
    let deadline = Instant::now() + OLDEST_WAIT;
    while found.len() < starts.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::debug!(
                asked = starts.len(),
                found = found.len(),
                "backlog: not every oldest record arrived in time"
            );
            break;
        }
        match reader.poll(left.min(Duration::from_millis(100))) {
            Some(Ok(message)) => {
                let key = (message.topic().to_owned(), message.partition());
                let at = message.timestamp().to_millis();
                if let (Some(at), false) = (at, found.contains_key(&key)) {
                    found.insert(key, (message.offset(), at.max(0) as u64));
                }
            }
            Some(Err(e)) => tracing::debug!(error = %e, "backlog: reading an oldest record"),
            None => {}
        }
    }
    if let Err(e) = reader.unassign() {
        tracing::debug!(error = %e, "backlog: could not unassign the reader");
    }
    found
}

/// The topics of `queues`, for an error message.
fn queue_topics(queues: &[Queue]) -> String {
    let topics: BTreeSet<&str> = queues.iter().map(|q| q.topic.as_str()).collect();
    topics.into_iter().collect::<Vec<_>>().join(", ")
}
