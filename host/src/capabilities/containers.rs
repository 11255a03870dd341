//! The `containers` capability: request checks and masking in front of a runner trait.
//!
//! Runners (Docker, plain processes) only execute; every rule about what a plugin may
//! ask for lives here, so no runner can forget one.

use super::log::mask_secrets;
use crate::bindings::{
    ContainerError, ContainerOutput, ContainerRequest, ImageBuildOutput, ImageBuildRequest,
    StepOutput, StepRequest,
};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Instant;

/// A boxed future returned by [`ContainerRunner::run`].
pub type RunFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ContainerOutput, ContainerError>> + Send + 'a>>;

/// A boxed future returned by [`ContainerRunner::stop_run`]: how many tools it stopped.
pub type StopFuture<'a> = Pin<Box<dyn Future<Output = Result<usize, String>> + Send + 'a>>;

/// A boxed future returned by [`ContainerRunner::run_step`].
pub type StepFuture<'a> =
    Pin<Box<dyn Future<Output = Result<StepOutput, ContainerError>> + Send + 'a>>;

/// A boxed future returned by [`ContainerRunner::build_image`].
pub type BuildFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ImageBuildOutput, ContainerError>> + Send + 'a>>;

/// Who is asking and where: the facts a runner needs beyond the plugin's request.
#[derive(Debug, Clone)]
pub struct ContainerContext {
    /// Pipeline run id (labels, `BOSUN_RUN_ID`).
    pub run_id: String,
    /// Stage name (`BOSUN_STAGE`).
    pub stage: String,
    /// Attempt number (`BOSUN_ATTEMPT`).
    pub attempt: u32,
    /// Commit sha (`BOSUN_COMMIT`).
    pub commit: String,
    /// Branch (`BOSUN_BRANCH`).
    pub branch: String,
    /// The commit's message (`BOSUN_COMMIT_MESSAGE`), as the task carries it: at most
    /// 64 KiB, empty when the trigger had none.
    pub commit_message: String,
    /// Tenant (GitHub owner).
    pub tenant: String,
    /// `owner/name` of the repository (command-step caches are kept per repository).
    pub repository: String,
    /// The triggering event (`push`, `pull_request`, `manual`): a pull request's
    /// command steps keep caches of their own.
    pub event: String,
    /// Host folder mounted read-only at `/workspace`.
    pub workspace: PathBuf,
    /// Host folder mounted writable at `/out`.
    pub out: PathBuf,
    /// Whether this tenant's stage may use the network.
    pub network_allowed: bool,
    /// The stage deadline; a tool never outlives it.
    pub deadline: Instant,
    /// Named secrets `(name, value)`: masked in every output; a tool's environment may
    /// refer to one as `${{ secrets.NAME }}`, resolved here so plugins never see values.
    pub secrets: Vec<(String, String)>,
    /// The names among `secrets` this task may resolve (the orchestrator grants them
    /// per tenant, stage and event); every other secret is only masked.
    pub secrets_granted: Vec<String>,
    /// Secrets the orchestrator withheld from this task, each with the condition of
    /// the tenant's grant that failed: named when a tool asks for one.
    pub secrets_withheld: Vec<(String, String)>,
    /// The only image repository this task may push; none: builds run without a push.
    pub push_repository: Option<String>,
    /// The only image repository this task may build and tag (else `push_repository`);
    /// none of either: no image builds.
    pub image_repository: Option<String>,
    /// What a command step reads from the stages it needs and keeps for later ones;
    /// none when its stage has no artifacts.
    pub artifacts: Option<std::sync::Arc<crate::artifacts::StepArtifacts>>,
    /// The attempt's log: a runner hands each line its tools print to it as it comes
    /// (masked, capped, and streamed live when the agent streams the attempt); none
    /// where no attempt log is kept (benchmarks, unit tests).
    pub tool_log: Option<super::log::LogSink>,
}

/// Something that can run a tool image: the Docker Engine, or plain processes.
pub trait ContainerRunner: Send + Sync {
    /// A short name for logs and `plugin list` (`docker`, `process (unsandboxed)`).
    fn describe(&self) -> String;

    /// The registry this agent's images go to (`--registry`), when it names one: a
    /// tool that pushes (Kaniko) may push only there.
    fn image_registry(&self) -> Option<String> {
        None
    }

