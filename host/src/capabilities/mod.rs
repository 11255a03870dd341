//! Host capabilities granted to plugins: one module per WIT import.

pub mod containers;
pub mod docker;
mod docker_body;
mod docker_services;
mod docker_step;
pub mod image_build;
pub mod image_push;
pub mod log;
pub mod mask;
pub mod process;
pub mod stdio;
pub mod step;
pub mod tool_lines;
