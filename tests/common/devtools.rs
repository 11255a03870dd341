//! Headless Chromium driven over the DevTools protocol on a pipe, for pages whose DOM
//! keeps changing after they load (`--dump-dom` dumps once, at load, and a page that
//! follows a stream never settles for `--virtual-time-budget`). The protocol on a pipe
//! needs no WebSocket: Chromium reads commands on its fd 3 and writes answers on its fd
//! 4, each JSON message ended by a NUL byte; a shell maps them to the child's stdin and
//! stdout.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Longest wait for one answer: a browser that hangs fails the test, not stalls it.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// One Chromium process with one page attached.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: Receiver<Value>,
    next_id: u64,
    session: String,
    stderr: PathBuf,
    _profile: tempfile::TempDir,
}

/// How the tests run Chromium: headless, no sandbox (root in a container), and nothing
/// that reaches the network or the user's profile on its own.
pub const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

impl Browser {
    /// Start `binary` headless with a fresh profile, attached to its blank page.
    pub fn start(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let stderr = profile.path().join("chromium.stderr");
        let mut child = Command::new("sh")
            .arg("-c")
            // fd 3 from our stdin pipe, fd 4 to our stdout pipe; the page's own output
            // (none with --headless) goes nowhere.
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(binary)
            .args(HEADLESS)
            .args(["--remote-debugging-pipe", "--window-size=1280,1600"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let commands = child.stdin.take().unwrap();
        let mut from = BufReader::new(child.stdout.take().unwrap());
        let (send, answers) = channel();
        std::thread::spawn(move || {
            let mut message = Vec::new();
            while from.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                if message.last() == Some(&0) {
                    message.pop();
                }
                if let Ok(value) = serde_json::from_slice::<Value>(&message)
                    && send.send(value).is_err()
                {
                    return;
                }
                message.clear();
            }
        });
        let mut browser = Browser {
            child,
            commands,
            answers,
            next_id: 0,
            session: String::new(),
            stderr,
            _profile: profile,
        };
        let started = Instant::now();
        let page = loop {
            let targets = browser.call("Target.getTargets", json!({}));
            let page = targets["targetInfos"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["type"] == "page")
                .map(|t| t["targetId"].as_str().unwrap().to_string());
            if let Some(page) = page {
                break page;
            }
            assert!(
                started.elapsed() < ANSWER_WITHIN,
                "chromium opened no page: {targets}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": page, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// Send `method` (to the attached page once there is one); its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = self.session.clone().into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        self.commands.flush().unwrap();
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                // Events (no id) and answers to earlier calls are not this one's.
                Ok(answer) if answer["id"] == id => {
                    if let Some(error) = answer.get("error") {
                        panic!("chromium refused {method}: {error}");
                    }
                    return answer["result"].clone();
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!(
                    "chromium did not answer {method} in {ANSWER_WITHIN:?}: {}",
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("chromium exited during {method}: {}", self.stderr())
                }
            }
        }
    }

    /// Load `url` in the page; returns once the document has been committed.
    pub fn navigate(&mut self, url: &str) {
        let answer = self.call("Page.navigate", json!({ "url": url }));
        if let Some(failed) = answer.get("errorText") {
            panic!("chromium could not load {url}: {failed}");
        }
    }

    /// The value of the JavaScript `expression` in the page (JSON-serialisable).
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        if let Some(thrown) = answer.get("exceptionDetails") {
            panic!("{expression} threw: {thrown}");
        }
        answer["result"]["value"].clone()
    }

    /// The page's DOM as HTML, as it is now.
    pub fn dom(&mut self) -> String {
        let html = self.evaluate("document.documentElement.outerHTML");
        html.as_str().unwrap_or_default().to_string()
    }

    /// What Chromium wrote on stderr so far, for failure messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closed, Chromium takes its helper processes with it; killed only if it hangs.
        let mut close =
            serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap_or_default();
        close.push(0);
        let _ = self.commands.write_all(&close);
        let _ = self.commands.flush();
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
