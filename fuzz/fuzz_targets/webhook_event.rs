//! Fuzzes `bosun_orchestrator::webhook::parse_event` on arbitrary delivery bodies.
//!
//! The first byte picks the `X-GitHub-Event` name: `push`, `pull_request`, `ping`, or
//! (any other value) an arbitrary name read from the input up to the first newline.
//! The rest is the body. Each body is parsed with the default `EventOptions` and with
//! `build_tags` (and `build_deletions`) on; neither may panic.
#![no_main]

use bosun_orchestrator::webhook::{EventOptions, WebhookEvent, parse_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (event, body): (String, &[u8]) = match selector % 4 {
        0 => ("push".into(), rest),
        1 => ("pull_request".into(), rest),
        2 => ("ping".into(), rest),
        _ => match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (
                String::from_utf8_lossy(&rest[..end]).into_owned(),
                &rest[end + 1..],
            ),
            None => (String::from_utf8_lossy(rest).into_owned(), &[][..]),
        },
    };
    let options = [
        EventOptions::default(),
        EventOptions {
            build_tags: true,
            ..EventOptions::default()
        },
        EventOptions {
            build_tags: true,
            build_deletions: true,
        },
    ];
    for options in &options {
        match parse_event(&event, body, options) {
            Ok(WebhookEvent::Trigger(trigger)) => {
                // A tag is only ever reported when tag builds are on.
                if !options.build_tags {
                    assert!(trigger.tag.is_none(), "tag trigger with build_tags off");
                }
                let _ = format!("{trigger:?}");
            }
            Ok(other) => {
                let _ = format!("{other:?}");
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
});
