//! Why a JUnit XML document could not be read, and where.

use std::fmt;

/// A JUnit XML document that could not be read. Every case carries the byte offset
/// (from the start of the input) where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The input has no element at all: empty, only whitespace, or only a declaration
    /// and comments.
    Empty {
        /// Where the input ended.
        offset: u64,
    },
    /// The input is not well-formed XML, or has content outside the root element.
    Invalid {
        /// Where the XML parser gave up.
        offset: u64,
        /// What was wrong, as the XML parser put it.
        message: String,
    },
    /// The input ends inside the document: a test run cut short, a disk filled up.
    Truncated {
        /// Where the input ended.
        offset: u64,
        /// The innermost element left open, if the cut did not fall before the root.
        unclosed: Option<String>,
    },
    /// A `<![CDATA[` section with no `]]>` after it.
    UnclosedCData {
        /// Where the section starts.
        offset: u64,
    },
    /// The root element is not `<testsuites>` or `<testsuite>`: not a JUnit report.
    WrongRoot {
        /// Where the root element starts.
        offset: u64,
        /// The root element's name.
        found: String,
    },
}

impl ParseError {
    /// The byte offset in the input where the problem was found.
    pub fn offset(&self) -> u64 {
        match self {
            ParseError::Empty { offset }
            | ParseError::Invalid { offset, .. }
            | ParseError::Truncated { offset, .. }
            | ParseError::UnclosedCData { offset }
            | ParseError::WrongRoot { offset, .. } => *offset,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty { offset: 0 } => {
                write!(f, "empty input: expected a JUnit XML document")
            }
            ParseError::Empty { offset } => write!(
                f,
                "empty input: no XML element in the {offset} bytes read, expected <testsuites> \
                 or <testsuite>"
            ),
            ParseError::Invalid { offset, message } => {
                write!(f, "invalid XML at byte {offset}: {message}")
            }
            ParseError::Truncated {
                offset,
                unclosed: Some(element),
            } => write!(
                f,
                "truncated XML at byte {offset}: the input ends before </{element}>"
            ),
            ParseError::Truncated {
                offset,
                unclosed: None,
            } => write!(
                f,
                "truncated XML at byte {offset}: the input ends inside the first tag"
            ),
            ParseError::UnclosedCData { offset } => write!(
                f,
                "unclosed CDATA section at byte {offset}: no ]]> before the end of the input"
            ),
            ParseError::WrongRoot { offset, found } => write!(
                f,
                "wrong root element <{found}> at byte {offset}: expected <testsuites> or \
                 <testsuite>"
            ),
        }
    }
}

impl std::error::Error for ParseError {}
