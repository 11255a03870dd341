//! Config problems: each names the file, line, column and key, with an optional hint.

use serde::Serialize;
use std::fmt;

/// One thing wrong with a pipeline config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The config file as the caller named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The key at fault, when there is one.
    pub key: Option<String>,
    /// What is wrong, lowercase, naming the stage where there is one.
    pub message: String,
    /// A hint for the fix, e.g. `did you mean 'retries'?`.
    pub suggestion: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "\n  help: {suggestion}")?;
        }
        Ok(())
    }
}

/// Every problem found in a pipeline config, in line order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ConfigError {
    /// The problems, at least one.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: usize, suggestion: Option<&str>) -> Problem {
        Problem {
            file: ".bosun.yml".into(),
            line,
            column: 5,
            key: Some("retires".into()),
            message: "unknown key 'retires' in stage 'test'".into(),
            suggestion: suggestion.map(str::to_string),
        }
    }

    #[test]
    fn display_one_line_per_problem_with_help_lines() {
        let error = ConfigError {
            problems: vec![
                problem(3, Some("did you mean 'retries'?")),
                problem(7, None),
            ],
        };
        assert_eq!(
            error.to_string(),
            ".bosun.yml:3:5: unknown key 'retires' in stage 'test'\n  \
             help: did you mean 'retries'?\n\
             .bosun.yml:7:5: unknown key 'retires' in stage 'test'"
        );
    }
}
