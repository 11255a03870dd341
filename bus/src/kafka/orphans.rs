//! Healing a consumer group whose dead member's partitions were never handed on.
//!
//! When a member dies without leaving (SIGKILL, a lost host), the broker expires it
//! after the session timeout and the group rebalances. Tansu 0.6 expires the member but
//! keeps the group's previous assignment: a survivor that rejoins with its old member
//! id is given its old partitions back, and the dead member's partitions stay owned by
//! nobody, their uncommitted records never redelivered. Nothing in the protocol tells
//! the survivor; so each subscription checks, every few seconds, whether every member
//! the broker lists lives in this process and, if so, whether their assignments
//! together cover every partition of their topics. A partition left uncovered for
//! longer than a rebalance takes means an orphan: the subscription leaves and rejoins
//! the group under a new member id, which makes the broker run a real rebalance.
//!
//! The check needs only `DescribeGroups` member lists and topic metadata, which Tansu
//! answers; on a broker that rebalances correctly it never finds an orphan.

use super::book::{Book, GroupConsumer, lock};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often a subscription looks for orphaned partitions.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(3);
/// How long a partition must stay uncovered before the group is rejoined: longer than
/// a rebalance in progress takes to settle.
const CONFIRM_AFTER: Duration = Duration::from_secs(4);
/// How long after an assignment the check keeps running: the broker expires a dead
/// member within its session timeout, and the rebalance that follows is the one that
/// can lose partitions; a quiet group is not queried at all.
const WATCH_AFTER_ASSIGNMENT: Duration = Duration::from_secs(60);
/// Bound on each broker query made by a check (it runs on the poll thread).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The subscriptions of one process, by group, so a check can tell whether every
/// member of a group is local and what they own together.
#[derive(Default)]
pub(crate) struct LocalMembers {
    groups: Mutex<HashMap<String, Vec<Weak<Mutex<Book>>>>>,
}

impl LocalMembers {
    /// Record a new subscription's book under its group.
    pub(crate) fn register(&self, group: &str, book: &Arc<Mutex<Book>>) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let members = groups.entry(group.to_owned()).or_default();
        members.retain(|m| m.strong_count() > 0);
        members.push(Arc::downgrade(book));
    }

    /// How many live local subscriptions `group` has, and the partitions they hold.
    fn snapshot(&self, group: &str) -> (usize, BTreeSet<(String, i32)>) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let Some(members) = groups.get_mut(group) else {
            return (0, BTreeSet::new());
        };
        // Dropped subscriptions and stopped poll threads are members no more.
        members.retain(|m| m.upgrade().is_some_and(|book| !lock(&book).closed));
        let mut owned = BTreeSet::new();
        for book in members.iter().filter_map(Weak::upgrade) {
            owned.extend(lock(&book).assigned().cloned());
        }
        (members.len(), owned)
    }
}

/// One subscription's watch for orphaned partitions.
pub(crate) struct OrphanWatch {
    local: Arc<LocalMembers>,
    group: String,
    topics: Vec<String>,
    last_check: Instant,
    uncovered_since: Option<Instant>,
    /// Whether the group's starting offsets were committed (see [`OrphanWatch::anchor`]).
    anchored: bool,
}

impl OrphanWatch {
    pub(crate) fn new(local: Arc<LocalMembers>, group: &str, topics: &[String]) -> Self {
        OrphanWatch {
            local,
            group: group.to_owned(),
            topics: topics.to_vec(),
            last_check: Instant::now(),
            uncovered_since: None,
            anchored: false,
        }
    }

    /// Called from the poll loop: check when due, rejoin when an orphan is confirmed.
    pub(crate) fn tick(&mut self, consumer: &GroupConsumer, book: &Mutex<Book>) {
        if self.last_check.elapsed() < CHECK_EVERY {
            return;
        }
        self.last_check = Instant::now();
        if !self.anchored {
            self.anchored = self.anchor(consumer, book);
        }
        let recently_assigned = lock(book)
            .last_assigned
            .is_some_and(|at| at.elapsed() < WATCH_AFTER_ASSIGNMENT);
        if !recently_assigned && self.uncovered_since.is_none() {
            return;
        }
        let orphans = self.orphans(consumer);
        if orphans.is_empty() {
            self.uncovered_since = None;
            return;
        }
        let since = *self.uncovered_since.get_or_insert_with(Instant::now);
        if since.elapsed() < CONFIRM_AFTER {
            return;
        }
        tracing::warn!(
            group = %self.group,
            ?orphans,
            "partitions have no live owner after a member left; rejoining the group so they are reassigned"
        );
        self.uncovered_since = None;
        let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.unsubscribe();
        if let Err(e) = consumer.subscribe(&names) {
            tracing::error!(group = %self.group, error = %e, "rejoining the group failed");
        }
    }

