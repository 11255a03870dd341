//! The dead-letter rule, over any transport: a record delivered `max_deliveries` times
//! without being settled is published on the dead-letter topic and acknowledged.
//!
//! A worker calls [`DeadLetterRule::screen`] on every delivery before doing any work
//! (this catches records whose consumers kept dying), and [`DeadLetterRule::fail`] when
//! it cannot process a delivery (this releases it, or dead-letters it on the last
//! allowed delivery). A record that can never be processed (it does not decode) goes
//! straight to [`DeadLetterRule::dead_letter`].

use crate::messages::{self, DeadLetter, MESSAGE_VERSION};
use crate::topics::DEAD_LETTER;
use crate::transport::{Bus, BusError, Delivery, Subscription};

/// How many deliveries a record gets by default before it is dead-lettered.
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;

/// The N-deliveries rule and where dead letters go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRule {
    /// Deliveries a record may have; the next one dead-letters it (at least 1).
    pub max_deliveries: u32,
    /// The dead-letter topic (default `agent.dead-letter`).
    pub topic: String,
}

impl Default for DeadLetterRule {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_DELIVERIES)
    }
}

/// What [`DeadLetterRule::screen`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screened {
    /// Go ahead and process the delivery.
    Process,
    /// It had its deliveries: it is on the dead-letter topic and acknowledged.
    DeadLettered,
}

/// What [`DeadLetterRule::fail`] did with a delivery that could not be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Released: it will be delivered again.
    Released,
    /// That was its last delivery: it is on the dead-letter topic and acknowledged.
    DeadLettered,
}

impl DeadLetterRule {
    /// Dead-letter after `max_deliveries` deliveries (0 is taken as 1) on `agent.dead-letter`.
    pub fn new(max_deliveries: u32) -> Self {
        Self {
            max_deliveries: max_deliveries.max(1),
            topic: DEAD_LETTER.to_owned(),
        }
    }

    /// The same rule with another dead-letter topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// Which delivery this is, counting from 1.
    pub fn delivery_number(delivery: &Delivery) -> u32 {
        delivery.record.redeliveries.saturating_add(1)
    }

    /// True when the record was already delivered `max_deliveries` times.
    pub fn exhausted(&self, delivery: &Delivery) -> bool {
        delivery.record.redeliveries >= self.max_deliveries
    }

    /// Call first on every delivery: dead-letters a record that has had its deliveries.
    pub async fn screen(
        &self,
        bus: &dyn Bus,
        subscription: &mut dyn Subscription,
        delivery: &Delivery,
    ) -> Result<Screened, BusError> {
        if !self.exhausted(delivery) {
            return Ok(Screened::Process);
        }
        let reason = format!(
            "delivered {} times without being acknowledged (limit {})",
            delivery.record.redeliveries, self.max_deliveries
        );
        self.dead_letter(bus, subscription, delivery, &reason)
            .await?;
        Ok(Screened::DeadLettered)
    }

