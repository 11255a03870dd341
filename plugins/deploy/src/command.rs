//! The exact tool invocation for a deploy or a rollback: argv and environment.
//!
//! With `kubeconfig_secret`, the tool container gets the secret in `DEPLOY_KUBECONFIG`
//! as a reference the agent host resolves (`${{ secrets.NAME }}`): the plugin never sees
//! the value. The tool needs it as a file, so the invocation is wrapped in a fixed
//! `sh -c` script that writes it under `/tmp` (mode 600) and `exec`s the tool with its
//! arguments passed as positional parameters: task data is never spliced into the
//! script's text.

use crate::settings::{Action, DeployTool, KUBECONFIG_VAR, Settings};

/// The wrapper script; `$0` is the tool, `"$@"` its arguments.
pub const KUBECONFIG_WRAPPER: &str = "umask 077 && printf '%s\\n' \"$DEPLOY_KUBECONFIG\" > /tmp/kubeconfig && KUBECONFIG=/tmp/kubeconfig exec \"$0\" \"$@\"";

/// What the tool container is asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The full argv, wrapper included.
    pub argv: Vec<String>,
    /// The tool's own argv (what a log line and the recorded call show).
    pub tool_argv: Vec<String>,
    /// Environment for the tool.
    pub env: Vec<(String, String)>,
}

/// How an agent host is asked to put a named secret into a tool's environment.
pub fn secret_reference(name: &str) -> String {
    format!("${{{{ secrets.{name} }}}}")
}

/// The invocation for `settings`.
pub fn plan(settings: &Settings) -> Invocation {
    let tool_argv = tool_argv(settings);
    let mut env = settings.env.clone();
    let argv = match &settings.kubeconfig_secret {
        None => tool_argv.clone(),
        Some(name) => {
            env.push((KUBECONFIG_VAR.to_string(), secret_reference(name)));
            let mut wrapped = vec![
                "sh".to_string(),
                "-c".to_string(),
                KUBECONFIG_WRAPPER.to_string(),
            ];
            wrapped.extend(tool_argv.iter().cloned());
            wrapped
        }
    };
    Invocation {
        argv,
        tool_argv,
        env,
    }
}

fn workspace(path: &str) -> String {
    format!("/workspace/{}", path.trim_end_matches('/'))
}

fn tool_argv(s: &Settings) -> Vec<String> {
    let mut argv: Vec<String> = vec![s.tool.name().to_string()];
    let mut push = |items: &[&str]| argv.extend(items.iter().map(|i| i.to_string()));
    match (s.tool, s.action) {
        (DeployTool::Helm, Action::Deploy) => {
            let chart = if s.chart_is_local() {
                workspace(&s.chart)
            } else {
                s.chart.clone()
            };
            push(&["upgrade", "--install", "--atomic", &s.release, &chart]);
            push(&["--namespace", &s.namespace]);
            for file in &s.values {
                push(&["--values", &workspace(file)]);
            }
            push(&["--set", &format!("image.tag={}", s.image_tag)]);
        }
        (DeployTool::Helm, Action::Rollback) => {
            push(&["rollback", &s.release, "--namespace", &s.namespace]);
        }
        (DeployTool::Kubectl, Action::Deploy) => {
            push(&["apply", "--namespace", &s.namespace]);
            for path in &s.manifests {
                push(&["-f", &workspace(path)]);
            }
        }
        (DeployTool::Kubectl, Action::Rollback) => {
            let deployment = format!("deployment/{}", s.release);
            push(&["rollout", "undo", &deployment, "--namespace", &s.namespace]);
        }
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::parse;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&config, "acme/app", COMMIT).unwrap()
    }

    #[test]
    fn helm_upgrade_installs_atomically_with_the_commit_tag() {
        let inv = plan(&settings(&[("environment", "staging")]));
        assert_eq!(
            inv.argv.join(" "),
            format!(
                "helm upgrade --install --atomic app /workspace/chart --namespace staging \
                 --set image.tag={COMMIT}"
            )
        );
        assert_eq!(inv.argv, inv.tool_argv);
        assert!(inv.env.is_empty());
        let inv = plan(&settings(&[
            ("environment", "production"),
            ("release", "shop"),
            ("namespace", "shop-prod"),
            ("chart", "deploy/chart/"),
            ("values", "deploy/values.yaml,deploy/prod.yaml"),
            ("image_tag", "v1.2.3"),
        ]));
        assert_eq!(
            inv.argv.join(" "),
            "helm upgrade --install --atomic shop /workspace/deploy/chart --namespace shop-prod \
             --values /workspace/deploy/values.yaml --values /workspace/deploy/prod.yaml \
             --set image.tag=v1.2.3"
        );
    }

    #[test]
    fn rollbacks_undo_the_last_release() {
        let inv = plan(&settings(&[
            ("environment", "staging"),
            ("action", "rollback"),
        ]));
        assert_eq!(inv.argv.join(" "), "helm rollback app --namespace staging");
        let inv = plan(&settings(&[
            ("environment", "staging"),
            ("action", "rollback"),
            ("tool", "kubectl"),
        ]));
        assert_eq!(
            inv.argv.join(" "),
            "kubectl rollout undo deployment/app --namespace staging"
        );
    }

    #[test]
    fn kubectl_applies_each_manifest_path() {
        let inv = plan(&settings(&[
            ("environment", "staging"),
            ("tool", "kubectl"),
            ("manifests", "k8s/base,k8s/staging.yaml"),
        ]));
        assert_eq!(
            inv.argv.join(" "),
            "kubectl apply --namespace staging -f /workspace/k8s/base -f /workspace/k8s/staging.yaml"
        );
    }

    #[test]
    fn a_kubeconfig_secret_is_a_reference_and_the_tool_runs_behind_a_fixed_wrapper() {
        let inv = plan(&settings(&[
            ("environment", "staging"),
            ("kubeconfig_secret", "KUBE_STAGING"),
            ("env.HELM_DRIVER", "secret"),
        ]));
        assert_eq!(&inv.argv[..3], ["sh", "-c", KUBECONFIG_WRAPPER]);
        assert_eq!(inv.argv[3..], inv.tool_argv[..]);
        assert_eq!(inv.tool_argv[..2], ["helm", "upgrade"]);
        assert_eq!(
            inv.env,
            [
                ("HELM_DRIVER".to_string(), "secret".to_string()),
                (
                    "DEPLOY_KUBECONFIG".to_string(),
                    "${{ secrets.KUBE_STAGING }}".to_string()
                )
            ]
        );
    }
}
