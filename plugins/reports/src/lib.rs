//! Readers for report formats that many tools write, shared by the built-in plugins:
//! SARIF 2.1.0 findings, Cobertura and LCOV line coverage.

pub mod cobertura;
pub mod coverage;
pub mod lcov;
pub mod sarif;
mod severity;

pub use coverage::LineCoverage;
pub use sarif::{SarifError, SarifFinding};
pub use severity::Severity;