    /// Processing failed with `reason`: release the delivery, or dead-letter it when
    /// this was its last allowed delivery.
    pub async fn fail(
        &self,
        bus: &dyn Bus,
        subscription: &mut dyn Subscription,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<Failed, BusError> {
        if Self::delivery_number(delivery) >= self.max_deliveries {
            let reason = format!(
                "{reason} (delivery {} of {})",
                Self::delivery_number(delivery),
                self.max_deliveries
            );
            self.dead_letter(bus, subscription, delivery, &reason)
                .await?;
            return Ok(Failed::DeadLettered);
        }
        subscription.release(delivery).await?;
        Ok(Failed::Released)
    }

    /// Publish the delivery on the dead-letter topic, then acknowledge it.
    ///
    /// The dead letter is published first: if that fails the delivery stays outstanding
    /// (the caller may release it) and nothing is lost.
    pub async fn dead_letter(
        &self,
        bus: &dyn Bus,
        subscription: &mut dyn Subscription,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BusError> {
        let record = &delivery.record;
        let letter = DeadLetter {
            version: MESSAGE_VERSION,
            topic: record.topic.clone(),
            key: record.key.clone(),
            payload: String::from_utf8_lossy(&record.payload).into_owned(),
            reason: reason.to_owned(),
            deliveries: Self::delivery_number(delivery),
        };
        tracing::warn!(
            topic = %record.topic,
            key = %record.key,
            position = %delivery.position,
            deliveries = letter.deliveries,
            dead_letter_topic = %self.topic,
            reason,
            "dead-lettering a record"
        );
        bus.publish(&self.topic, &record.key, messages::encode(&letter))
            .await?;
        subscription.ack(delivery).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBus;
    use crate::messages::decode;
    use std::time::Duration;

    async fn next(sub: &mut Box<dyn Subscription>) -> Delivery {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("a delivery within 5 s")
            .expect("delivery")
    }

    #[tokio::test]
    async fn dead_letter_after_max_failed_deliveries() {
        let bus = MemoryBus::new();
        let tasks = vec!["agent.lint".to_owned()];
        let letters = vec![DEAD_LETTER.to_owned()];
        let mut dlq = bus.subscribe("dashboard", &letters).await.unwrap();
        let mut sub = bus.subscribe("bosun-agent-lint", &tasks).await.unwrap();
        bus.publish("agent.lint", "run-7", b"{\"poison\":true}".to_vec())
            .await
            .unwrap();
        let rule = DeadLetterRule::new(3);
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let d = next(&mut sub).await;
            assert_eq!(
                rule.screen(&bus, sub.as_mut(), &d).await.unwrap(),
                Screened::Process
            );
            outcomes.push(
                rule.fail(&bus, sub.as_mut(), &d, "tool crashed")
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(
            outcomes,
            vec![Failed::Released, Failed::Released, Failed::DeadLettered]
        );
        let letter = next(&mut dlq).await;
        assert_eq!(letter.record.key, "run-7");
        let letter: DeadLetter = decode(&letter.record.payload).unwrap();
        assert_eq!(letter.topic, "agent.lint");
        assert_eq!(letter.deliveries, 3);
        assert_eq!(letter.payload, "{\"poison\":true}");
        assert!(letter.reason.contains("tool crashed"), "{}", letter.reason);
        assert_eq!(bus.group_backlog("bosun-agent-lint"), (0, 0));
    }

    #[tokio::test]
    async fn dead_letter_screen_catches_dying_consumers() {
        let bus = MemoryBus::new();
        let tasks = vec!["agent.test".to_owned()];
        let letters = vec![DEAD_LETTER.to_owned()];
        let mut dlq = bus.subscribe("dashboard", &letters).await.unwrap();
        bus.publish("agent.test", "run-1", b"x".to_vec())
            .await
            .unwrap();
        let rule = DeadLetterRule::new(2);
        // Two consumers die holding the record.
        for _ in 0..2 {
            let mut sub = bus.subscribe("g", &tasks).await.unwrap();
            let d = next(&mut sub).await;
            assert_eq!(
                rule.screen(&bus, sub.as_mut(), &d).await.unwrap(),
                Screened::Process
            );
        }
        let mut sub = bus.subscribe("g", &tasks).await.unwrap();
        let d = next(&mut sub).await;
        assert_eq!(d.record.redeliveries, 2);
        assert_eq!(
            rule.screen(&bus, sub.as_mut(), &d).await.unwrap(),
            Screened::DeadLettered
        );
        let letter: DeadLetter = decode(&next(&mut dlq).await.record.payload).unwrap();
        assert_eq!(letter.deliveries, 3);
        assert_eq!(bus.group_backlog("g"), (0, 0));
    }

    #[tokio::test]
    async fn dead_letter_keeps_record_when_publish_fails() {
        let bus = MemoryBus::new();
        let tasks = vec!["agent.build".to_owned()];
        let mut sub = bus.subscribe("g", &tasks).await.unwrap();
        bus.publish("agent.build", "r", b"x".to_vec())
            .await
            .unwrap();
        let d = next(&mut sub).await;
        bus.close();
        let rule = DeadLetterRule::new(1);
        let err = rule.dead_letter(&bus, sub.as_mut(), &d, "bad").await;
        assert!(matches!(err, Err(BusError::Closed)));
        assert_eq!(bus.group_backlog("g"), (0, 1), "still outstanding");
    }

    #[test]
    fn dead_letter_rule_needs_at_least_one_delivery() {
        assert_eq!(DeadLetterRule::new(0).max_deliveries, 1);
        assert_eq!(DeadLetterRule::default().max_deliveries, 5);
        assert_eq!(DeadLetterRule::default().topic, "agent.dead-letter");
    }
}
