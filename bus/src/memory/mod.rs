//! `MemoryBus`: the embedded default transport, one process, no broker.
//!
//! Semantics follow the Kafka transport so nothing above the bus can tell them apart:
//! - every consumer group receives every record published after it joined; records
//!   published while a topic had no group at all are kept (up to a cap) for every group
//!   that joins, so a task published before its agent subscribed is not lost. Nothing
//!   else is kept: memory stays bounded however long the process runs;
//! - within a group each record goes to one subscriber;
//! - records with the same key keep their order within a group: while one is
//!   outstanding, later records with that key wait (Kafka gets this from partitions);
//! - at-least-once: a delivery that is released, or whose subscription is dropped (a dead
//!   consumer), goes back to its place in the queue with `redeliveries` incremented.
//!
//! Waiting subscribers park on a `tokio::sync::Notify`; nothing polls.

use crate::backlog::{Backlog, Queue};
use crate::transport::{BoxFuture, Bus, BusError, Delivery, Record, Subscription};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// How many records a topic without any group keeps for the groups to come.
pub const DEFAULT_RETENTION: usize = 10_000;

/// The in-memory bus. Cheap to clone; clones share the same topics and groups.
#[derive(Clone)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    retention: usize,
}

#[derive(Default)]
struct State {
    closed: bool,
    next_seq: u64,
    next_token: u64,
    next_subscriber: u64,
    topics: HashMap<String, TopicLog>,
    groups: HashMap<String, Group>,
}

/// What a topic keeps for groups that subscribe later.
#[derive(Default)]
struct TopicLog {
    /// Some group reads this topic: records go to the groups and are not kept here.
    has_groups: bool,
    /// Records published before the first group joined.
    retained: VecDeque<(u64, Entry)>,
}

#[derive(Clone)]
struct Entry {
    key: Arc<str>,
    payload: Arc<[u8]>,
    redeliveries: u32,
    /// When it was published, for the queue's oldest-record age.
    published_unix_ms: u64,
}

struct Group {
    notify: Arc<Notify>,
    /// Pending records per topic, by sequence number (publish order).
    pending: HashMap<String, BTreeMap<u64, Entry>>,
    /// Delivered, not yet acknowledged, by token.
    outstanding: HashMap<u64, Outstanding>,
    /// Keys with a record outstanding, per topic: later records with that key wait.
    busy: HashMap<String, HashSet<Arc<str>>>,
}

struct Outstanding {
    subscriber: u64,
    topic: String,
    seq: u64,
    entry: Entry,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// A new, empty bus retaining up to [`DEFAULT_RETENTION`] records per topic.
    pub fn new() -> Self {
        Self::with_retention(DEFAULT_RETENTION)
    }

