//! The ignore list: finding ids a team accepts for a while, each with a reason and an
//! expiry date, read from the flattened `with:` block.
//!
//! Two spellings, both flat text once the orchestrator has flattened `with:`:
//!
//! ```yaml
//! with:
//!   # one string, entries separated by `;`
//!   ignore: "CVE-2023-1234 until 2027-01-31: not reachable; B602 until 2026-12-01: fixed in #88"
//! ```
//!
//! ```yaml
//! with:
//!   ignore:                      # a mapping, flattened to `ignore.<id>.until` / `.reason`
//!     CVE-2023-1234: { until: 2027-01-31, reason: not reachable from the API }
//! ```
//!
//! An entry without a reason or a date is a config error; the date is the last day the
//! ignore applies.

use crate::date::Date;

/// One accepted finding id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    /// Finding id as the tool reports it (`CVE-2023-1234`, `GHSA-…`, `B602`, `DS002`).
    pub id: String,
    /// Last day the ignore applies.
    pub until: Date,
    /// Why the team accepts it, shown in the report.
    pub reason: String,
}

impl Ignore {
    /// Whether the ignore still applies on `today`.
    pub fn active_on(&self, today: Date) -> bool {
        today <= self.until
    }
}

/// Every ignore in `config`, from the `ignore` string and the `ignore.<id>.*` keys.
/// Errors name the entry and say how to write it.
pub fn parse_ignores(config: &[(String, String)]) -> Result<Vec<Ignore>, String> {
    let mut ignores = Vec::new();
    for (key, value) in config {
        if key == "ignore" {
            for (index, entry) in value.split(';').enumerate() {
                let entry = entry.trim();
                if !entry.is_empty() {
                    ignores.push(parse_entry(entry, index + 1)?);
                }
            }
        }
    }
    ignores.extend(parse_mapping(config)?);
    for (i, ignore) in ignores.iter().enumerate() {
        if ignores
            .iter()
            .skip(i + 1)
            .any(|other| other.id == ignore.id)
        {
            return Err(format!("`ignore` lists {} twice", ignore.id));
        }
    }
    Ok(ignores)
}

/// `<ID> until <YYYY-MM-DD>: <reason>`.
fn parse_entry(entry: &str, index: usize) -> Result<Ignore, String> {
    const FORM: &str = "write `<id> until YYYY-MM-DD: <reason>`, entries separated by `;`";
    let (head, reason) = entry
        .split_once(':')
        .ok_or_else(|| format!("`ignore` entry {index} ({entry:?}) has no `: <reason>`; {FORM}"))?;
    let reason = reason.trim();
    let mut words = head.split_whitespace();
    let (Some(id), Some(until_word), Some(date), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(format!(
            "`ignore` entry {index} ({entry:?}) needs an id and an expiry date; {FORM}"
        ));
    };
    if until_word != "until" {
        return Err(format!(
            "`ignore` entry {index} ({entry:?}) needs `until` before its date; {FORM}"
        ));
    }
    let until = Date::parse(date).ok_or_else(|| {
        format!("`ignore` entry {index} ({entry:?}): {date:?} is not a date (YYYY-MM-DD)")
    })?;
    if reason.is_empty() {
        return Err(format!(
            "`ignore` entry {index} ({entry:?}) has an empty reason; {FORM}"
        ));
    }
    // A YAML list of entries reaches the plugin joined with `,`: refuse it rather than
    // swallow the next entry into this one's reason.
    if reason.split(',').skip(1).any(looks_like_entry) {
        return Err(format!(
            "`ignore` entry {index} ({entry:?}) seems to hold several entries joined by `,` \
             (a YAML list); separate entries with `;` in one string"
        ));
    }
    Ok(Ignore {
        id: id.to_string(),
        until,
        reason: reason.to_string(),
    })
}

fn looks_like_entry(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let _id = words.next();
    words.next() == Some("until")
        && words
            .next()
            .is_some_and(|d| Date::parse(d.trim_end_matches(':')).is_some())
}

