//! A kept file as an HTTP answer, for the API, the dashboard and the agents alike:
//! always a download (`application/octet-stream`, `attachment`, `nosniff`, a sandboxing
//! content policy), so a file a repository's step wrote never renders as a page on the
//! dashboard's origin.

use super::Blobs;
use crate::store::ArtifactRow;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

/// Bytes read from disk per chunk sent.
const CHUNK: usize = 64 << 10;

/// The file `row` names, streamed from `blobs`; 404 when its content is gone.
pub async fn send(blobs: &Blobs, row: &ArtifactRow) -> Response {
    let found = bosun_bus::artifacts::digest_hex(&row.digest).and_then(|hex| blobs.find(hex));
    let Some(path) = found else {
        return missing(&row.path);
    };
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return missing(&row.path);
    };
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buffer)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(row.size));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        download_name(&row.path)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(hex) = bosun_bus::artifacts::digest_hex(&row.digest)
        && let Ok(value) = HeaderValue::from_str(hex)
    {
        headers.insert(bosun_bus::artifacts::DIGEST_HEADER, value);
    }
    response
}

fn missing(path: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": format!("the content of {path} is no longer stored")
        })),
    )
        .into_response()
}

/// The file name a browser saves it as: the last part, in characters a header and
/// every file system take.
fn download_name(path: &str) -> String {
    let name: String = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.trim_matches('.').is_empty() {
        "artifact".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::download_name;

    #[test]
    fn download_names_keep_only_safe_characters() {
        assert_eq!(download_name("dist/app-1.0.whl"), "app-1.0.whl");
        assert_eq!(download_name("a/\"x\r\n.html"), "_x__.html");
        assert_eq!(download_name(".."), "artifact");
    }
}
