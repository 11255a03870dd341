//! Schedules end to end: a real orchestrator over SQLite, a real git repository served
//! over HTTP and a clock the test moves ahead. A schedule fires once after a downtime
//! that spanned several of its ticks, builds the branch's head as it is then, with the
//! `schedule` event its stages' `when` sees, and fires again on its next tick.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use bosun_bus::Outcome;
use bosun_orchestrator::service::{Clock, ServiceOptions};
use bosun_orchestrator::settings::{ScheduleSettings, ServerSettings};
use harness::*;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PIPELINE: &str = "pipeline:
  stages:
    - name: lint
    - name: nightly
      when: { events: [schedule] }
    - name: deploy
      when: { events: [push] }
";

const DAY_MS: u64 = 24 * 3_600_000;

fn scheduled_settings(path: &Path, clone_url: &str) -> ServerSettings {
    let mut acme = tenant("acme");
    acme.time_zone = Some("Europe/Paris".into());
    acme.schedules = vec![ScheduleSettings {
        repository: Some("acme/shop".into()),
        clone_url: Some(clone_url.into()),
        branch: Some("main".into()),
        cron: Some("0 3 * * *".into()),
        default_branch: None,
    }];
    settings(path, vec![acme])
}

/// Unix milliseconds of a wall-clock time in Paris.
fn paris(month: i8, day: i8, hour: i8) -> u64 {
    let zone = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    let at = jiff::civil::date(2025, month, day).at(hour, 0, 0, 0);
    zone.to_zoned(at).unwrap().timestamp().as_millisecond() as u64
}

/// The test's clock: it starts at noon in Paris two days before the clocks go forward
/// (2025-03-30), runs at the system's pace, and jumps when the test says.
#[derive(Clone)]
struct TestClock {
    started: Instant,
    ahead: Arc<AtomicU64>,
}

impl TestClock {
    fn new() -> TestClock {
        TestClock {
            started: Instant::now(),
            ahead: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now(&self) -> u64 {
        paris(3, 28, 12)
            + self.started.elapsed().as_millis() as u64
            + self.ahead.load(Ordering::SeqCst)
    }

    fn jump(&self, ms: u64) {
        self.ahead.fetch_add(ms, Ordering::SeqCst);
    }

    fn clock(&self) -> Clock {
        let this = self.clone();
        Clock::from_fn(move || this.now())
    }
}

/// A server on the test's clock.
async fn start(settings: ServerSettings, clock: &TestClock) -> Server {
    let options = ServiceOptions {
        clock: clock.clock(),
        ..ServiceOptions::default()
    };
    Server::start_with(settings, bosun_bus::MemoryBus::new(), options).await
}

fn runs(server: &Server) -> Vec<bosun_orchestrator::store::RunRow> {
    server.store().list_runs(&Default::default()).unwrap()
}

#[tokio::test]
async fn schedule_fires_once_after_a_downtime_on_the_branch_head() {
    let (_dir, path) = temp();
    let repo = path.join("shop");
    let (_, first_sha) = git_repo(&repo, &[(".bosun.yml", PIPELINE)]);
    let clone_url = serve_git(&repo, "acme/shop");
    let clock = TestClock::new();

    // First start: the schedule is seen and marked; nothing of the past fires.
    let server = start(scheduled_settings(&path, &clone_url), &clock).await;
    let seen = eventually(Duration::from_secs(10), || {
        server.store().schedule_marks().unwrap().len() == 1
    })
    .await;
    assert!(seen, "the schedule is marked when first seen");
    let mark = server.store().schedule_marks().unwrap().remove(0);
    assert_eq!(mark.key, "acme/shop@main 0 3 * * *");
    assert_eq!(mark.run_id, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(runs(&server).is_empty(), "no tick has come yet");
    server.kill().await;

    // While it is down, main moves on, and three nights pass (the 29th, the 30th when
    // the clocks go forward, and the 31st).
    std::fs::write(repo.join("CHANGELOG.md"), "nightly fix\n").unwrap();
    git(&repo, &["add", "--all"]);
    git(&repo, &["commit", "--quiet", "-m", "nightly fix"]);
    git(&repo, &["update-server-info"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_ne!(head, first_sha);
    clock.jump(3 * DAY_MS);

    let server = start(scheduled_settings(&path, &clone_url), &clock).await;
    let agent = stand_in_agent(&server.bus, &["lint", "nightly", "deploy"], |_| {
        report(Outcome::Success, "ok")
    });
    let fired = eventually(Duration::from_secs(15), || runs(&server).len() == 1).await;
    assert!(fired, "the schedule fired after the downtime");
    let run_id = runs(&server)[0].id.clone();
    wait_for(&server, &run_id, "success").await;
    // Ticks go on for a while: the missed nights do not fire again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs(&server).len(), 1, "one run, not one per missed night");

    let run = server.store().run(&run_id).unwrap().unwrap();
    let trigger = &run.trigger;
    assert_eq!(trigger.event, "schedule");
    assert_eq!(trigger.commit, head, "the branch head at firing time");
    assert_eq!(
        (trigger.branch.as_str(), trigger.default_branch.as_str()),
        ("main", "main")
    );
    assert_eq!(trigger.repository, "acme/shop");
    assert!(!trigger.fork && trigger.pull_request.is_none());
    let state = |name: &str| format!("{:?}", run.stage(name).unwrap().state);
    assert_eq!(state("lint"), "Success");
    assert_eq!(
        state("nightly"),
        "Success",
        "`when: events: [schedule]` matched"
    );
    assert_eq!(state("deploy"), "Skipped", "`when: events: [push]` did not");
    let mut tasks = agent.lock().unwrap().clone();
    tasks.sort();
    assert_eq!(tasks.len(), 2, "{tasks:?}");

    let mark = server.store().schedule_marks().unwrap().remove(0);
    assert_eq!(mark.run_id.as_deref(), Some(run_id.as_str()));
    assert_eq!(
        mark.last_slot_ms,
        paris(3, 31, 3),
        "the latest night's tick"
    );
    assert!(clock.now() > paris(3, 31, 12));
    server.kill().await;

    // Restarted at the same time: the tick is marked, so nothing fires again.
    let server = start(scheduled_settings(&path, &clone_url), &clock).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs(&server).len(), 1, "a restart does not repeat the tick");

    // The next night fires again.
    clock.jump(DAY_MS);
    let _agent = stand_in_agent(&server.bus, &["lint", "nightly", "deploy"], |_| {
        report(Outcome::Success, "ok")
    });
    let next = eventually(Duration::from_secs(15), || runs(&server).len() == 2).await;
    assert!(next, "the next night fires");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs(&server).len(), 2);
    let marks = server.store().schedule_marks().unwrap();
    assert_eq!(marks[0].last_slot_ms, paris(4, 1, 3));
    server.kill().await;
}