    /// Run an already-checked request to completion.
    fn run<'a>(&'a self, context: &'a ContainerContext, request: ContainerRequest)
    -> RunFuture<'a>;

    /// Stop every tool this runner is running for `run_id` (the run was cancelled,
    /// superseded or halted): each waiting `run` then returns as its tool was killed.
    /// Runners that cannot find their tools by run stop nothing.
    fn stop_run<'a>(&'a self, _run_id: &'a str) -> StopFuture<'a> {
        Box::pin(async { Ok(0) })
    }

    /// Stop the tools of one stage of `run_id` (cancelled while its run goes on, as a
    /// matrix instance by `fail_fast`); as [`ContainerRunner::stop_run`] otherwise.
    fn stop_stage<'a>(&'a self, _run_id: &'a str, _stage: &'a str) -> StopFuture<'a> {
        Box::pin(async { Ok(0) })
    }

    /// Run an already-checked command step; runners that cannot give it a private
    /// writable checkout refuse.
    fn run_step<'a>(
        &'a self,
        _context: &'a ContainerContext,
        request: StepRequest,
    ) -> StepFuture<'a> {
        let described = self.describe();
        Box::pin(async move {
            Err(ContainerError::Unavailable(format!(
                "the {described} runner cannot run command steps (image {}): start the agent with the Docker Engine (--containers docker)",
                request.image
            )))
        })
    }

    /// Build (and push) an image from the workspace; runners without an image
    /// builder refuse.
    fn build_image<'a>(
        &'a self,
        _context: &'a ContainerContext,
        request: ImageBuildRequest,
    ) -> BuildFuture<'a> {
        let described = self.describe();
        Box::pin(async move {
            Err(ContainerError::Unavailable(format!(
                "the {described} runner cannot build images (repository {})",
                request.repository
            )))
        })
    }
}

/// The runner used when none is configured: every request is refused as unavailable.
pub struct NoContainerRuntime;

impl ContainerRunner for NoContainerRuntime {
    fn describe(&self) -> String {
        "none".to_string()
    }

    fn run<'a>(&'a self, _: &'a ContainerContext, request: ContainerRequest) -> RunFuture<'a> {
        Box::pin(async move {
            Err(ContainerError::Unavailable(format!(
                "no container runtime is configured on this agent host (image {})",
                request.image
            )))
        })
    }
}

/// A tool's timeout, never past the stage deadline (0 means "until the deadline").
pub(crate) fn capped_timeout(
    context: &ContainerContext,
    asked_ms: u32,
) -> Result<u32, ContainerError> {
    let remaining = context
        .deadline
        .saturating_duration_since(Instant::now())
        .as_millis();
    let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
    if remaining == 0 {
        return Err(ContainerError::TimedOut(0));
    }
    Ok(if asked_ms == 0 {
        remaining
    } else {
        asked_ms.min(remaining)
    })
}

/// The CI-convention variables every tool sees, whichever runner starts it.
pub fn ci_env(context: &ContainerContext) -> Vec<(String, String)> {
    vec![
        ("CI".into(), "true".into()),
        ("BOSUN_RUN_ID".into(), context.run_id.clone()),
        ("BOSUN_STAGE".into(), context.stage.clone()),
        ("BOSUN_ATTEMPT".into(), context.attempt.to_string()),
        ("BOSUN_COMMIT".into(), context.commit.clone()),
        ("BOSUN_BRANCH".into(), context.branch.clone()),
        // Capped again here: a context may come from elsewhere than a task (the CLI).
        (
            "BOSUN_COMMIT_MESSAGE".into(),
            bosun_bus::types::task_commit_message(&context.commit_message),
        ),
    ]
}

/// Refuse requests no runner may execute; cap the timeout at the stage deadline.
pub fn check_request(
    context: &ContainerContext,
    mut request: ContainerRequest,
) -> Result<ContainerRequest, ContainerError> {
    if request.image.trim().is_empty() {
        return Err(ContainerError::Denied("the image name is empty".into()));
    }
    if request.argv.is_empty() {
        return Err(ContainerError::Denied(format!(
            "no command given for image {}",
            request.image
        )));
    }
    if request.argv.iter().any(|a| a.contains('\0')) {
        return Err(ContainerError::Denied(
            "arguments and environment may not contain NUL bytes".into(),
        ));
    }
    check_env_and_network(context, &mut request.env, request.network)?;
    request.timeout_ms = capped_timeout(context, request.timeout_ms)?;
    Ok(request)
}

