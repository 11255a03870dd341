//! A git server over plain HTTP for tests: git's "dumb" protocol is static files, so a
//! repository's `.git` folder (after `git update-server-info`) served read-only is
//! enough for `git clone` and `git fetch`. Webhooks may name only URLs such a server
//! answers (never `file://`), so tests that deliver webhooks serve their repositories
//! through it at the path the payload names (`/OWNER/NAME.git`). A private repository
//! asks for a token the way GitHub does.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

/// Serve the repository in `dir` (a work tree) at `http://127.0.0.1:PORT/{full_name}.git`
/// on a port of its own, for the rest of the process; its clone URL.
pub fn serve_git(dir: &Path, full_name: &str) -> String {
    serve(dir, full_name, None)
}

/// As [`serve_git`], for a private repository: every request must carry `token` as
/// GitHub takes it (`Authorization: Basic` of `x-access-token:TOKEN`), else 401.
pub fn serve_private_git(dir: &Path, full_name: &str, token: &str) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    serve(dir, full_name, Some(format!("Basic {basic}")))
}

fn serve(dir: &Path, full_name: &str, authorization: Option<String>) -> String {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("update-server-info")
        .status()
        .expect("git runs");
    assert!(
        status.success(),
        "git update-server-info in {}",
        dir.display()
    );
    let git_dir = dir.join(".git");
    let root = if git_dir.is_dir() {
        git_dir
    } else {
        dir.to_path_buf()
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let prefix = format!("/{full_name}.git/");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (root, prefix) = (root.clone(), prefix.clone());
            let authorization = authorization.clone();
            std::thread::spawn(move || answer(stream, &root, &prefix, authorization.as_deref()));
        }
    });
    format!("http://127.0.0.1:{port}/{full_name}.git")
}

fn file_for(root: &Path, prefix: &str, target: &str) -> Option<PathBuf> {
    let path = target.split('?').next()?.strip_prefix(prefix)?;
    let relative = Path::new(path);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(relative))
}

fn answer(stream: TcpStream, root: &Path, prefix: &str, authorization: Option<&str>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Only the credentials among the headers change the answer.
    let mut given = None;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    given = Some(value.trim().to_string());
                }
            }
        }
    }
    let mut stream = stream;
    if let Some(expected) = authorization
        && given.as_deref() != Some(expected)
    {
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let body = (method == "GET")
        .then(|| file_for(root, prefix, target))
        .flatten()
        .and_then(|file| std::fs::read(file).ok());
    let _ = match body {
        Some(body) => stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|()| stream.write_all(&body)),
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
    };
}
