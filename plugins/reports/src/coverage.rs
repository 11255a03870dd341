//! Line coverage from whichever report a tool wrote: Cobertura XML or an LCOV
//! tracefile, told apart by their content (file names vary too much to trust).

use crate::cobertura::{self, CoverageError};
use crate::lcov::{self, LcovError};
use std::fmt;

/// Line coverage totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCoverage {
    pub covered: u64,
    pub total: u64,
}

impl LineCoverage {
    /// Covered lines as a percentage; a run that measured no lines counts as 100%.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.covered as f64 * 100.0 / self.total as f64
        }
    }
}

/// Why a coverage report could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Nothing but whitespace.
    Empty,
    /// Neither XML nor LCOV; `start` is the beginning of the first line.
    Unrecognised { start: String },
    /// An XML report that is not a readable Cobertura report.
    Cobertura(CoverageError),
    /// An LCOV tracefile that cannot be read.
    Lcov(LcovError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Empty => write!(
                f,
                "empty coverage report: expected Cobertura XML or an LCOV tracefile"
            ),
            ReadError::Unrecognised { start } => write!(
                f,
                "not a coverage report: expected Cobertura XML or an LCOV tracefile, found {start:?}"
            ),
            ReadError::Cobertura(error) => error.fmt(f),
            ReadError::Lcov(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

/// The two formats `read` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Cobertura,
    Lcov,
}

/// Which format `bytes` is in: XML starts with `<` (after a byte-order mark and
/// whitespace); LCOV's first line is a tag such as `TN:` or `SF:`.
pub fn detect(bytes: &[u8]) -> Result<Format, ReadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Some(first) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(ReadError::Empty);
    };
    let rest = bytes.get(first..).unwrap_or_default();
    if rest.starts_with(b"<") {
        return Ok(Format::Cobertura);
    }
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let tag = line.split(|b| *b == b':').next().unwrap_or_default();
    let lcov_tags: [&[u8]; 3] = [b"TN", b"SF", b"VER"];
    if line.contains(&b':') && lcov_tags.contains(&tag) {
        return Ok(Format::Lcov);
    }
    Err(ReadError::Unrecognised {
        start: String::from_utf8_lossy(line).chars().take(40).collect(),
    })
}

/// Line coverage of a Cobertura or LCOV report.
pub fn read(bytes: &[u8]) -> Result<LineCoverage, ReadError> {
    match detect(bytes)? {
        Format::Cobertura => cobertura::parse(bytes).map_err(ReadError::Cobertura),
        Format::Lcov => lcov::parse(bytes).map_err(ReadError::Lcov),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COBERTURA: &[u8] = include_bytes!("../../test/tests/fixtures/coverage-samples.xml");
    const LCOV: &[u8] = include_bytes!("../tests/fixtures/lcov/istanbul-node-app.info");

    #[test]
    fn each_format_is_read_by_its_reader() {
        assert_eq!(detect(COBERTURA).unwrap(), Format::Cobertura);
        assert_eq!(
            read(COBERTURA).unwrap(),
            LineCoverage {
                covered: 13,
                total: 15
            }
        );
        assert_eq!(detect(LCOV).unwrap(), Format::Lcov);
        assert_eq!(
            read(LCOV).unwrap(),
            LineCoverage {
                covered: 6,
                total: 8
            }
        );
    }

    #[test]
    fn errors_come_from_the_detected_format() {
        let cut = &COBERTURA[..COBERTURA.len() - 40];
        assert!(matches!(
            read(cut).unwrap_err(),
            ReadError::Cobertura(CoverageError::Truncated { .. })
        ));
        let cut = &LCOV[..LCOV.len() - 20];
        let error = read(cut).unwrap_err();
        assert!(matches!(
            error,
            ReadError::Lcov(LcovError::Unterminated { .. })
        ));
        assert!(error.to_string().starts_with("truncated LCOV tracefile"));
    }

    #[test]
    fn other_input_is_not_coverage() {
        assert_eq!(read(b" \n").unwrap_err(), ReadError::Empty);
        assert_eq!(
            read(b"{\"totals\": {}}").unwrap_err().to_string(),
            "not a coverage report: expected Cobertura XML or an LCOV tracefile, found \"{\\\"totals\\\": {}}\""
        );
        assert!(matches!(
            read(b"mode: set\n").unwrap_err(),
            ReadError::Unrecognised { .. }
        ));
    }
}
