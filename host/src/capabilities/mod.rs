//! Host capabilities granted to plugins: one module per WIT import.

pub mod containers;
pub mod log;
pub mod stdio;
