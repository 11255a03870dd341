//! The run page's list of kept files, and `/runs/{id}/artifacts/{stage}/{*path}`, which
//! downloads one behind the same login as the logs (always as an attachment: a file a
//! step wrote never renders on the dashboard's origin).

use super::DashboardState;
use super::html::{Esc, Nav, Seg, short_digest};
use super::{error_page, read};
use crate::artifacts::{Blobs, serve};
use crate::store::ArtifactRow;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write as _;

/// The "Artifacts" section: nothing when the run kept no files.
pub fn section(body: &mut String, run_id: &str, rows: &[ArtifactRow]) {
    if rows.is_empty() {
        return;
    }
    let total: u64 = rows.iter().map(|r| r.size).sum();
    let _ = write!(
        body,
        "<h2 id=\"artifacts\">Artifacts</h2><p class=\"muted\">{} files, {} kept; later \
         command steps that need a stage read its files at <span class=\"mono\">/artifacts/&lt;stage&gt;/</span>.</p>\
         <table><tr><th>Stage</th><th>Attempt</th><th>File</th><th>Size</th><th>Digest</th></tr>",
        rows.len(),
        size(total)
    );
    for row in rows {
        let link: Vec<String> = row.path.split('/').map(|p| Seg(p).to_string()).collect();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\"><a href=\"/runs/{}/artifacts/{}/{}?attempt={}\">{}</a></td>\
             <td>{}</td><td class=\"mono\">{}</td></tr>",
            Esc(&row.stage),
            row.attempt,
            Seg(run_id),
            Seg(&row.stage),
            link.join("/"),
            row.attempt,
            Esc(&row.path),
            size(row.size),
            Esc(&short_digest(&row.digest)),
        );
    }
    body.push_str("</table>");
}

fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// Which attempt's file (default: the latest that kept it).
#[derive(Debug, Deserialize)]
pub struct AttemptQuery {
    attempt: Option<u32>,
}

/// `GET /runs/{id}/artifacts/{stage}/{*path}`
pub async fn download(
    State(state): State<DashboardState>,
    Path((id, stage, path)): Path<(String, String, String)>,
    Query(query): Query<AttemptQuery>,
) -> Response {
    match read(&state, |s| s.artifact(&id, &stage, query.attempt, &path)) {
        Ok(Some(row)) => serve::send(&Blobs::new(state.settings.artifacts_dir()), &row).await,
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            Nav::Runs,
            "Artifact not found",
            &format!(
                "Stage {stage:?} of run {id:?} kept no file {path:?}. The run page lists every \
                 file its stages kept."
            ),
        ),
        Err(failed) => failed.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_files_are_listed_escaped_with_encoded_links() {
        let rows = vec![ArtifactRow {
            stage: "build".into(),
            attempt: 2,
            path: "dist/<img src=x>.txt".into(),
            size: 2048,
            digest: format!("sha256:{}", "ab".repeat(32)),
            kept_ms: 0,
        }];
        let mut body = String::new();
        section(&mut body, "r 1", &rows);
        assert!(body.contains("dist/&lt;img src=x&gt;.txt"), "{body}");
        assert!(!body.contains("<img src=x>"), "{body}");
        assert!(
            body.contains(
                "href=\"/runs/r%201/artifacts/build/dist/%3Cimg%20src%3Dx%3E.txt?attempt=2\""
            ),
            "{body}"
        );
        assert!(body.contains("2.0 KiB") && body.contains("sha256:abababababab"));
        let mut empty = String::new();
        section(&mut empty, "r", &[]);
        assert!(empty.is_empty());
    }
}
