//! Authentication: the launch URL's one-time `?token=` nonce becomes an HttpOnly,
//! SameSite=Strict cookie (named per launch) holding the session secret; every other request
//! must present that cookie or the secret as an `Authorization: Bearer` token (scripts read
//! it from the token file).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::LayerContext;
use crate::audit::Entry;
use crate::audit::layer::append;
use crate::error::ApiError;

/// Middleware entry point. A right credential always passes, even while wrong ones are
/// throttled; wrong ones are audited (up to the noise budget) and counted.
pub async fn require_session(
    State(ctx): State<LayerContext>,
    request: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    let presented = presented_credentials(request.headers(), &ctx.cookie);
    let signed_in = presented.iter().any(|c| ctx.secret.matches(c));
    if let Some(nonce) = launch_token(&request) {
        let ok = ctx.launch.redeem(&nonce);
        if ok || !signed_in {
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
        }
        if ok {
            return session_established(&ctx.cookie, ctx.secret.expose());
        }
        if signed_in {
            // An old launch link opened again in a browser that is signed in already.
            return redirect_home(None);
        }
        if let Some(wait) = ctx.failures.locked_for(now) {
            return rate_limited(wait);
        }
        ctx.failures.record_failure(now);
        return unauthenticated(
            &request,
            "this launch link is not valid (each link works once); run `airlock serve` again for a new one",
        );
    }
    if signed_in {
        return next.run(request).await;
    }
    if presented.is_empty() {
        return unauthenticated(
            &request,
            "open the URL printed by `airlock serve` to start a session",
        );
    }
    if let Some(wait) = ctx.failures.locked_for(now) {
        return rate_limited(wait);
    }
    ctx.failures.record_failure(now);
    if let Some(skipped) = ctx.noise.admit(now) {
        let entry = Entry {
            actor: "unauthenticated".into(),
            action: "session.auth_failed".into(),
            target: request.uri().path().to_owned(),
            outcome: noisy_outcome("error:401 wrong credential", skipped),
        };
        append(&ctx.audit.log, entry).await;
    }
    unauthenticated(
        &request,
        "the session token is not valid for this appliance",
    )
}

/// An outcome that also says how many like it were left out of the log before it.
pub fn noisy_outcome(outcome: &str, skipped: u64) -> String {
    if skipped == 0 {
        outcome.to_owned()
    } else {
        format!("{outcome} ({skipped} more before this one were not recorded)")
    }
}

fn rate_limited(wait: std::time::Duration) -> Response {
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
    response
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

/// Every credential presented with a request: the bearer token, and every cookie of this
/// launch's name (a page may carry several, e.g. one set for a parent path).
fn presented_credentials(headers: &HeaderMap, cookie: &str) -> Vec<String> {
    let mut found = Vec::new();
    for value in headers.get_all(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        found.push(
            value
                .strip_prefix("Bearer ")
                .unwrap_or("")
                .trim()
                .to_owned(),
        );
    }
    found.extend(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == cookie).then(|| value.to_owned())
            }),
    );
    found
}

/// Sets the session cookie and sends the browser to the clean URL, so the launch link
/// leaves the address bar.
fn session_established(cookie: &str, secret: &str) -> Response {
    redirect_home(Some(format!(
        "{cookie}={secret}; Path=/; HttpOnly; SameSite=Strict"
    )))
}

fn redirect_home(cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
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
