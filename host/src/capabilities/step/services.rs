//! The checks on a command step's services that do not depend on the runner: names the
//! step can resolve, images named, bounded argv and deadlines, and the same environment
//! rules (and secret references) as the step's own.

use super::super::containers::{ContainerContext, check_env_and_network};
use crate::bindings::{ContainerError, StepService};

/// Most services one step may start.
pub const MAX_SERVICES: usize = 8;
/// Longest readiness deadline a service may ask for.
pub const MAX_READY_MS: u32 = 10 * 60 * 1000;
const MAX_ARGS: usize = 64;
const MAX_ARG_BYTES: usize = 4 << 10;

/// Refuse services no runner may start; resolve secret references in their environment.
pub fn check_services(
    context: &ContainerContext,
    services: &mut [StepService],
    network: bool,
) -> Result<(), ContainerError> {
    let denied = |why: String| Err(ContainerError::Denied(why));
    if services.len() > MAX_SERVICES {
        return denied(format!(
            "{} services; a step starts at most {MAX_SERVICES}",
            services.len()
        ));
    }
    // The network a step shares with its services reaches the agent's host (an
    // internal bridge still routes to the host's other addresses): only a step granted
    // network may have one.
    if !services.is_empty() && !network {
        return denied(format!(
            "services need network, and stage {} of tenant {} asks for none: add 'network: true', granted by the tenant's network_stages",
            context.stage, context.tenant
        ));
    }
    let mut seen = Vec::new();
    for service in services.iter_mut() {
        if !host_name(&service.name) {
            return denied(format!(
                "service name {:?} is not a host name (lowercase letters, digits and '-', at most 63)",
                service.name
            ));
        }
        if seen.contains(&service.name) {
            return denied(format!("two services are named {:?}", service.name));
        }
        seen.push(service.name.clone());
        if service.image.trim().is_empty() || service.image.contains('\0') {
            return denied(format!("service {} names no image", service.name));
        }
        if service.command.len() > MAX_ARGS
            || service
                .command
                .iter()
                .any(|arg| arg.contains('\0') || arg.len() > MAX_ARG_BYTES)
        {
            return denied(format!(
                "service {}: its command has more than {MAX_ARGS} arguments, one over {} KiB, or a NUL byte",
                service.name,
                MAX_ARG_BYTES >> 10
            ));
        }
        if service
            .ready_command
            .as_deref()
            .is_some_and(|c| c.trim().is_empty() || c.contains('\0'))
        {
            return denied(format!(
                "service {}: its readiness command is empty or has a NUL byte",
                service.name
            ));
        }
        if service.ready_tcp == Some(0) {
            return denied(format!(
                "service {}: port 0 cannot be checked",
                service.name
            ));
        }
        service.ready_timeout_ms = service.ready_timeout_ms.clamp(1_000, MAX_READY_MS);
        check_env_and_network(context, &mut service.env, network)?;
    }
    Ok(())
}

fn host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}
