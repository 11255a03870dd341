//! GitHub webhooks: signature verification and event parsing.
//!
//! The server calls [`verify_signature`] on the raw body first and answers 401 when it
//! fails; only a verified body reaches [`parse_event`], whose errors are answered 400.
//! Nothing here touches the network or the run store.

mod checks;
mod dispatch;
mod fields;
mod payload;
mod pull_request;
mod push;
mod signature;
mod types;

pub use dispatch::parse_event;
pub use signature::{SIGNATURE_HEADER, SignatureError, verify_signature};
pub use types::{EventError, EventOptions, RerunAsk, RerunTarget, Trigger, WebhookEvent};
