//! The one wasmtime `Engine` an agent host uses: pooling allocator, epochs, stack limits.
//!
//! Why calls cost what they cost is in BENCHMARKS.md ("The sandbox tax on parsing").

use crate::limits::SandboxLimits;
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch ticker advances; the deadline check runs at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings that shape the engine (and so the compiled-artifact cache key).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Per-call sandbox limits; the memory and stack limits are baked into the engine.
    pub limits: SandboxLimits,
    /// Plugin instances that may be alive at once (sizes the pooling allocator).
    pub max_concurrent_instances: u32,
    /// Use the pooling allocator (falls back to on-demand when it cannot reserve memory).
    pub pooling: bool,
    /// Bytes of a pool slot's linear memory kept mapped after a call, reset to their
    /// initial contents page by page (Linux 6.7+ `PAGEMAP_SCAN`), so the next call in
    /// that slot takes no page faults for them. Each slot may hold this much resident
    /// memory between calls; 0 (or an older kernel) unmaps it all after every call.
    pub memory_keep_resident: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            limits: SandboxLimits::default(),
            max_concurrent_instances: 64,
            pooling: true,
            memory_keep_resident: 64 << 20,
        }
    }
}

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Pre-reserved slots: the fast path.
    Pooling,
    /// mmap per instance, used when the pool could not be reserved (say, a small
    /// `ulimit -v`); the reason is kept for logs and `plugin list`.
    OnDemand {
        /// Why pooling was not used.
        reason: String,
    },
}

/// An engine plus how it was built.
#[derive(Clone)]
pub struct HostEngine {
    /// The engine; cheap to clone.
    pub engine: Engine,
    /// The allocator in use.
    pub allocator: AllocatorKind,
    /// The settings it was built with.
    pub settings: EngineSettings,
}

fn base_config(settings: &EngineSettings) -> Config {
    let limits = &settings.limits;
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    config.max_wasm_stack(limits.max_wasm_stack);
    // Host frames (WASI, capabilities) run on the same fiber stack as the guest.
    config.async_stack_size(limits.max_wasm_stack + (1 << 20));
    config
}

fn pooling_config(settings: &EngineSettings) -> PoolingAllocationConfig {
    let limits = &settings.limits;
    let instances = settings.max_concurrent_instances.max(1);
    // A Rust component holds a few core instances, memories and tables (the program
    // plus WASI adapter shims).
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        .max_memory_size(limits.memory_bytes)
        .table_elements(limits.table_elements)
        // Reset tables and fiber stacks with memset instead of madvise: re-faulting
        // decommitted pages and the TLB shootdowns of madvise were the largest cost of a
        // trivial call (profiled). Linear memory is kept only with the page scan below:
        // without it the whole first MiB (a Rust plugin's stack sits at its top) is
        // memset per call, which costs more than the faults it saves (measured).
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(128 << 10)
        // Batch the decommits that remain, instead of one syscall per slot.
        .decommit_batch_size(16);
    // A plugin parsing a 15 MB report touches ~60 MiB of fresh memory; unmapped after
    // every call, that was 16,000 page faults per call (native code reuses its heap and
    // takes none), 10-15% of the call. With the kernel's scan of written pages only
    // those are reset (zeroed or restored from the module's image, as a fresh slot
    // would be), so a trivial call also stops paying for its first MiB (profiled).
    if settings.memory_keep_resident > 0 && PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.linear_memory_keep_resident(settings.memory_keep_resident)
            .pagemap_scan(Enabled::Yes);
    }
    pool
}

impl HostEngine {
    /// Build the engine with the pooling allocator, or on-demand allocation when the
    /// pool cannot be reserved (the address space is too small) or pooling is off.
    pub fn new(settings: EngineSettings) -> wasmtime::Result<HostEngine> {
        Self::with_pool(settings.clone(), pooling_config(&settings))
    }

    /// Like [`HostEngine::new`] with an explicit pool layout (tests use this to force
    /// the fallback).
    pub fn with_pool(
        settings: EngineSettings,
        pool: PoolingAllocationConfig,
    ) -> wasmtime::Result<HostEngine> {
        let reason = if settings.pooling {
            let mut config = base_config(&settings);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            match Engine::new(&config) {
                Ok(engine) => {
                    start_epoch_ticker(&engine);
                    return Ok(HostEngine {
                        engine,
                        allocator: AllocatorKind::Pooling,
                        settings,
                    });
                }
                Err(e) => format!("pooling allocator unavailable: {e:#}"),
            }
        } else {
            "pooling disabled in settings".to_string()
        };
        tracing::warn!(%reason, "using on-demand instance allocation");
        let mut config = base_config(&settings);
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine);
        Ok(HostEngine {
            engine,
            allocator: AllocatorKind::OnDemand { reason },
            settings,
        })
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`] until the engine is dropped, so a
/// plugin stuck in a loop reaches its deadline check.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("bosun-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without a ticker, deadlines are still enforced by the async timeout around
        // each call; only pure-compute loops lose their interruption point.
        tracing::error!(error = %e, "could not start the epoch ticker thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_engine_builds_with_defaults() {
        let engine = HostEngine::new(EngineSettings::default()).unwrap();
        assert_eq!(engine.allocator, AllocatorKind::Pooling);
    }

    #[test]
    fn pool_too_large_falls_back_to_on_demand() {
        let settings = EngineSettings::default();
        let mut pool = pooling_config(&settings);
        // Far more slots than any address space can reserve.
        pool.total_memories(u32::MAX)
            .total_component_instances(u32::MAX);
        let engine = HostEngine::with_pool(settings, pool).unwrap();
        match engine.allocator {
            AllocatorKind::OnDemand { reason } => {
                assert!(reason.contains("pooling allocator unavailable"), "{reason}")
            }
            AllocatorKind::Pooling => panic!("expected the on-demand fallback"),
        }
    }
}
