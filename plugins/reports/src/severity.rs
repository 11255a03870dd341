//! The five severities a finding can carry, ordered from least to most serious.
//!
//! The crate keeps its own enum so it does not depend on the plugin SDK; the names and
//! order match the SDK's `Severity`, so a caller maps them one to one.

use std::fmt;

/// How serious a finding is; `Ord` follows seriousness (`Info` < `Critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// SARIF's `level` words: `error` → high, `warning` → medium, `note` → low,
    /// `none` → info. Anything else is not a level.
    pub fn from_sarif_level(level: &str) -> Option<Severity> {
        match level {
            "error" => Some(Severity::High),
            "warning" => Some(Severity::Medium),
            "note" => Some(Severity::Low),
            "none" => Some(Severity::Info),
            _ => None,
        }
    }

    /// A CVSS score as GitHub reads SARIF's `security-severity` property: 9.0 and up
    /// critical, 7.0 high, 4.0 medium, above 0 low, 0 info. Negative or non-finite
    /// scores are not scores.
    pub fn from_cvss(score: f64) -> Option<Severity> {
        if !score.is_finite() || score < 0.0 {
            return None;
        }
        Some(if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Info
        })
    }

    /// The severity of rank 0 (info) to 4 (critical), the SDK's `Severity::rank`; a
    /// higher rank is critical.
    pub fn from_rank(rank: u8) -> Severity {
        match rank {
            0 => Severity::Info,
            1 => Severity::Low,
            2 => Severity::Medium,
            3 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// Upper-case name as scanners print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_thresholds_follow_github() {
        assert_eq!(Severity::from_cvss(9.8), Some(Severity::Critical));
        assert_eq!(Severity::from_cvss(9.0), Some(Severity::Critical));
        assert_eq!(Severity::from_cvss(8.9), Some(Severity::High));
        assert_eq!(Severity::from_cvss(7.0), Some(Severity::High));
        assert_eq!(Severity::from_cvss(4.0), Some(Severity::Medium));
        assert_eq!(Severity::from_cvss(3.9), Some(Severity::Low));
        assert_eq!(Severity::from_cvss(0.1), Some(Severity::Low));
        assert_eq!(Severity::from_cvss(0.0), Some(Severity::Info));
        assert_eq!(Severity::from_cvss(-1.0), None);
        assert_eq!(Severity::from_cvss(f64::NAN), None);
    }

    #[test]
    fn sarif_levels_map_and_order_holds() {
        assert_eq!(Severity::from_sarif_level("error"), Some(Severity::High));
        assert_eq!(Severity::from_sarif_level("note"), Some(Severity::Low));
        assert_eq!(Severity::from_sarif_level("fatal"), None);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!(Severity::from_rank(0), Severity::Info);
        assert_eq!(Severity::from_rank(3), Severity::High);
        assert_eq!(Severity::from_rank(9), Severity::Critical);
    }
}
