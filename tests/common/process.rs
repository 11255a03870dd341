//! A process started by a test (usually `bosun`), the output it pipes kept line by line;
//! killed when dropped, so a failing test leaves nothing running.

use std::io::BufRead;
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running process and what it printed so far.
pub struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// The process id (for `/proc/<pid>/status`, or to signal it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, for tests that wait for it or kill it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Start `bosun ARGS`, its stdout and stderr read into lines.
    pub fn start(args: &[&str]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bosun"));
        command
            .args(args)
            .env("RUST_LOG", "warn")
            .env("BOSUN_CACHE_DIR", super::artifact_cache())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Process::spawn(command)
    }

    /// Start `command`; whichever of its stdout and stderr it pipes is read into lines.
    pub fn spawn(mut command: Command) -> Process {
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
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

    /// How many output lines hold `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Whether an output line holds `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        self.find(needle).is_some()
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
