//! The deploy's report from the tool's exit: a `release` artifact on success, a failed
//! outcome carrying the tool's own error line otherwise.

use crate::settings::{Action, Settings};
use bosun_sdk::{Artifact, ContainerOutput, StageReport};

/// The report for a finished tool run.
pub fn report(settings: &Settings, output: &ContainerOutput) -> StageReport {
    let tool = settings.tool.name();
    let what = match settings.action {
        Action::Deploy => format!(
            "{} (image tag {}) to {}",
            settings.release,
            short_tag(&settings.image_tag),
            settings.environment
        ),
        Action::Rollback => format!("{} in {}", settings.release, settings.environment),
    };
    let where_ = format!("namespace {}", settings.namespace);
    let seconds = output.duration_ms as f64 / 1000.0;
    if output.exit_code == 0 {
        let verb = match settings.action {
            Action::Deploy => "deployed",
            Action::Rollback => "rolled back",
        };
        let mut report = StageReport::success(format!("{verb} {what} ({where_}) with {tool}"))
            .with_metric("deploy_seconds", seconds, "seconds");
        report.artifacts.push(Artifact {
            kind: "release".into(),
            name: settings.release.clone(),
            reference: format!("{}/{}", settings.namespace, settings.release),
            digest: None,
        });
        return report;
    }
    let verb = match settings.action {
        Action::Deploy => "deploy of",
        Action::Rollback => "rollback of",
    };
    let cause = last_line(&output.stderr)
        .or_else(|| last_line(&output.stdout))
        .unwrap_or("no output");
    StageReport::failure(format!(
        "{tool} {verb} {what} ({where_}) failed with exit code {}: {cause}",
        output.exit_code
    ))
    .with_metric("deploy_seconds", seconds, "seconds")
}

/// A commit sha shortened to 12 characters; other tags as they are.
fn short_tag(tag: &str) -> &str {
    let is_sha = tag.len() == 40 && tag.chars().all(|c| c.is_ascii_hexdigit());
    if is_sha {
        tag.get(..12).unwrap_or(tag)
    } else {
        tag
    }
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::parse;
    use bosun_sdk::Outcome;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(
            &config,
            "acme/app",
            "0123456789abcdef0123456789abcdef01234567",
        )
        .unwrap()
    }

    fn output(exit_code: i32, stdout: &str, stderr: &str) -> ContainerOutput {
        ContainerOutput {
            exit_code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            truncated: false,
            duration_ms: 1500,
        }
    }

    #[test]
    fn a_successful_upgrade_reports_the_release() {
        let r = report(
            &settings(&[("environment", "staging")]),
            &output(0, "Release \"app\" has been upgraded.", ""),
        );
        assert_eq!(r.outcome, Outcome::Success);
        assert_eq!(
            r.summary,
            "deployed app (image tag 0123456789ab) to staging (namespace staging) with helm"
        );
        assert_eq!(r.artifacts[0].kind, "release");
        assert_eq!(r.artifacts[0].reference, "staging/app");
        assert_eq!(r.metrics[0].value, 1.5);
    }

    #[test]
    fn a_failed_upgrade_fails_the_stage_with_the_tool_error() {
        let r = report(
            &settings(&[("environment", "staging")]),
            &output(
                1,
                "argv: helm upgrade",
                "Error: UPGRADE FAILED: timed out\n\n",
            ),
        );
        assert_eq!(r.outcome, Outcome::Failure);
        assert_eq!(
            r.summary,
            "helm deploy of app (image tag 0123456789ab) to staging (namespace staging) failed \
             with exit code 1: Error: UPGRADE FAILED: timed out"
        );
        assert!(r.artifacts.is_empty());
    }

    #[test]
    fn rollbacks_say_so() {
        let s = settings(&[("environment", "staging"), ("action", "rollback")]);
        assert_eq!(
            report(&s, &output(0, "", "")).summary,
            "rolled back app in staging (namespace staging) with helm"
        );
        assert_eq!(
            report(&s, &output(2, "", "")).summary,
            "helm rollback of app in staging (namespace staging) failed with exit code 2: no output"
        );
    }
}
