//! Log lines recorded by the host under the run/stage/attempt span.

use crate::bindings::stage::bosun::agent::log::{self as host, Level};

/// Log at debug level.
pub fn debug(message: &str) {
    host::log(Level::Debug, message);
}

/// Log at info level.
pub fn info(message: &str) {
    host::log(Level::Info, message);
}

/// Log at warn level.
pub fn warn(message: &str) {
    host::log(Level::Warn, message);
}

/// Log at error level.
pub fn error(message: &str) {
    host::log(Level::Error, message);
}
