//! The audit layer: every authenticated workspace API call becomes an audit record. A
//! state-changing call is recorded as an `attempt` before it runs — if that cannot be
//! written the call is refused — and its outcome is recorded before it is acknowledged.

use std::sync::Arc;

use airlock_protocol::routes;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AuditLog, Entry};
use crate::error::ApiError;

/// Largest body the layer buffers to learn a call's target (the API's own limit).
pub const MAX_AUDITED_BODY: usize = crate::api::MAX_BODY_BYTES;

/// The log plus the identity recorded as actor.
#[derive(Clone)]
pub struct AuditContext {
    /// The log.
    pub log: Arc<AuditLog>,
    /// Session id of this launch (random, not the token).
    pub actor: String,
}

/// The audit action for an API route, if it is audited ([`routes::audit_action`]).
pub fn action_for(method: &Method, path: &str) -> Option<String> {
    routes::audit_action(method.as_str(), path)
}

/// Middleware entry point.
pub async fn record(State(ctx): State<AuditContext>, request: Request, next: Next) -> Response {
    let Some(action) = action_for(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let mutating = !matches!(*request.method(), Method::GET | Method::HEAD);
    let (request, target, approved) = match target_of(request).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let entry = |outcome: String| Entry {
        actor: ctx.actor.clone(),
        action: action.clone(),
        target: target.clone(),
        outcome,
    };
    if mutating && (!ctx.log.is_healthy() || !append(&ctx.log, entry("attempt".into())).await) {
        return audit_unavailable();
    }
    let response = next.run(request).await;
    let status = response.status();
    let (response, mut outcome) =
        if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
            (response, "ok".to_owned())
        } else {
            refusal_outcome(response).await
        };
    if approved && status.is_success() {
        outcome.push_str(" (approved by the user)");
    }
    if !append(&ctx.log, entry(outcome)).await && mutating {
        return audit_unavailable();
    }
    response
}

/// `error:STATUS code (reason)` for an error answer, read from its (small) JSON body, which
/// is passed on unchanged.
async fn refusal_outcome(response: Response) -> (Response, String) {
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (
            Response::from_parts(parts, Body::empty()),
            format!("error:{status}"),
        );
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let mut outcome = format!("error:{status}");
    if let Some(code) = json["error"].as_str() {
        outcome.push_str(&format!(" {code}"));
    }
    if let Some(reason) = json["detail"]["reason"].as_str() {
        outcome.push_str(&format!(" ({reason})"));
    }
    (Response::from_parts(parts, Body::from(bytes)), outcome)
}

/// Appends off the async workers; false when the record could not be written.
pub async fn append(log: &Arc<AuditLog>, entry: Entry) -> bool {
    let log = log.clone();
    tokio::task::spawn_blocking(move || log.append(entry))
        .await
        .is_ok_and(|r| r.is_ok())
}

fn audit_unavailable() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the audit log cannot be written, so changes are refused until it can",
    )
    .into_response()
}

/// The call's target: the `path` query parameter, or the JSON body's `path` / `from → to`.
/// The body is buffered (within the API's limit) and handed on unchanged.
async fn target_of(request: Request) -> Result<(Request, String, bool), Response> {
    if let Some(query) = request.uri().query() {
        let path = query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "path").then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        });
        if let Some(path) = path {
            return Ok((request, path, false));
        }
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok((request, String::new(), false));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_AUDITED_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than the appliance accepts",
            )
            .into_response()
        })?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let target = match (
        json["path"].as_str(),
        json["from"].as_str(),
        json["to"].as_str(),
    ) {
        (Some(path), _, _) => path.to_owned(),
        (None, Some(from), Some(to)) => format!("{from} -> {to}"),
        _ => String::new(),
    };
    let approved = json["approval"].is_string();
    Ok((
        Request::from_parts(parts, Body::from(bytes)),
        target,
        approved,
    ))
}
