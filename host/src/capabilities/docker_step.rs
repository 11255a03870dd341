//! Command steps on the Docker Engine: the step's private folders mounted over the
//! usual hardened container (and the needed stages' artifacts, read-only), the cache
//! restored before and saved after, the reports collected into `/out` and the
//! artifacts kept for the agent to upload.

use super::containers::ContainerContext;
use super::docker::DockerRunner;
use super::docker_body::Launch;
use super::step::cache::{CacheScope, CachedPath};
use super::step::copy::Access;
use super::step::{self, StepDirs};
use crate::bindings::{ContainerError, StepOutput, StepRequest};
use std::time::Instant;

impl DockerRunner {
    /// The numeric user a command step runs as: the image's `org.bosun.uid` label, or
    /// its numeric `USER`, else [`super::step::FALLBACK_UID`]. Numeric, so the agent can
    /// hand the step's folders (and a restored cache) to that user.
    pub(super) async fn step_identity(&self, image: &str) -> Result<(u32, u32), ContainerError> {
        let config = self.image_config(image).await?;
        let labelled = config
            .labels
            .as_ref()
            .and_then(|l| l.get(super::docker::LABEL_IMAGE_UID))
            .and_then(|uid| uid.trim().parse::<u32>().ok())
            .map(|uid| (uid, uid));
        let numeric = config.user.as_deref().and_then(|user| {
            let (uid, gid) = user.split_once(':').unwrap_or((user, user));
            Some((uid.parse::<u32>().ok()?, gid.parse::<u32>().ok()?))
        });
        Ok(labelled
            .or(numeric)
            .filter(|(uid, _)| *uid != 0)
            .unwrap_or((super::step::FALLBACK_UID, super::step::FALLBACK_UID)))
    }

