//! Cobertura coverage XML (coverage.py's `--cov-report=xml`, istanbul's `cobertura`
//! reporter, jest's `--coverageReporters=cobertura`): line coverage of a test run.
//!
//! The root `<coverage>` element's `lines-valid` and `lines-covered` attributes are the
//! tool's own totals and are used when present; otherwise the `<line>` elements of every
//! `<class>` are counted (those under `<methods>` repeat them and are skipped). The whole
//! document is read either way, so a cut or garbled file is an error, not a number.

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::{BytesStart, Event};
use std::fmt;

pub use crate::coverage::LineCoverage;

/// Why a coverage report could not be read; offsets count bytes from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoverageError {
    /// No element at all.
    Empty,
    /// Not well-formed XML at `offset`.
    Invalid { offset: u64, message: String },
    /// The input ends inside the document.
    Truncated { offset: u64 },
    /// The root element is not `<coverage>`.
    WrongRoot { offset: u64, found: String },
}

impl fmt::Display for CoverageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoverageError::Empty => write!(f, "empty coverage report: expected <coverage>"),
            CoverageError::Invalid { offset, message } => {
                write!(f, "invalid coverage XML at byte {offset}: {message}")
            }
            CoverageError::Truncated { offset } => write!(
                f,
                "truncated coverage XML: the input ends at byte {offset}, before </coverage>"
            ),
            CoverageError::WrongRoot { offset, found } => write!(
                f,
                "wrong root element <{found}> at byte {offset}: expected Cobertura's <coverage>"
            ),
        }
    }
}

impl std::error::Error for CoverageError {}

/// Attribute totals of the root and the running count of `<line>` elements.
#[derive(Default)]
struct Tally {
    root_valid: Option<u64>,
    root_covered: Option<u64>,
    lines: u64,
    hit_lines: u64,
}

/// Parse a Cobertura coverage report.
pub fn parse(xml: &[u8]) -> Result<LineCoverage, CoverageError> {
    let mut reader = Reader::from_reader(xml);
    let mut tally = Tally::default();
    // Names of the open elements; `<methods>` depth says whether a `<line>` repeats one.
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut methods_depth = 0usize;
    let mut seen_root = false;
    let mut root_closed = false;
    loop {
        let at = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(XmlError::Syntax(kind)) if kind != SyntaxError::InvalidBangMarkup => {
                // Every other syntax error is "the input ended inside a tag".
                return Err(CoverageError::Truncated {
                    offset: xml.len() as u64,
                });
            }
            Err(error) => {
                return Err(CoverageError::Invalid {
                    offset: reader.error_position(),
                    message: error.to_string(),
                });
            }
        };
        match event {
            Event::Start(element) | Event::Empty(element) if root_closed => {
                return Err(CoverageError::Invalid {
                    offset: at,
                    message: format!("second root element <{}>", name_of(&element)),
                });
            }
            Event::Start(element) => {
                start(&element, at, &mut seen_root, &mut tally, methods_depth)?;
                if element.local_name().as_ref() == b"methods" {
                    methods_depth += 1;
                }
                open.push(element.local_name().as_ref().to_vec());
            }
            Event::Empty(element) => {
                start(&element, at, &mut seen_root, &mut tally, methods_depth)?;
                if open.is_empty() {
                    root_closed = true;
                }
            }
            Event::End(_) => {
                if open.pop().as_deref() == Some(b"methods".as_slice()) {
                    methods_depth = methods_depth.saturating_sub(1);
                }
                if open.is_empty() {
                    root_closed = true;
                }
            }
            Event::Text(text) if open.is_empty() && !text.iter().all(u8::is_ascii_whitespace) => {
                return Err(CoverageError::Invalid {
                    offset: at,
                    message: "text outside the root element".into(),
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(CoverageError::Empty);
    }
    if !open.is_empty() {
        return Err(CoverageError::Truncated {
            offset: xml.len() as u64,
        });
    }
    Ok(match (tally.root_valid, tally.root_covered) {
        (Some(total), Some(covered)) if covered <= total => LineCoverage { covered, total },
        _ => LineCoverage {
            covered: tally.hit_lines,
            total: tally.lines,
        },
    })
}

fn start(
    element: &BytesStart,
    at: u64,
    seen_root: &mut bool,
    tally: &mut Tally,
    methods_depth: usize,
) -> Result<(), CoverageError> {
    let local = element.local_name();
    let name = local.as_ref();
    if !*seen_root {
        if name != b"coverage" {
            return Err(CoverageError::WrongRoot {
                offset: at,
                found: name_of(element),
            });
        }
        *seen_root = true;
        tally.root_valid = number(element, b"lines-valid", at)?;
        tally.root_covered = number(element, b"lines-covered", at)?;
        return Ok(());
    }
    if name == b"line" && methods_depth == 0 {
        tally.lines += 1;
        if number(element, b"hits", at)?.is_some_and(|hits| hits > 0) {
            tally.hit_lines += 1;
        }
    }
    Ok(())
}

/// A whole-number attribute; absent or unreadable numbers are `None` (a malformed
/// attribute list is an error).
fn number(element: &BytesStart, key: &[u8], at: u64) -> Result<Option<u64>, CoverageError> {
    for attr in element.attributes() {
        let attr = attr.map_err(|e| CoverageError::Invalid {
            offset: at,
            message: format!("bad attribute in <{}>: {e}", name_of(element)),
        })?;
        if attr.key.local_name().as_ref() == key {
            return Ok(std::str::from_utf8(&attr.value)
                .ok()
                .and_then(|v| v.trim().parse().ok()));
        }
    }
    Ok(None)
}

fn name_of(element: &BytesStart) -> String {
    String::from_utf8_lossy(element.name().as_ref()).into_owned()
}

#[cfg(test)]
mod tests;
