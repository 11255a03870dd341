//! Why a tool's JSON report could not be read, with the byte offset where it went wrong.

use serde_json::error::Category;
use std::fmt;

/// A JSON report that could not be read. Offsets count bytes from the start of the
/// input. `Display` speaks of what a tool printed, and the caller puts the tool's name
/// in front (`pylint printed invalid JSON …`); [`ReportError::in_file`] speaks of a
/// report file the repository holds (`… holds invalid JSON …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// Nothing but whitespace: the tool wrote no report.
    Empty,
    /// The input ends inside the document: a crash mid-write, a full disk, a cut.
    Truncated {
        /// Where the input ended.
        offset: usize,
    },
    /// Not JSON at all at `offset`.
    Invalid {
        /// Where the JSON parser gave up.
        offset: usize,
        /// What it expected, as the parser put it.
        message: String,
    },
    /// Valid JSON, but not the tool's report format (a missing field, a wrong type).
    Shape {
        /// Where the unexpected value is.
        offset: usize,
        /// What was wrong.
        message: String,
    },
}

impl ReportError {
    /// Classify a serde_json error on `input`.
    pub fn from_serde(input: &[u8], error: &serde_json::Error) -> ReportError {
        let offset = byte_offset(input, error.line(), error.column());
        let message = without_position(error);
        match error.classify() {
            Category::Eof => ReportError::Truncated {
                offset: input.len(),
            },
            Category::Syntax | Category::Io => ReportError::Invalid { offset, message },
            Category::Data => ReportError::Shape { offset, message },
        }
    }

    /// The problem with a report read from a file rather than printed by the tool, to
    /// follow the file's name (`the pylint report /workspace/lint.json` …).
    pub fn in_file(&self) -> String {
        match self {
            ReportError::Empty => "is empty where a JSON report should be".to_string(),
            ReportError::Truncated { offset } => {
                format!("holds truncated JSON: the file ends at byte {offset}, inside the document")
            }
            ReportError::Invalid { offset, message } => {
                format!("holds invalid JSON at byte {offset}: {message}")
            }
            ReportError::Shape { offset, message } => format!(
                "holds JSON that is not the tool's report format at byte {offset}: {message}"
            ),
        }
    }

    /// `Empty` when `input` holds only whitespace.
    pub fn check_not_empty(input: &[u8]) -> Result<(), ReportError> {
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(ReportError::Empty);
        }
        Ok(())
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Empty => write!(f, "printed nothing where its JSON report should be"),
            ReportError::Truncated { offset } => write!(
                f,
                "printed truncated JSON: the input ends at byte {offset}, inside the document"
            ),
            ReportError::Invalid { offset, message } => {
                write!(f, "printed invalid JSON at byte {offset}: {message}")
            }
            ReportError::Shape { offset, message } => write!(
                f,
                "printed JSON that is not its report format at byte {offset}: {message}"
            ),
        }
    }
}

/// serde_json's message without the ` at line L column C` it appends.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// The byte offset of serde_json's 1-based line and column (a column counts bytes).
fn byte_offset(input: &[u8], line: usize, column: usize) -> usize {
    let mut line_start = 0;
    for _ in 1..line {
        match input
            .get(line_start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            Some(newline) => line_start += newline + 1,
            None => return input.len(),
        }
    }
    line_start
        .saturating_add(column.saturating_sub(1))
        .min(input.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(input: &str) -> ReportError {
        let error = serde_json::from_str::<Vec<u32>>(input).unwrap_err();
        ReportError::from_serde(input.as_bytes(), &error)
    }

    #[test]
    fn offsets_count_bytes_across_lines() {
        assert_eq!(byte_offset(b"ab\ncd\nef", 3, 2), 7);
        assert_eq!(byte_offset(b"ab", 1, 1), 0);
        assert_eq!(byte_offset(b"ab", 9, 9), 2);
    }

    #[test]
    fn errors_are_classified_with_offsets() {
        assert_eq!(
            error_of("[1,\n 2,\n x]"),
            ReportError::Invalid {
                offset: 9,
                message: "expected value".into()
            }
        );
        assert_eq!(error_of("[1, 2"), ReportError::Truncated { offset: 5 });
        match error_of("[1, \"two\"]") {
            ReportError::Shape { offset, message } => {
                assert_eq!(offset, 8);
                assert!(message.starts_with("invalid type: string"), "{message}");
            }
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn messages_name_the_offset() {
        let text = error_of("[1, }").to_string();
        assert_eq!(text, "printed invalid JSON at byte 4: expected value");
        assert!(ReportError::check_not_empty(b" \n\t").is_err());
        assert!(ReportError::check_not_empty(b"[]").is_ok());
    }

    #[test]
    fn file_messages_say_what_the_file_holds() {
        let error = error_of("[1, }");
        assert_eq!(
            error.in_file(),
            "holds invalid JSON at byte 4: expected value"
        );
        assert!(!error.in_file().contains("printed"));
        assert_eq!(
            ReportError::Truncated { offset: 7 }.in_file(),
            "holds truncated JSON: the file ends at byte 7, inside the document"
        );
        assert_eq!(
            ReportError::Empty.in_file(),
            "is empty where a JSON report should be"
        );
    }
}
