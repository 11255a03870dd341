//! Git for Bosun, one copy for the orchestrator and the agents: the checks a clone URL,
//! a commit and a token pass before git sees them ([`refs`]), and, with the `mirror`
//! feature, the per-repository bare mirrors both fetch into ([`Mirrors`]).
//!
//! Git always runs with argv only, never through a shell, with prompts off; a token
//! reaches it only through the environment.

mod error;
pub mod refs;

#[cfg(feature = "mirror")]
mod command;
#[cfg(feature = "mirror")]
mod mirror;

pub use error::GitError;
#[cfg(feature = "mirror")]
pub use mirror::{Mirror, Mirrors};
