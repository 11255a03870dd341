//! The reports a command step declares, read from the copies the host collected into
//! `/out/workspace/`. A declared report that matched no file, is empty or cannot be read
//! is a problem naming it: never a green stage on garbage.

use crate::spec::StepSpec;
use bosun_sdk::prelude::*;
use bosun_sdk::report_file;
use std::path::Path;

/// Everything the reports said, and what was wrong with them.
#[derive(Debug, Default)]
pub struct Read {
    pub tests: Option<TestTotals>,
    pub failures: Vec<TestFailure>,
    pub coverage: Option<Coverage>,
    pub findings: Vec<Finding>,
    /// Each names the report kind and file (or pattern).
    pub problems: Vec<String>,
}

/// Read every declared report; `collected` is the host's pattern → files list and
/// `root` where it copied them (`/out/workspace`).
pub fn read(spec: &StepSpec, collected: &[(String, Vec<String>)], root: &Path) -> Read {
    let mut read = Read::default();
    // A file one kind names outright is that kind's, even when another kind's glob
    // matches it too (`junit: [reports/*.xml]` beside `coverage: reports/coverage.xml`).
    let named: Vec<(&str, &str)> = spec
        .reports
        .iter()
        .flat_map(|(kind, patterns)| {
            patterns
                .iter()
                .filter(|p| !is_glob(p))
                .map(move |p| (kind.as_str(), p.trim_start_matches("./")))
        })
        .collect();
    for (kind, patterns) in &spec.reports {
        let mut files: Vec<&String> = Vec::new();
        for pattern in patterns {
            let matched: Vec<&String> = collected
                .iter()
                .find(|(p, _)| p == pattern.trim_start_matches("./"))
                .map(|(_, files)| files.iter().collect())
                .unwrap_or_default();
            let matched: Vec<&String> = matched
                .into_iter()
                .filter(|file| {
                    !is_glob(pattern)
                        || !named
                            .iter()
                            .any(|(other, named)| other != kind && named == file)
                })
                .collect();
            if matched.is_empty() {
                read.problems.push(format!(
                    "reports.{kind}: `{pattern}` matched no file the commands wrote"
                ));
            }
            files.extend(matched);
        }
        files.sort();
        files.dedup();
        for file in files {
            let bytes =
                match report_file::read_limited(&root.join(file), report_file::MAX_REPORT_BYTES) {
                    Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                        read.problems
                            .push(format!("reports.{kind}: {file} is empty"));
                        continue;
                    }
                    Ok(bytes) => bytes,
                    Err(e) => {
                        let why = match e {
                            report_file::ReadError::Missing => "is missing".to_string(),
                            report_file::ReadError::TooLarge(size) => format!(
                                "is {}, more than a report may be",
                                report_file::human_size(size)
                            ),
                            report_file::ReadError::Io(why) => format!("cannot be read: {why}"),
                        };
                        read.problems.push(format!("reports.{kind}: {file} {why}"));
                        continue;
                    }
                };
            if let Err(why) = read.add(kind, &bytes) {
                read.problems.push(format!("reports.{kind}: {file}: {why}"));
            }
        }
    }
    read
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

impl Read {
    fn add(&mut self, kind: &str, bytes: &[u8]) -> Result<(), String> {
        match kind {
            "junit" => self.add_junit(bytes),
            "coverage" => {
                let lines = bosun_reports::coverage::read(bytes).map_err(|e| e.to_string())?;
                let coverage = self.coverage.get_or_insert(Coverage {
                    lines_covered: 0,
                    lines_total: 0,
                });
                coverage.lines_covered += lines.covered;
                coverage.lines_total += lines.total;
                Ok(())
            }
            "sarif" => {
                // The step's checkout is `/workspace` in its container; a suppressed
                // result is one the project chose to keep, not a finding.
                let found = bosun_reports::sarif::parse(bytes, Some("/workspace"))
                    .map_err(|e| e.to_string())?;
                self.findings.extend(
                    found
                        .into_iter()
                        .filter(|f| !f.suppressed)
                        .map(crate::findings::from_sarif),
                );
                Ok(())
            }
            other => {
                let found = crate::findings::from_tool_report(other, bytes)?;
                self.findings.extend(found);
                Ok(())
            }
        }
    }

    fn add_junit(&mut self, bytes: &[u8]) -> Result<(), String> {
        let run = bosun_junit::parse(bytes).map_err(|e| e.to_string())?;
        let t = &run.totals;
        let totals = self.tests.get_or_insert(TestTotals {
            total: 0,
            passed: 0,
            failed: 0,
            errors: 0,
            skipped: 0,
            duration_ms: 0,
        });
        totals.total += t.total;
        totals.passed += t.passed;
        totals.failed += t.failed;
        totals.errors += t.errors;
        totals.skipped += t.skipped;
        totals.duration_ms += t.duration_ms;
        self.failures.extend(run.failures.into_iter().map(|f| {
            TestFailure {
                suite: if f.classname.is_empty() {
                    f.suite
                } else {
                    f.classname
                },
                name: f.name,
                message: f.message,
                path: f
                    .file
                    .as_deref()
                    .map(bosun_formats::message::workspace_relative),
                line: f.line,
            }
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
