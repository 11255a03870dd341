//! The deploy stage's `with:` block (plus the task's commit and repository), parsed once
//! into typed settings with errors naming the key.

use bosun_sdk::settings::check_relative_setting;

/// Tool images used unless `image` says otherwise: public images carrying the tool.
pub const DEFAULT_HELM_IMAGE: &str = "alpine/helm:latest";
/// See [`DEFAULT_HELM_IMAGE`].
pub const DEFAULT_KUBECTL_IMAGE: &str = "bitnami/kubectl:latest";
/// The variable the tool container gets the kubeconfig in; the plugin owns it.
pub const KUBECONFIG_VAR: &str = "DEPLOY_KUBECONFIG";

const KNOWN_KEYS: &[&str] = &[
    "action",
    "tool",
    "image",
    "release",
    "chart",
    "namespace",
    "values",
    "manifests",
    "image_tag",
    "kubeconfig_secret",
    "network",
    "timeout_secs",
    "environment",
];

/// Deploy, or undo the last deploy (the orchestrator's rollback task sets
/// `action: rollback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Install or upgrade the release.
    Deploy,
    /// Return the release to its previous revision.
    Rollback,
}

/// Which tool deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployTool {
    /// `helm upgrade --install --atomic` / `helm rollback`.
    Helm,
    /// `kubectl apply -f` / `kubectl rollout undo`.
    Kubectl,
}

impl DeployTool {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            DeployTool::Helm => "helm",
            DeployTool::Kubectl => "kubectl",
        }
    }
}

/// Everything the deploy stage was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Deploy or roll back.
    pub action: Action,
    /// Helm or kubectl.
    pub tool: DeployTool,
    /// The tool image.
    pub image: String,
    /// The environment, as the orchestrator named it.
    pub environment: String,
    /// Helm release (and, for kubectl rollbacks, the Deployment) name.
    pub release: String,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Helm chart: a workspace folder, or an `oci://`/`https://` reference.
    pub chart: String,
    /// Helm values files, workspace-relative.
    pub values: Vec<String>,
    /// kubectl manifests (files or folders), workspace-relative.
    pub manifests: Vec<String>,
    /// The image tag deployed (`image.tag`), by default the commit.
    pub image_tag: String,
    /// Name of the agent secret holding the kubeconfig; never its value.
    pub kubeconfig_secret: Option<String>,
    /// Extra tool environment, from `env.<NAME>` keys.
    pub env: Vec<(String, String)>,
    /// Ask for network access (a cluster is remote).
    pub network: bool,
    /// The tool's wall-clock limit, in seconds.
    pub timeout_secs: u32,
}

impl Settings {
    /// Whether `chart` is a workspace folder rather than a remote reference.
    pub fn chart_is_local(&self) -> bool {
        !self.chart.contains("://")
    }
}

/// Parse the stage's `with:` pairs for a task of `repository` at `commit`.
pub fn parse(
    config: &[(String, String)],
    repository: &str,
    commit: &str,
) -> Result<Settings, String> {
    bosun_sdk::settings::check_known(config, &[KNOWN_KEYS, &["env.<NAME>"]].concat())?;
    let get = |key: &str| bosun_sdk::settings::value(config, key).filter(|v| !v.is_empty());
    let action = match get("action").unwrap_or("deploy") {
        "deploy" => Action::Deploy,
        "rollback" => Action::Rollback,
        other => {
            return Err(format!(
                "`action` must be deploy or rollback, got {other:?}"
            ));
        }
    };
    let tool = match get("tool").unwrap_or("helm") {
        "helm" => DeployTool::Helm,
        "kubectl" => DeployTool::Kubectl,
        other => return Err(format!("`tool` must be helm or kubectl, got {other:?}")),
    };
    let environment = get("environment")
        .ok_or(
            "no `environment`: the orchestrator sets it from the stage's `environment` (or \
             the pipeline's `deploy_environment`)",
        )?
        .to_string();
    let default_release = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_ascii_lowercase()
        .replace(['_', '.'], "-");
    let release = get("release").map_or(default_release, str::to_string);
    dns_label("release", &release, 53)?;
    let namespace = get("namespace").unwrap_or(&environment).to_string();
    dns_label("namespace", &namespace, 63)?;
    let chart = get("chart").unwrap_or("chart").to_string();
    if !chart.contains("://") {
        check_relative_setting("chart", &chart)?;
    }
    let values = list(get("values"));
    for file in &values {
        check_relative_setting("values", file)?;
    }
    let manifests = match get("manifests") {
        None => vec!["k8s".to_string()],
        raw => list(raw),
    };
    for path in &manifests {
        check_relative_setting("manifests", path)?;
    }
    let image_tag = get("image_tag").unwrap_or(commit).to_string();
    let tag_ok = !image_tag.is_empty()
        && image_tag.len() <= 128
        && image_tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !tag_ok {
        return Err(format!(
            "`image_tag` {image_tag:?} is not a valid image tag"
        ));
    }
    let kubeconfig_secret = get("kubeconfig_secret").map(str::to_string);
    if let Some(name) = &kubeconfig_secret
        && !env_name(name)
    {
        return Err(format!(
            "`kubeconfig_secret` must be a secret's name (letters, digits, '_'), got {name:?}"
        ));
    }
    let mut env = Vec::new();
    for (key, value) in config {
        if let Some(name) = key.strip_prefix("env.") {
            if !env_name(name) || name == KUBECONFIG_VAR {
                return Err(format!(
                    "`{key}`: tool variables are letters, digits and '_' ({KUBECONFIG_VAR} is \
                     the plugin's own)"
                ));
            }
            env.push((name.to_string(), value.clone()));
        }
    }
    let network = match get("network") {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(format!("`network` must be true or false, got {other:?}")),
    };
    let timeout_secs = match get("timeout_secs") {
        None => 900,
        Some(raw) => raw.parse::<u32>().ok().filter(|t| *t > 0).ok_or_else(|| {
            format!("`timeout_secs` must be a positive whole number, got {raw:?}")
        })?,
    };
    let image = get("image")
        .unwrap_or(match tool {
            DeployTool::Helm => DEFAULT_HELM_IMAGE,
            DeployTool::Kubectl => DEFAULT_KUBECTL_IMAGE,
        })
        .to_string();
    Ok(Settings {
        action,
        tool,
        image,
        environment,
        release,
        namespace,
        chart,
        values,
        manifests,
        image_tag,
        kubeconfig_secret,
        env,
        network,
        timeout_secs,
    })
}

