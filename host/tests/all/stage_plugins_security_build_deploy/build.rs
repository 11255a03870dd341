//! The `build` stage: the sample's image built and pushed to the local registry (the
//! digest checked against the registry's HTTP API), and its config errors.

use super::*;
use bosun_test_support::assert_contains;

#[tokio::test]
async fn build_pushes_the_sample_image_and_reports_the_registry_digest() {
    let Some(env) =
        docker_or_skip("build_pushes_the_sample_image_and_reports_the_registry_digest").await
    else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "build").await;
    let d = dirs(Some("examples/python-app"));
    let repository = format!("bosun-test/python-app-{}", std::process::id());
    let mut t = task(
        "build",
        &[
            ("repository", &repository),
            ("registry", &env.registry),
            ("build_args.BASE", &env.base),
        ],
    );
    t.branch = "feature/login".into();
    // The orchestrator names the one repository this task may push.
    let mut granted = call(&d, false);
    granted.push_repository = Some(repository.clone());
    granted.image_repository = Some(repository.clone());
    let result = rt.run_stage(&plugin, &t, &granted).await;
    let report = report_of(&result);
    assert_eq!(report.outcome, Outcome::Success, "{}", report.summary);
    let references: Vec<&str> = report
        .artifacts
        .iter()
        .map(|a| a.reference.as_str())
        .collect();
    let base = format!("{}/{repository}", env.registry);
    assert_eq!(
        references,
        [format!("{base}:{COMMIT}"), format!("{base}:feature-login")]
    );
    let digest = report.artifacts[0]
        .digest
        .clone()
        .expect("a pushed image has a digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    for (artifact, tag) in report.artifacts.iter().zip([COMMIT, "feature-login"]) {
        assert_eq!(artifact.kind, "image");
        assert_eq!(artifact.name, repository);
        assert_eq!(artifact.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(
            registry_digest(&env.registry, &repository, tag).as_deref(),
            Some(digest.as_str()),
            "the registry serves {tag} with the reported digest"
        );
    }
    assert_eq!(
        report.summary,
        format!("built and pushed {base}:{COMMIT} and :feature-login ({digest})")
    );
    assert!(
        result
            .logs
            .iter()
            .any(|l| l.message.contains("Successfully built")),
        "the build log's tail is in the stage log"
    );
    // The registry keeps the pushed image; the engine need not keep local tags.
    for reference in references {
        let _ = env
            .runner
            .client()
            .remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

#[tokio::test]
async fn build_without_a_dockerfile_is_a_config_error_naming_the_file() {
    let (rt, plugin) = plain_runtime("build").await;
    let d = dirs(None);
    write(&d, "app.py", b"print('no image here')\n");
    let result = rt
        .run_stage(&plugin, &task("build", &[]), &call(&d, false))
        .await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::InvalidConfig);
    assert_eq!(
        message,
        "plugin build: stage build: no Dockerfile at Dockerfile in the workspace; add one or \
         set `dockerfile`"
    );
    let result = rt
        .run_stage(
            &plugin,
            &task("build", &[("dockerfile", "docker/app.Dockerfile")]),
            &call(&d, false),
        )
        .await;
    assert!(
        failure_of(&result)
            .1
            .contains("no Dockerfile at docker/app.Dockerfile"),
        "{:?}",
        result.failure
    );
}

#[tokio::test]
async fn build_with_kaniko_needs_its_executor_image() {
    let Some(env) = docker_or_skip("build_with_kaniko_needs_its_executor_image").await else {
        return;
    };
    let (rt, plugin) = docker_runtime(&env, "build").await;
    let d = dirs(Some("examples/python-app"));
    let t = task(
        "build",
        &[
            ("builder", "kaniko"),
            ("kaniko_image", "gcr.io/kaniko-project/executor:v1.23.2"),
            ("push", "false"),
        ],
    );
    let result = rt.run_stage(&plugin, &t, &call(&d, false)).await;
    let (kind, message) = failure_of(&result);
    assert_eq!(kind, StageFailureKind::ToolFailed, "{message}");
    assert_contains(
        message,
        "kaniko: gcr.io/kaniko-project/executor:v1.23.2: image not found",
    );
}