    /// Commit the starting offset (the low watermark) of each assigned partition that
    /// has no committed offset yet; true once done. Tansu lists (and so describes) a
    /// group only once it has a committed offset, and the check above needs the
    /// description. Starting from the low watermark is what `auto.offset.reset=earliest`
    /// does anyway, so nothing is skipped.
    fn anchor(&self, consumer: &GroupConsumer, book: &Mutex<Book>) -> bool {
        // Runs on the poll thread, the only one that hands out records: a partition
        // with nothing delivered yet cannot have an ack racing this commit.
        let assigned: Vec<(String, i32)> = lock(book)
            .partitions
            .iter()
            .filter(|(_, state)| state.assigned && !state.delivered)
            .map(|(tp, _)| tp.clone())
            .collect();
        if assigned.is_empty() {
            return false;
        }
        let mut asked = TopicPartitionList::new();
        for (topic, partition) in &assigned {
            asked.add_partition(topic, *partition);
        }
        let Ok(committed) = consumer.committed_offsets(asked, QUERY_TIMEOUT) else {
            return false;
        };
        let mut start = TopicPartitionList::new();
        for elem in committed.elements() {
            if elem.offset() != Offset::Invalid {
                continue;
            }
            let Ok((low, _)) =
                consumer.fetch_watermarks(elem.topic(), elem.partition(), QUERY_TIMEOUT)
            else {
                return false;
            };
            if start
                .add_partition_offset(elem.topic(), elem.partition(), Offset::Offset(low))
                .is_err()
            {
                return false;
            }
        }
        if start.count() == 0 {
            return true;
        }
        match consumer.commit(&start, CommitMode::Sync) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(group = %self.group, error = %e, "committing starting offsets failed");
                false
            }
        }
    }

    /// Partitions of the subscribed topics that no member owns, when every member of
    /// the group is in this process (otherwise other members' assignments are unknown
    /// and nothing is reported).
    fn orphans(&self, consumer: &GroupConsumer) -> Vec<(String, i32)> {
        // Listing every group and describing them all is what answers reliably: asked
        // for one group by name, librdkafka sometimes gets an empty list back from
        // Tansu for the whole life of the consumer.
        let groups = match consumer.fetch_group_list(None, QUERY_TIMEOUT) {
            Ok(groups) => groups,
            Err(e) => {
                tracing::debug!(group = %self.group, error = %e, "orphan check: no group description");
                return Vec::new();
            }
        };
        let Some(group) = groups.groups().iter().find(|g| g.name() == self.group) else {
            tracing::debug!(
                group = %self.group,
                listed = ?groups.groups().iter().map(|g| g.name()).collect::<Vec<_>>(),
                "orphan check: group not described"
            );
            return Vec::new();
        };
        let (local_count, owned) = self.local.snapshot(&self.group);
        tracing::debug!(
            group = %self.group,
            state = group.state(),
            members = group.members().len(),
            local_count,
            "orphan check"
        );
        if group.state() != "Stable" {
            return Vec::new();
        }
        if local_count == 0 || group.members().len() != local_count {
            return Vec::new();
        }
        let mut orphans = Vec::new();
        for topic in &self.topics {
            let Ok(metadata) = consumer.fetch_metadata(Some(topic), QUERY_TIMEOUT) else {
                return Vec::new();
            };
            for t in metadata.topics().iter().filter(|t| t.name() == topic) {
                for p in t.partitions() {
                    let key = (topic.clone(), p.id());
                    if !owned.contains(&key) {
                        orphans.push(key);
                    }
                }
            }
        }
        orphans
    }
}
