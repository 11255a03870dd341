//! The folder that holds kept files by content: `sha256/<2 hex>/<64 hex>`. An upload
//! is written to `incoming/` while its digest is computed, then renamed into place, so
//! a name always holds the content it names; the same content uploaded twice is kept
//! once. Nothing an uploader sends chooses a path here: names are digests computed on
//! this side.

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The longest an upload may go without sending a byte.
const IDLE: Duration = Duration::from_secs(30);

/// The content store under one folder.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `sha256:<hex>` of what arrived.
    pub digest: String,
    /// Size of the stored blob in bytes.
    pub size: u64,
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// More bytes arrived than announced.
    #[error("the body is longer than the {0} bytes announced")]
    TooLong(u64),
    /// Fewer bytes arrived than announced.
    #[error("the body ended after {got} of the {announced} bytes announced")]
    TooShort {
        /// Bytes that arrived.
        got: u64,
        /// Bytes announced.
        announced: u64,
    },
    /// The content is not what the uploader said it is.
    #[error("the body's sha256 is {computed}, not the {claimed} announced")]
    DigestMismatch {
        /// What the uploader said.
        claimed: String,
        /// What arrived.
        computed: String,
    },
    /// The body stalled or broke off.
    #[error("the body stopped arriving: {0}")]
    Interrupted(String),
    /// The folder could not be written.
    #[error("artifact folder {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReceiveError + '_ {
    move |source| ReceiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Tells concurrent uploads' incoming files apart.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Blobs {
    /// The store under `root` (made on first upload).
    pub fn new(root: PathBuf) -> Blobs {
        Blobs { root }
    }

    /// Where the content with this hex sha256 lives, when it is stored.
    pub fn find(&self, hex: &str) -> Option<PathBuf> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let path = self.root.join("sha256").join(hex.get(..2)?).join(hex);
        (valid && path.is_file()).then_some(path)
    }

    /// Remove the content with this hex sha256 (which no kept file names any more)
    /// unless it was written within `grace`: an upload of the same content may be
    /// about to record a row naming it. `true` when it was removed.
    pub fn remove_unused(&self, hex: &str, grace: Duration) -> std::io::Result<bool> {
        let Some(path) = self.find(hex) else {
            return Ok(false);
        };
        let age = std::fs::metadata(&path)?
            .modified()?
            .elapsed()
            .unwrap_or_default();
        if age < grace {
            return Ok(false);
        }
        std::fs::remove_file(&path)?;
        Ok(true)
    }

    /// Store `body`, which must be exactly `announced` bytes whose sha256 is `claimed`
    /// (hex).
    pub async fn receive<S, E>(
        &self,
        mut body: S,
        announced: u64,
        claimed: &str,
    ) -> Result<Received, ReceiveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let incoming = self.root.join("incoming");
        tokio::fs::create_dir_all(&incoming)
            .await
            .map_err(io(&incoming))?;
        let temp = incoming.join(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self.write(&mut body, &temp, announced, claimed).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    async fn write<S, E>(
        &self,
        body: &mut S,
        temp: &Path,
        announced: u64,
        claimed: &str,
    ) -> Result<Received, ReceiveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut file = tokio::fs::File::create(temp).await.map_err(io(temp))?;
        let mut hash = Sha256::new();
        let mut size = 0u64;
        loop {
            let next = tokio::time::timeout(IDLE, body.next()).await.map_err(|_| {
                ReceiveError::Interrupted(format!("nothing for {} s", IDLE.as_secs()))
            })?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| ReceiveError::Interrupted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > announced {
                return Err(ReceiveError::TooLong(announced));
            }
            hash.update(&chunk);
            file.write_all(&chunk).await.map_err(io(temp))?;
        }
        if size != announced {
            return Err(ReceiveError::TooShort {
                got: size,
                announced,
            });
        }
        file.sync_all().await.map_err(io(temp))?;
        drop(file);
        let computed = hex::encode(hash.finalize());
        if computed != claimed {
            return Err(ReceiveError::DigestMismatch {
                claimed: claimed.to_string(),
                computed,
            });
        }
        let folder = self.root.join("sha256").join(&computed[..2]);
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(io(&folder))?;
        let path = folder.join(&computed);
        if path.is_file() {
            // The same content is kept already: one copy serves both. Its time moves
            // on, so retention (which spares recently written content) leaves it to
            // the row this upload is about to add.
            let _ = tokio::fs::remove_file(temp).await;
            let touched = path.clone();
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::options()
                    .append(true)
                    .open(&touched)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()))
            })
            .await;
        } else {
            tokio::fs::rename(temp, &path).await.map_err(io(&path))?;
        }
        Ok(Received {
            digest: format!("sha256:{computed}"),
            size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p.as_bytes())))
                .collect::<Vec<_>>(),
        )
    }

    fn sha(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[tokio::test]
    async fn content_is_stored_once_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path().to_path_buf());
        let got = blobs
            .receive(body(&["hel", "lo"]), 5, &sha("hello"))
            .await
            .unwrap();
        assert_eq!(got.digest, format!("sha256:{}", sha("hello")));
        let again = blobs
            .receive(body(&["hello"]), 5, &sha("hello"))
            .await
            .unwrap();
        assert_eq!(again, got);
        let path = blobs.find(&sha("hello")).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "hello");
        assert_eq!(
            std::fs::read_dir(dir.path().join("incoming"))
                .unwrap()
                .count(),
            0,
            "nothing left half-written"
        );
        assert!(blobs.find("../../etc/passwd").is_none());
        assert!(blobs.find(&sha("other")).is_none());
    }

    #[tokio::test]
    async fn a_body_that_is_not_what_it_announced_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path().to_path_buf());
        let longer = blobs.receive(body(&["hello", "!"]), 5, &sha("hello")).await;
        assert!(
            matches!(longer, Err(ReceiveError::TooLong(5))),
            "{longer:?}"
        );
        let shorter = blobs.receive(body(&["hel"]), 5, &sha("hello")).await;
        assert!(matches!(
            shorter,
            Err(ReceiveError::TooShort { got: 3, .. })
        ));
        let other = blobs.receive(body(&["world"]), 5, &sha("hello")).await;
        assert!(matches!(other, Err(ReceiveError::DigestMismatch { .. })));
        assert!(blobs.find(&sha("world")).is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("incoming"))
                .unwrap()
                .count(),
            0
        );
    }
}
