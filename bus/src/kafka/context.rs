//! librdkafka callbacks for every client: its log lines and errors go to `tracing`.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// Routes librdkafka's logs and global errors into `tracing`, tagged with the client.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogContext {
    client: &'static str,
}

impl LogContext {
    pub(crate) fn new(client: &'static str) -> Self {
        Self { client }
    }
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        forward_log(self.client, level, facility, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        forward_error(self.client, &error, reason);
    }
}

/// Consumers that never join a group (the backlog probe's) need no rebalance callbacks.
impl ConsumerContext for LogContext {}

pub(crate) fn forward_log(client: &str, level: RDKafkaLogLevel, facility: &str, line: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", client, facility, detail = line, "librdkafka");
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(target: "librdkafka", client, facility, detail = line, "librdkafka");
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", client, facility, detail = line, "librdkafka");
        }
        RDKafkaLogLevel::Debug => {
            tracing::debug!(target: "librdkafka", client, facility, detail = line, "librdkafka");
        }
    }
}

pub(crate) fn forward_error(client: &str, error: &KafkaError, reason: &str) {
    // Transport errors (broker down, connection refused) are retried by librdkafka;
    // the operation that cares reports them through its own result.
    tracing::warn!(target: "librdkafka", client, %error, reason, "librdkafka error");
}
