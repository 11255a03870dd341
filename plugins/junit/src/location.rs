//! Best-effort source location of a failure, read from its text when the report's
//! `file`/`line` attributes are missing (pytest's default `xunit2` family writes none).

/// Where a failure happened, as found in its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub file: String,
    pub line: u32,
}

/// The failure site named in a failure's text:
///
/// - pytest's crash line, `tests/test_app.py:25: AssertionError` (the last one wins,
///   as pytest prints it after the traceback);
/// - otherwise the first stack frame outside `node_modules` and the runtime, in the
///   JavaScript (`at fn (/src/a.test.js:10:21)`) or Java (`at a.B.c(B.java:42)`) form.
pub(crate) fn from_text(text: &str) -> Option<Location> {
    text.lines()
        .rev()
        .find_map(pytest_crash_line)
        .or_else(|| text.lines().find_map(stack_frame))
}

/// `path:line: rest` at the start of a line, with a path that looks like a file.
fn pytest_crash_line(line: &str) -> Option<Location> {
    let line = line.trim();
    let (path, rest) = line.split_once(':')?;
    let (number, rest) = rest.split_once(':')?;
    if path.is_empty() || path.contains(char::is_whitespace) || !path.contains('.') {
        return None;
    }
    if !rest.starts_with(' ') || rest.trim().is_empty() {
        return None;
    }
    Some(Location {
        file: path.to_string(),
        line: number.parse().ok()?,
    })
}

/// A stack frame `at ... (path:line[:column])` or `at path:line[:column]`.
fn stack_frame(line: &str) -> Option<Location> {
    let frame = line.trim().strip_prefix("at ")?;
    let place = match (frame.rfind('('), frame.rfind(')')) {
        (Some(open), Some(close)) if open < close => frame.get(open + 1..close)?,
        _ => frame,
    };
    let place = place.strip_prefix("file://").unwrap_or(place);
    // Split from the right: the path itself may contain `:` (a Windows drive letter).
    let mut parts = place.rsplitn(3, ':');
    let last = parts.next()?;
    let middle = parts.next()?;
    let (path, line) = match parts.next() {
        Some(path) if middle.parse::<u32>().is_ok() && last.parse::<u32>().is_ok() => {
            (path, middle)
        }
        // `path:line` only (Java), or a drive letter made the split land wrong.
        _ => {
            let (path, line) = place.rsplit_once(':')?;
            (path, line)
        }
    };
    let line = line.parse().ok()?;
    let runtime = path.contains("node_modules")
        || path.starts_with("node:")
        || path.starts_with("internal/")
        || path.contains("<anonymous>")
        || path.is_empty();
    if runtime {
        return None;
    }
    Some(Location {
        file: path.to_string(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, line: u32) -> Option<Location> {
        Some(Location {
            file: file.to_string(),
            line,
        })
    }

    #[test]
    fn pytest_crash_line_is_found_after_the_traceback() {
        let text = "def test_total():\n>       assert total([1, 2]) == 4\nE       assert 3 == 4\n\n\
                    tests/test_cart.py:12: AssertionError";
        assert_eq!(from_text(text), at("tests/test_cart.py", 12));
    }

    #[test]
    fn javascript_frames_skip_node_modules_and_runtime() {
        let text = "Error: expect(received).toBe(expected)\n\
                    \x20   at Object.toBe (/workspace/src/sum.test.js:8:20)\n\
                    \x20   at Promise.then.completed (/workspace/node_modules/jest-circus/build/utils.js:298:28)";
        assert_eq!(from_text(text), at("/workspace/src/sum.test.js", 8));
        let runtime_first = "Error: boom\n    at process.tick (node:internal/process:68:7)\n\
                             \x20   at Context.<anonymous> (test/cart.spec.js:14:11)";
        assert_eq!(from_text(runtime_first), at("test/cart.spec.js", 14));
    }

    #[test]
    fn frames_without_parentheses_and_windows_paths_are_read() {
        assert_eq!(
            from_text("    at /workspace/test/a.js:3:9"),
            at("/workspace/test/a.js", 3)
        );
        assert_eq!(
            from_text("    at Object.test (C:\\src\\__tests__\\main.test.js:10:21)"),
            at("C:\\src\\__tests__\\main.test.js", 10)
        );
    }

    #[test]
    fn java_frames_are_read() {
        let text = "java.lang.AssertionError: expected:<1> but was:<2>\n\
                    \tat org.junit.Assert.fail(Assert.java:89)\n";
        assert_eq!(from_text(text), at("Assert.java", 89));
    }

    #[test]
    fn plain_messages_have_no_location() {
        assert_eq!(from_text("expected 1 to equal 2"), None);
        assert_eq!(
            from_text("note: see http://example.com:80/x for details"),
            None
        );
    }
}
