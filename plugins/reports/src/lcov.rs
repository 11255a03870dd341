//! LCOV tracefile reader (`lcov`, `c8`/istanbul's `lcov` reporter, `cargo llvm-cov
//! --lcov`, `genhtml` input): line coverage over every source file.
//!
//! Lines are counted from `DA:<line>,<hits>` entries, merged per file so a file
//! recorded by several tests (one record per `TN:`) counts each line once. A record with
//! no `DA:` entry (some tools summarise only) contributes its `LF:`/`LH:` totals. The
//! whole file is checked: a record left without `end_of_record` means the file was cut.

use crate::coverage::LineCoverage;
use std::collections::BTreeMap;
use std::fmt;

/// Why an LCOV tracefile could not be read; lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LcovError {
    /// No record at all.
    Empty,
    /// A line that is neither `TAG:value` nor `end_of_record`.
    NotLcov { line: usize, text: String },
    /// A `DA:`, `LF:` or `LH:` entry before any `SF:`.
    OutsideRecord { line: usize, tag: String },
    /// The record for `file` opened at `line` has no `end_of_record`.
    Unterminated { line: usize, file: String },
    /// A field that must be a whole number is not.
    NotANumber {
        line: usize,
        tag: String,
        value: String,
    },
}

impl fmt::Display for LcovError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LcovError::Empty => write!(f, "empty LCOV tracefile: expected SF: records"),
            LcovError::NotLcov { line, text } => {
                write!(f, "not an LCOV tracefile at line {line}: {text:?}")
            }
            LcovError::OutsideRecord { line, tag } => {
                write!(
                    f,
                    "LCOV {tag}: at line {line} is outside a record (no SF: before it)"
                )
            }
            LcovError::Unterminated { line, file } => write!(
                f,
                "truncated LCOV tracefile: the record for {file} opened at line {line} has no end_of_record"
            ),
            LcovError::NotANumber { line, tag, value } => {
                write!(
                    f,
                    "LCOV {tag}: at line {line} has {value:?} where a whole number belongs"
                )
            }
        }
    }
}

impl std::error::Error for LcovError {}

/// The record being read.
struct Record {
    file: String,
    opened_at: usize,
    found: Option<u64>,
    hit: Option<u64>,
    has_lines: bool,
}

/// Reads an LCOV tracefile into line totals.
pub fn parse(text: &[u8]) -> Result<LineCoverage, LcovError> {
    let text = String::from_utf8_lossy(text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text));
    // Hits per line per file; several records for one file add up.
    let mut files: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    let mut summarised = LineCoverage {
        covered: 0,
        total: 0,
    };
    let mut record: Option<Record> = None;
    let mut records = 0usize;
    for (at, raw) in text.lines().enumerate() {
        let line_no = at + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line == "end_of_record" {
            if let Some(done) = record.take() {
                if !done.has_lines {
                    let found = done.found.unwrap_or(0);
                    // Totals are the tool's word: saturate rather than overflow on
                    // absurd ones.
                    summarised.total = summarised.total.saturating_add(found);
                    summarised.covered = summarised
                        .covered
                        .saturating_add(done.hit.unwrap_or(0).min(found));
                }
                records += 1;
            }
            continue;
        }
        let Some((tag, value)) = line.split_once(':').filter(|(tag, _)| is_tag(tag)) else {
            return Err(LcovError::NotLcov {
                line: line_no,
                text: raw.chars().take(60).collect(),
            });
        };
        if tag == "SF" {
            if let Some(open) = record {
                return Err(LcovError::Unterminated {
                    line: open.opened_at,
                    file: open.file,
                });
            }
            record = Some(Record {
                file: value.to_string(),
                opened_at: line_no,
                found: None,
                hit: None,
                has_lines: false,
            });
            continue;
        }
        if !matches!(tag, "DA" | "LF" | "LH") {
            // TN, FN, FNDA, BRDA, VER, … say nothing about line totals.
            continue;
        }
        let Some(open) = record.as_mut() else {
            return Err(LcovError::OutsideRecord {
                line: line_no,
                tag: tag.to_string(),
            });
        };
        let number = |field: &str| {
            field
                .trim()
                .parse::<u64>()
                .map_err(|_| LcovError::NotANumber {
                    line: line_no,
                    tag: tag.to_string(),
                    value: field.trim().to_string(),
                })
        };
        match tag {
            "DA" => {
                let mut fields = value.split(',');
                let number_at = number(fields.next().unwrap_or_default())?;
                let hits = number(fields.next().unwrap_or_default())?;
                open.has_lines = true;
                let lines = files.entry(open.file.clone()).or_default();
                let total = lines.entry(number_at).or_default();
                *total = total.saturating_add(hits);
            }
            "LF" => open.found = Some(number(value)?),
            _ => open.hit = Some(number(value)?),
        }
    }
    if let Some(open) = record {
        return Err(LcovError::Unterminated {
            line: open.opened_at,
            file: open.file,
        });
    }
    if records == 0 {
        return Err(LcovError::Empty);
    }
    let lines = files.values().flat_map(BTreeMap::values);
    let (total, covered) = lines.fold((0u64, 0u64), |(total, covered), hits| {
        (total + 1, covered + u64::from(*hits > 0))
    });
    Ok(LineCoverage {
        covered: covered.saturating_add(summarised.covered),
        total: total.saturating_add(summarised.total),
    })
}

/// LCOV tags are short upper-case words (`SF`, `DA`, `FNDA`, `BRDA`, `VER`).
fn is_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= 8 && tag.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests;
