//! The agent's side of artifact transfers over the orchestrator's HTTP API (the paths
//! are in `bosun_bus::artifacts`), with the task's token.
//!
//! Downloads trust nothing they are sent: every listed path is checked again, written
//! only into a folder the agent just made (never over an existing file), counted
//! against the run's cap while it arrives, and kept only when its size and sha256 are
//! the ones listed. Uploads stream each file with its length and sha256, which the
//! orchestrator checks again.

use bosun_bus::artifacts::{
    ArtifactInput, DIGEST_HEADER, KeptFile as Listed, check_path, digest_hex, is_stage_folder,
};
use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a URL path segment keeps as it is (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Bytes read from disk per chunk sent.
const CHUNK: usize = 64 << 10;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The orchestrator answered with an error (a refused token, a cap, a bad path).
    #[error("the orchestrator refused {what}: {message} (HTTP {status})")]
    Refused {
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The orchestrator's reason.
        message: String,
    },
    /// The orchestrator could not be reached, or the connection broke.
    #[error("could not reach the orchestrator for {what}: {message}")]
    Unreachable {
        /// What was asked.
        what: String,
        /// The client's message.
        message: String,
    },
    /// A download is not what its listing said.
    #[error("artifact {stage}/{path} {why}")]
    Corrupt {
        /// The stage that kept it.
        stage: String,
        /// Its path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A file could not be read or written on this host.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl TransferError {
    /// Whether trying again cannot help (the orchestrator said no, for a reason of the
    /// run's own).
    pub fn is_refusal(&self) -> bool {
        matches!(self, TransferError::Refused { status, .. } if (400..500).contains(status))
    }
}

fn io(path: &Path) -> impl FnOnce(io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Talks to one orchestrator's artifact endpoints.
#[derive(Debug, Clone)]
pub struct ArtifactClient {
    base: String,
    http: reqwest::Client,
}

impl ArtifactClient {
    /// A client for the orchestrator at `base` (`http://HOST:PORT` or `https://…`).
    pub fn new(base: &str) -> Result<ArtifactClient, String> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "orchestrator URL {base:?} must start with http:// or https://"
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(ArtifactClient {
            base: base.to_string(),
            http,
        })
    }

    /// The orchestrator's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, run: &str, stage: &str, attempt: u32, path: Option<&str>) -> String {
        let mut url = format!(
            "{}/api/agent/artifacts/{}/{}/{attempt}",
            self.base,
            utf8_percent_encode(run, SEGMENT),
            utf8_percent_encode(stage, SEGMENT),
        );
        for part in path.into_iter().flat_map(|p| p.split('/')) {
            url.push('/');
            url.extend(utf8_percent_encode(part, SEGMENT));
        }
        url
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, TransferError> {
        let response = request
            .send()
            .await
            .map_err(|e| TransferError::Unreachable {
                what: what.to_string(),
                message: e.to_string(),
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(300).collect());
        Err(TransferError::Refused {
            what: what.to_string(),
            status,
            message,
        })
    }

    /// Download `input`'s files into `into/<stage>/`, taking their bytes from `budget`;
    /// the number of files and bytes.
    pub async fn download(
        &self,
        run: &str,
        token: &str,
        input: &ArtifactInput,
        into: &Path,
        budget: &mut u64,
    ) -> Result<(usize, u64), TransferError> {
        let stage = &input.stage;
        let corrupt = |path: &str, why: String| TransferError::Corrupt {
            stage: stage.clone(),
            path: path.to_string(),
            why,
        };
        if !is_stage_folder(stage) {
            return Err(corrupt("", "names a stage that cannot be a folder".into()));
        }
        let what = format!("the artifacts of {stage} attempt {}", input.attempt);
        let listing: serde_json::Value = self
            .send(
                &what,
                self.http
                    .get(self.url(run, stage, input.attempt, None))
                    .bearer_auth(token),
            )
            .await?
            .json()
            .await
            .map_err(|e| TransferError::Unreachable {
                what: what.clone(),
                message: e.to_string(),
            })?;
        let files: Vec<Listed> = serde_json::from_value(listing["files"].clone())
            .map_err(|e| corrupt("", format!("listing is not readable: {e}")))?;
        let folder = into.join(stage);
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(io(&folder))?;
        let mut bytes = 0;
        for file in &files {
            check_path(&file.path).map_err(|e| corrupt(&file.path, e.to_string()))?;
            let Some(expected) = digest_hex(&file.digest) else {
                return Err(corrupt(&file.path, "is listed without a sha256".into()));
            };
            if file.size > *budget {
                return Err(corrupt(
                    &file.path,
                    "would pass the run's cap of kept bytes".into(),
                ));
            }
            let target = folder.join(&file.path);
            let got = self
                .fetch(run, token, input, file, &target)
                .await
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&target);
                })?;
            if got.0 != file.size || got.1 != expected {
                let _ = std::fs::remove_file(&target);
                return Err(corrupt(
                    &file.path,
                    format!(
                        "arrived as {} bytes with sha256 {}, not the {} bytes with sha256 {expected} listed",
                        got.0, got.1, file.size
                    ),
                ));
            }
            *budget -= file.size;
            bytes += file.size;
        }
        Ok((files.len(), bytes))
    }

    /// One file into `target` (a new file); its size and hex sha256 as they arrived,
    /// never more than listed.
    async fn fetch(
        &self,
        run: &str,
        token: &str,
        input: &ArtifactInput,
        file: &Listed,
        target: &Path,
    ) -> Result<(u64, String), TransferError> {
        let what = format!("{}/{}", input.stage, file.path);
        let mut response = self
            .send(
                &what,
                self.http
                    .get(self.url(run, &input.stage, input.attempt, Some(&file.path)))
                    .bearer_auth(token),
            )
            .await?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(parent))?;
        }
        // `create_new`: a listing that names a path twice, or a folder and a file at
        // one path, fails here instead of writing over what is there.
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(target)
            .map_err(io(target))?;
        let mut out = tokio::fs::File::from_std(out);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TransferError::Unreachable {
                what: what.clone(),
                message: e.to_string(),
            })?
        {
            size += chunk.len() as u64;
            if size > file.size {
                break;
            }
            hash.update(&chunk);
            out.write_all(&chunk).await.map_err(io(target))?;
        }
        out.flush().await.map_err(io(target))?;
        Ok((size, hex::encode(hash.finalize())))
    }

    /// Upload the files `kept` lists from `root` for `run/stage/attempt`; the bytes
    /// sent.
    pub async fn upload(
        &self,
        (run, stage, attempt): (&str, &str, u32),
        token: &str,
        root: &Path,
        kept: &[super::KeptFile],
    ) -> Result<u64, TransferError> {
        let mut sent = 0;
        for file in kept {
            let path = root.join(&file.path);
            let (size, digest) = digest_of(&path).await?;
            let (mut sender, body) = http_body_util::channel::Channel::<Bytes, io::Error>::new(4);
            let reading = path.clone();
            let feeder = tokio::spawn(async move {
                let mut from = match tokio::fs::File::open(&reading).await {
                    Ok(from) => from,
                    Err(e) => return sender.abort(e),
                };
                let mut buffer = vec![0u8; CHUNK];
                loop {
                    match from.read(&mut buffer).await {
                        Ok(0) => return,
                        Ok(n) => {
                            let chunk = Bytes::copy_from_slice(&buffer[..n]);
                            if sender.send_data(chunk).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => return sender.abort(e),
                    }
                }
            });
            let request = self
                .http
                .put(self.url(run, stage, attempt, Some(&file.path)))
                .bearer_auth(token)
                .header(DIGEST_HEADER, &digest)
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap(body));
            let answered = self.send(&format!("{stage}/{}", file.path), request).await;
            feeder.abort();
            answered?;
            sent += size;
        }
        Ok(sent)
    }
}

/// Size and hex sha256 of a file.
async fn digest_of(path: &Path) -> Result<(u64, String), TransferError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buffer).await.map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hash.update(&buffer[..n]);
    }
    Ok((size, hex::encode(hash.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_each_segment_and_keep_the_path_folders() {
        let client = ArtifactClient::new("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            client.url("r 1", "build-3_11", 2, Some("dist/a b?.txt")),
            "http://127.0.0.1:8080/api/agent/artifacts/r%201/build-3_11/2/dist/a%20b%3F.txt"
        );
        assert_eq!(
            client.url("r", "b", 1, None),
            "http://127.0.0.1:8080/api/agent/artifacts/r/b/1"
        );
        assert!(ArtifactClient::new("file:///tmp").is_err());
    }
}
