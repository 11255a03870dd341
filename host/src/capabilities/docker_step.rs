//! Command steps on the Docker Engine: the step's private folders mounted over the
//! usual hardened container, the cache restored before and saved after, the reports
//! collected into `/out`.

use super::containers::ContainerContext;
use super::docker::{DockerRunner, Launch};
use super::step::cache::{CacheScope, CachedPath};
use super::step::{self, StepDirs};
use crate::bindings::{ContainerError, StepOutput, StepRequest};
use std::time::Instant;

impl DockerRunner {
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

        let cached: Vec<CachedPath> = request
            .cache_paths
            .iter()
            .filter_map(|name| {
                dirs.cache_folder(name).map(|host| CachedPath {
                    name: name.clone(),
                    host,
                })
            })
            .collect();
        let cache = self
            .settings
            .step_cache
            .clone()
            .filter(|_| !cached.is_empty());
        let (tenant, repository, key) = (
            context.tenant.clone(),
            context.repository.clone(),
            request.cache_key.clone(),
        );
        let cache_restored = match &cache {
            Some(cache) => {
                let (cache, cached, tenant, repository, key) = (
                    cache.clone(),
                    cached.clone(),
                    tenant.clone(),
                    repository.clone(),
                    key.clone(),
                );
                blocking(move || {
                    let scope = CacheScope {
                        tenant: &tenant,
                        repository: &repository,
                        key: &key,
                    };
                    Ok(cache.restore(&scope, &cached).map(|copied| copied.bytes))
                })
                .await?
            }
            None => None,
        };
        // Only an agent running as root can give folders away; one that is not keeps
        // the open modes (`0777`) as the only way in.
        if is_root() {
            let dirs = dirs.clone();
            blocking(move || dirs.hand_over(uid, gid)).await?;
        }
        // What the cached folders hold before the commands, to skip saving them unchanged.
        let before: Vec<_> = cached
            .iter()
            .map(|c| step::copy::measure(&c.host))
            .collect();

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
                binds,
                tmpfs_tmp: false,
                user: Some(format!("{uid}:{gid}")),
            },
        );
        std::fs::set_permissions(
            &context.out,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .map_err(|e| ContainerError::Failed(format!("preparing the output folder: {e}")))?;
        let ran = self
            .run_container(context, body, &request.image, request.timeout_ms)
            .await?;

        let failed_command = (ran.exit_code != 0)
            .then(|| dirs.command_reached())
            .flatten();
        let changed = cached
            .iter()
            .zip(&before)
            .any(|(c, before)| step::copy::measure(&c.host) != *before);
        let cache_saved = match cache {
            Some(cache) if ran.exit_code == 0 && changed => {
                let cached = cached.clone();
                let saved = blocking(move || {
                    let scope = CacheScope {
                        tenant: &tenant,
                        repository: &repository,
                        key: &key,
                    };
                    Ok(cache.save(&scope, &cached))
                })
                .await?;
                match saved {
                    Ok(_) => true,
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
        let collected =
            blocking(move || Ok(step::collect::collect(&from, &out, &patterns))).await?;
        // Said where the plugin and the people reading the log see it.
        let mut stderr = ran.stderr;
        for skipped in &collected.skipped {
            tracing::warn!(%skipped, "a file the step wrote was not collected");
            stderr.push_str(&format!("\nbosun: not collected: {skipped}"));
        }
        // The step's folders go on another thread: a big checkout takes a while.
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

/// Run file-system work off the async threads; its error fails the step.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ContainerError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ContainerError::Failed(format!("step preparation stopped: {e}")))?
        .map_err(ContainerError::Failed)
}

/// Whether the agent runs as root (`/proc/self` belongs to the process's user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
