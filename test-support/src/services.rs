//! The rule for a service a test needs (the Docker Engine, the tool images, the Kafka
//! broker, the registry): under `CI=true` its absence fails the test, saying how to
//! start it; elsewhere the test is skipped, loudly.

use std::io::Write;

/// How to bring the services up; every message about a missing one ends with it.
const HOW_TO_START: &str =
    "start them with: bash scripts/services.sh && set -a && . .bosun/services.env && set +a";

/// A service `test` needs is missing (`why`): under `CI=true` this fails the test
/// saying how to start it; elsewhere it says the test is skipped. Always `None`, for
/// `let … else`.
pub fn missing_service<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why}; {HOW_TO_START}");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`, and a
    // skip nobody sees is a test that silently passed.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}; {HOW_TO_START}");
    None
}

/// The value of the environment variable `name` (one `scripts/services.sh` writes to
/// `.bosun/services.env`), or [`missing_service`] when it is unset or empty.
pub fn service_var(test: &str, name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => missing_service(test, &format!("{name} is not set")),
    }
}
