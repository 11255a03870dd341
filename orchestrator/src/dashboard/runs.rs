//! `/runs`: the newest runs, filtered by repository, branch and status with a GET form.

use super::DashboardState;
use super::html::{self, Esc, Nav, Seg, badge, duration, short_commit, time};
use super::{ok, read};
use crate::model::RunStatus;
use crate::service::now_ms;
use crate::store::{RunFilter, RunRow};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write as _;

/// Most runs one page lists.
const PAGE_SIZE: u32 = 100;

/// The filter form's fields; empty fields mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunsQuery {
    /// `owner/name`.
    #[serde(default)]
    pub repo: Option<String>,
    /// Show only runs of this branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// Status name.
    #[serde(default)]
    pub status: Option<String>,
}

fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

const STATUSES: [RunStatus; 8] = [
    RunStatus::AwaitingApproval,
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Success,
    RunStatus::Failure,
    RunStatus::Halted,
    RunStatus::Cancelled,
    RunStatus::ConfigError,
];

/// `GET /runs?repo=&branch=&status=`
pub async fn show(State(state): State<DashboardState>, Query(query): Query<RunsQuery>) -> Response {
    let filter = RunFilter {
        repository: given(&query.repo),
        branch: given(&query.branch),
        status: given(&query.status),
        tenant: None,
        limit: Some(PAGE_SIZE),
    };
    match read(&state, |s| s.list_runs(&filter)) {
        Ok(rows) => ok(render(&rows, &query, now_ms())),
        Err(failed) => failed.into_response(),
    }
}

/// The runs list page.
pub fn render(rows: &[RunRow], query: &RunsQuery, now_ms: u64) -> String {
    let mut body = String::from("<h1>Runs</h1>");
    let field = |v: &Option<String>| given(v).unwrap_or_default();
    let status = field(&query.status);
    let _ = write!(
        body,
        "<form class=\"filter\" method=\"get\" action=\"/runs\">\
         <label>Repository<input name=\"repo\" value=\"{}\" placeholder=\"owner/name\"></label>\
         <label>Branch<input name=\"branch\" value=\"{}\" placeholder=\"main\"></label>\
         <label>Status<select name=\"status\"><option value=\"\">any</option>",
        Esc(&field(&query.repo)),
        Esc(&field(&query.branch)),
    );
    for option in STATUSES {
        let name = option.as_str();
        let selected = if name == status { " selected" } else { "" };
        let _ = write!(body, "<option{selected}>{name}</option>");
    }
    body.push_str(
        "</select></label><button type=\"submit\">Filter</button> <a href=\"/runs\">clear</a></form>",
    );
    if rows.is_empty() {
        body.push_str(
            "<div class=\"box\">No runs match. A push to a repository with a webhook, or \
             <code>POST /api/runs</code>, starts one.</div>",
        );
        return html::page("Runs", Nav::Runs, Some("/runs/live"), &body);
    }
    body.push_str(
        "<table id=\"runs\"><tr><th>Status</th><th>Repository</th><th>Branch</th><th>Commit</th>\
         <th>Event</th><th>Started</th><th>Duration</th><th>Run</th></tr>",
    );
    for row in rows {
        let took = match row.finished_ms {
            Some(end) => duration(end.saturating_sub(row.created_ms)),
            None => format!("{} so far", duration(now_ms.saturating_sub(row.created_ms))),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\" title=\"{}\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td><a class=\"mono\" href=\"/runs/{}\">{}</a></td></tr>",
            badge(&row.status),
            Esc(&row.repository),
            Esc(&row.branch),
            Esc(&row.commit),
            Esc(short_commit(&row.commit)),
            Esc(&row.event),
            time(row.created_ms),
            took,
            Seg(&row.id),
            Esc(&row.id),
        );
    }
    body.push_str("</table>");
    if rows.len() as u32 >= PAGE_SIZE {
        let _ = write!(
            body,
            "<p class=\"muted\">The newest {PAGE_SIZE} runs; filter to see older ones.</p>"
        );
    }
    html::page("Runs", Nav::Runs, Some("/runs/live"), &body)
}
