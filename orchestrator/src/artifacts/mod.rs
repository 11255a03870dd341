//! The files command steps keep: the tokens that let one attempt upload its own files
//! and read those of the stages it needs (`token.rs`), the folder that holds their
//! bytes by content digest (`blobs.rs`), and a kept file as a download (`serve.rs`).
//! The rows that name them are in the run store (`store/artifacts.rs`); the HTTP side
//! is `server/artifacts.rs`.

mod blobs;
pub mod serve;
mod token;

pub use blobs::{Blobs, ReceiveError, Received};
pub use token::{TokenError, TokenScope};
