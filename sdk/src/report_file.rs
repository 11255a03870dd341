//! Reading a tool's report file from `/out` with a size limit, so a runaway tool cannot
//! exhaust the plugin's memory (tools write reports to files: their stdout is capped).

use std::io::Read;
use std::path::Path;

/// Largest report a stage reads by default, in bytes (about 200,000 findings or cases).
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Why a report file could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// No such file.
    Missing,
    /// Larger than the limit; carries its size.
    TooLarge(u64),
    /// Any other I/O failure.
    Io(String),
}

/// Read `path`, refusing files over `limit` bytes without reading them.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Io(e.to_string()),
    })?;
    let size = file
        .metadata()
        .map_err(|e| ReadError::Io(e.to_string()))?
        .len();
    if size > limit {
        return Err(ReadError::TooLarge(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // `take` guards against a file that grows after the size check.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// `12.5 MiB`, for messages.
pub fn human_size(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    if bytes < 1 << 20 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, b"[]").unwrap();
        assert_eq!(read_limited(&path, 10).unwrap(), b"[]");
        assert_eq!(read_limited(&path, 2).unwrap(), b"[]");
        assert_eq!(read_limited(&path, 1), Err(ReadError::TooLarge(2)));
    }

    #[test]
    fn missing_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_limited(&dir.path().join("none.json"), 10),
            Err(ReadError::Missing)
        );
        // 100 MB without writing 100 MB: a sparse file.
        let path = dir.path().join("huge.json");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(100 << 20).unwrap();
        assert_eq!(
            read_limited(&path, MAX_REPORT_BYTES),
            Err(ReadError::TooLarge(100 << 20))
        );
        assert_eq!(human_size(100 << 20), "100.0 MiB");
        assert_eq!(human_size(12), "12 bytes");
    }
}
