//! Image build and push through the Docker Engine API, for build stages.
//!
//! The build context is a tar of a workspace folder (symlinks are archived as links,
//! never followed out of the workspace). The image is tagged with the commit sha and
//! the branch, pushed to the configured registry, and the registry digest returned.

use super::containers::ContainerContext;
use crate::bindings::{ContainerError, ImageBuildOutput, ImageBuildRequest};
use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, PushImageOptionsBuilder, TagImageOptionsBuilder,
};
use bosun_git::refs::branch_tag;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Most bytes of build log kept.
const LOG_CAP: usize = 1 << 20;

fn tar_context(dir: &Path) -> Result<Vec<u8>, ContainerError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir).map_err(|e| {
        ContainerError::Failed(format!("packing build context {}: {e}", dir.display()))
    })?;
    builder.into_inner().map_err(|e| {
        ContainerError::Failed(format!("packing build context {}: {e}", dir.display()))
    })
}

/// Pick the `sha256:` digest out of a push status line (`tag: digest: sha256:… size: …`).
fn digest_in(status: &str) -> Option<String> {
    let start = status.find("digest: sha256:")? + "digest: ".len();
    let digest: String = status[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == ':' || c.is_ascii_alphanumeric())
        .collect();
    (digest.len() == "sha256:".len() + 64).then_some(digest)
}

/// Build, tag and (optionally) push.
pub async fn build_and_push(
    docker: &Docker,
    registry: Option<&str>,
    context: &ContainerContext,
    request: ImageBuildRequest,
) -> Result<ImageBuildOutput, ContainerError> {
    let limit = Duration::from_millis(u64::from(request.timeout_ms));
    let work = build_inner(docker, registry, context, &request);
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(ContainerError::TimedOut(request.timeout_ms)),
    }
}

async fn build_inner(
    docker: &Docker,
    registry: Option<&str>,
    context: &ContainerContext,
    request: &ImageBuildRequest,
) -> Result<ImageBuildOutput, ContainerError> {
    if request.push && registry.is_none() {
        return Err(ContainerError::Denied(
            "push requested but no image registry is configured on this agent".into(),
        ));
    }
    let context_dir = context.workspace.join(&request.context);
    let dockerfile_path = context.workspace.join(&request.dockerfile);
    let dockerfile = dockerfile_path
        .strip_prefix(&context_dir)
        .map_err(|_| {
            ContainerError::Denied(format!(
                "dockerfile {} must be inside the build context {}",
                request.dockerfile, request.context
            ))
        })?
        .display()
        .to_string();
    if !dockerfile_path.is_file() {
        return Err(ContainerError::Failed(format!(
            "no Dockerfile at {} in the workspace",
            request.dockerfile
        )));
    }
    let tar = tar_context(&context_dir)?;
    let base = match registry {
        Some(r) => format!("{r}/{}", request.repository),
        None => request.repository.clone(),
    };
    // The branch tag names what a branch's latest build is: only a build that may push
    // sets it (a pull request's head branch may be called `main`).
    let mut references = vec![format!("{base}:{}", context.commit)];
    if request.push {
        references.push(format!("{base}:{}", branch_tag(&context.branch)));
    }
    let first = references.first().cloned().unwrap_or_default();
    let args: HashMap<String, String> = request.build_args.iter().cloned().collect();
    let options = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile)
        .t(&first)
        .rm(true)
        .forcerm(true)
        .buildargs(&args)
        .networkmode(if context.network_allowed {
            "default"
        } else {
            "none"
        })
        .labels(&HashMap::from([
            ("org.bosun.run", context.run_id.as_str()),
            ("org.bosun.commit", context.commit.as_str()),
        ]))
        .build();
    let mut log = String::new();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ContainerError::Failed(format!("building {first}: {e}")))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(ContainerError::Failed(format!(
                "building {first}: {detail}\n{}",
                tail(&log, 4096)
            )));
        }
        if let Some(text) = info.stream
            && log.len() < LOG_CAP
        {
            log.push_str(&text);
        }
    }
    let image_id = docker
        .inspect_image(&first)
        .await
        .map_err(|e| ContainerError::Failed(format!("inspecting built image {first}: {e}")))?
        .id
        .unwrap_or_default();
    for reference in references.iter().skip(1) {
        let (repo, tag) = reference
            .rsplit_once(':')
            .unwrap_or((reference.as_str(), "latest"));
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        docker
            .tag_image(&first, Some(options))
            .await
            .map_err(|e| ContainerError::Failed(format!("tagging {reference}: {e}")))?;
    }
    let mut digest = None;
    if request.push {
        for reference in &references {
            let (repo, tag) = reference
                .rsplit_once(':')
                .unwrap_or((reference.as_str(), "latest"));
            let options = PushImageOptionsBuilder::default().tag(tag).build();
            let mut push = docker.push_image(repo, Some(options), None);
            while let Some(item) = push.next().await {
                let info =
                    item.map_err(|e| ContainerError::Failed(format!("pushing {reference}: {e}")))?;
                if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                    return Err(ContainerError::Failed(format!(
                        "pushing {reference}: {detail}"
                    )));
                }
                if let Some(found) = info.status.as_deref().and_then(digest_in) {
                    digest = Some(found);
                }
            }
        }
    }
    Ok(ImageBuildOutput {
        image_id,
        references,
        digest,
        log,
    })
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while start < text.len() && !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_status_yields_the_digest() {
        let line = format!("abc123: digest: sha256:{} size: 527", "a".repeat(64));
        assert_eq!(digest_in(&line), Some(format!("sha256:{}", "a".repeat(64))));
        assert_eq!(digest_in("Pushed"), None);
    }
}
