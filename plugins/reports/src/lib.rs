//! Readers for report formats that many tools write, shared by the built-in plugins:
//! SARIF 2.1.0 findings, Cobertura and LCOV line coverage.
