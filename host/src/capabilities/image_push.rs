//! Where a tool run may push an image: Kaniko's `--destination` and `--cache-repo`
//! checked against the repository the task grants and the agent's registry.
//!
//! The host's own image builds are checked by `containers::check_build`; Kaniko pushes
//! from inside a tool container, so its arguments are the only place the host can see
//! where the image goes. A network-granted command step can still reach any registry
//! the network reaches: there, the registry's credentials are the operator's boundary.

use super::containers::ContainerContext;
use crate::bindings::{ContainerError, ContainerRequest};

/// Refuse a Kaniko run that would push outside what its task grants: every
/// destination and cache repository must be the task's image repository (or a path
/// under it) on the agent's registry (when the agent names one), and a pushing run
/// needs the task's push grant. Other tools are not inspected.
pub fn check_image_push(
    context: &ContainerContext,
    request: &ContainerRequest,
    registry: Option<&str>,
) -> Result<(), ContainerError> {
    if !is_kaniko(request) {
        return Ok(());
    }
    let flags = KanikoFlags::read(&request.argv);
    let pushes = !flags.no_push;
    let allowed = if pushes {
        context.push_repository.as_ref()
    } else {
        context
            .image_repository
            .as_ref()
            .or(context.push_repository.as_ref())
    };
    let named = flags.destinations.iter().map(|d| ("destination", d));
    let cached = flags.cache_repos.iter().map(|d| ("cache repository", d));
    for (what, reference) in named.chain(cached) {
        let Some(allowed) = allowed else {
            return Err(ContainerError::Denied(format!(
                "kaniko {what} {reference:?} (image {}): stage {} of tenant {} may not push images in this run (pull requests never do; the operator's tenant `image_prefix` names what a push may be): set `push: false`",
                request.image, context.stage, context.tenant
            )));
        };
        let (host, repository) = split_reference(reference);
        let inside = repository == *allowed
            || repository
                .strip_prefix(allowed.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        let registry_ok = registry.is_none_or(|r| r.eq_ignore_ascii_case(host));
        if !inside || !registry_ok {
            let on = registry.map_or(String::new(), |r| format!(" on the agent's registry {r}"));
            return Err(ContainerError::Denied(format!(
                "kaniko {what} {reference:?} (image {}) is outside what stage {} of tenant {} may push: {allowed} (or a path under it){on}; the operator's tenant `image_prefix` decides the name and the agent's `--registry` the registry, never the repository's config",
                request.image, context.stage, context.tenant
            )));
        }
    }
    Ok(())
}

/// A Kaniko executor run: its image or its program says so.
fn is_kaniko(request: &ContainerRequest) -> bool {
    request.image.to_ascii_lowercase().contains("kaniko")
        || request
            .argv
            .first()
            .is_some_and(|program| program.to_ascii_lowercase().contains("kaniko"))
}

/// The executor's flags that decide where images go.
#[derive(Debug, Default)]
struct KanikoFlags {
    destinations: Vec<String>,
    cache_repos: Vec<String>,
    no_push: bool,
}

impl KanikoFlags {
    /// Read `--destination X`, `--destination=X`, `-d X`, `-d=X`, `-dX`, the same
    /// forms of `--cache-repo`, and `--no-push` (as the executor's flag parser does).
    fn read(argv: &[String]) -> KanikoFlags {
        let mut flags = KanikoFlags::default();
        let mut args = argv.iter().skip(1);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with('-') => (name, Some(value.to_string())),
                _ => (arg.as_str(), None),
            };
            let target = match name {
                "--destination" | "-d" => &mut flags.destinations,
                "--cache-repo" => &mut flags.cache_repos,
                "--no-push" => {
                    flags.no_push = inline.as_deref().is_none_or(|v| v == "true");
                    continue;
                }
                short if short.starts_with("-d") && !short.starts_with("--") => {
                    flags.destinations.push(arg[2..].to_string());
                    continue;
                }
                _ => continue,
            };
            // A flag at the end with no value is passed on for the executor to refuse.
            if let Some(value) = inline.or_else(|| args.next().cloned()) {
                target.push(value);
            }
        }
        flags
    }
}

