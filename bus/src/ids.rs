//! Typed ids of stage tasks (`run/stage/attempt`), policy gate requests
//! (`run/stage/attempt/phase`) and notification requests (`run/notify/n` for Slack,
//! `run/email/n` for email): one type builds each format and the same type parses it.
//!
//! On the wire both stay plain strings (the message fields are `String`, and the serde
//! impls here read and write the same text), so messages are unchanged. Parsing is
//! strict: run ids and stage names never contain `/`, so an id with more or fewer parts,
//! an empty part, or an attempt that is not a plain decimal number is refused rather
//! than guessed at: it came from a broken or hostile agent.

use crate::policy::PolicyPhase;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a task or gate request id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not the number of `/`-separated parts the format has.
    #[error("id '{id}' has {found} '/'-separated parts, expected {expected} ({format})")]
    PartCount {
        /// The id as received.
        id: String,
        /// Parts found.
        found: usize,
        /// Parts the format has.
        expected: usize,
        /// The format, for the message.
        format: &'static str,
    },
    /// One of the parts is empty.
    #[error("id '{id}' has an empty {part}")]
    EmptyPart {
        /// The id as received.
        id: String,
        /// Which part (`run`, `stage`, …).
        part: &'static str,
    },
    /// The attempt is not a decimal number as Bosun writes it (no sign, no leading zero).
    #[error("id '{id}' has attempt '{attempt}', which is not a whole number")]
    Attempt {
        /// The id as received.
        id: String,
        /// The attempt part.
        attempt: String,
    },
    /// The phase is neither `before-stage` nor `after-stage`.
    #[error("id '{id}' has phase '{phase}', expected before-stage or after-stage")]
    Phase {
        /// The id as received.
        id: String,
        /// The phase part.
        phase: String,
    },
    /// The channel is neither `notify` (Slack) nor `email`.
    #[error("id '{id}' has channel '{channel}', expected notify or email")]
    Channel {
        /// The id as received.
        id: String,
        /// The channel part.
        channel: String,
    },
}

/// The id of one stage attempt, `run/stage/attempt`: results are matched on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskId {
    /// The pipeline run.
    pub run_id: String,
    /// The stage (a rollback runs as `<stage>-rollback`).
    pub stage: String,
    /// 1 for the first try.
    pub attempt: u32,
}

impl TaskId {
    /// The id of `stage`'s attempt `attempt` in run `run_id`.
    pub fn new(run_id: impl Into<String>, stage: impl Into<String>, attempt: u32) -> TaskId {
        TaskId {
            run_id: run_id.into(),
            stage: stage.into(),
            attempt,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.run_id, self.stage, self.attempt)
    }
}

impl FromStr for TaskId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<TaskId, IdError> {
        let [run_id, stage, attempt] = parts(id, ["run", "stage", "attempt"], "run/stage/attempt")?;
        Ok(TaskId {
            run_id: run_id.to_string(),
            stage: stage.to_string(),
            attempt: attempt_number(id, attempt)?,
        })
    }
}

/// The id of one policy gate question, `run/stage/attempt/phase`: answers are matched on
/// it, and asking again after a restart reuses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GateRequestId {
    /// The pipeline run.
    pub run_id: String,
    /// The stage being gated.
    pub stage: String,
    /// The attempt the gate is for.
    pub attempt: u32,
    /// Before or after the stage.
    pub phase: PolicyPhase,
}

impl GateRequestId {
    /// The id of the `phase` gate of `stage`'s attempt `attempt` in run `run_id`.
    pub fn new(
        run_id: impl Into<String>,
        stage: impl Into<String>,
        attempt: u32,
        phase: PolicyPhase,
    ) -> GateRequestId {
        GateRequestId {
            run_id: run_id.into(),
            stage: stage.into(),
            attempt,
            phase,
        }
    }
}

impl fmt::Display for GateRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.run_id,
            self.stage,
            self.attempt,
            self.phase.as_str()
        )
    }
}

impl FromStr for GateRequestId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<GateRequestId, IdError> {
        let [run_id, stage, attempt, phase] = parts(
            id,
            ["run", "stage", "attempt", "phase"],
            "run/stage/attempt/phase",
        )?;
        let phase = match phase {
            "before-stage" => PolicyPhase::BeforeStage,
            "after-stage" => PolicyPhase::AfterStage,
            other => {
                return Err(IdError::Phase {
                    id: id.to_string(),
                    phase: other.to_string(),
                });
            }
        };
        Ok(GateRequestId {
            run_id: run_id.to_string(),
            stage: stage.to_string(),
            attempt: attempt_number(id, attempt)?,
            phase,
        })
    }
}

