//! JUnit XML parsing shared by the `junit-report` stage plugin and native benchmarks.
//!
//! Reads the reports written by pytest (`--junitxml`, a `<testsuites>` root with
//! `<testsuite>` children), mocha's `xunit` reporter (a `<testsuite>` root) and
//! jest-junit, with quick-xml's streaming reader so multi-megabyte reports parse in
//! milliseconds, natively or inside a plugin.
//!
//! Counts come from the `<testcase>` elements themselves, never from the `tests`,
//! `failures`, `errors` or `skipped` attributes of the suites: reporters disagree on
//! what those count, and hand-merged files get them wrong. A `<failure>` or `<error>`
//! directly inside a `<testsuite>` (a module that does not import, a class that does not
//! load) counts as one errored test named after the suite, so a suite that never ran
//! cannot read as "no tests, all passed". `status="disabled"` (and googletest's
//! `status="notrun"`) test cases count as skipped.
//!
//! ```
//! let xml = br#"<testsuite name="cart" time="0.5">
//!   <testcase classname="cart" name="adds" time="0.1"/>
//!   <testcase classname="cart" name="totals"><failure message="3 != 4"/></testcase>
//! </testsuite>"#;
//! let run = bosun_junit::parse(xml).unwrap();
//! assert_eq!((run.totals.passed, run.totals.failed), (1, 1));
//! assert_eq!(run.failures[0].message, "3 != 4");
//! ```

mod error;
mod location;
mod parser;

pub use error::ParseError;

/// Longest failure message kept, in bytes; the rest of a long stack trace is dropped.
pub const MESSAGE_CAP: usize = 4096;

/// Totals of a test run, counted from its `<testcase>` elements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Number of `<testcase>` elements, plus one for each suite with a `<failure>` or
    /// `<error>` of its own.
    pub total: u32,
    /// Test cases with no `<failure>`, `<error>` or `<skipped>`.
    pub passed: u32,
    /// Test cases whose first result element is `<failure>`.
    pub failed: u32,
    /// Test cases whose first result element is `<error>`, and suites that failed as a
    /// whole.
    pub errors: u32,
    /// Test cases with `<skipped>` or a `disabled`/`notrun` status (and no failure or
    /// error).
    pub skipped: u32,
    /// Wall-clock time from the `time` attributes (seconds in the file): the root's own
    /// time if it has one, else the sum of its suites' (or test cases') times.
    pub duration_ms: u64,
}

/// One failed or errored test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `name` of the innermost enclosing `<testsuite>`, empty when it has none.
    pub suite: String,
    /// The test case's `classname` (pytest: the module, `tests.test_cart`), may be empty.
    pub classname: String,
    /// The test case's `name`.
    pub name: String,
    /// The failure or error element's `message` attribute, or its text when that is
    /// missing or blank; trimmed and capped at [`MESSAGE_CAP`] bytes.
    pub message: String,
    /// The test case's `file` attribute, else the file named in the failure text
    /// (pytest's crash line, or the first stack frame outside dependencies).
    pub file: Option<String>,
    /// The line of the failure in `file`, from the failure text when it names that
    /// file, else the test case's `line` attribute.
    pub line: Option<u32>,
}

/// A parsed JUnit report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestRun {
    /// Counts and duration.
    pub totals: Totals,
    /// Failed and errored test cases, in document order.
    pub failures: Vec<Failure>,
}

/// Parse a JUnit XML report.
///
/// The error names what was wrong (empty input, malformed or truncated XML, an
/// unclosed CDATA section, a root
/// element other than `<testsuites>`/`<testsuite>`) and the byte offset where.
pub fn parse(xml: &[u8]) -> Result<TestRun, ParseError> {
    parser::parse(xml)
}
