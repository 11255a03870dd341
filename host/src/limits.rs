//! Sandbox limits applied to every plugin call, with defaults sized for CI stages.

use std::time::Duration;

/// Limits for one plugin call. Every field bounds something a hostile plugin could abuse.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Wall-clock deadline for one call (`run`, `evaluate`, `format`).
    pub deadline: Duration,
    /// Largest linear memory a plugin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Largest table a plugin may grow to, in elements.
    pub table_elements: usize,
    /// Most core instances, tables and memories a plugin may create.
    pub instances: usize,
    /// Largest wasm stack, in bytes; deeper recursion traps with a stack overflow.
    pub max_wasm_stack: usize,
    /// Fuel per call when fuel metering is on (`None`: no fuel metering).
    pub fuel: Option<u64>,
    /// Longest single log line kept, in bytes.
    pub log_line_bytes: usize,
    /// Total log bytes (log calls, stdout, stderr) kept per call.
    pub log_total_bytes: usize,
    /// Caps applied to a returned report.
    pub report: ReportCaps,
}

/// How much of a returned report the host keeps.
#[derive(Debug, Clone)]
pub struct ReportCaps {
    /// Longest summary or message, in bytes.
    pub text_bytes: usize,
    /// Most findings kept.
    pub findings: usize,
    /// Most test failures kept.
    pub test_failures: usize,
    /// Most artifacts and metrics kept (each).
    pub entries: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            deadline: Duration::from_secs(15 * 60),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 64,
            max_wasm_stack: 512 << 10,
            fuel: None,
            log_line_bytes: 8 << 10,
            log_total_bytes: 1 << 20,
            report: ReportCaps::default(),
        }
    }
}

impl Default for ReportCaps {
    fn default() -> Self {
        ReportCaps {
            text_bytes: 16 << 10,
            findings: 5_000,
            test_failures: 1_000,
            entries: 200,
        }
    }
}
