//! A command step's `services`: containers (a database, a cache) started before the
//! commands on a network private to the step, reachable by name, and removed after it.
//!
//! ```yaml
//! services:
//!   - name: cache
//!     image: bosun/redis:7
//!     env: { REDIS_ARGS: "--maxmemory 64mb" }
//!     ready: { tcp: 6379, timeout: 30s }
//! ```

use super::command_step::read_env;
use super::positions::YamlPath;
use super::reader::{Keys, Reader, describe};
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};
use std::time::Duration;

const MAX_SERVICES: usize = 8;
const MAX_ARGS: usize = 64;
const MAX_ARG_BYTES: usize = 4 << 10;
/// How long a service may take to become ready unless `ready.timeout` says.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_READY_TIMEOUT: Duration = Duration::from_secs(10 * 60);

const SERVICE_KEYS: Keys = Keys {
    allowed: &["name", "image", "env", "command", "ready"],
    elsewhere: &[],
};
const READY_KEYS: Keys = Keys {
    allowed: &["tcp", "command", "timeout"],
    elsewhere: &[],
};

/// A container the step's commands talk to, by its `name`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    /// The host name the step reaches it by (a DNS label).
    pub name: String,
    /// The image it runs.
    pub image: String,
    /// Environment variables, in file order.
    pub env: Vec<(String, String)>,
    /// The argv it runs instead of the image's own command; empty keeps the image's.
    pub command: Vec<String>,
    /// When the commands may start.
    pub ready: Readiness,
}

/// How the agent knows a service is ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// A TCP port that accepts a connection.
    pub tcp: Option<u16>,
    /// A command (run by `/bin/sh -c` in the service's container) that exits 0.
    pub command: Option<String>,
    /// The deadline; a service not ready by then fails the step.
    #[serde(rename = "timeout_ms", serialize_with = "millis")]
    pub timeout: Duration,
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// Reads `services:` of a command step; problems are recorded on `reader`.
pub(crate) fn read_services(
    reader: &mut Reader,
    value: &Value,
    at: &YamlPath,
    scope: &str,
) -> Vec<ServiceSpec> {
    let Some(items) = value.as_sequence() else {
        reader.wrong_type(
            at,
            "services",
            scope,
            "a list of services, each with a name and an image",
            value,
        );
        return Vec::new();
    };
    if items.len() > MAX_SERVICES {
        reader.at_value(
            at,
            Some("services"),
            format!(
                "{scope}: {} services; at most {MAX_SERVICES} are allowed",
                items.len()
            ),
            None,
        );
    }
    let mut services: Vec<ServiceSpec> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_at = at.index(index);
        let Some(map) = item.as_mapping() else {
            reader.at_value(
                &item_at,
                Some("services"),
                format!(
                    "{scope}: service {} must be a mapping with 'name' and 'image', found {}",
                    index + 1,
                    describe(item)
                ),
                Some("e.g. '- { name: cache, image: bosun/redis:7, ready: { tcp: 6379 } }'".into()),
            );
            continue;
        };
        if let Some(service) = read_service(reader, map, &item_at, scope, index) {
            if services.iter().any(|s| s.name == service.name) {
                reader.at_value(
                    &item_at.key("name"),
                    Some("name"),
                    format!("{scope}: two services are named '{}'", service.name),
                    None,
                );
                continue;
            }
            services.push(service);
        }
    }
    services
}

