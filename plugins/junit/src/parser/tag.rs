//! Reading tags and their values for the parser: attributes checked once, a failed
//! test case's tag decoded again, times, entities, names and capped messages.

use quick_xml::events::BytesStart;
use quick_xml::events::attributes::Attribute;

use super::Case;
use crate::{MESSAGE_CAP, ParseError};

pub(super) fn invalid(offset: u64, message: &str) -> ParseError {
    ParseError::Invalid {
        offset,
        message: message.to_string(),
    }
}

/// The attributes of a tag; a malformed one is an error naming the tag.
pub(super) fn attributes<'a>(
    element: &'a BytesStart,
    at: u64,
    input: &'a [u8],
) -> impl Iterator<Item = Result<Attribute<'a>, ParseError>> + 'a {
    let mut attrs = element.attributes();
    // Duplicate-key checks cost an allocation per tag; a duplicate changes nothing here.
    attrs.with_checks(false);
    attrs.map(move |attr| {
        attr.map_err(|e| {
            invalid(
                at,
                &format!("bad attribute in <{}>: {e}", element_name(input, at)),
            )
        })
    })
}

/// What a failed test case's start tag says about it, decoded once it has failed.
#[derive(Default)]
pub(super) struct TestCaseTag {
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl TestCaseTag {
    pub fn read(case: &Case, input: &[u8]) -> TestCaseTag {
        let mut tag = TestCaseTag::default();
        let content = case
            .tag_start
            .checked_add(case.tag_len)
            .and_then(|end| input.get(case.tag_start..end))
            .unwrap_or_default();
        let element = BytesStart::from_content(String::from_utf8_lossy(content), case.name_len);
        // The attributes were checked when the tag was first read.
        for attr in element.attributes().flatten() {
            match attr.key.local_name().as_ref() {
                b"classname" => tag.classname = value(&attr),
                b"name" => tag.name = value(&attr),
                b"file" => tag.file = Some(value(&attr)).filter(|f| !f.is_empty()),
                b"line" => tag.line = value(&attr).trim().parse().ok(),
                _ => {}
            }
        }
        tag
    }
}

/// An attribute's value with entities resolved; kept raw when an entity is unknown.
pub(super) fn value(attr: &Attribute) -> String {
    match attr.unescape_value() {
        Ok(value) => value.into_owned(),
        Err(_) => String::from_utf8_lossy(&attr.value).into_owned(),
    }
}

/// The five entities XML predefines; anything else needs a DTD, which reports lack.
pub(super) fn predefined_entity(name: &[u8]) -> Option<char> {
    match name {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => None,
    }
}

/// A `time` attribute (seconds, `0.123`) in ms; unreadable or negative times count as
/// absent rather than failing the whole report.
pub(super) fn seconds_to_ms(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    // Some reporters write thousands separators (`1,234.5`).
    let seconds: f64 = if raw.contains(',') {
        raw.replace(',', "").parse().ok()?
    } else {
        raw.parse().ok()?
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// Whether two spellings of a path name the same file (one absolute, one relative).
pub(super) fn same_file(a: &str, b: &str) -> bool {
    a.ends_with(b) || b.ends_with(a)
}

/// The name of the element whose `<` is at `at`, for messages.
pub(super) fn element_name(input: &[u8], at: u64) -> String {
    let start = usize::try_from(at).map_or(input.len(), |at| at.saturating_add(1));
    let tail = input.get(start..).unwrap_or_default();
    let len = tail
        .iter()
        .position(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'))
        .unwrap_or(tail.len());
    String::from_utf8_lossy(tail.get(..len).unwrap_or_default()).into_owned()
}

/// Trim to at most [`MESSAGE_CAP`] bytes, on a character boundary.
pub(super) fn cap(message: &str) -> String {
    let mut end = message.len().min(MESSAGE_CAP);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message
        .get(..end)
        .unwrap_or_default()
        .trim_end()
        .to_string()
}
