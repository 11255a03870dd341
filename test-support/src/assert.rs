//! `assert_contains`: the check most tests make on messages, with the whole text shown
//! when it fails.

/// Fails the test unless `text` contains `needle`, showing both.
#[track_caller]
pub fn assert_contains(text: impl AsRef<str>, needle: &str) {
    let text = text.as_ref();
    assert!(
        text.contains(needle),
        "expected to find {needle:?} in:\n{text}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assert_contains_passes_on_a_substring() {
        assert_contains("plugin build: no Dockerfile", "no Dockerfile");
        assert_contains(String::from("abc"), "");
    }

    #[test]
    #[should_panic(expected = "expected to find \"xyz\" in:\nabc")]
    fn assert_contains_fails_naming_needle_and_text() {
        assert_contains("abc", "xyz");
    }
}