/// The `ignore.<id>.until` and `ignore.<id>.reason` keys, grouped by id in file order.
fn parse_mapping(config: &[(String, String)]) -> Result<Vec<Ignore>, String> {
    let mut seen: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for (key, value) in config {
        let Some(rest) = key.strip_prefix("ignore.") else {
            continue;
        };
        let Some((id, field)) = rest.rsplit_once('.') else {
            return Err(format!(
                "`{key}`: write `ignore: {{ {rest}: {{ until: YYYY-MM-DD, reason: ... }} }}`"
            ));
        };
        let position = match seen.iter().position(|(known, _, _)| known == id) {
            Some(position) => position,
            None => {
                seen.push((id.to_string(), None, None));
                seen.len() - 1
            }
        };
        let Some(slot) = seen.get_mut(position) else {
            continue;
        };
        match field {
            "until" => slot.1 = Some(value.trim().to_string()),
            "reason" => slot.2 = Some(value.trim().to_string()),
            other => {
                return Err(format!(
                    "`{key}`: unknown field `{other}` (an ignore has `until` and `reason`)"
                ));
            }
        }
    }
    seen.into_iter()
        .map(|(id, until, reason)| {
            let until = until.ok_or_else(|| format!("`ignore.{id}` has no `until` date"))?;
            let until = Date::parse(&until).ok_or_else(|| {
                format!("`ignore.{id}.until`: {until:?} is not a date (YYYY-MM-DD)")
            })?;
            let reason = reason
                .filter(|r| !r.is_empty())
                .ok_or_else(|| format!("`ignore.{id}` has no `reason`"))?;
            Ok(Ignore { id, until, reason })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn compact_entries_parse_with_reason_and_date() {
        let ignores = parse_ignores(&config(&[(
            "ignore",
            "CVE-2023-1234 until 2027-01-31: not reachable: only in tests; \
             GHSA-xxxx-yyyy-zzzz until 2026-06-30:  dev dependency ;",
        )]))
        .unwrap();
        assert_eq!(ignores.len(), 2);
        assert_eq!(ignores[0].id, "CVE-2023-1234");
        assert_eq!(ignores[0].until.to_string(), "2027-01-31");
        assert_eq!(ignores[0].reason, "not reachable: only in tests");
        assert_eq!(ignores[1].id, "GHSA-xxxx-yyyy-zzzz");
        assert_eq!(ignores[1].reason, "dev dependency");
    }

    #[test]
    fn mapping_entries_parse_in_file_order() {
        let ignores = parse_ignores(&config(&[
            ("ignore.CVE-2019-18224.until", "2027-01-31"),
            ("ignore.B602.reason", "input is a constant"),
            ("ignore.CVE-2019-18224.reason", "libidn2 is not linked"),
            ("ignore.B602.until", "2026-12-01"),
        ]))
        .unwrap();
        let ids: Vec<&str> = ignores.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["CVE-2019-18224", "B602"]);
        assert_eq!(ignores[1].reason, "input is a constant");
    }

    #[test]
    fn entries_without_reason_or_date_are_refused() {
        for (bad, expected) in [
            ("CVE-1 until 2027-01-31", "no `: <reason>`"),
            ("CVE-1 until 2027-01-31:   ", "empty reason"),
            ("CVE-1: not reachable", "needs an id and an expiry date"),
            ("CVE-1 before 2027-01-31: x", "needs `until`"),
            ("CVE-1 until 31/01/2027: x", "is not a date"),
            (
                "CVE-1 until 2027-01-31: a,CVE-2 until 2027-02-01: b",
                "joined by `,`",
            ),
        ] {
            let err = parse_ignores(&config(&[("ignore", bad)])).unwrap_err();
            assert!(err.contains(expected), "{bad:?}: {err}");
            assert!(err.contains("entry 1"), "{err}");
        }
        let err = parse_ignores(&config(&[("ignore.CVE-1.reason", "x")])).unwrap_err();
        assert!(err.contains("`ignore.CVE-1` has no `until`"), "{err}");
        let err = parse_ignores(&config(&[("ignore.CVE-1.until", "2027-01-01")])).unwrap_err();
        assert!(err.contains("no `reason`"), "{err}");
        let err = parse_ignores(&config(&[("ignore.CVE-1.expires", "2027-01-01")])).unwrap_err();
        assert!(err.contains("unknown field `expires`"), "{err}");
        let err = parse_ignores(&config(&[("ignore.CVE-1", "2027-01-01")])).unwrap_err();
        assert!(err.contains("until: YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let err = parse_ignores(&config(&[
            ("ignore", "B602 until 2027-01-01: a"),
            ("ignore.B602.until", "2027-01-01"),
            ("ignore.B602.reason", "b"),
        ]))
        .unwrap_err();
        assert!(err.contains("B602 twice"), "{err}");
    }

    #[test]
    fn an_ignore_applies_through_its_last_day() {
        let ignore = &parse_ignores(&config(&[("ignore", "B602 until 2027-01-31: x")])).unwrap()[0];
        assert!(ignore.active_on(Date::parse("2027-01-31").unwrap()));
        assert!(!ignore.active_on(Date::parse("2027-02-01").unwrap()));
    }
}