    pub(super) async fn run_step_checked(
        &self,
        context: &ContainerContext,
        request: StepRequest,
    ) -> Result<StepOutput, ContainerError> {
        let started = Instant::now();
        let (uid, gid) = self.step_identity(&request.image).await?;
        let scratch = self.settings.step_scratch.clone();
        let checkout = context.workspace.clone();
        let commands = request.commands.clone();
        let dirs = blocking(move || {
            let dirs = StepDirs::prepare(&scratch, &checkout)?;
            dirs.write_script(&commands)?;
            Ok(dirs)
        })
        .await?;
        let dirs = std::sync::Arc::new(dirs);
        let prepared = started.elapsed();

        let cached: Vec<CachedPath> = request
            .cache_paths
            .iter()
            .filter_map(|name| {
                dirs.cache_folder(name).map(|host| CachedPath {
                    name: name.clone(),
                    host,
                    root: dirs.root(),
                })
            })
            .collect();
        let cache = self
            .settings
            .step_cache
            .clone()
            .filter(|_| !cached.is_empty());
        // A pull request writes caches of its own (per head branch) and may read the
        // repository's: what it installs never reaches a push's run (cache poisoning).
        let scope = CacheScope {
            tenant: context.tenant.clone(),
            repository: context.repository.clone(),
            key: own_cache_key(context, &request.cache_key),
        };
        let base = CacheScope {
            key: request.cache_key.clone(),
            ..scope.clone()
        };
        // Only an agent running as root can give folders away; one that is not keeps
        // the open modes (`0777`) as the only way in. A restored cache is the user's too.
        let access = if is_root() {
            let dirs = dirs.clone();
            blocking(move || dirs.hand_over(uid, gid)).await?;
            Access::OwnedBy(uid, gid)
        } else {
            Access::OpenToStep
        };
        let cache_restored = match &cache {
            Some(cache) => {
                let (cache, cached, scope, base) =
                    (cache.clone(), cached.clone(), scope.clone(), base.clone());
                blocking(move || {
                    let restored = cache.restore(&scope, &cached, access).or_else(|| {
                        // Read only: never saved back under the repository's key.
                        (base != scope)
                            .then(|| cache.restore(&base, &cached, access))
                            .flatten()
                    });
                    Ok(restored.map(|copied| copied.bytes))
                })
                .await?
            }
            None => None,
        };
        // What the cached folders hold before the commands, to skip saving them unchanged.
        // Off the async threads: a step decides how many files its folders hold.
        let prints = |cached: Vec<CachedPath>| {
            blocking(move || {
                Ok(cached
                    .iter()
                    .map(|c| step::copy::fingerprint(&c.host))
                    .collect::<Vec<_>>())
            })
        };
        let before = prints(cached.clone()).await?;

        let mut binds = vec![
            format!("{}:/workspace:rw", dirs.workspace().display()),
            format!("{}:/out:rw", context.out.display()),
            format!("{}:/tmp:rw", dirs.tmp().display()),
            format!("{}:{}:rw", dirs.home().display(), step::HOME),
            format!("{}:{}:ro", dirs.script_dir().display(), step::SCRIPT_DIR),
        ];
        // The checkout's git objects live in the agent's mirror: visible read-only at
        // the same path, so `git describe` and friends work in the copy.
        binds.extend(
            dirs.git_alternates
                .iter()
                .map(|dir| format!("{0}:{0}:ro", dir.display())),
        );
        // The needed stages' files, as the agent downloaded and checked them.
        if let Some(inputs) = context.artifacts.as_ref().and_then(|a| a.inputs.as_ref()) {
            binds.push(format!(
                "{}:{}:ro",
                inputs.display(),
                crate::artifacts::MOUNT
            ));
        }
        let env = [
            ("HOME".to_string(), step::HOME.to_string()),
            // The copy belongs to the agent; git would refuse it as another user's.
            ("GIT_CONFIG_COUNT".to_string(), "1".to_string()),
            ("GIT_CONFIG_KEY_0".to_string(), "safe.directory".to_string()),
            ("GIT_CONFIG_VALUE_0".to_string(), "*".to_string()),
        ]
        .into_iter()
        .chain(request.env.iter().cloned())
        .collect();
        let body = self.hardened_body(
            context,
            Launch {
                image: request.image.clone(),
                argv: vec!["/bin/sh".into(), "-e".into(), step::SCRIPT.into()],
                env,
                workdir: "/workspace".into(),
                network: request.network,
                network_name: None,
                binds,
                tmpfs_tmp: false,
                user: Some(format!("{uid}:{gid}")),
            },
        );
        super::docker_body::open_out(context)?;
        let before_run = started.elapsed();
        let ran = if request.services.is_empty() {
            self.run_container(context, body, &request.image, request.timeout_ms)
                .await?
        } else {
            // Started after the step's folders are ready (nothing waits on a service
            // longer than it must), removed before the step's output is read.
            let services = self
                .start_services(context, &request.services, request.network)
                .await?;
            let mut body = body;
            if let Some(host) = body.host_config.as_mut() {
                host.network_mode = Some(services.network.clone());
            }
            body.network_disabled = Some(false);
            let ran = self
                .run_container(context, body, &request.image, request.timeout_ms)
                .await;
            services.remove().await;
            ran?
        };

        let failed_command = (ran.exit_code != 0)
            .then(|| dirs.command_reached())
            .flatten();
        let changed = prints(cached.clone()).await? != before;
        let after_run = started.elapsed();
        // The entry is claimed now (a step that starts next waits for it) and filled
        // off the step's time; the step's folders live until it is.
        let cache_saved = match cache {
            Some(cache) if ran.exit_code == 0 && changed => {
                // Only folders that are still the step's own: one a step turned into a
                // link (to `/`, say) is never read.
                let cached: Vec<CachedPath> = cached
                    .iter()
                    .filter(|c| {
                        let own = dirs.owns(&c.host);
                        if !own && std::fs::symlink_metadata(&c.host).is_ok() {
                            tracing::warn!(path = %c.name, "a cached folder became a link; not saved");
                        }
                        own
                    })
                    .cloned()
                    .collect();
                // Claiming waits for restores of the entry in progress: off the async threads.
                let claimed = {
                    let (cache, scope) = (cache.clone(), scope.clone());
                    blocking(move || Ok(cache.begin_save(&scope))).await?
                };
                match claimed {
                    Ok(saving) => {
                        let keep = dirs.clone();
                        tokio::task::spawn_blocking(move || {
                            if let Err(why) = cache.finish_save(saving, &scope.tenant, &cached) {
                                tracing::warn!(%why, "the step's cache was not saved");
                            }
                            drop(keep);
                        });
                        true
                    }
                    Err(why) => {
                        tracing::warn!(%why, "the step's cache was not saved");
                        false
                    }
                }
            }
            _ => false,
        };
        let (from, out, patterns) = (
            dirs.workspace(),
            context.out.clone(),
            request.collect.clone(),
        );
        let after_save = started.elapsed();
        let collected =
            blocking(move || Ok(step::collect::collect(&from, &out, &patterns))).await?;
        // Said where the plugin and the people reading the log see it.
        let mut stderr = ran.stderr;
        for skipped in &collected.skipped {
            tracing::warn!(%skipped, "a file the step wrote was not collected");
            stderr.push_str(&format!("\nbosun: not collected: {skipped}"));
        }
        if let Some(artifacts) = context.artifacts.clone().filter(|a| !a.keep.is_empty()) {
            let (from, out, secrets) = (
                dirs.workspace(),
                context.out.clone(),
                context.secret_values(),
            );
            let kept =
                blocking(move || Ok(keep_artifacts(&from, &out, &artifacts, &secrets))).await?;
            for skipped in kept.skipped.iter().chain(&kept.over_cap) {
                stderr.push_str(&format!("\nbosun: artifact not kept: {skipped}"));
            }
        }
        // The step's folders go on another thread: a big checkout takes a while.
        tracing::debug!(
            prepare_ms = prepared.as_millis() as u64,
            restore_ms = (before_run - prepared).as_millis() as u64,
            run_ms = (after_run - before_run).as_millis() as u64,
            save_ms = (after_save - after_run).as_millis() as u64,
            collect_ms = (started.elapsed() - after_save).as_millis() as u64,
            "command step phases"
        );
        tokio::task::spawn_blocking(move || drop(dirs));
        Ok(StepOutput {
            exit_code: ran.exit_code,
            failed_command,
            stdout: ran.stdout,
            stderr,
            truncated: ran.truncated,
            duration_ms: started.elapsed().as_millis() as u64,
            cache_restored,
            cache_saved,
            collected: collected.matched,
        })
    }
}