fn read_service(
    reader: &mut Reader,
    map: &Mapping,
    at: &YamlPath,
    scope: &str,
    index: usize,
) -> Option<ServiceSpec> {
    let before = reader.problem_count();
    let service_scope = match map.get("name").and_then(Value::as_str) {
        Some(name) => format!("{scope}, service '{name}'"),
        None => format!("{scope}, service {}", index + 1),
    };
    reader.check_keys(map, at, &service_scope, &SERVICE_KEYS);
    let name = match map.get("name") {
        Some(value) => reader
            .text(value, &at.key("name"), "name", &service_scope)
            .filter(|name| host_name(reader, name, &at.key("name"), &service_scope)),
        None => {
            reader.at_value(
                at,
                None,
                format!("{service_scope} has no 'name' (the host name the commands use)"),
                None,
            );
            None
        }
    };
    let image = match map.get("image") {
        Some(value) => reader.text(value, &at.key("image"), "image", &service_scope),
        None => {
            reader.at_value(
                at,
                None,
                format!("{service_scope} has no 'image' to run"),
                Some("e.g. 'image: bosun/redis:7'".into()),
            );
            None
        }
    };
    let env = map
        .get("env")
        .map(|value| read_env(reader, value, &at.key("env"), &service_scope))
        .unwrap_or_default();
    let command = map
        .get("command")
        .map(|value| read_argv(reader, value, &at.key("command"), &service_scope))
        .unwrap_or_default();
    let ready = match map.get("ready") {
        Some(value) => read_ready(reader, value, &at.key("ready"), &service_scope),
        None => Readiness {
            tcp: None,
            command: None,
            timeout: DEFAULT_READY_TIMEOUT,
        },
    };
    (reader.problem_count() == before).then(|| ServiceSpec {
        name: name.unwrap_or_default(),
        image: image.unwrap_or_default(),
        env,
        command,
        ready,
    })
}

/// A service name becomes a host name on the step's network: one DNS label.
fn host_name(reader: &mut Reader, name: &str, at: &YamlPath, scope: &str) -> bool {
    let ok = name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        reader.at_value(
            at,
            Some("name"),
            format!("{scope}: 'name' must be a host name (lowercase letters, digits and '-', at most 63), found '{name}'"),
            Some("e.g. 'name: db' or 'name: redis-cache'".into()),
        );
    }
    ok
}

/// `command` as a list (the argv) or one line (run by `/bin/sh -c`).
fn read_argv(reader: &mut Reader, value: &Value, at: &YamlPath, scope: &str) -> Vec<String> {
    let argv = match value.as_str() {
        Some(line) => vec!["/bin/sh".to_string(), "-c".to_string(), line.to_string()],
        None => match reader.text_list(value, at, "command", scope) {
            Some(items) => items.into_iter().map(|(arg, _)| arg).collect(),
            None => return Vec::new(),
        },
    };
    let bad = argv.is_empty()
        || argv.len() > MAX_ARGS
        || argv
            .iter()
            .any(|arg| arg.contains('\0') || arg.len() > MAX_ARG_BYTES);
    if bad {
        reader.at_value(
            at,
            Some("command"),
            format!("{scope}: 'command' must have 1 to {MAX_ARGS} arguments, each under {} KiB, without NUL bytes", MAX_ARG_BYTES >> 10),
            None,
        );
    }
    argv
}

fn read_ready(reader: &mut Reader, value: &Value, at: &YamlPath, scope: &str) -> Readiness {
    let mut ready = Readiness {
        tcp: None,
        command: None,
        timeout: DEFAULT_READY_TIMEOUT,
    };
    let Some(map) = value.as_mapping() else {
        reader.wrong_type(
            at,
            "ready",
            scope,
            "a mapping with 'tcp' (a port) or 'command', and an optional 'timeout'",
            value,
        );
        return ready;
    };
    let scope = format!("{scope}, in 'ready'");
    reader.check_keys(map, at, &scope, &READY_KEYS);
    if let Some(port) = map.get("tcp") {
        ready.tcp = reader
            .number(port, &at.key("tcp"), "tcp", &scope, (1, 65535))
            .and_then(|port| u16::try_from(port).ok());
    }
    if let Some(command) = map.get("command") {
        ready.command = reader.text(command, &at.key("command"), "command", &scope);
    }
    if ready.tcp.is_some() && ready.command.is_some() {
        reader.at_value(
            at,
            Some("ready"),
            format!("{scope}: give 'tcp' or 'command', not both"),
            None,
        );
    }
    if !map.contains_key("tcp") && !map.contains_key("command") {
        reader.at_value(
            at,
            Some("ready"),
            format!("{scope}: say how to tell it is ready: 'tcp: PORT' or 'command: ...'"),
            Some("e.g. 'ready: { tcp: 5432 }' or 'ready: { command: redis-cli ping }'".into()),
        );
    }
    if let Some(timeout) = map.get("timeout") {
        ready.timeout = reader
            .duration(
                timeout,
                &at.key("timeout"),
                "timeout",
                &scope,
                (Duration::from_secs(1), MAX_READY_TIMEOUT),
            )
            .unwrap_or(DEFAULT_READY_TIMEOUT);
    }
    ready
}
