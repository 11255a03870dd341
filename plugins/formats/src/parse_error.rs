//! Why a scanner's report could not be understood.

/// A report that is not what its scanner writes. The caller names the tool and the file
/// around this message.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Zero bytes, or only whitespace.
    #[error("the report is empty")]
    Empty,
    /// The report could not be read.
    #[error("reading the report failed: {0}")]
    Read(std::io::Error),
    /// Not JSON, cut short, or JSON of another shape.
    #[error("the report is not valid {format} JSON: {source}")]
    Json {
        /// Which format was expected (`Trivy`, `bandit`).
        format: &'static str,
        /// What serde_json found, with line and column.
        source: serde_json::Error,
    },
    /// Valid JSON, but not a report of this format: none of the fields that mark one.
    #[error("the report is not a {format} report: it has none of {expected}")]
    Shape {
        /// Which format was expected.
        format: &'static str,
        /// The fields any report of the format has.
        expected: &'static str,
    },
    /// The tool wrote its own error instead of a report.
    #[error("{format} reported an error instead of results: {message}")]
    ToolError {
        /// Which format was expected.
        format: &'static str,
        /// The tool's message.
        message: String,
    },
    /// A severity word the scanner does not use.
    #[error("{id} has severity {value:?}, which {format} does not use")]
    Severity {
        /// Which format was expected.
        format: &'static str,
        /// The finding carrying it.
        id: String,
        /// The unknown word.
        value: String,
    },
}
