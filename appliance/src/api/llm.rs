//! `/api/llm/v1/…`: the page's calls to the team server, handed to [`crate::upstream`] and
//! relayed back as they stream. Every call, refused or not, ends in one `llm.call` audit
//! record (upstream, model, token counts, latency, outcome — never the text).

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use crate::audit::{AuditLog, Entry};
use crate::error::ApiError;
use crate::upstream::relay::{OnEnd, RelayEnd, Summary};
use crate::upstream::{self, Endpoint, ProxyError, Upstream};

/// `GET /api/llm/v1/models`.
pub async fn models(State(state): State<ApiState>) -> Response {
    match upstreams(&state) {
        Ok(list) => {
            Json(upstream::models(&list, state.resolver.as_ref(), &state.launch.listeners).await)
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /api/llm/v1/chat/completions`.
pub async fn chat(State(state): State<ApiState>, body: Bytes) -> Response {
    forward(state, Endpoint::ChatCompletions, body).await
}

/// `POST /api/llm/v1/completions`.
pub async fn completions(State(state): State<ApiState>, body: Bytes) -> Response {
    forward(state, Endpoint::Completions, body).await
}

async fn forward(state: ApiState, endpoint: Endpoint, body: Bytes) -> Response {
    let list = match upstreams(&state) {
        Ok(list) => list,
        Err(e) => return e.into_response(),
    };
    let prepared = match upstream::prepare(&list, &body) {
        Ok(prepared) => prepared,
        Err(e) => {
            let target = endpoint.path().to_owned();
            record(&state.audit, &state.actor, target, format!("refused: {e}"));
            return proxy_error(&e);
        }
    };
    let target = format!("{} {}", prepared.upstream.name, endpoint.path());
    let on_end = audit_on_end(
        state.audit.clone(),
        state.actor.clone(),
        target.clone(),
        prepared.model.clone(),
    );
    let answer = upstream::call(
        &prepared,
        endpoint,
        state.resolver.as_ref(),
        &state.launch.listeners,
        on_end,
    )
    .await;
    match answer {
        Ok(answer) => {
            let mut response = Response::new(Body::from_stream(answer.body));
            *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&answer.content_type) {
                headers.insert(header::CONTENT_TYPE, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            let outcome = match &e {
                ProxyError::Refused { .. } => format!("refused: model {}: {e}", prepared.model),
                _ => format!("error: model {}: {e}", prepared.model),
            };
            record(&state.audit, &state.actor, target, outcome);
            proxy_error(&e)
        }
    }
}

/// The team servers of the pinned policy in force.
fn upstreams(state: &ApiState) -> Result<Vec<Upstream>, ApiError> {
    let policy = state
        .launch
        .policy
        .current()
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "policy_unavailable", e))?;
    if policy.upstreams.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "upstream_not_configured",
            ProxyError::NotConfigured.to_string(),
        ));
    }
    Ok(policy.upstreams.clone())
}

fn proxy_error(e: &ProxyError) -> Response {
    ApiError::new(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY),
        e.code(),
        e.to_string(),
    )
    .into_response()
}

/// Writes the call's record when its answer ends, however it ends.
fn audit_on_end(log: Arc<AuditLog>, actor: String, target: String, model: String) -> OnEnd {
    Box::new(move |summary: Summary| {
        let outcome = describe(&model, &summary);
        record(&log, &actor, target, outcome);
    })
}

/// One line for the audit record: outcome, model, token counts, time, size.
fn describe(model: &str, summary: &Summary) -> String {
    let verdict = match &summary.end {
        RelayEnd::Complete => "ok".to_owned(),
        RelayEnd::TooLarge => "cut off: answer too large".to_owned(),
        RelayEnd::TimedOut => "cut off: time limit".to_owned(),
        RelayEnd::Broken(why) => format!("error: the server broke off ({why})"),
        RelayEnd::Cancelled => "cancelled by the page".to_owned(),
    };
    let usage = summary.usage;
    let completion = match usage.completion_tokens {
        Some(n) => format!("{n} completion tokens"),
        None => format!("~{} completion tokens (streamed pieces)", usage.text_events),
    };
    let prompt = usage.prompt_tokens.map_or_else(
        || "prompt tokens unknown".to_owned(),
        |n| format!("{n} prompt tokens"),
    );
    format!(
        "{verdict}: model {model}, {prompt}, {completion}, {} ms, {} bytes",
        summary.elapsed.as_millis(),
        summary.bytes
    )
}

/// Appends an `llm.call` record before the answer's last byte leaves (one fsync per call),
/// so a page that has read the whole answer finds its record written.
fn record(log: &Arc<AuditLog>, actor: &str, target: String, outcome: String) {
    let entry = Entry {
        actor: actor.to_owned(),
        action: "llm.call".into(),
        target,
        outcome,
    };
    if let Err(e) = log.append(entry) {
        tracing::error!("cannot write the audit record of a team-server call: {e}");
    }
}