/// The rules every tool request keeps, whatever runs it: no NUL bytes, no reserved or
/// malformed variable names, network only when granted; `${{ secrets.NAME }}`
/// references are resolved in place.
pub(crate) fn check_env_and_network(
    context: &ContainerContext,
    env: &mut [(String, String)],
    network: bool,
) -> Result<(), ContainerError> {
    if env
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(ContainerError::Denied(
            "arguments and environment may not contain NUL bytes".into(),
        ));
    }
    if let Some((key, _)) = env
        .iter()
        .find(|(k, _)| k.is_empty() || k.contains('=') || k.starts_with("BOSUN_"))
    {
        return Err(ContainerError::Denied(format!(
            "environment variable name {key:?} is not allowed (empty, contains '=', or reserved BOSUN_ prefix)"
        )));
    }
    if network && !context.network_allowed {
        return Err(ContainerError::Denied(format!(
            "network access is not granted to stage {} of tenant {}",
            context.stage, context.tenant
        )));
    }
    for (_, value) in env.iter_mut() {
        *value = resolve_secret_refs(context, value)?;
    }
    Ok(())
}

impl ContainerContext {
    /// The secret values, for masking.
    pub fn secret_values(&self) -> Vec<String> {
        self.secrets.iter().map(|(_, v)| v.clone()).collect()
    }
}

/// Replace each `${{ secrets.NAME }}` in an environment value with the named secret the
/// agent was given; a name it was not given is refused (never passed on verbatim).
fn resolve_secret_refs(context: &ContainerContext, value: &str) -> Result<String, ContainerError> {
    const OPEN: &str = "${{";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + OPEN.len()..start + len].trim();
        let Some(name) = inner.strip_prefix("secrets.") else {
            out.push_str(&rest[..start + len + 2]);
            rest = &rest[start + len + 2..];
            continue;
        };
        let name = name.trim();
        if !context.secrets_granted.iter().any(|n| n == name) {
            return Err(ContainerError::Denied(secret_refusal(context, name)));
        }
        let Some((_, secret)) = context.secrets.iter().find(|(n, _)| n == name) else {
            return Err(ContainerError::Denied(format!(
                "secret {name} is not given to this agent (start it with --secret-env {name})"
            )));
        };
        out.push_str(&rest[..start]);
        out.push_str(secret);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Why `name` is refused to this task: the condition of the tenant's grant the
/// orchestrator says failed, else what the agent can tell from the task alone.
fn secret_refusal(context: &ContainerContext, name: &str) -> String {
    let who = format!(
        "secret {name} is not granted to stage {} of tenant {} for this run",
        context.stage, context.tenant
    );
    if let Some((_, why)) = context.secrets_withheld.iter().find(|(n, _)| n == name) {
        return format!("{who}: {why}");
    }
    if context.event == "pull_request" {
        return format!("{who}: event: pull-request runs never resolve secrets");
    }
    format!(
        "{who}: tenant: no grant of the tenant's `secrets` in the orchestrator settings names it for this stage (grants are by tenant, stage, event, environment and default branch)"
    )
}

/// A workspace-relative path that stays inside the workspace.
fn relative_inside(path: &str) -> bool {
    let p = std::path::Path::new(path);
    !path.is_empty()
        && !path.contains('\0')
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

/// Refuse image builds no runner may perform; cap the timeout at the stage deadline.
pub fn check_build(
    context: &ContainerContext,
    mut request: ImageBuildRequest,
) -> Result<ImageBuildRequest, ContainerError> {
    let repo_ok = !request.repository.is_empty()
        && request.repository.len() <= 200
        && !request.repository.starts_with(['/', '-', '.'])
        && request
            .repository
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c));
    if !repo_ok {
        return Err(ContainerError::Denied(format!(
            "repository name {:?} is not valid (lower-case letters, digits, '.', '_', '-', '/')",
            request.repository
        )));
    }
    // The name is the operator's, pushed or not: a build that may not push still tags
    // images on the agent's engine, where other tenants' tools come from.
    let Some(allowed) = context
        .image_repository
        .as_ref()
        .or(context.push_repository.as_ref())
    else {
        return Err(ContainerError::Denied(format!(
            "stage {} of tenant {} may not build images: the orchestrator named no image repository for it",
            context.stage, context.tenant
        )));
    };
    let inside = request.repository == *allowed
        || request
            .repository
            .strip_prefix(allowed.as_str())
            .is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        return Err(ContainerError::Denied(format!(
            "image repository {:?} is not the one stage {} of tenant {} may build ({allowed}, or a path under it): the operator's tenant `image_prefix` decides it, never the repository's config",
            request.repository, context.stage, context.tenant
        )));
    }
    if context.push_repository.is_none() {
        // A run that may not push (a pull request's) still builds, to check that the
        // image builds; the caller says that the push was withheld.
        request.push = false;
    }
    for (what, path) in [
        ("dockerfile", &request.dockerfile),
        ("context", &request.context),
    ] {
        if !relative_inside(path) {
            return Err(ContainerError::Denied(format!(
                "{what} {path:?} must be a relative path inside the workspace"
            )));
        }
    }
    request.timeout_ms = capped_timeout(context, request.timeout_ms)?;
    Ok(request)
}

