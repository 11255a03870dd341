//! `/dead-letters`: messages that failed every delivery, newest first, with their
//! payloads and a link to the run they belong to.

use super::DashboardState;
use super::html::{self, Esc, Nav, Seg, time};
use super::{ok, read};
use crate::store::DeadLetterRow;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

/// Most dead letters listed.
const LIMIT: u32 = 200;

/// `GET /dead-letters`
pub async fn show(State(state): State<DashboardState>) -> Response {
    let rows = read(&state, |s| {
        let letters = s.dead_letters(LIMIT)?;
        // Task keys are run ids: link those the store knows.
        let mut known = Vec::with_capacity(letters.len());
        for letter in &letters {
            known.push(s.run(&letter.key).ok().flatten().is_some());
        }
        Ok(letters.into_iter().zip(known).collect::<Vec<_>>())
    });
    match rows {
        Ok(rows) => ok(render(&rows)),
        Err(failed) => failed.into_response(),
    }
}

/// The dead letters page; each row says whether its key is a known run.
pub fn render(rows: &[(DeadLetterRow, bool)]) -> String {
    let mut body = String::from("<h1>Dead letters</h1>");
    if rows.is_empty() {
        body.push_str(
            "<div class=\"box\">The dead-letter queue is empty: every message was handled \
             within its delivery limit.</div>",
        );
        return html::page("Dead letters", Nav::DeadLetters, None, &body);
    }
    body.push_str(
        "<table id=\"dead-letters\"><tr><th>#</th><th>When</th><th>Topic</th><th>Key</th>\
         <th>Deliveries</th><th>Reason</th><th>Payload</th></tr>",
    );
    for (letter, is_run) in rows {
        let key = if *is_run {
            format!(
                "<a class=\"mono\" href=\"/runs/{}\">{}</a>",
                Seg(&letter.key),
                Esc(&letter.key)
            )
        } else {
            format!("<span class=\"mono\">{}</span>", Esc(&letter.key))
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{key}</td><td>{}</td><td>{}</td>\
             <td><details><summary>{} bytes</summary><pre>{}</pre></details></td></tr>",
            letter.seq,
            time(letter.at_ms),
            Esc(&letter.topic),
            letter.deliveries,
            Esc(&letter.reason),
            letter.payload.len(),
            Esc(&letter.payload),
        );
    }
    body.push_str("</table>");
    html::page("Dead letters", Nav::DeadLetters, None, &body)
}
