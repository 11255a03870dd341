//! A group member killed with SIGKILL while it holds a delivery: the broker expires it
//! after the session timeout and the surviving member receives the unsettled record.
//!
//! The doomed member runs in a child process (this same test, re-run with the topic and
//! group in its environment), so the kill is a real one: no LeaveGroup, no commit, no
//! close.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bosun_bus::{Bus, Subscription};
use common::{broker, bus, unique};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_TOPIC: &str = "BOSUN_KILL_TEST_TOPIC";
const CHILD_GROUP: &str = "BOSUN_KILL_TEST_GROUP";

/// The child's side: join the group, say when it owns partitions, take one delivery,
/// say which, and hold it until killed.
async fn doomed_member(topic: String, group: String) {
    let Some(address) = broker() else { return };
    let bus = bus(&address, 2, std::slice::from_ref(&topic)).await;
    let mut member = bus
        .subscribe_kafka(&group, std::slice::from_ref(&topic))
        .await
        .unwrap();
    let started = Instant::now();
    while member.assignment().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never assigned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("CHILD-ASSIGNED {}", member.assignment().len());
    let delivery = member.next().await.unwrap();
    println!(
        "CHILD-HELD {}",
        String::from_utf8_lossy(&delivery.record.payload)
    );
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn kafka_killed_member_record_redelivered_to_survivor() {
    // Re-run by itself as the child process: be the member that gets killed.
    if let (Ok(topic), Ok(group)) = (std::env::var(CHILD_TOPIC), std::env::var(CHILD_GROUP)) {
        return doomed_member(topic, group).await;
    }
    let Some(address) = broker() else { return };
    let topic = unique("agent.test");
    let group = unique("bosun-agent-test");
    let bus = bus(&address, 2, std::slice::from_ref(&topic)).await;
    let mut survivor = bus
        .subscribe_kafka(&group, std::slice::from_ref(&topic))
        .await
        .unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kafka_killed_member_record_redelivered_to_survivor",
            "--nocapture",
        ])
        .env(CHILD_TOPIC, &topic)
        .env(CHILD_GROUP, &group)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut expect = async |prefix: &str| -> String {
        let deadline = Duration::from_secs(90);
        tokio::time::timeout(deadline, async {
            loop {
                let line = lines.recv().await.expect("child output ended");
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_string();
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("child never printed {prefix}"))
    };
    expect("CHILD-ASSIGNED").await;
    let settled = Instant::now();
    while survivor.assignment().len() != 1 {
        assert!(
            settled.elapsed() < Duration::from_secs(60),
            "the group never split the two partitions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Publish until the child holds one record; the survivor settles the ones it gets.
    let mut held = None;
    for i in 0..40 {
        bus.publish(
            &topic,
            &format!("run-{i}"),
            format!("task-{i}").into_bytes(),
        )
        .await
        .unwrap();
        if let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(300), survivor.next())
            .await
            .map(Some)
        {
            survivor.ack(&d).await.unwrap();
        }
        if let Ok(Ok(line)) = tokio::time::timeout(Duration::from_millis(50), async {
            loop {
                match lines.try_recv() {
                    Ok(l) if l.starts_with("CHILD-HELD") => return Ok(l),
                    Ok(_) => {}
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                        tokio::time::sleep(Duration::from_millis(10)).await
                    }
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        {
            held = line
                .strip_prefix("CHILD-HELD")
                .map(|s| s.trim().to_string());
            break;
        }
    }
    let held = held.expect("the child took a record");

    // SIGKILL: no LeaveGroup, nothing committed.
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let redelivered = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let d = survivor.next().await.unwrap();
            survivor.ack(&d).await.unwrap();
            if d.record.payload == held.as_bytes() {
                return d;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{held} was not redelivered within 90 s of the kill; survivor owns {:?}",
            survivor.assignment()
        )
    });
    eprintln!(
        "redelivered {held} {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(redelivered.record.key, held.replace("task", "run"));
}