/// Append `bytes` to `kept` while it holds at most `cap` bytes; true when bytes were cut.
/// Runners use it for tool output, so every runner caps the same way.
pub fn append_capped(kept: &mut Vec<u8>, bytes: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(kept.len());
    kept.extend_from_slice(bytes.get(..room).unwrap_or(bytes));
    bytes.len() > room
}

/// Mask secrets in a runner's output before the plugin sees it.
pub fn mask_output(mut output: ContainerOutput, secrets: &[String]) -> ContainerOutput {
    output.stdout = mask_secrets(&output.stdout, secrets);
    output.stderr = mask_secrets(&output.stderr, secrets);
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn context() -> ContainerContext {
        ContainerContext {
            run_id: "r1".into(),
            stage: "lint".into(),
            attempt: 1,
            commit: "abc".into(),
            branch: "main".into(),
            commit_message: String::new(),
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            event: "push".into(),
            workspace: PathBuf::from("/tmp/ws"),
            out: PathBuf::from("/tmp/out"),
            network_allowed: false,
            deadline: Instant::now() + Duration::from_secs(60),
            secrets: vec![
                ("TOKEN".into(), "s3cret".into()),
                ("KUBE_PROD".into(), "prod-config".into()),
            ],
            secrets_granted: vec!["TOKEN".into()],
            secrets_withheld: Vec::new(),
            push_repository: Some("acme/shop".into()),
            image_repository: None,
            artifacts: None,
            tool_log: None,
        }
    }

    fn build(repository: &str, push: bool) -> ImageBuildRequest {
        ImageBuildRequest {
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            repository: repository.into(),
            build_args: vec![],
            push,
            timeout_ms: 0,
        }
    }

    #[test]
    fn a_secret_the_agent_holds_but_the_task_is_not_granted_is_refused() {
        // The agent holds KUBE_PROD, but the orchestrator granted this task only TOKEN
        // (a pull request's task, or another stage's or tenant's secret).
        let mut ask = request();
        ask.env = vec![("K".into(), "${{ secrets.KUBE_PROD }}".into())];
        let err = check_request(&context(), ask).unwrap_err();
        assert!(
            matches!(&err, ContainerError::Denied(m) if m.contains("KUBE_PROD") && m.contains("not granted") && m.contains("`secrets`")),
            "{err:?}"
        );
    }

    #[test]
    fn a_refused_secret_names_the_condition_of_the_grant_that_failed() {
        let mut ctx = context();
        ctx.stage = "deploy".into();
        ctx.secrets_withheld = vec![(
            "KUBE_PROD".into(),
            "default branch: the grant has `default_branch_only: true` and this run is not on the repository's default branch, in tenant acme's `secrets`".into(),
        )];
        let mut ask = request();
        ask.env = vec![("K".into(), "${{ secrets.KUBE_PROD }}".into())];
        let err = check_request(&ctx, ask.clone()).unwrap_err();
        assert!(
            matches!(&err, ContainerError::Denied(m) if m.starts_with("secret KUBE_PROD is not granted to stage deploy of tenant acme for this run: default branch: the grant has `default_branch_only: true`")),
            "{err:?}"
        );
        // A pull request's task says so even when the orchestrator named no reason.
        ctx.secrets_withheld.clear();
        ctx.event = "pull_request".into();
        let err = check_request(&ctx, ask).unwrap_err();
        assert!(
            matches!(&err, ContainerError::Denied(m) if m.contains("event: pull-request runs never resolve secrets")),
            "{err:?}"
        );
    }

    #[test]
    fn a_build_pushes_only_the_repository_the_operator_grants() {
        let ok = check_build(&context(), build("acme/shop", true)).unwrap();
        assert!(ok.push);
        assert!(check_build(&context(), build("acme/shop/cache", true)).is_ok());
        for other in ["acme/shop2", "bravo/shop", "acme/other"] {
            let err = check_build(&context(), build(other, true)).unwrap_err();
            assert!(
                matches!(&err, ContainerError::Denied(m) if m.contains("image_prefix")),
                "{other}: {err:?}"
            );
        }
        // A task without a push grant (a pull request's) builds its own name without
        // pushing, and may not tag any other name on the agent's engine.
        let mut pr = context();
        pr.push_repository = None;
        pr.image_repository = Some("acme/shop".into());
        let built = check_build(&pr, build("acme/shop", true)).unwrap();
        assert!(!built.push);
        for other in ["bosun/python-tools", "acme/shop2"] {
            let err = check_build(&pr, build(other, false)).unwrap_err();
            assert!(
                matches!(&err, ContainerError::Denied(m) if m.contains("may build")),
                "{err:?}"
            );
        }
        // A task the orchestrator named no image for builds nothing.
        pr.image_repository = None;
        let err = check_build(&pr, build("acme/shop", false)).unwrap_err();
        assert!(
            matches!(&err, ContainerError::Denied(m) if m.contains("may not build")),
            "{err:?}"
        );
    }

    fn request() -> ContainerRequest {
        ContainerRequest {
            image: "bosun/python-tools".into(),
            argv: vec!["pylint".into(), ".".into()],
            env: vec![],
            workdir: None,
            timeout_ms: 0,
            network: false,
        }
    }

    #[test]
    fn timeout_is_capped_at_the_stage_deadline() {
        let checked = check_request(&context(), request()).unwrap();
        assert!(checked.timeout_ms > 0 && checked.timeout_ms <= 60_000);
    }

    #[test]
    fn network_is_denied_unless_granted() {
        let mut req = request();
        req.network = true;
        match check_request(&context(), req.clone()) {
            Err(ContainerError::Denied(why)) => assert!(why.contains("network"), "{why}"),
            other => panic!("expected denial, got {other:?}"),
        }
        let mut ctx = context();
        ctx.network_allowed = true;
        assert!(check_request(&ctx, req).is_ok());
    }

    #[test]
    fn reserved_env_and_empty_argv_are_denied() {
        let mut req = request();
        req.env.push(("BOSUN_RUN_ID".into(), "forged".into()));
        assert!(matches!(
            check_request(&context(), req),
            Err(ContainerError::Denied(_))
        ));
        let mut req = request();
        req.argv.clear();
        assert!(matches!(
            check_request(&context(), req),
            Err(ContainerError::Denied(_))
        ));
    }

    #[test]
    fn secret_references_resolve_to_granted_secrets_only() {
        let mut ask = request();
        ask.env = vec![
            ("KUBECONFIG_DATA".into(), "${{ secrets.TOKEN }}".into()),
            ("PLAIN".into(), "a ${{ not.a.secret }} b".into()),
        ];
        let checked = check_request(&context(), ask).unwrap();
        assert_eq!(checked.env[0].1, "s3cret");
        assert_eq!(checked.env[1].1, "a ${{ not.a.secret }} b");
        let mut ctx = context();
        ctx.secrets_granted.push("KUBE_STAGING".into());
        let mut ask = request();
        ask.env = vec![("K".into(), "${{secrets.KUBE_STAGING}}".into())];
        let err = check_request(&ctx, ask).unwrap_err();
        assert!(
            matches!(&err, ContainerError::Denied(m) if m.contains("KUBE_STAGING") && m.contains("--secret-env")),
            "{err:?}"
        );
    }

    #[test]
    fn secrets_are_masked_in_output() {
        let out = ContainerOutput {
            exit_code: 0,
            stdout: "token s3cret".into(),
            stderr: "".into(),
            truncated: false,
            duration_ms: 1,
        };
        assert_eq!(
            mask_output(out, &context().secret_values()).stdout,
            "token ***"
        );
    }
}
