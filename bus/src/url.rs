//! Bus URLs: `memory://` for the embedded bus, `kafka://HOST:PORT[,HOST:PORT…]` for Kafka.

use crate::kafka::{KafkaBus, KafkaConfig};
use crate::memory::MemoryBus;
use crate::transport::{Bus, BusError};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A parsed bus URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusUrl {
    /// `memory://`: the in-process bus.
    Memory,
    /// `kafka://b1:9092,b2:9092`: bootstrap brokers, `host:port` each.
    Kafka {
        /// The brokers, in the order given.
        brokers: Vec<String>,
    },
}

impl FromStr for BusUrl {
    type Err = BusError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            BusError::Config(format!(
                "bus URL {url:?} has no scheme: use memory:// or kafka://HOST:PORT"
            ))
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "memory" if rest.is_empty() || rest == "/" => Ok(BusUrl::Memory),
            "memory" => Err(BusError::Config(format!(
                "bus URL {url:?}: memory:// takes nothing after the scheme"
            ))),
            "kafka" => {
                let rest = rest.trim_end_matches('/');
                if rest.is_empty() {
                    return Err(BusError::Config(format!(
                        "bus URL {url:?} names no broker: use kafka://HOST:PORT[,HOST:PORT]"
                    )));
                }
                let brokers: Vec<String> = rest.split(',').map(|b| b.trim().to_owned()).collect();
                for broker in &brokers {
                    crate::kafka::check_broker_address(broker).map_err(|e| {
                        BusError::Config(format!("bus URL {url:?}: {}", strip_prefix(&e)))
                    })?;
                }
                Ok(BusUrl::Kafka { brokers })
            }
            other => Err(BusError::Config(format!(
                "bus URL {url:?}: unknown scheme {other:?}, use memory:// or kafka://HOST:PORT"
            ))),
        }
    }
}

fn strip_prefix(error: &BusError) -> String {
    match error {
        BusError::Config(detail) => detail.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for BusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusUrl::Memory => f.write_str("memory://"),
            BusUrl::Kafka { brokers } => write!(f, "kafka://{}", brokers.join(",")),
        }
    }
}

impl BusUrl {
    /// Connect with default settings (Kafka: [`KafkaConfig::new`]).
    pub async fn connect(&self) -> Result<Arc<dyn Bus>, BusError> {
        match self {
            BusUrl::Memory => Ok(Arc::new(MemoryBus::new())),
            BusUrl::Kafka { brokers } => {
                let bus = KafkaBus::connect(KafkaConfig::new(brokers.iter().cloned())).await?;
                Ok(Arc::new(bus))
            }
        }
    }
}

/// Parse `url` and connect: `memory://` or `kafka://HOST:PORT[,HOST:PORT]`.
///
/// An unreachable broker is [`BusError::Unreachable`] naming it, after a bounded wait;
/// callers retry with backoff. For security settings or extra properties build a
/// [`KafkaConfig`] and call [`KafkaBus::connect`].
pub async fn connect_url(url: &str) -> Result<Arc<dyn Bus>, BusError> {
    url.parse::<BusUrl>()?.connect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parses_memory_and_kafka() {
        assert_eq!("memory://".parse::<BusUrl>().unwrap(), BusUrl::Memory);
        assert_eq!(
            "kafka://127.0.0.1:9092, b2:9093".parse::<BusUrl>().unwrap(),
            BusUrl::Kafka {
                brokers: vec!["127.0.0.1:9092".into(), "b2:9093".into()]
            }
        );
        assert_eq!(
            "kafka://[::1]:9092/".parse::<BusUrl>().unwrap().to_string(),
            "kafka://[::1]:9092"
        );
    }

    #[test]
    fn url_bad_input_named() {
        for bad in [
            "",
            "localhost:9092",
            "redis://x:1",
            "kafka://",
            "kafka://host",
            "kafka://host:99999",
            "kafka://a:1,,b:2",
            "memory://x",
        ] {
            let err = bad.parse::<BusUrl>().unwrap_err();
            assert!(matches!(err, BusError::Config(_)), "{bad}: {err}");
            assert!(err.to_string().contains(bad.trim()), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn url_memory_connects() {
        let bus = connect_url("memory://").await.unwrap();
        assert_eq!(bus.describe(), "in-memory");
    }
}