/// The channel a run's notification goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyChannel {
    /// The tenant's Slack webhook (`run/notify/n`).
    Slack,
    /// The tenant's email recipients (`run/email/n`).
    Email,
}

impl NotifyChannel {
    /// The channel's name where outcomes are recorded: `slack` or `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyChannel::Slack => "slack",
            NotifyChannel::Email => "email",
        }
    }

    /// The channel's part of a request id.
    fn id_part(self) -> &'static str {
        match self {
            NotifyChannel::Slack => "notify",
            NotifyChannel::Email => "email",
        }
    }
}

/// The id of one notification request, `run/notify/n` or `run/email/n`: a notifier's
/// answer is routed back to its channel by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotifyRequestId {
    /// The pipeline run.
    pub run_id: String,
    /// Where the notification goes.
    pub channel: NotifyChannel,
    /// 1 for the first request of the run on that channel.
    pub number: u32,
}

impl NotifyRequestId {
    /// The id of request `number` of run `run_id` on `channel`.
    pub fn new(run_id: impl Into<String>, channel: NotifyChannel, number: u32) -> NotifyRequestId {
        NotifyRequestId {
            run_id: run_id.into(),
            channel,
            number,
        }
    }
}

impl fmt::Display for NotifyRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.run_id,
            self.channel.id_part(),
            self.number
        )
    }
}

impl FromStr for NotifyRequestId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<NotifyRequestId, IdError> {
        let [run_id, channel, number] = parts(id, ["run", "channel", "number"], "run/channel/n")?;
        let channel = match channel {
            "notify" => NotifyChannel::Slack,
            "email" => NotifyChannel::Email,
            other => {
                return Err(IdError::Channel {
                    id: id.to_string(),
                    channel: other.to_string(),
                });
            }
        };
        Ok(NotifyRequestId {
            run_id: run_id.to_string(),
            channel,
            number: attempt_number(id, number)?,
        })
    }
}

/// Exactly `N` non-empty `/`-separated parts.
fn parts<'a, const N: usize>(
    id: &'a str,
    names: [&'static str; N],
    format: &'static str,
) -> Result<[&'a str; N], IdError> {
    let found: Vec<&str> = id.split('/').collect();
    let parts: [&str; N] = found
        .as_slice()
        .try_into()
        .map_err(|_| IdError::PartCount {
            id: id.to_string(),
            found: found.len(),
            expected: N,
            format,
        })?;
    if let Some((_, part)) = parts.iter().zip(names).find(|(text, _)| text.is_empty()) {
        return Err(IdError::EmptyPart {
            id: id.to_string(),
            part,
        });
    }
    Ok(parts)
}

/// An attempt exactly as `Display` writes it: ASCII digits, no sign, no leading zero
/// (so an id reads back to the same text it was parsed from).
fn attempt_number(id: &str, text: &str) -> Result<u32, IdError> {
    let refused = || IdError::Attempt {
        id: id.to_string(),
        attempt: text.to_string(),
    };
    if !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return Err(refused());
    }
    text.parse().map_err(|_| refused())
}