fn list(raw: Option<&str>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// Kubernetes names: lower-case letters, digits and `-`, starting and ending with a
/// letter or digit.
fn dns_label(key: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{key}` {name:?} is not a valid Kubernetes name (lower-case letters, digits and \
             '-', at most {max} characters); set `{key}`"
        ))
    }
}

fn env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&config, "acme/Shop_App", COMMIT)
    }

    #[test]
    fn defaults_upgrade_the_repository_release_in_the_environment_namespace() {
        let s = parse_pairs(&[("environment", "staging")]).unwrap();
        assert_eq!(s.action, Action::Deploy);
        assert_eq!(s.tool, DeployTool::Helm);
        assert_eq!(s.image, DEFAULT_HELM_IMAGE);
        assert_eq!(s.release, "shop-app");
        assert_eq!(s.namespace, "staging");
        assert_eq!(s.chart, "chart");
        assert!(s.chart_is_local());
        assert_eq!(s.image_tag, COMMIT);
        assert_eq!(s.manifests, ["k8s"]);
        assert!(s.network);
        assert_eq!(s.kubeconfig_secret, None);
    }

    #[test]
    fn rollback_kubectl_and_extra_settings_are_read() {
        let s = parse_pairs(&[
            ("environment", "production"),
            ("action", "rollback"),
            ("tool", "kubectl"),
            ("namespace", "shop"),
            ("manifests", "deploy/base, deploy/prod.yaml"),
            ("kubeconfig_secret", "KUBE_PROD"),
            ("env.FAKE_DEPLOY_FAIL", "rollout"),
            ("chart", "oci://registry.example.com/charts/shop"),
        ])
        .unwrap();
        assert_eq!(s.action, Action::Rollback);
        assert_eq!(s.image, DEFAULT_KUBECTL_IMAGE);
        assert_eq!(s.namespace, "shop");
        assert_eq!(s.manifests, ["deploy/base", "deploy/prod.yaml"]);
        assert_eq!(s.kubeconfig_secret.as_deref(), Some("KUBE_PROD"));
        assert_eq!(s.env, [("FAKE_DEPLOY_FAIL".into(), "rollout".into())]);
        assert!(!s.chart_is_local());
    }

    #[test]
    fn a_path_starting_with_a_dash_is_refused_as_an_option() {
        for (key, path) in [
            ("chart", "--post-renderer=/bin/sh"),
            ("values", "-f"),
            ("manifests", "deploy, -k"),
        ] {
            let err = parse_pairs(&[("environment", "staging"), (key, path)]).unwrap_err();
            assert!(
                err.contains(&format!("`{key}` must be a relative path"))
                    && err.contains("would read as an option"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (pairs, expected) in [
            (vec![], "no `environment`"),
            (
                vec![("environment", "staging"), ("charts", "x")],
                "unknown setting `charts`",
            ),
            (
                vec![("environment", "staging"), ("action", "undo")],
                "`action` must be",
            ),
            (
                vec![("environment", "staging"), ("tool", "kustomize")],
                "`tool` must be",
            ),
            (vec![("environment", "Prod EU")], "`namespace` \"Prod EU\""),
            (
                vec![("environment", "staging"), ("release", "-x")],
                "`release` \"-x\"",
            ),
            (
                vec![("environment", "staging"), ("chart", "../chart")],
                "`chart` must be",
            ),
            (
                vec![("environment", "staging"), ("values", "/etc/x")],
                "`values` must be",
            ),
            (
                vec![("environment", "staging"), ("image_tag", "a b")],
                "`image_tag`",
            ),
            (
                vec![
                    ("environment", "staging"),
                    ("kubeconfig_secret", "kube-prod"),
                ],
                "`kubeconfig_secret` must be a secret's name",
            ),
            (
                vec![("environment", "staging"), ("env.DEPLOY_KUBECONFIG", "x")],
                "the plugin's own",
            ),
            (
                vec![("environment", "staging"), ("network", "no")],
                "`network` must be",
            ),
            (
                vec![("environment", "staging"), ("timeout_secs", "-1")],
                "`timeout_secs`",
            ),
        ] {
            let err = parse_pairs(&pairs).unwrap_err();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
    }
}
