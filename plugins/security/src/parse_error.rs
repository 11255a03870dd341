//! Why a scanner's report could not be understood.

/// A report that is not what its scanner writes. The stage names the tool and the file
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
