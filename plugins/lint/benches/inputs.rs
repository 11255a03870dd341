//! The large lint reports the benches parse, in the tools' real formats: the lint
//! crate's captured pylint and eslint samples repeated, each copy on lines of its own.
//! Included by the lint crate's `parse` bench and the host's `plugin_host` bench
//! (`#[path]`), so both time the same input.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;

/// A captured sample; found from either crate (the host's manifest is a sibling).
fn fixture(name: &str) -> Vec<u8> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lint = if here.ends_with("host") {
        here.join("../plugins/lint")
    } else {
        here.to_path_buf()
    };
    std::fs::read(lint.join("tests/fixtures").join(name)).unwrap()
}

/// `count` pylint messages: the captured samples repeated, each copy on its own lines.
pub fn pylint_input(count: usize) -> Vec<u8> {
    let real: Vec<Value> = serde_json::from_slice(&fixture("pylint-samples.json")).unwrap();
    let messages: Vec<Value> = (0..count)
        .map(|i| {
            let mut message = real[i % real.len()].clone();
            message["line"] = Value::from(1 + i / real.len());
            message
        })
        .collect();
    serde_json::to_vec_pretty(&messages).unwrap()
}

/// `count` eslint messages in files of 100 messages each, from the captured samples.
pub fn eslint_input(count: usize) -> Vec<u8> {
    let real: Vec<Value> = serde_json::from_slice(&fixture("eslint-samples.json")).unwrap();
    let template = real
        .iter()
        .find(|file| file["messages"].as_array().unwrap().len() > 1)
        .unwrap();
    let kinds = template["messages"].as_array().unwrap();
    let files: Vec<Value> = (0..count.div_ceil(100))
        .map(|f| {
            let mut file = template.clone();
            file["filePath"] = Value::from(format!("/workspace/src/module_{f}.js"));
            let messages: Vec<Value> = (0..100.min(count - f * 100))
                .map(|i| {
                    let mut message = kinds[i % kinds.len()].clone();
                    message["line"] = Value::from(1 + i);
                    message
                })
                .collect();
            file["messages"] = Value::from(messages);
            file
        })
        .collect();
    serde_json::to_vec(&files).unwrap()
}
