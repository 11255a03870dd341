//! Readers for the lint and security tools' own report formats, shared by the built-in plugins.
//!
//! One copy of each parser, used by the `lint` stage (pylint, eslint), the `security`
//! stage (bandit, Trivy, Snyk) and command steps, which read the same reports when a
//! project's own commands write them. A plugin crate cannot be linked into another
//! (each exports the component's `run`), so the parsers live here, in a plain library.
//!
//! Two result shapes, as the stages need them:
//! - lint: [`pylint::parse`] and [`eslint::parse`] give [`message::LintMessage`]s (turned
//!   into findings by [`message::LintMessage::to_finding`]); a report they cannot read
//!   is a [`json_error::ReportError`] with the byte where it went wrong.
//! - security: [`bandit::parse`], [`trivy::parse`] and [`snyk::parse`] (and their
//!   streaming `parse_reader`) give [`issue::Issue`]s, a finding with what SARIF needs
//!   beside it; a report they cannot read is a [`parse_error::ParseError`].
//!
//! Paths in both are relative to the workspace: tools in a container see the
//! repository at `/workspace`. The parsers' tests read real tool output kept beside the
//! stages that run the tools: `plugins/lint/tests/fixtures` (see its `TOOLS.txt`) and
//! `plugins/security/tests/fixtures`.

pub mod bandit;
pub mod eslint;
pub mod issue;
pub mod json_error;
pub mod message;
pub mod parse_error;
pub mod pylint;
pub mod snyk;
pub mod trivy;
