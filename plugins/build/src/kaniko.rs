//! `builder: kaniko`: the Kaniko executor as a tool container, for agents without a
//! Docker Engine.
//!
//! Kaniko unpacks the base image into its own root file system and pushes over the
//! network, so it needs a writable root and the network granted to the stage. Bosun's
//! hardened runner gives tool containers a read-only root, and no Kaniko image can be
//! built on Bosun's test machines: this path is tested only up to the host's "image not
//! found" answer. The argv and the digest file are unit-tested.

use crate::settings::Settings;

/// Where the executor writes the pushed image's digest, relative to `/out`.
pub const DIGEST_FILE: &str = "kaniko-digest";

/// The executor's argv: Dockerfile and context in the read-only workspace, one
/// `--destination` per reference, the digest to `/out`.
pub fn argv(settings: &Settings, references: &[String]) -> Vec<String> {
    let context = if settings.context == "." {
        "dir:///workspace".to_string()
    } else {
        format!(
            "dir:///workspace/{}",
            settings.context.trim_end_matches('/')
        )
    };
    let mut argv = vec![
        "/kaniko/executor".to_string(),
        "--dockerfile".into(),
        format!("/workspace/{}", settings.dockerfile),
        "--context".into(),
        context,
    ];
    for reference in references {
        argv.push("--destination".into());
        argv.push(reference.clone());
    }
    argv.push("--digest-file".into());
    argv.push(format!("/out/{DIGEST_FILE}"));
    for (name, value) in &settings.build_args {
        argv.push("--build-arg".into());
        argv.push(format!("{name}={value}"));
    }
    if !settings.push {
        argv.push("--no-push".into());
    }
    // A registry on this machine speaks plain HTTP, as Docker allows for 127.0.0.0/8.
    let host = settings.registry.split(':').next().unwrap_or_default();
    if host == "localhost" || host.starts_with("127.") {
        argv.push("--insecure-registry".into());
        argv.push(settings.registry.clone());
    }
    argv
}

/// The digest in Kaniko's digest file, if it holds one.
pub fn parse_digest(text: &str) -> Option<String> {
    let digest = text.trim();
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::parse;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&config, "acme/app").unwrap()
    }

    #[test]
    fn executor_argv_names_dockerfile_context_destinations_and_digest_file() {
        let s = settings(&[
            ("builder", "kaniko"),
            ("dockerfile", "app/Dockerfile"),
            ("context", "app/"),
            ("build_args.BASE", "bosun/base:abc"),
        ]);
        let refs = crate::tags::references(&s.registry, &s.repository, "0123abc", "main");
        assert_eq!(
            argv(&s, &refs).join(" "),
            "/kaniko/executor --dockerfile /workspace/app/Dockerfile --context \
             dir:///workspace/app --destination 127.0.0.1:5000/acme/app:0123abc \
             --destination 127.0.0.1:5000/acme/app:main --digest-file /out/kaniko-digest \
             --build-arg BASE=bosun/base:abc --insecure-registry 127.0.0.1:5000"
        );
        let s = settings(&[("registry", "registry.example.com"), ("push", "false")]);
        let joined = argv(&s, &[]).join(" ");
        assert!(joined.contains("--context dir:///workspace "), "{joined}");
        assert!(joined.ends_with("--no-push"), "{joined}");
    }

    #[test]
    fn digest_file_holds_one_sha256() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(parse_digest(&format!("{digest}\n")), Some(digest));
        assert_eq!(parse_digest("sha256:abc"), None);
        assert_eq!(parse_digest(""), None);
    }
}
