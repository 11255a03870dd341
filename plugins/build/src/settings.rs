//! The build stage's `with:` block, parsed once into typed settings.

use bosun_sdk::settings::check_relative_setting;

/// Where images go unless `registry` says otherwise: the registry `scripts/services.sh`
/// starts, and the one a local agent is configured with.
pub const DEFAULT_REGISTRY: &str = "127.0.0.1:5000";
/// Kaniko's executor image unless `kaniko_image` says otherwise.
pub const DEFAULT_KANIKO_IMAGE: &str = "gcr.io/kaniko-project/executor:latest";

const KNOWN_KEYS: &[&str] = &[
    "dockerfile",
    "context",
    "repository",
    "registry",
    "push",
    "builder",
    "kaniko_image",
    "timeout_secs",
    "environment",
];

/// Which builder makes the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// The host's image-build capability (Docker Engine API).
    Docker,
    /// Kaniko's executor, run as a tool container.
    Kaniko {
        /// The executor image.
        image: String,
    },
}

/// Everything the build stage was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Dockerfile, relative to the workspace root.
    pub dockerfile: String,
    /// Build context folder, relative to the workspace root.
    pub context: String,
    /// Image repository without the registry, e.g. `acme/app`.
    pub repository: String,
    /// Registry host (and port) the image is pushed to.
    pub registry: String,
    /// Push the tags after the build.
    pub push: bool,
    /// Which builder.
    pub builder: Builder,
    /// `--build-arg` values, from `build_args.<NAME>` keys, in file order.
    pub build_args: Vec<(String, String)>,
    /// Wall-clock limit for build and push, in seconds.
    pub timeout_secs: u32,
}

/// Parse the stage's `with:` pairs; `task_repository` (`Owner/Name`) is the default
/// image repository, lower-cased.
pub fn parse(config: &[(String, String)], task_repository: &str) -> Result<Settings, String> {
    bosun_sdk::settings::check_known(config, &[KNOWN_KEYS, &["build_args.<NAME>"]].concat())?;
    let get = |key: &str| bosun_sdk::settings::value(config, key);
    let dockerfile = get("dockerfile").unwrap_or("Dockerfile");
    check_relative_setting("dockerfile", dockerfile)?;
    let context = get("context").unwrap_or(".");
    check_relative_setting("context", context)?;
    let inside = context == "."
        || dockerfile
            .strip_prefix(context.trim_end_matches('/'))
            .is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        return Err(format!(
            "`dockerfile` {dockerfile} must be inside the build `context` {context}"
        ));
    }
    let repository = match get("repository") {
        Some(repo) => repo.to_string(),
        None => task_repository.to_ascii_lowercase(),
    };
    if !valid_repository(&repository) {
        return Err(format!(
            "image repository {repository:?} is not valid (lower-case letters, digits, '.', \
             '_', '-', '/'); set `repository`"
        ));
    }
    let registry = get("registry").unwrap_or(DEFAULT_REGISTRY);
    let registry_ok = !registry.is_empty()
        && registry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if !registry_ok {
        return Err(format!(
            "`registry` must be a host and optional port, e.g. 127.0.0.1:5000, got {registry:?}"
        ));
    }
    let push = match get("push") {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(format!("`push` must be true or false, got {other:?}")),
    };
    let builder = match get("builder").unwrap_or("docker") {
        "docker" => Builder::Docker,
        "kaniko" => Builder::Kaniko {
            image: get("kaniko_image")
                .unwrap_or(DEFAULT_KANIKO_IMAGE)
                .to_string(),
        },
        other => {
            return Err(format!("`builder` must be docker or kaniko, got {other:?}"));
        }
    };
    let mut build_args = Vec::new();
    for (key, value) in config {
        if let Some(name) = key.strip_prefix("build_args.") {
            let name_ok =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                return Err(format!(
                    "`{key}`: build argument names are letters, digits and '_'"
                ));
            }
            build_args.retain(|(existing, _): &(String, String)| existing != name);
            build_args.push((name.to_string(), value.clone()));
        }
    }
    let timeout_secs = match get("timeout_secs") {
        None => 1800,
        Some(raw) => raw.parse::<u32>().ok().filter(|t| *t > 0).ok_or_else(|| {
            format!("`timeout_secs` must be a positive whole number, got {raw:?}")
        })?,
    };
    Ok(Settings {
        dockerfile: dockerfile.to_string(),
        context: context.to_string(),
        repository,
        registry: registry.to_string(),
        push,
        builder,
        build_args,
        timeout_secs,
    })
}

/// The host's rule for repository names (`check_build` refuses anything else).
fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 200
        && !repository.starts_with(['/', '-', '.'])
        && repository
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&config, "Acme/Shop-App")
    }

    #[test]
    fn defaults_build_the_root_dockerfile_and_push_to_the_local_registry() {
        let settings = parse_pairs(&[]).unwrap();
        assert_eq!(
            settings,
            Settings {
                dockerfile: "Dockerfile".into(),
                context: ".".into(),
                repository: "acme/shop-app".into(),
                registry: "127.0.0.1:5000".into(),
                push: true,
                builder: Builder::Docker,
                build_args: vec![],
                timeout_secs: 1800,
            }
        );
    }

    #[test]
    fn build_args_kaniko_and_paths_are_read() {
        let settings = parse_pairs(&[
            ("dockerfile", "app/Dockerfile"),
            ("context", "app"),
            ("build_args.BASE", "bosun/base:abc"),
            ("build_args.VERSION", "1"),
            ("build_args.BASE", "bosun/base:def"),
            ("builder", "kaniko"),
            ("push", "false"),
        ])
        .unwrap();
        assert_eq!(
            settings.build_args,
            [
                ("VERSION".to_string(), "1".to_string()),
                ("BASE".to_string(), "bosun/base:def".to_string())
            ]
        );
        assert_eq!(
            settings.builder,
            Builder::Kaniko {
                image: DEFAULT_KANIKO_IMAGE.into()
            }
        );
        assert!(!settings.push);
    }

    #[test]
    fn a_path_starting_with_a_dash_is_refused_as_an_option() {
        for pairs in [
            vec![("dockerfile", "-Dockerfile")],
            vec![("context", "-app"), ("dockerfile", "-app/Dockerfile")],
        ] {
            let err = parse_pairs(&pairs).unwrap_err();
            assert!(
                err.contains("must be a relative path") && err.contains("would read as an option"),
                "{pairs:?}: {err}"
            );
        }
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (pairs, expected) in [
            (vec![("dockerfle", "x")], "unknown setting `dockerfle`"),
            (
                vec![("dockerfile", "../Dockerfile")],
                "`dockerfile` must be a relative path",
            ),
            (
                vec![("dockerfile", "Dockerfile"), ("context", "app")],
                "must be inside the build `context` app",
            ),
            (
                vec![("repository", "Acme/App")],
                "image repository \"Acme/App\"",
            ),
            (vec![("registry", "http://r")], "`registry` must be a host"),
            (vec![("push", "yes")], "`push` must be true or false"),
            (
                vec![("builder", "buildah")],
                "`builder` must be docker or kaniko",
            ),
            (vec![("build_args.A-B", "1")], "build argument names"),
            (
                vec![("timeout_secs", "0")],
                "`timeout_secs` must be a positive",
            ),
        ] {
            let err = parse_pairs(&pairs).unwrap_err();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
    }
}
