//! The dashboard's login, when the operator sets `api_token`: a form that checks the
//! token and keeps it in an HTTP-only cookie; every page asks for it. Without an
//! `api_token` (a local `bosun up`) the pages stay open.

use super::DashboardState;
use super::html::{self, Esc, Nav};
use crate::settings::ServerSettings;
use crate::trust::same_token;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The cookie the token is kept in.
const COOKIE: &str = "bosun_token";

/// The token a request carries: `Authorization: Bearer` or the login cookie.
pub(crate) fn given_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| decode(value))
}

/// Let a page through when auth is off or the request carries the operator's token;
/// send everyone else to the login form.
pub async fn require(
    State(state): State<DashboardState>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&state.settings, request.headers()) {
        None => next.run(request).await,
        Some(refused) => refused,
    }
}

/// Why a request may not use the dashboard, as the answer to give (the login form, or
/// 503 when the token is configured but unset); `None` when auth is off or it carries
/// the operator's token.
pub fn refusal(settings: &ServerSettings, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = settings.api_token.resolve() else {
        if settings.api_token_configured() {
            // Configured but unset: closed, never open.
            return Some(form(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(
                    "The server's api_token is configured but not set: the dashboard is closed until the operator sets it.",
                ),
            ));
        }
        return None;
    };
    if given_token(headers).is_some_and(|given| same_token(&given, &token)) {
        None
    } else {
        Some(Redirect::to("/login").into_response())
    }
}

fn form(status: StatusCode, problem: Option<&str>) -> Response {
    let mut body = String::from("<h1>Sign in</h1>");
    if let Some(problem) = problem {
        body.push_str(&format!(
            "<div class=\"box why\"><p>{}</p></div>",
            Esc(problem)
        ));
    }
    body.push_str(
        "<form method=\"post\" action=\"/login\"><p><label>API token \
         <input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus></label> \
         <button type=\"submit\">Sign in</button></p></form>\
         <p>The operator's <code>api_token</code> from the server settings.</p>",
    );
    (status, Html(html::page("Sign in", Nav::Runs, None, &body))).into_response()
}

/// `GET /login`
pub async fn show() -> Response {
    form(StatusCode::OK, None)
}

/// `POST /login` (form field `token`): a valid token sets the cookie and opens the
/// runs list; anything else shows the form again with 401.
pub async fn submit(State(state): State<DashboardState>, body: Bytes) -> Response {
    let settings = &state.settings;
    let Some(token) = settings.api_token.resolve() else {
        if settings.api_token_configured() {
            return form(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The server's api_token is not set."),
            );
        }
        return Redirect::to("/runs").into_response();
    };
    let given = form_urlencoded(&body, "token").unwrap_or_default();
    if given.is_empty() || !same_token(&given, &token) {
        return form(StatusCode::UNAUTHORIZED, Some("That token is not valid."));
    }
    let value = utf8_percent_encode(&given, NON_ALPHANUMERIC);
    let cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = Redirect::to("/runs").into_response();
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The value of `field` in an `application/x-www-form-urlencoded` body.
pub(super) fn form_urlencoded(body: &[u8], field: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == field)
        .map(|(_, value)| decode(&value.replace('+', " ")))
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}
