//! The real Docker Engine for the tests that need it: a runner once the engine answers
//! and the images are built, or the missing-service rule (a failure under `CI=true`,
//! a loud skip elsewhere); and the local registry's view of a pushed image.

use bosun_host::{DockerRunner, DockerSettings};
use bosun_test_support::missing_service;

/// A runner with `settings`, once the engine answers and has every image in `images`;
/// otherwise [`missing_service`] for `test`, naming what is missing.
pub async fn docker_or_skip(
    test: &str,
    settings: DockerSettings,
    images: &[&str],
) -> Option<DockerRunner> {
    let runner = match DockerRunner::connect(settings).await {
        Ok(runner) => runner,
        Err(e) => return missing_service(test, &format!("no Docker engine answers ({e})")),
    };
    for image in images {
        if let Err(e) = runner.client().inspect_image(image).await {
            return missing_service(test, &format!("image {image} is not built ({e})"));
        }
    }
    Some(runner)
}

/// HEAD a manifest on the registry at `registry` (`HOST:PORT`) and return its
/// `Docker-Content-Digest`.
pub fn registry_digest(registry: &str, repository: &str, tag: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry).ok()?;
    let request = format!(
        "HEAD /v2/{repository}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\n\
         Accept: application/vnd.docker.distribution.manifest.v2+json\r\n\
         Accept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("docker-content-digest")
            .then(|| value.trim().to_string())
    })
}
