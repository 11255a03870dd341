//! The streaming state machine behind [`crate::parse`]: one pass over quick-xml events,
//! allocating only for suites and failed test cases; a passing test case costs no
//! allocation at all, which is what keeps multi-megabyte reports fast.

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::{BytesStart, Event};

mod tag;

use crate::location;
use crate::{Failure, ParseError, TestRun};
use tag::{
    TestCaseTag, attributes, cap, element_name, invalid, predefined_entity, same_file,
    seconds_to_ms, value,
};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What an open element is, as far as counting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<testsuites>` or `<testsuite>`: has a duration, may have a name.
    Suite,
    TestCase,
    /// `<failure>`, `<error>` or `<skipped>`.
    Result,
    Other,
}

/// An element that has started and not yet ended.
struct Open {
    kind: Kind,
    /// Byte offset of its `<` in the whole input, to name it if the input is cut short.
    at: u64,
}

/// Duration bookkeeping for one open suite.
struct SuiteFrame {
    /// `name` of a `<testsuite>`; `None` for `<testsuites>`.
    name: Option<String>,
    /// Its own `time` attribute, in ms.
    own_ms: Option<u64>,
    /// Sum of the times of its child suites and test cases, in ms.
    children_ms: u64,
    /// Whether a `<failure>`/`<error>` directly inside it was already counted.
    load_error: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Passed,
    Failed,
    Errored,
    Skipped,
}

/// The test case being read.
struct Case {
    /// Depth of its element in the open-element stack.
    depth: usize,
    /// Where its start tag's content (name and attributes) is in the input; the
    /// attributes are decoded again only if the case fails.
    tag_start: usize,
    tag_len: usize,
    name_len: usize,
    time_ms: Option<u64>,
    status: Status,
    /// `message` attribute of the first `<failure>`/`<error>`.
    message: Option<String>,
    /// Text of that element; only collected while `capture_depth` is set.
    text: String,
    /// Depth of the `<failure>`/`<error>` element whose text is being collected.
    capture_depth: Option<usize>,
    /// A `<failure>`/`<error>` directly inside a suite (the suite failed to load, e.g.
    /// a module that does not import): counted as one errored test named after the
    /// suite, ending with that element.
    suite_level: bool,
}

#[derive(Default)]
struct State {
    open: Vec<Open>,
    suites: Vec<SuiteFrame>,
    case: Option<Case>,
    run: TestRun,
    seen_root: bool,
    root_closed: bool,
}

pub(crate) fn parse(input: &[u8]) -> Result<TestRun, ParseError> {
    let (base, body) = match input.strip_prefix(UTF8_BOM) {
        Some(rest) => (UTF8_BOM.len() as u64, rest),
        None => (0, input),
    };
    let end = input.len() as u64;
    let mut reader = Reader::from_reader(body);
    // Reporters write `R&D` unescaped now and then; that is not worth rejecting a run.
    reader.config_mut().allow_dangling_amp = true;
    let mut state = State::default();
    loop {
        let at = base + reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(XmlError::Syntax(SyntaxError::UnclosedCData)) => {
                // Not a cut file as such: no `]]>` anywhere after `<![CDATA[`, often a
                // writer that escaped it. Saying "truncated" would send people looking
                // for a full disk.
                return Err(ParseError::UnclosedCData { offset: at });
            }
            Err(XmlError::Syntax(kind)) if kind != SyntaxError::InvalidBangMarkup => {
                // Every other syntax error is "the input ended inside a tag".
                return Err(state.truncated(input, end));
            }
            Err(error) => {
                return Err(ParseError::Invalid {
                    offset: base + reader.error_position(),
                    message: error.to_string(),
                });
            }
        };
        match event {
            Event::Start(element) => {
                let kind = state.start(&element, at, input)?;
                state.open.push(Open { kind, at });
            }
            Event::Empty(element) => {
                let kind = state.start(&element, at, input)?;
                state.end(kind, state.open.len() + 1, input);
                if state.open.is_empty() {
                    // `<testsuite/>`: the root opened and closed at once.
                    state.root_closed = true;
                }
            }
            Event::End(_) => {
                let depth = state.open.len();
                let Some(open) = state.open.pop() else {
                    return Err(invalid(at, "end tag without a start tag"));
                };
                state.end(open.kind, depth, input);
                if state.open.is_empty() {
                    state.root_closed = true;
                }
            }
            Event::Text(text) => state.text(&text, at)?,
            Event::CData(cdata) => state.text(&cdata, at)?,
            Event::GeneralRef(reference) => {
                state.outside_root(at)?;
                if state.capturing() {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        _ => predefined_entity(&reference),
                    };
                    state.push_text(&match resolved {
                        Some(c) => c.to_string(),
                        None => format!("&{};", String::from_utf8_lossy(&reference)),
                    });
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => {}
        }
    }
    if !state.seen_root {
        return Err(ParseError::Empty { offset: end });
    }
    if !state.open.is_empty() {
        return Err(state.truncated(input, end));
    }
    Ok(state.run)
}

impl Case {
    /// The errored test standing for a suite that failed as a whole; its element is at
    /// `depth`.
    fn suite_level(depth: usize, message: Option<String>) -> Case {
        Case {
            depth,
            tag_start: 0,
            tag_len: 0,
            name_len: 0,
            time_ms: None,
            status: Status::Errored,
            message,
            text: String::new(),
            capture_depth: Some(depth),
            suite_level: true,
        }
    }
}

impl State {
    /// Handle a start (or self-closing) tag; returns what kind of element it is.
    fn start(&mut self, element: &BytesStart, at: u64, input: &[u8]) -> Result<Kind, ParseError> {
        let local = element.local_name();
        let name = local.as_ref();
        if !self.seen_root {
            if name != b"testsuites" && name != b"testsuite" {
                return Err(ParseError::WrongRoot {
                    offset: at,
                    found: element_name(input, at),
                });
            }
            self.seen_root = true;
        } else if self.root_closed {
            return Err(invalid(
                at,
                &format!(
                    "second root element <{}> after the first one ended",
                    element_name(input, at)
                ),
            ));
        }
        let depth = self.open.len() + 1;
        let kind = match name {
            b"testsuites" | b"testsuite" => {
                let mut frame = SuiteFrame {
                    name: None,
                    own_ms: None,
                    children_ms: 0,
                    load_error: false,
                };
                for attr in attributes(element, at, input) {
                    let attr = attr?;
                    match attr.key.local_name().as_ref() {
                        b"name" => frame.name = Some(value(&attr)),
                        b"time" => frame.own_ms = seconds_to_ms(&value(&attr)),
                        _ => {}
                    }
                }
                if name == b"testsuites" {
                    // Only `<testsuite>` names count as a failure's suite.
                    frame.name = None;
                }
                self.suites.push(frame);
                Kind::Suite
            }
            b"testcase" => {
                if let Some(outer) = self.case.take() {
                    // A test case inside a test case is not JUnit; count both rather
                    // than lose one.
                    self.finish_case(outer, input);
                }
                let mut case = Case {
                    depth,
                    tag_start: usize::try_from(at).unwrap_or(usize::MAX).saturating_add(1),
                    tag_len: element.len(),
                    name_len: element.name().as_ref().len(),
                    time_ms: None,
                    status: Status::Passed,
                    message: None,
                    text: String::new(),
                    capture_depth: None,
                    suite_level: false,
                };
                // Every attribute is checked (a malformed one is an error) but only
                // `time` and `status` are read now.
                for attr in attributes(element, at, input) {
                    let attr = attr?;
                    match attr.key.local_name().as_ref() {
                        b"time" => {
                            case.time_ms = std::str::from_utf8(&attr.value)
                                .ok()
                                .and_then(seconds_to_ms);
                        }
                        // Tests not run on purpose: `status="disabled"` in some
                        // reporters, `status="notrun"` in googletest's.
                        b"status" if matches!(attr.value.as_ref(), b"disabled" | b"notrun") => {
                            case.status = Status::Skipped;
                        }
                        _ => {}
                    }
                }
                self.case = Some(case);
                Kind::TestCase
            }
            b"failure" | b"error" | b"skipped" => {
                let failed = name != b"skipped";
                let mut message = None;
                if failed {
                    for attr in attributes(element, at, input) {
                        let attr = attr?;
                        if attr.key.local_name().as_ref() == b"message" {
                            message = Some(value(&attr));
                        }
                    }
                }
                if self.case.is_none()
                    && failed
                    && self
                        .open
                        .last()
                        .is_some_and(|open| open.kind == Kind::Suite)
                    && let Some(frame) = self.suites.last_mut()
                    && !std::mem::replace(&mut frame.load_error, true)
                {
                    // Directly inside a suite: the suite itself failed. One errored
                    // test per suite, however many such elements it has.
                    self.case = Some(Case::suite_level(depth, message));
                    return Ok(Kind::Result);
                }
                if let Some(case) = &mut self.case {
                    match (case.status, name) {
                        // The first failure or error decides; a later one (pytest's
                        // teardown error after a failed assertion) adds nothing.
                        (Status::Passed | Status::Skipped, b"failure") => {
                            case.status = Status::Failed;
                        }
                        (Status::Passed | Status::Skipped, b"error") => {
                            case.status = Status::Errored;
                        }
                        (Status::Passed, b"skipped") => case.status = Status::Skipped,
                        _ => return Ok(Kind::Result),
                    }
                    if failed {
                        case.message = message;
                        case.capture_depth = Some(depth);
                    }
                }
                Kind::Result
            }
            _ => Kind::Other,
        };
        Ok(kind)
    }

    /// Handle the end of an element of `kind` that sat at `depth`.
    fn end(&mut self, kind: Kind, depth: usize, input: &[u8]) {
        match kind {
            Kind::Suite => {
                let Some(frame) = self.suites.pop() else {
                    return;
                };
                let ms = frame.own_ms.unwrap_or(frame.children_ms);
                match self.suites.last_mut() {
                    Some(parent) => parent.children_ms = parent.children_ms.saturating_add(ms),
                    None => self.run.totals.duration_ms = ms,
                }
            }
            Kind::TestCase => {
                if self.case.as_ref().is_some_and(|c| c.depth == depth)
                    && let Some(case) = self.case.take()
                {
                    self.finish_case(case, input);
                }
            }
            Kind::Result => {
                if let Some(case) = &mut self.case
                    && case.capture_depth == Some(depth)
                {
                    case.capture_depth = None;
                }
                if self
                    .case
                    .as_ref()
                    .is_some_and(|c| c.suite_level && c.depth == depth)
                    && let Some(case) = self.case.take()
                {
                    self.finish_case(case, input);
                }
            }
            Kind::Other => {}
        }
    }

    fn finish_case(&mut self, case: Case, input: &[u8]) {
        let totals = &mut self.run.totals;
        totals.total = totals.total.saturating_add(1);
        let counter = match case.status {
            Status::Passed => &mut totals.passed,
            Status::Failed => &mut totals.failed,
            Status::Errored => &mut totals.errors,
            Status::Skipped => &mut totals.skipped,
        };
        *counter = counter.saturating_add(1);
        if let (Some(frame), Some(ms)) = (self.suites.last_mut(), case.time_ms) {
            frame.children_ms = frame.children_ms.saturating_add(ms);
        }
        if !matches!(case.status, Status::Failed | Status::Errored) {
            return;
        }
        let text = case.text.replace("\r\n", "\n");
        let message = match case.message.as_deref().map(str::trim) {
            Some(attr) if !attr.is_empty() => attr,
            _ => text.trim(),
        };
        let suite = self
            .suites
            .iter()
            .rev()
            .find_map(|frame| frame.name.clone())
            .unwrap_or_default();
        let tag = if case.suite_level {
            TestCaseTag {
                classname: suite.clone(),
                name: if suite.is_empty() {
                    "(test suite)".to_string()
                } else {
                    suite.clone()
                },
                file: None,
                line: None,
            }
        } else {
            TestCaseTag::read(&case, input)
        };
        let found = location::from_text(&text);
        let (file, line) = match (tag.file, found) {
            (None, Some(found)) => (Some(found.file), Some(found.line)),
            (Some(file), Some(found)) if same_file(&file, &found.file) => {
                (Some(file), Some(found.line))
            }
            (file, _) => (file, tag.line),
        };
        self.run.failures.push(Failure {
            suite,
            classname: tag.classname,
            name: tag.name,
            message: cap(message),
            file,
            line,
        });
    }

    fn capturing(&self) -> bool {
        self.case
            .as_ref()
            .is_some_and(|case| case.capture_depth.is_some())
    }

    fn push_text(&mut self, text: &str) {
        if let Some(case) = &mut self.case {
            case.text.push_str(text);
        }
    }

    fn text(&mut self, raw: &[u8], at: u64) -> Result<(), ParseError> {
        if self.open.is_empty() {
            if !raw.iter().all(u8::is_ascii_whitespace) {
                return Err(invalid(at, "text outside the root element"));
            }
        } else if self.capturing() {
            self.push_text(&String::from_utf8_lossy(raw));
        }
        Ok(())
    }

    fn outside_root(&self, at: u64) -> Result<(), ParseError> {
        if self.open.is_empty() {
            return Err(invalid(at, "text outside the root element"));
        }
        Ok(())
    }

    fn truncated(&self, input: &[u8], end: u64) -> ParseError {
        ParseError::Truncated {
            offset: end,
            unclosed: self.open.last().map(|open| element_name(input, open.at)),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fixture_tests;
