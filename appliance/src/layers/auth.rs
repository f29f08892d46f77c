//! Authentication: the launch URL's one-time `?token=` becomes an HttpOnly, SameSite=Strict
//! cookie; every other request must present that cookie or an `Authorization: Bearer` token.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::LayerContext;
use crate::audit::Entry;
use crate::audit::layer::append;
use crate::error::ApiError;

/// Name of the session cookie for one port (cookies are shared across ports on a host).
pub fn cookie_name(port: u16) -> String {
    format!("airlock_session_{port}")
}

/// Middleware entry point.
pub async fn require_session(
    State(ctx): State<LayerContext>,
    request: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    if let Some(wait) = ctx.failures.locked_for(now) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "auth_rate_limited",
            "too many wrong tokens; wait before trying again",
        )
        .into_response();
        let seconds = wait.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if let Some(token) = launch_token(&request) {
        let ok = ctx.secret.matches(&token);
        let entry = Entry {
            actor: ctx.audit.actor.clone(),
            action: "session.login".into(),
            target: "launch link".into(),
            outcome: if ok { "ok".into() } else { "error:401".into() },
        };
        if !append(&ctx.audit.log, entry).await && ok {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the audit log cannot be written",
            )
            .into_response();
        }
        return if ok {
            session_established(ctx.origins.port(), ctx.secret.expose())
        } else {
            ctx.failures.record_failure(now);
            unauthenticated(
                &request,
                "this launch link is not valid; open the URL printed by `airlock serve`",
            )
        };
    }
    let port = ctx.origins.port();
    match presented_credential(request.headers(), &cookie_name(port)) {
        Some(credential) if ctx.secret.matches(&credential) => next.run(request).await,
        Some(_) => {
            ctx.failures.record_failure(now);
            unauthenticated(
                &request,
                "the session token is not valid for this appliance",
            )
        }
        None => unauthenticated(
            &request,
            "open the URL printed by `airlock serve` to start a session",
        ),
    }
}

/// The `token` query parameter of a navigation to `/`, if any.
fn launch_token(request: &Request) -> Option<String> {
    if request.method() != Method::GET || request.uri().path() != "/" {
        return None;
    }
    let query = request.uri().query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "token").then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The bearer token, or else the session cookie, presented with a request.
fn presented_credential(headers: &HeaderMap, cookie: &str) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        return Some(
            value
                .strip_prefix("Bearer ")
                .unwrap_or("")
                .trim()
                .to_owned(),
        );
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == cookie).then(|| value.to_owned())
        })
}

/// Sets the session cookie and sends the browser to the clean URL, so the token leaves
/// the address bar and history.
fn session_established(port: u16, secret: &str) -> Response {
    let cookie = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(port)
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

/// 401: a short page for browser navigations, JSON for everything else.
fn unauthenticated(request: &Request, message: &str) -> Response {
    let wants_html = request.uri().path() == "/"
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Airlock — sign in</title></head>\
             <body><h1>Airlock</h1><p>{message}.</p></body></html>"
        );
        return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
    }
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).into_response()
}
