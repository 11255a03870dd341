//! The build's report: one `image` artifact per pushed reference with the registry
//! digest, after checking the builder pushed where the stage asked.

use crate::settings::Settings;
use bosun_sdk::containers::ImageBuildOutput;
use bosun_sdk::{Artifact, StageError, StageReport};

/// Lines of the build log kept in the stage's log.
pub const LOG_TAIL_LINES: usize = 30;

/// The report for a build through the host's image builder.
pub fn from_docker(
    settings: &Settings,
    output: &ImageBuildOutput,
    seconds: f64,
) -> Result<StageReport, StageError> {
    if settings.push {
        let prefix = format!("{}/", settings.registry);
        if let Some(other) = output.references.iter().find(|r| !r.starts_with(&prefix)) {
            return Err(StageError::InvalidConfig(format!(
                "`registry` is {} but this agent's image builder pushed {other}; set \
                 `registry` to the agent's registry",
                settings.registry
            )));
        }
    }
    report(
        settings,
        &output.references,
        output.digest.clone(),
        &output.image_id,
        seconds,
    )
}

/// The report for a Kaniko build, given its digest file's contents.
pub fn from_kaniko(
    settings: &Settings,
    references: &[String],
    digest_file: Option<&str>,
    seconds: f64,
) -> Result<StageReport, StageError> {
    let digest = digest_file.and_then(crate::kaniko::parse_digest);
    report(settings, references, digest, "", seconds)
}

fn report(
    settings: &Settings,
    references: &[String],
    digest: Option<String>,
    image_id: &str,
    seconds: f64,
) -> Result<StageReport, StageError> {
    let Some(first) = references.first() else {
        return Err(StageError::BadToolOutput(format!(
            "image build of {} reported no image references",
            settings.repository
        )));
    };
    let also: Vec<String> = references
        .iter()
        .skip(1)
        .map(|r| match r.rsplit_once(':') {
            Some((_, tag)) => format!(":{tag}"),
            None => r.clone(),
        })
        .collect();
    let tags = if also.is_empty() {
        first.clone()
    } else {
        format!("{first} and {}", also.join(", "))
    };
    let summary = match (&digest, settings.push) {
        (Some(digest), true) => format!("built and pushed {tags} ({digest})"),
        (None, true) => {
            return Err(StageError::BadToolOutput(format!(
                "pushed {first} but the registry reported no digest"
            )));
        }
        (_, false) if image_id.is_empty() => format!("built {tags} (not pushed)"),
        (_, false) => format!("built {tags} (image {image_id}, not pushed)"),
    };
    let mut stage_report =
        StageReport::success(summary).with_metric("build_seconds", seconds, "seconds");
    stage_report.artifacts = references
        .iter()
        .map(|reference| Artifact {
            kind: "image".into(),
            name: settings.repository.clone(),
            reference: reference.clone(),
            digest: digest.clone(),
        })
        .collect();
    Ok(stage_report)
}

/// The last `lines` lines of a build log.
pub fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    all.get(all.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join("\n")
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
        parse(&config, "acme/app").unwrap()
    }

    fn output(references: &[&str], digest: Option<&str>) -> ImageBuildOutput {
        ImageBuildOutput {
            image_id: "sha256:1111".into(),
            references: references.iter().map(|r| r.to_string()).collect(),
            digest: digest.map(str::to_string),
            log: "Step 1/2 : FROM bosun/base\n\nStep 2/2 : COPY . /app\nSuccessfully built 1111\n"
                .into(),
        }
    }

    #[test]
    fn a_pushed_build_reports_each_reference_with_the_digest() {
        let digest = format!("sha256:{}", "c".repeat(64));
        let out = output(
            &[
                "127.0.0.1:5000/acme/app:0123abc",
                "127.0.0.1:5000/acme/app:feature-login",
            ],
            Some(&digest),
        );
        let report = from_docker(&settings(&[]), &out, 2.5).unwrap();
        assert_eq!(report.outcome, Outcome::Success);
        assert_eq!(
            report.summary,
            format!(
                "built and pushed 127.0.0.1:5000/acme/app:0123abc and :feature-login ({digest})"
            )
        );
        assert_eq!(report.artifacts.len(), 2);
        for artifact in &report.artifacts {
            assert_eq!(artifact.kind, "image");
            assert_eq!(artifact.name, "acme/app");
            assert_eq!(artifact.digest.as_deref(), Some(digest.as_str()));
        }
        assert_eq!(
            report.artifacts[1].reference,
            "127.0.0.1:5000/acme/app:feature-login"
        );
        assert_eq!(report.metrics[0].name, "build_seconds");
    }

    #[test]
    fn a_push_elsewhere_or_without_digest_is_an_error() {
        let out = output(&["10.0.0.9:5000/acme/app:abc"], Some("sha256:x"));
        match from_docker(&settings(&[]), &out, 1.0) {
            Err(StageError::InvalidConfig(why)) => {
                assert!(why.contains("pushed 10.0.0.9:5000/acme/app:abc"), "{why}")
            }
            other => panic!("expected invalid config, got {other:?}"),
        }
        let out = output(&["127.0.0.1:5000/acme/app:abc"], None);
        match from_docker(&settings(&[]), &out, 1.0) {
            Err(StageError::BadToolOutput(why)) => assert!(why.contains("no digest"), "{why}"),
            other => panic!("expected bad output, got {other:?}"),
        }
    }

    #[test]
    fn an_unpushed_build_names_the_local_image() {
        let out = output(&["acme/app:abc", "acme/app:main"], None);
        let report = from_docker(&settings(&[("push", "false")]), &out, 1.0).unwrap();
        assert_eq!(
            report.summary,
            "built acme/app:abc and :main (image sha256:1111, not pushed)"
        );
        let kaniko = from_kaniko(
            &settings(&[("push", "false")]),
            &["r:abc".into()],
            None,
            1.0,
        )
        .unwrap();
        assert_eq!(kaniko.summary, "built r:abc (not pushed)");
    }

    #[test]
    fn the_log_tail_skips_blank_lines() {
        assert_eq!(
            log_tail(&output(&[], None).log, 2),
            "Step 2/2 : COPY . /app\nSuccessfully built 1111"
        );
    }
}
