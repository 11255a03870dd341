//! Shared by the end-to-end tests: git as the tests drive it, and a real local HTTP
//! receiver that records every request (the stand-in for Slack and GitHub).
#![allow(dead_code)]

pub mod git_http;
pub mod process;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Run git in `dir` with a fixed identity; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Bosun Test")
        .env("GIT_AUTHOR_EMAIL", "test@bosun.invalid")
        .env("GIT_COMMITTER_NAME", "Bosun Test")
        .env("GIT_COMMITTER_EMAIL", "test@bosun.invalid")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// What a receiver has seen.
pub type Log = Arc<Mutex<Vec<Received>>>;

/// A receiver on 127.0.0.1:0 answering `{}` to everything: its base URL and its log.
pub async fn receiver() -> (String, Log) {
    let log: Log = Arc::default();
    async fn record(
        State(log): State<Log>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        log.lock().unwrap().push(Received {
            path: uri.path().to_string(),
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        });
        "{}"
    }
    let app = Router::new().fallback(record).with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, log)
}

/// One compiled-plugin cache for every agent process the tests start (keyed by plugin
/// digest and engine, so sharing is safe), so each plugin is compiled once per build.
pub fn artifact_cache() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifact-cache")
}

/// A service a test needs is missing: under `CI=true` the test fails saying how to
/// start it; elsewhere it is skipped, loudly. Always `None`, for `let … else`.
pub fn missing_service<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why}; start it with: bash scripts/services.sh");
    }
    eprintln!("SKIPPED {test}: {why}; start it with: bash scripts/services.sh");
    None
}

/// Copy `from` into `to`, leaving out run state and Python caches.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if [".bosun", "__pycache__", ".pytest_cache"]
            .iter()
            .any(|s| name == *s)
        {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the Python sample (the seed scenario) at `dir/shop` as a git repository,
/// with `pipeline` as its `.bosun.yml` when given: its folder, `file://` URL and commit.
pub fn python_sample(dir: &Path, pipeline: Option<&str>) -> (std::path::PathBuf, String, String) {
    let repo = dir.join("shop");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-app"),
        &repo,
    );
    if let Some(pipeline) = pipeline {
        std::fs::write(repo.join(".bosun.yml"), pipeline).unwrap();
    }
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(&repo, &["add", "--all"]);
    git(&repo, &["commit", "--quiet", "-m", "shop: cart totals"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.display());
    (repo, url, sha)
}
