//! Kafka settings, parsed once at the edge (CLI flags, env) and mapped onto librdkafka
//! properties for the producer, the consumers and the admin client.

use crate::transport::BusError;
use rdkafka::ClientConfig;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Everything the Kafka transport needs to reach a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` each (`bootstrap.servers`).
    pub brokers: Vec<String>,
    /// `client.id` the broker sees in its logs and quotas.
    pub client_id: String,
    /// TLS and SASL settings; `None` means plaintext.
    pub security: Option<KafkaSecurity>,
    /// More librdkafka properties, applied last to every client so they override
    /// Bosun's defaults (e.g. `("fetch.wait.max.ms", "100")`).
    pub extra: Vec<(String, String)>,
    /// How long `KafkaBus::connect` waits for the cluster's metadata before it reports
    /// the brokers unreachable.
    pub connect_timeout: Duration,
    /// Partitions of the topics `ensure_topics` creates (consumer-group parallelism).
    pub topic_partitions: i32,
    /// Replication factor of the topics `ensure_topics` creates.
    pub topic_replication: i32,
}

/// Default `fetch.wait.max.ms` of the consumers, chosen for loopback and Tansu, which
/// answers every fetch only after the full wait: a hop costs about this wait plus
/// ~3 ms there (1 ms: ~7 ms task→result round trip; 5 ms: ~16 ms; 20 ms: ~46 ms), at
/// the price of a fetch request per millisecond from each idle consumer. Apache Kafka
/// and Redpanda answer as soon as a record arrives, so on a shared cluster with many
/// agents raise it through `extra` (100–500) at no latency cost.
pub const DEFAULT_FETCH_WAIT_MS: u32 = 1;

/// Default `client.id`.
pub const DEFAULT_CLIENT_ID: &str = "bosun";

impl KafkaConfig {
    /// Plaintext settings for `brokers`, with Bosun's defaults for the rest.
    pub fn new<I, S>(brokers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            brokers: brokers.into_iter().map(Into::into).collect(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            security: None,
            extra: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            topic_partitions: 6,
            topic_replication: 1,
        }
    }

    /// The brokers as `bootstrap.servers` wants them.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers.join(",")
    }

    /// Check the settings without contacting anything.
    pub fn validate(&self) -> Result<(), BusError> {
        if self.brokers.is_empty() {
            return Err(BusError::Config("no Kafka broker configured".to_owned()));
        }
        for broker in &self.brokers {
            check_broker_address(broker)?;
        }
        if self.client_id.trim().is_empty() {
            return Err(BusError::Config("the Kafka client id is empty".to_owned()));
        }
        if self.topic_partitions < 1 {
            return Err(BusError::Config(format!(
                "topic partitions must be at least 1, not {}",
                self.topic_partitions
            )));
        }
        if self.topic_replication < 1 {
            return Err(BusError::Config(format!(
                "topic replication factor must be at least 1, not {}",
                self.topic_replication
            )));
        }
        if let Some(security) = &self.security {
            security.validate()?;
        }
        Ok(())
    }

    /// Properties every client shares.
    fn common(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("client.id", &self.client_id)
            // Latency over throughput: tasks are few and each one matters.
            .set("socket.nagle.disable", "true")
            .set("log.connection.close", "false");
        if let Some(security) = &self.security {
            security.apply(&mut config);
        }
        config
    }

    fn with_extra(&self, mut config: ClientConfig) -> ClientConfig {
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }

    /// The idempotent producer: acks from all in-sync replicas, no lingering.
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut config = self.common();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            // A publish waits for its delivery report; do not wait minutes for it.
            .set("message.timeout.ms", "30000");
        self.with_extra(config)
    }

    /// A consumer in `group`: manual commits only, earliest offset for a new group,
    /// short fetch waits for loopback latency.
    pub(crate) fn consumer(&self, group: &str) -> ClientConfig {
        let mut config = self.common();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // See DEFAULT_FETCH_WAIT_MS: Tansu answers only after the full wait.
            .set("fetch.wait.max.ms", DEFAULT_FETCH_WAIT_MS.to_string())
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        self.with_extra(config)
    }

    /// The admin client (topic creation).
    pub(crate) fn admin(&self) -> ClientConfig {
        let config = self.common();
        self.with_extra(config)
    }
}

/// Check one `host:port` entry.
pub(crate) fn check_broker_address(broker: &str) -> Result<(), BusError> {
    let bad = |why: &str| BusError::Config(format!("broker address {broker:?}: {why}"));
    let (host, port) = broker
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', ' ', ',']) {
        return Err(bad("invalid host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("invalid port")),
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS to the brokers (`security.protocol=ssl`).
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The librdkafka spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the connection uses TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the connection authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl FromStr for SecurityProtocol {
    type Err = BusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "plaintext" => Ok(SecurityProtocol::Plaintext),
            "ssl" => Ok(SecurityProtocol::Ssl),
            "sasl_plaintext" => Ok(SecurityProtocol::SaslPlaintext),
            "sasl_ssl" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(BusError::Config(format!(
                "security protocol {s:?} is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"
            ))),
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TLS and SASL settings. `Debug` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// `sasl.mechanism`: `PLAIN` (the default when SASL is on), `SCRAM-SHA-256`,
    /// `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    /// `sasl.username`.
    pub sasl_username: Option<String>,
    /// `sasl.password`.
    pub sasl_password: Option<String>,
    /// `ssl.ca.location`: CA bundle that signed the brokers' certificates.
    pub ssl_ca_location: Option<PathBuf>,
}

impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| "********"),
            )
            .field("ssl_ca_location", &self.ssl_ca_location)
            .finish()
    }
}

/// Whether this build of librdkafka has OpenSSL (feature `kafka-tls`).
pub const TLS_SUPPORTED: bool = cfg!(feature = "kafka-tls");

impl KafkaSecurity {
    fn mechanism(&self) -> &str {
        self.sasl_mechanism.as_deref().unwrap_or("PLAIN")
    }

    /// Check that the settings fit together and that this build can honour them.
    pub fn validate(&self) -> Result<(), BusError> {
        let protocol = self.protocol;
        if protocol.uses_tls() && !TLS_SUPPORTED {
            return Err(BusError::Config(format!(
                "security protocol {protocol} needs TLS: build bosun-bus with the \
                 `kafka-tls` feature"
            )));
        }
        if protocol.uses_sasl() {
            let mechanism = self.mechanism();
            match mechanism {
                "PLAIN" => {}
                "SCRAM-SHA-256" | "SCRAM-SHA-512" if TLS_SUPPORTED => {}
                "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                    return Err(BusError::Config(format!(
                        "SASL mechanism {mechanism} needs OpenSSL: build bosun-bus with \
                         the `kafka-tls` feature"
                    )));
                }
                other => {
                    return Err(BusError::Config(format!(
                        "SASL mechanism {other:?} is not one of PLAIN, SCRAM-SHA-256, \
                         SCRAM-SHA-512"
                    )));
                }
            }
            if self.sasl_username.as_deref().is_none_or(str::is_empty)
                || self.sasl_password.is_none()
            {
                return Err(BusError::Config(format!(
                    "security protocol {protocol} needs a SASL username and password"
                )));
            }
        } else if self.sasl_username.is_some()
            || self.sasl_password.is_some()
            || self.sasl_mechanism.is_some()
        {
            return Err(BusError::Config(format!(
                "SASL settings are given but security protocol {protocol} does not use \
                 SASL (use sasl_plaintext or sasl_ssl)"
            )));
        }
        if self.ssl_ca_location.is_some() && !protocol.uses_tls() {
            return Err(BusError::Config(format!(
                "an SSL CA location is given but security protocol {protocol} does not \
                 use TLS (use ssl or sasl_ssl)"
            )));
        }
        Ok(())
    }

    fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", self.protocol.as_str());
        if self.protocol.uses_sasl() {
            config.set("sasl.mechanism", self.mechanism());
            if let Some(username) = &self.sasl_username {
                config.set("sasl.username", username);
            }
            if let Some(password) = &self.sasl_password {
                config.set("sasl.password", password);
            }
        }
        if let Some(ca) = &self.ssl_ca_location {
            config.set("ssl.ca.location", ca.to_string_lossy());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl(protocol: SecurityProtocol) -> KafkaSecurity {
        KafkaSecurity {
            protocol,
            sasl_mechanism: None,
            sasl_username: Some("agent".into()),
            sasl_password: Some("hunter2".into()),
            ssl_ca_location: None,
        }
    }

    #[test]
    fn config_defaults_are_valid() {
        let config = KafkaConfig::new(["127.0.0.1:9092", "[::1]:9093"]);
        config.validate().unwrap();
        assert_eq!(config.bootstrap_servers(), "127.0.0.1:9092,[::1]:9093");
    }

    #[test]
    fn config_bad_broker_named() {
        for bad in ["localhost", "host:0", "host:port", ":9092", "a b:1"] {
            let err = KafkaConfig::new([bad]).validate().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert!(KafkaConfig::new(Vec::<String>::new()).validate().is_err());
    }

    #[test]
    fn config_consumer_commits_manually_and_extra_overrides() {
        let mut config = KafkaConfig::new(["b:9092"]);
        config
            .extra
            .push(("fetch.wait.max.ms".into(), "100".into()));
        let consumer = config.consumer("bosun-agent-lint");
        assert_eq!(consumer.get("group.id"), Some("bosun-agent-lint"));
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("100"));
        let producer = config.producer();
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("acks"), Some("all"));
    }

    #[test]
    fn config_security_maps_and_masks_password() {
        let mut config = KafkaConfig::new(["b:9092"]);
        config.security = Some(sasl(SecurityProtocol::SaslPlaintext));
        config.validate().unwrap();
        let producer = config.producer();
        assert_eq!(producer.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(producer.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(producer.get("sasl.password"), Some("hunter2"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn config_security_inconsistent_refused() {
        let mut no_password = sasl(SecurityProtocol::SaslPlaintext);
        no_password.sasl_password = None;
        assert!(no_password.validate().is_err());
        let mut sasl_on_plaintext = sasl(SecurityProtocol::Plaintext);
        sasl_on_plaintext.protocol = SecurityProtocol::Plaintext;
        assert!(sasl_on_plaintext.validate().is_err());
        let mut bad_mechanism = sasl(SecurityProtocol::SaslPlaintext);
        bad_mechanism.sasl_mechanism = Some("GSSAPI".into());
        let err = bad_mechanism.validate().unwrap_err();
        assert!(err.to_string().contains("GSSAPI"), "{err}");
        if !TLS_SUPPORTED {
            let err = sasl(SecurityProtocol::SaslSsl).validate().unwrap_err();
            assert!(err.to_string().contains("kafka-tls"), "{err}");
        }
    }

    #[test]
    fn config_security_accepted_by_librdkafka() {
        use rdkafka::producer::BaseProducer;
        let mut config = KafkaConfig::new(["127.0.0.1:1"]);
        config.security = Some(sasl(SecurityProtocol::SaslPlaintext));
        config.producer().create::<BaseProducer>().unwrap();
        if TLS_SUPPORTED {
            let mut scram = sasl(SecurityProtocol::SaslSsl);
            scram.sasl_mechanism = Some("SCRAM-SHA-512".into());
            config.security = Some(scram);
            config.validate().unwrap();
            config.producer().create::<BaseProducer>().unwrap();
        }
    }

    #[test]
    fn config_security_protocol_parses_spellings() {
        assert_eq!(
            "SASL_SSL".parse::<SecurityProtocol>().unwrap(),
            SecurityProtocol::SaslSsl
        );
        assert_eq!(
            "sasl-plaintext".parse::<SecurityProtocol>().unwrap(),
            SecurityProtocol::SaslPlaintext
        );
        assert!("tls".parse::<SecurityProtocol>().is_err());
    }
}
