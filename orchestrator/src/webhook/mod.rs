//! GitHub webhooks: signature verification and event parsing.
//!
//! The server calls [`verify_signature`] on the raw body first and answers 401 when it
//! fails; only a verified body reaches [`parse_event`], whose errors are answered 400.
//! Nothing here touches the network or the run store.

mod event;
mod payload;
mod pull_request;
mod push;
mod signature;

pub use event::{EventError, EventOptions, Trigger, WebhookEvent, parse_event};
pub use signature::{SIGNATURE_HEADER, SignatureError, verify_signature};
