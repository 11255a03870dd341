//! Helpers shared by Bosun's integration tests, one copy each: git repositories and a
//! git server over HTTP, local HTTP receivers (feature `receiver`), webhook signing
//! (feature `webhook`), the test SMTP server and its delivered mail (feature `mail`), copies of the sample repositories, `assert_contains`, and the
//! rule for a service a test needs but cannot find.
//!
//! Everything here fails the test it runs in by panicking, with a message naming what
//! went wrong: these are test helpers, never linked into Bosun itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod assert;
pub mod git;
pub mod git_http;
#[cfg(feature = "receiver")]
pub mod github_shapes;
#[cfg(feature = "mail")]
pub mod mail;
#[cfg(feature = "receiver")]
pub mod receiver;
pub mod sample;
pub mod services;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use assert::assert_contains;
pub use git::{commit_all, git, git_repo};
pub use git_http::{serve_git, serve_private_git};
#[cfg(feature = "mail")]
pub use mail::{DeliveredMail, TestSmtp, delivered_to, unique_recipient, wait_for_mail};
#[cfg(feature = "receiver")]
pub use receiver::{Receiver, Recorded, Reply, closed_port_url};
pub use sample::{copy_sample, python_sample, workspace_root};
pub use services::{missing_service, service_var};
#[cfg(feature = "webhook")]
pub use webhook::sign;
