//! Per-call store data: WASI context, resource limits, log sink and container access.

use crate::bindings::bosun::agent::{containers, log, types};
use crate::bindings::{
    ContainerError, ContainerOutput, ContainerRequest, ImageBuildOutput, ImageBuildRequest, Level,
    StepOutput, StepRequest,
};
use crate::capabilities::containers::{
    ContainerContext, ContainerRunner, check_build, check_request, mask_output,
};
use crate::capabilities::image_push::check_image_push;
use crate::capabilities::log::LogSink;
use bosun_bus::LogLevel;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The plugin asked for more linear memory than its limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (asked for {requested} bytes)")]
pub struct MemoryLimitExceeded {
    /// The limit in force.
    pub limit: usize,
    /// What the plugin tried to grow to.
    pub requested: usize,
}

/// Memory and table limits; a refused growth becomes a trap carrying
/// [`MemoryLimitExceeded`], so the host can name the cause.
pub struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
}

impl Limiter {
    /// Limits for one call.
    pub fn new(memory_bytes: usize, table_elements: usize, instances: usize) -> Limiter {
        Limiter {
            memory_bytes,
            table_elements,
            instances,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.memory_bytes,
                requested: desired,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

/// What a plugin's store holds for the duration of one call.
pub struct PluginState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) logs: LogSink,
    pub(crate) containers: Option<ContainerAccess>,
}

/// The `containers` grant of a stage call.
pub struct ContainerAccess {
    /// The runner executing checked requests.
    pub runner: Arc<dyn ContainerRunner>,
    /// Who is asking.
    pub context: ContainerContext,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for PluginState {}

impl log::Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.logs.push(level, "log", &message);
        Ok(())
    }
}

impl containers::Host for PluginState {
    #[tracing::instrument(skip_all, fields(image = %request.image))]
    async fn run(
        &mut self,
        request: ContainerRequest,
    ) -> wasmtime::Result<Result<ContainerOutput, ContainerError>> {
        let Some(access) = &self.containers else {
            // Only stage plugins are linked with this import; reaching here means a
            // policy or notifier call was wired wrongly, which is a host fault.
            return Err(wasmtime::format_err!(
                "containers capability is not granted to this plugin kind"
            ));
        };
        let registry = access.runner.image_registry();
        let request = match check_request(&access.context, request).and_then(|request| {
            check_image_push(&access.context, &request, registry.as_deref()).map(|()| request)
        }) {
            Ok(request) => request,
            Err(denied) => {
                tracing::warn!(?denied, "container request refused");
                return Ok(Err(denied));
            }
        };
        let argv0 = request.argv.first().cloned().unwrap_or_default();
        let result = access.runner.run(&access.context, request).await;
        match &result {
            Ok(out) => tracing::info!(
                tool = %argv0,
                exit_code = out.exit_code,
                duration_ms = out.duration_ms,
                "container finished"
            ),
            Err(e) => tracing::warn!(tool = %argv0, error = ?e, "container failed"),
        }
        let secrets = access.context.secret_values();
        // Reports a tool wrote to /out are masked before the plugin reads them.
        crate::capabilities::mask::mask_folder(&access.context.out, &secrets);
        Ok(result.map(|out| mask_output(out, &secrets)))
    }

    #[tracing::instrument(skip_all, fields(image = %request.image))]
    async fn run_step(
        &mut self,
        request: StepRequest,
    ) -> wasmtime::Result<Result<StepOutput, ContainerError>> {
        let Some(access) = &self.containers else {
            return Err(wasmtime::format_err!(
                "containers capability is not granted to this plugin kind"
            ));
        };
        let request = match crate::capabilities::step::check_step(&access.context, request) {
            Ok(request) => request,
            Err(denied) => {
                tracing::warn!(?denied, "command step refused");
                return Ok(Err(denied));
            }
        };
        let commands = request.commands.len();
        let result = access.runner.run_step(&access.context, request).await;
        match &result {
            Ok(out) => tracing::info!(
                commands,
                exit_code = out.exit_code,
                failed_command = ?out.failed_command,
                duration_ms = out.duration_ms,
                cache_restored = ?out.cache_restored,
                cache_saved = out.cache_saved,
                "command step finished"
            ),
            Err(e) => tracing::warn!(error = ?e, "command step failed"),
        }
        let secrets = access.context.secret_values();
        // Reports the commands wrote are masked before the plugin reads them.
        crate::capabilities::mask::mask_folder(&access.context.out, &secrets);
        Ok(result.map(|mut out| {
            out.stdout = crate::capabilities::log::mask_secrets(&out.stdout, &secrets);
            out.stderr = crate::capabilities::log::mask_secrets(&out.stderr, &secrets);
            out
        }))
    }

    #[tracing::instrument(skip_all, fields(repository = %request.repository))]
    async fn build_image(
        &mut self,
        request: ImageBuildRequest,
    ) -> wasmtime::Result<Result<ImageBuildOutput, ContainerError>> {
        let Some(access) = &self.containers else {
            return Err(wasmtime::format_err!(
                "containers capability is not granted to this plugin kind"
            ));
        };
        let push_asked = request.push;
        let request = match check_build(&access.context, request) {
            Ok(request) if push_asked && !request.push => {
                self.logs.push(
                    LogLevel::Warn,
                    "host",
                    "image push withheld: this run may not push images (pull requests never do); the image is built only",
                );
                request
            }
            Ok(request) => request,
            Err(denied) => {
                tracing::warn!(?denied, "image build refused");
                return Ok(Err(denied));
            }
        };
        let result = access.runner.build_image(&access.context, request).await;
        match &result {
            Ok(out) => {
                tracing::info!(digest = ?out.digest, references = ?out.references, "image built")
            }
            Err(e) => tracing::warn!(error = ?e, "image build failed"),
        }
        let secrets = access.context.secret_values();
        Ok(result.map(|mut out| {
            out.log = crate::capabilities::log::mask_secrets(&out.log, &secrets);
            out
        }))
    }
}