/// Serialise and deserialise an id as its text, the form the wire has always carried.
macro_rules! serde_as_text {
    ($id:ty) => {
        impl Serialize for $id {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $id {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$id, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_text!(TaskId);
serde_as_text!(GateRequestId);
serde_as_text!(NotifyRequestId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_round_trips_through_its_text() {
        let id = TaskId::new("0190a-1f-3", "deploy-rollback", 12);
        assert_eq!(id.to_string(), "0190a-1f-3/deploy-rollback/12");
        assert_eq!("0190a-1f-3/deploy-rollback/12".parse::<TaskId>(), Ok(id));
    }

    #[test]
    fn task_id_is_a_plain_string_on_the_wire() {
        let id = TaskId::new("r", "test", 2);
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""r/test/2""#);
        assert_eq!(serde_json::from_str::<TaskId>(r#""r/test/2""#).unwrap(), id);
        assert!(serde_json::from_str::<TaskId>(r#""r/test""#).is_err());
        assert!(serde_json::from_str::<TaskId>("2").is_err());
    }

    #[test]
    fn task_id_refuses_extra_or_missing_separators() {
        for hostile in ["a/b/c/1", "r/test", "r", "", "/", "r/te/st/1", "r/test/1/"] {
            assert!(
                matches!(hostile.parse::<TaskId>(), Err(IdError::PartCount { .. })),
                "{hostile:?} was not refused for its part count"
            );
        }
    }

    #[test]
    fn task_id_refuses_empty_parts_naming_them() {
        let empty = |id: &str| match id.parse::<TaskId>() {
            Err(IdError::EmptyPart { part, .. }) => part,
            other => panic!("{id:?} gave {other:?}"),
        };
        assert_eq!(empty("/test/1"), "run");
        assert_eq!(empty("r//1"), "stage");
        assert_eq!(empty("r/test/"), "attempt");
        assert_eq!(empty("//"), "run");
    }

    #[test]
    fn task_id_refuses_an_attempt_that_is_not_a_plain_number() {
        for attempt in [
            "x",
            "-1",
            "+1",
            "01",
            " 1",
            "1 ",
            "1.0",
            "0x1",
            "4294967296",
            "١",
        ] {
            let id = format!("r/test/{attempt}");
            assert!(
                matches!(id.parse::<TaskId>(), Err(IdError::Attempt { .. })),
                "{id:?} was accepted"
            );
        }
        assert_eq!("r/test/0".parse::<TaskId>().map(|t| t.attempt), Ok(0));
        assert_eq!(
            "r/test/4294967295".parse::<TaskId>().map(|t| t.attempt),
            Ok(u32::MAX)
        );
    }

    #[test]
    fn task_id_errors_name_the_id_and_the_format() {
        let error = "a/b/c/1".parse::<TaskId>().unwrap_err().to_string();
        assert_eq!(
            error,
            "id 'a/b/c/1' has 4 '/'-separated parts, expected 3 (run/stage/attempt)"
        );
    }

    #[test]
    fn notify_request_id_round_trips_and_names_its_channel() {
        for (text, channel) in [
            ("0190a-1f-3/notify/1", NotifyChannel::Slack),
            ("0190a-1f-3/email/2", NotifyChannel::Email),
        ] {
            let id: NotifyRequestId = text.parse().unwrap();
            assert_eq!(id.channel, channel);
            assert_eq!(id.run_id, "0190a-1f-3");
            assert_eq!(id.to_string(), text);
        }
        assert_eq!(
            NotifyRequestId::new("r", NotifyChannel::Email, 1).to_string(),
            "r/email/1"
        );
        assert_eq!(NotifyChannel::Slack.as_str(), "slack");
    }

    #[test]
    fn notify_request_id_refuses_an_unknown_channel_or_shape() {
        let refused = "r/sms/1".parse::<NotifyRequestId>().unwrap_err();
        assert!(matches!(refused, IdError::Channel { .. }), "{refused}");
        assert!(refused.to_string().contains("expected notify or email"));
        for text in [
            "r/notify",
            "r/notify/1/x",
            "/notify/1",
            "r/email/01",
            "r/email/-1",
        ] {
            assert!(text.parse::<NotifyRequestId>().is_err(), "{text}");
        }
    }

    #[test]
    fn gate_request_id_round_trips_through_its_text() {
        for phase in [PolicyPhase::BeforeStage, PolicyPhase::AfterStage] {
            let id = GateRequestId::new("r-1", "deploy", 3, phase);
            let text = format!("r-1/deploy/3/{}", phase.as_str());
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<GateRequestId>(), Ok(id.clone()));
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        }
    }

    #[test]
    fn gate_request_id_refuses_hostile_text() {
        let refused = |id: &str| id.parse::<GateRequestId>().unwrap_err();
        assert!(matches!(refused("r/deploy/1"), IdError::PartCount { .. }));
        assert!(matches!(
            refused("x/r/deploy/1/before-stage"),
            IdError::PartCount { .. }
        ));
        assert!(matches!(
            refused("r//1/before-stage"),
            IdError::EmptyPart { part: "stage", .. }
        ));
        assert!(matches!(
            refused("r/deploy/1/"),
            IdError::EmptyPart { part: "phase", .. }
        ));
        assert!(matches!(
            refused("r/deploy/one/before-stage"),
            IdError::Attempt { .. }
        ));
        assert!(matches!(
            refused("r/deploy/1/during"),
            IdError::Phase { .. }
        ));
        assert!(matches!(
            refused("r/deploy/1/Before-Stage"),
            IdError::Phase { .. }
        ));
    }
}