/// `(registry host, repository)` of an image reference, without tag or digest; a
/// reference without a registry host is Docker Hub's, as the executor reads it.
fn split_reference(reference: &str) -> (&str, &str) {
    let name = reference.split('@').next().unwrap_or(reference);
    let name = match name.rsplit_once(':') {
        Some((before, tag)) if !tag.contains('/') => before,
        _ => name,
    };
    match name.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (host, rest)
        }
        _ => ("docker.io", name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    fn context(push: Option<&str>) -> ContainerContext {
        ContainerContext {
            run_id: "r1".into(),
            stage: "build".into(),
            attempt: 1,
            commit: "abc".into(),
            commit_message: String::new(),
            branch: "main".into(),
            tenant: "acme".into(),
            repository: "acme/shop".into(),
            event: "push".into(),
            workspace: PathBuf::from("/tmp/ws"),
            out: PathBuf::from("/tmp/out"),
            network_allowed: true,
            deadline: Instant::now() + Duration::from_secs(60),
            secrets: Vec::new(),
            secrets_granted: Vec::new(),
            secrets_withheld: Vec::new(),
            push_repository: push.map(str::to_string),
            image_repository: Some("images/acme-shop".into()),
            artifacts: None,
            tool_log: None,
        }
    }

    fn kaniko(args: &[&str]) -> ContainerRequest {
        let mut argv = vec!["/kaniko/executor".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        ContainerRequest {
            image: "gcr.io/kaniko-project/executor:v1.23.2".into(),
            argv,
            env: Vec::new(),
            workdir: None,
            timeout_ms: 0,
            network: true,
        }
    }

    fn denied(result: Result<(), ContainerError>) -> String {
        match result {
            Err(ContainerError::Denied(why)) => why,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    const REGISTRY: Option<&str> = Some("127.0.0.1:5000");

    #[test]
    fn a_destination_under_the_granted_repository_on_the_agents_registry_passes() {
        let ctx = context(Some("images/acme-shop"));
        for args in [
            vec!["--destination", "127.0.0.1:5000/images/acme-shop:abc"],
            vec!["--destination=127.0.0.1:5000/images/acme-shop/cache:main"],
            vec!["-d", "127.0.0.1:5000/images/acme-shop@sha256:00"],
        ] {
            assert!(
                check_image_push(&ctx, &kaniko(&args), REGISTRY).is_ok(),
                "{args:?}"
            );
        }
    }

    #[test]
    fn a_destination_outside_the_grant_is_refused_naming_the_image_and_the_setting() {
        let ctx = context(Some("images/acme-shop"));
        for args in [
            vec!["--destination", "127.0.0.1:5000/acme/shop:abc"],
            vec!["--destination=127.0.0.1:5000/images/acme-shop2:abc"],
            vec!["-d", "evil.example.com/images/acme-shop:abc"],
            vec!["-devil.example.com/images/acme-shop:abc"],
            vec!["-d=images/acme-shop:abc"],
            vec!["--cache-repo", "127.0.0.1:5000/bravo/cache"],
            vec![
                "--destination",
                "127.0.0.1:5000/images/acme-shop:a",
                "-d",
                "127.0.0.1:5000/bravo/shop:a",
            ],
        ] {
            let why = denied(check_image_push(&ctx, &kaniko(&args), REGISTRY));
            assert!(
                why.contains("gcr.io/kaniko-project/executor:v1.23.2")
                    && why.contains("images/acme-shop (or a path under it) on the agent's registry 127.0.0.1:5000")
                    && why.contains("`image_prefix`"),
                "{args:?}: {why}"
            );
        }
        // An agent that names no registry checks the name alone.
        let args = ["-d", "registry.example.com/images/acme-shop:abc"];
        assert!(check_image_push(&ctx, &kaniko(&args), None).is_ok());
    }

    #[test]
    fn a_run_that_may_not_push_only_builds_its_own_name() {
        let pr = context(None);
        let why = denied(check_image_push(
            &pr,
            &kaniko(&["--destination", "127.0.0.1:5000/images/acme-shop:abc"]),
            REGISTRY,
        ));
        assert!(why.contains("may not push images"), "{why}");
        let no_push = [
            "--destination",
            "127.0.0.1:5000/images/acme-shop:abc",
            "--no-push",
        ];
        assert!(check_image_push(&pr, &kaniko(&no_push), REGISTRY).is_ok());
        let elsewhere = ["--no-push", "-d", "127.0.0.1:5000/bravo/shop:abc"];
        assert!(check_image_push(&pr, &kaniko(&elsewhere), REGISTRY).is_err());
    }

    #[test]
    fn other_tools_are_not_inspected() {
        let mut helm = kaniko(&["package", "--destination", "/out/charts"]);
        helm.image = "bosun/deploy-tools".into();
        helm.argv[0] = "helm".into();
        assert!(check_image_push(&context(None), &helm, REGISTRY).is_ok());
    }

    #[test]
    fn references_split_into_registry_and_repository() {
        assert_eq!(
            split_reference("127.0.0.1:5000/acme/shop:main"),
            ("127.0.0.1:5000", "acme/shop")
        );
        assert_eq!(
            split_reference("localhost/acme/shop@sha256:ab"),
            ("localhost", "acme/shop")
        );
        assert_eq!(split_reference("acme/shop:1"), ("docker.io", "acme/shop"));
        assert_eq!(
            split_reference("r.example.com/acme/shop"),
            ("r.example.com", "acme/shop")
        );
    }
}