    /// A new bus keeping up to `retention` records per topic published before the
    /// topic's first group joined (the oldest are dropped first). Groups that exist are
    /// never short-changed.
    pub fn with_retention(retention: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                retention,
            }),
        }
    }

    /// Shut the bus down: publishing fails and every waiting `next` returns `Closed`.
    pub fn close(&self) {
        let mut state = self.shared.lock();
        state.closed = true;
        for group in state.groups.values() {
            group.notify.notify_waiters();
        }
    }

    /// Records waiting for (`pending`) or held by (`outstanding`) consumers of `group`.
    pub fn group_backlog(&self, group: &str) -> (usize, usize) {
        let state = self.shared.lock();
        state.groups.get(group).map_or((0, 0), |g| {
            (
                g.pending.values().map(BTreeMap::len).sum(),
                g.outstanding.len(),
            )
        })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Critical sections never panic halfway through an update, so a poisoned lock
        // still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn publish(&mut self, topic: &str, key: &str, payload: Vec<u8>, retention: usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            key: Arc::from(key),
            payload: Arc::from(payload),
            redeliveries: 0,
            published_unix_ms: crate::backlog::now_unix_ms(),
        };
        for group in self.groups.values_mut() {
            if let Some(queue) = group.pending.get_mut(topic) {
                queue.insert(seq, entry.clone());
                group.notify.notify_waiters();
            }
        }
        let log = self.topics.entry(topic.to_owned()).or_default();
        if !log.has_groups && retention > 0 {
            if log.retained.len() >= retention {
                log.retained.pop_front();
                tracing::debug!(
                    topic,
                    retention,
                    "memory bus dropped its oldest retained record"
                );
            }
            log.retained.push_back((seq, entry));
        }
    }

    /// Create the group if needed and attach it to `topics`; a topic it did not read
    /// before starts with what the topic kept from before it had any group.
    fn join(&mut self, group: &str, topics: &[String]) -> (u64, Arc<Notify>) {
        let subscriber = self.next_subscriber;
        self.next_subscriber += 1;
        let Self {
            topics: logs,
            groups,
            ..
        } = self;
        let group = groups.entry(group.to_owned()).or_insert_with(|| Group {
            notify: Arc::new(Notify::new()),
            pending: HashMap::new(),
            outstanding: HashMap::new(),
            busy: HashMap::new(),
        });
        for topic in topics {
            if !group.pending.contains_key(topic) {
                let log = logs.entry(topic.clone()).or_default();
                log.has_groups = true;
                let backlog = log.retained.iter().cloned().collect();
                group.pending.insert(topic.clone(), backlog);
            }
        }
        (subscriber, group.notify.clone())
    }

    /// What `group` has not acknowledged on `topic`: pending and outstanding records;
    /// before the group exists, what the topic keeps for the groups to come.
    fn backlog(&self, group: &str, topic: &str) -> Backlog {
        let mut backlog = Backlog::default();
        let mut count = |entry: &Entry| {
            backlog.lag += 1;
            let at = entry.published_unix_ms;
            backlog.oldest_unix_ms = Some(backlog.oldest_unix_ms.map_or(at, |o| o.min(at)));
        };
        match self
            .groups
            .get(group)
            .filter(|g| g.pending.contains_key(topic))
        {
            Some(group) => {
                group
                    .pending
                    .get(topic)
                    .into_iter()
                    .flatten()
                    .for_each(|(_, e)| count(e));
                group
                    .outstanding
                    .values()
                    .filter(|o| o.topic == topic)
                    .for_each(|o| count(&o.entry));
            }
            None => {
                let retained = self.topics.get(topic).map(|log| &log.retained);
                retained.into_iter().flatten().for_each(|(_, e)| count(e));
            }
        }
        backlog
    }

    /// Hand the oldest deliverable record of `topics` to `subscriber`, if any.
    fn take(&mut self, group_name: &str, topics: &[String], subscriber: u64) -> Option<Delivery> {
        let token = self.next_token;
        let group = self.groups.get_mut(group_name)?;
        let mut best: Option<(u64, &String)> = None;
        for topic in topics {
            let Some(queue) = group.pending.get(topic) else {
                continue;
            };
            let busy = group.busy.get(topic);
            let first = queue
                .iter()
                .find(|(_, entry)| !busy.is_some_and(|keys| keys.contains(&*entry.key)));
            if let Some((&seq, _)) = first
                && best.is_none_or(|(best_seq, _)| seq < best_seq)
            {
                best = Some((seq, topic));
            }
        }
        let (seq, topic) = best?;
        let topic = topic.clone();
        let entry = group.pending.get_mut(&topic)?.remove(&seq)?;
        self.next_token += 1;
        group
            .busy
            .entry(topic.clone())
            .or_default()
            .insert(Arc::clone(&entry.key));
        let delivery = Delivery {
            record: Record {
                topic: topic.clone(),
                key: entry.key.to_string(),
                payload: entry.payload.to_vec(),
                redeliveries: entry.redeliveries,
            },
            position: seq.to_string(),
            token,
        };
        group.outstanding.insert(
            token,
            Outstanding {
                subscriber,
                topic,
                seq,
                entry,
            },
        );
        Some(delivery)
    }
}

impl Group {
    /// Settle an outstanding delivery: drop it (`ack`) or put it back in its place.
    fn settle(&mut self, outstanding: Outstanding, redeliver: bool) {
        if let Some(keys) = self.busy.get_mut(&outstanding.topic) {
            keys.remove(&*outstanding.entry.key);
        }
        if redeliver {
            let mut entry = outstanding.entry;
            entry.redeliveries = entry.redeliveries.saturating_add(1);
            self.pending
                .entry(outstanding.topic)
                .or_default()
                .insert(outstanding.seq, entry);
        }
        self.notify.notify_waiters();
    }
}

