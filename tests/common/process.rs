//! A `bosun` process started by a test, its output kept line by line; killed when
//! dropped, so a failing test leaves nothing running.

use std::io::BufRead;
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `bosun` subcommand.
pub struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// The process id (for `/proc/<pid>/status`).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Start `bosun ARGS`, its stdout and stderr read into lines.
    pub fn start(args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bosun"))
            .args(args)
            .env("RUST_LOG", "warn")
            .env("BOSUN_CACHE_DIR", super::artifact_cache())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Process { child, lines }
    }

    /// The first output line holding `needle`.
    pub fn find(&self, needle: &str) -> Option<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }

    /// The `http://HOST:PORT` it prints after `announcement` (e.g. `bosun orchestrator
    /// on`), once it has; fails the test naming its output after a minute.
    pub async fn printed_url(&self, announcement: &str) -> String {
        let needle = format!("{announcement} http://");
        let start = std::time::Instant::now();
        loop {
            if let Some(line) = self.find(&needle) {
                let address = line.split("http://").nth(1).unwrap_or_default();
                return format!(
                    "http://{}",
                    address.split_whitespace().next().unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "`{announcement}` was never printed:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Everything it printed so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