/// Copy the step's artifacts out of its folders (whatever its exit code: a failed
/// step's files help whoever reads why), mask secrets in the text ones, and record
/// what was kept for the agent.
fn keep_artifacts(
    workspace: &std::path::Path,
    out: &std::path::Path,
    artifacts: &crate::artifacts::StepArtifacts,
    secrets: &[String],
) -> crate::artifacts::Kept {
    let kept = crate::artifacts::keep::keep(
        workspace,
        out,
        &artifacts.keep,
        &artifacts.kept,
        artifacts.max_bytes,
        &super::mask::Masker::new(secrets),
    );
    super::mask::mask_folder(&artifacts.kept, secrets);
    artifacts.record(kept.clone());
    kept
}

/// Run file-system work off the async threads; its error fails the step.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ContainerError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ContainerError::Failed(format!("step preparation stopped: {e}")))?
        .map_err(ContainerError::Failed)
}

/// The cache key a step saves under: the plugin's, or for a pull request one of its
/// own (per head branch, which for a fork names the fork).
fn own_cache_key(context: &ContainerContext, key: &str) -> String {
    if context.event == "pull_request" {
        format!("pull_request\0{}\0{key}", context.branch)
    } else {
        key.to_string()
    }
}

/// Whether the agent runs as root (`/proc/self` belongs to the process's user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