impl Bus for MemoryBus {
    fn describe(&self) -> String {
        "in-memory".to_owned()
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [String]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut state = self.shared.lock();
            for topic in topics {
                state.topics.entry(topic.clone()).or_default();
            }
            Ok(())
        })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(BusError::Closed);
            }
            state.publish(topic, key, payload, self.shared.retention);
            Ok(())
        })
    }

    fn backlog<'a>(&'a self, queues: &'a [Queue]) -> BoxFuture<'a, Result<Vec<Backlog>, BusError>> {
        Box::pin(async move {
            let state = self.shared.lock();
            Ok(queues
                .iter()
                .map(|q| state.backlog(&q.group, &q.topic))
                .collect())
        })
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Box<dyn Subscription>, BusError>> {
        Box::pin(async move {
            check_subscription(group, topics)?;
            let mut state = self.shared.lock();
            if state.closed {
                return Err(BusError::Closed);
            }
            let (id, notify) = state.join(group, topics);
            tracing::debug!(group, ?topics, subscriber = id, "memory bus subscription");
            Ok(Box::new(MemorySubscription {
                shared: Arc::clone(&self.shared),
                group: group.to_owned(),
                topics: topics.to_vec(),
                id,
                notify,
            }) as Box<dyn Subscription>)
        })
    }
}

/// Refuse an empty group name or topic list (shared by both transports).
pub(crate) fn check_subscription(group: &str, topics: &[String]) -> Result<(), BusError> {
    if group.trim().is_empty() {
        return Err(BusError::Config(
            "a subscription needs a consumer group name".to_owned(),
        ));
    }
    if topics.is_empty() || topics.iter().any(|t| t.trim().is_empty()) {
        return Err(BusError::Config(format!(
            "group {group} must subscribe to at least one non-empty topic name"
        )));
    }
    Ok(())
}

/// One member of a consumer group on the in-memory bus.
pub struct MemorySubscription {
    shared: Arc<Shared>,
    group: String,
    topics: Vec<String>,
    id: u64,
    notify: Arc<Notify>,
}

impl MemorySubscription {
    fn settle(&self, delivery: &Delivery, redeliver: bool) -> Result<(), BusError> {
        let mut state = self.shared.lock();
        let group = state.groups.get_mut(&self.group);
        let outstanding = group.and_then(|g| {
            let mine = g
                .outstanding
                .get(&delivery.token)
                .is_some_and(|o| o.subscriber == self.id);
            let outstanding = if mine {
                g.outstanding.remove(&delivery.token)
            } else {
                None
            };
            outstanding.map(|o| (g, o))
        });
        match outstanding {
            Some((group, outstanding)) => {
                group.settle(outstanding, redeliver);
                Ok(())
            }
            None => Err(not_outstanding(delivery)),
        }
    }
}

pub(crate) fn not_outstanding(delivery: &Delivery) -> BusError {
    BusError::Consume {
        topic: delivery.record.topic.clone(),
        detail: format!(
            "delivery at {} is not outstanding on this subscription (already settled, or \
             from another subscription)",
            delivery.position
        ),
    }
}

impl Subscription for MemorySubscription {
    fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>> {
        Box::pin(async move {
            loop {
                // Registered before looking, so a publish in between is not missed.
                let notified = self.notify.notified();
                {
                    let mut state = self.shared.lock();
                    if state.closed {
                        return Err(BusError::Closed);
                    }
                    if let Some(delivery) = state.take(&self.group, &self.topics, self.id) {
                        return Ok(delivery);
                    }
                }
                notified.await;
            }
        })
    }

    fn ack(&mut self, delivery: &Delivery) -> BoxFuture<'_, Result<(), BusError>> {
        let result = self.settle(delivery, false);
        Box::pin(async move { result })
    }

    fn release(&mut self, delivery: &Delivery) -> BoxFuture<'_, Result<(), BusError>> {
        let result = self.settle(delivery, true);
        Box::pin(async move { result })
    }
}

impl Drop for MemorySubscription {
    /// A consumer that goes away unsettled is a dead consumer: its deliveries return.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(group) = state.groups.get_mut(&self.group) else {
            return;
        };
        let mine: Vec<u64> = group
            .outstanding
            .iter()
            .filter(|(_, o)| o.subscriber == self.id)
            .map(|(token, _)| *token)
            .collect();
        for token in mine {
            if let Some(outstanding) = group.outstanding.remove(&token) {
                tracing::debug!(
                    group = %self.group,
                    topic = %outstanding.topic,
                    seq = outstanding.seq,
                    "subscription dropped with a delivery outstanding; redelivering"
                );
                group.settle(outstanding, true);
            }
        }
    }
}

#[cfg(test)]
mod tests;
