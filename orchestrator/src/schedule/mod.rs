//! Schedules: runs a tenant's settings start by the clock, as `schedule` events on a
//! branch's head commit.
//!
//! `timing.rs` says when a cron pattern fires in a time zone (and that ticks missed
//! while the orchestrator was down fire once); `table.rs` is what the service's owner
//! task watches: each schedule's last tick, when it is next due, and which are being
//! fired. The settings (`settings/schedule.rs`) check every schedule at load, the run
//! store keeps each one's last tick (`store/schedules.rs`), and the service fires them
//! through the same trigger path as a webhook (`service/schedules.rs`).

mod table;
mod timing;

pub use table::{Due, Poll, Schedules};
pub use timing::{Timing, TimingError, parse_zone};
