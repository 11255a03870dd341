//! Stage approvals on the run page: each stage that waits for a person, with who may
//! decide and until when, and an Approve/Reject form with a reason; approval decisions
//! in the policy table. The form posts to `/runs/{id}/stages/{stage}/decide`, served by
//! the server (which holds the scheduler's handle; the dashboard never does), signed in
//! as the dashboard is, and refused when a browser says it comes from another site.

use super::html::{self, Esc, Nav, Seg, badge, time};
use super::run::RunView;
use crate::model::StageState;
use crate::store::GateRow;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write as _;

/// Longest reason kept, in characters.
pub const MAX_REASON: usize = 500;
/// Longest name given for the audit log, in characters.
pub const MAX_NAME: usize = 100;

/// The stages that wait for a decision, each with its form.
pub fn waiting(body: &mut String, view: &RunView) {
    let run = &view.run;
    let waiting: Vec<_> = run
        .stages
        .iter()
        .filter(|s| s.state == StageState::AwaitingApproval)
        .filter_map(|s| s.approval.as_ref().map(|a| (s, a)))
        .collect();
    if waiting.is_empty() {
        return;
    }
    body.push_str("<div class=\"box\" id=\"approvals\"><h2>Waiting for approval</h2>");
    for (stage, approval) in waiting {
        let _ = write!(
            body,
            "<div id=\"approve-{seg}\"><p><a href=\"#stage-{seg}\"><strong>{name}</strong></a> \
             {badge} may be approved or rejected by <strong>{who}</strong>; nobody deciding by \
             <strong>{deadline}</strong> (UTC) rejects it.</p>\
             <form class=\"decide\" method=\"post\" action=\"/runs/{run}/stages/{seg}/decide\">\
             <p><label>Reason <input name=\"reason\" maxlength=\"{MAX_REASON}\" size=\"60\" \
             placeholder=\"why (a rejection needs one)\"></label> \
             <label>Your name <input name=\"by\" maxlength=\"{MAX_NAME}\" size=\"16\" \
             placeholder=\"for the audit log\"></label></p>\
             <p><button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
             <button type=\"submit\" name=\"decision\" value=\"reject\">Reject</button></p>\
             </form></div>",
            seg = Seg(&stage.name),
            name = Esc(&stage.name),
            badge = badge("awaiting-approval"),
            who = Esc(&approval.approvers.join(", ")),
            deadline = time(approval.deadline_ms),
            run = Seg(&run.id),
        );
    }
    body.push_str(
        "<p class=\"muted\">Signed in to the dashboard, you decide as the operator. Members \
         decide with their own token through the API: <code>POST /api/runs/{id}/stages/{stage}/approve</code> \
         or <code>/reject</code> with <code>{\"reason\": …}</code>.</p></div>",
    );
}

/// An approval's row in the policy table: who decided, and why.
pub fn gate_row(body: &mut String, gate: &GateRow) {
    let decision = gate
        .verdicts
        .as_ref()
        .and_then(|v| v.as_array())
        .and_then(|v| v.first());
    let asked = time(gate.requested_ms);
    let Some(decision) = decision else {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>approval</td><td>{asked}</td><td colspan=\"4\" class=\"muted\">\
             waiting for a person</td></tr>",
            Esc(&gate.stage),
        );
        return;
    };
    let text = |key: &str| decision.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let approved = decision.get("approved").and_then(|v| v.as_bool()) == Some(true);
    let decided = gate.answered_ms.map(time).unwrap_or_default();
    let _ = write!(
        body,
        "<tr><td>{}</td><td>approval</td><td>{asked}</td><td>by {} at {decided}</td><td>{}</td>\
         <td>{}</td><td></td></tr>",
        Esc(&gate.stage),
        Esc(text("by")),
        badge(if approved { "allow" } else { "deny" }),
        Esc(text("reason")),
    );
}

/// A decision posted from the run page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionForm {
    /// Approve or reject.
    pub approve: bool,
    /// The reason typed.
    pub reason: String,
    /// The name typed, if any.
    pub by: Option<String>,
}

/// Read the run page's form (`decision`, `reason`, `by`); `Err` says what is missing.
pub fn read_form(body: &[u8]) -> Result<DecisionForm, String> {
    let field = |name| super::login::form_urlencoded(body, name).unwrap_or_default();
    let approve = match field("decision").as_str() {
        "approve" => true,
        "reject" => false,
        other => return Err(format!("decision {other:?} is neither approve nor reject")),
    };
    let by = field("by");
    Ok(DecisionForm {
        approve,
        reason: field("reason"),
        by: (!by.trim().is_empty()).then_some(by),
    })
}

/// Whether a form post comes from this site: a browser's `Sec-Fetch-Site`, else its
/// `Origin` against `Host`. A request with neither is not a browser's cross-site form.
/// (The sign-in cookie is `SameSite=Strict` already; this also covers a dashboard
/// without sign-in, on a developer's machine.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return true;
    };
    let host = text(header::HOST.as_str());
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| Some(rest) == host)
}

/// The page a refused or failed decision answers with, linking back to the run.
pub fn refused(run_id: &str, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Decision not applied</h1><div class=\"box why\"><p>{}</p></div>\
         <p><a href=\"/runs/{}\">Back to the run</a></p>",
        Esc(message),
        Seg(run_id)
    );
    (
        status,
        Html(html::page("Decision not applied", Nav::Runs, None, &body)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_form_from_this_site_passes_and_one_from_another_does_not() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[])), "curl sends neither");
    }

    #[test]
    fn the_form_reads_its_decision_reason_and_name() {
        let form = read_form(b"reason=ship+it%21&by=&decision=approve").unwrap();
        assert_eq!(
            form,
            DecisionForm {
                approve: true,
                reason: "ship it!".into(),
                by: None
            }
        );
        assert!(!read_form(b"decision=reject&reason=no").unwrap().approve);
        assert!(read_form(b"decision=maybe").is_err());
    }
}
