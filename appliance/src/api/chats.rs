//! Conversations (`/api/chats`) and the assistant's audit records (`/api/assistant/log`).

use airlock_protocol::chat::{AssistantEvent, Conversation, ConversationSummary};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiState;
use super::json_body::JsonBody;
use crate::audit::Entry;
use crate::audit::layer::append;
use crate::chats::ChatStoreError;
use crate::error::ApiError;

fn refused(e: ChatStoreError) -> ApiError {
    let (status, code) = match e {
        ChatStoreError::BadId => (StatusCode::BAD_REQUEST, "bad_chat_id"),
        ChatStoreError::NotFound => (StatusCode::NOT_FOUND, "no_such_chat"),
        ChatStoreError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "chat_too_large"),
        ChatStoreError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "chat_store_failed"),
    };
    ApiError::new(status, code, e.to_string())
}

/// `GET /api/chats`: the workspace's conversations, newest first.
pub async fn list(State(state): State<ApiState>) -> Json<Vec<ConversationSummary>> {
    Json(state.chats.list())
}

/// `?id=` of one conversation.
#[derive(Debug, Deserialize)]
pub struct IdQuery {
    /// The conversation's id.
    pub id: String,
}

/// `GET /api/chats/one?id=`.
pub async fn get(
    State(state): State<ApiState>,
    Query(query): Query<IdQuery>,
) -> Result<Json<Conversation>, ApiError> {
    state.chats.get(&query.id).map(Json).map_err(refused)
}

/// `POST /api/chats`: creates or replaces one.
pub async fn save(
    State(state): State<ApiState>,
    JsonBody(conversation): JsonBody<Conversation>,
) -> Result<StatusCode, ApiError> {
    state.chats.save(&conversation).map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/chats/delete` with `{"id": …}`.
pub async fn delete(
    State(state): State<ApiState>,
    JsonBody(query): JsonBody<IdQuery>,
) -> Result<StatusCode, ApiError> {
    state.chats.delete(&query.id).map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/assistant/log`: one chat, completion, apply, agent turn or undo, recorded as
/// `assistant.KIND` with the model and token counts (never the text).
pub async fn log(
    State(state): State<ApiState>,
    JsonBody(event): JsonBody<AssistantEvent>,
) -> Result<StatusCode, ApiError> {
    if !matches!(
        event.kind.as_str(),
        "chat" | "completion" | "apply" | "agent" | "undo"
    ) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_event",
            "kind is chat, completion, apply, agent or undo",
        ));
    }
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    let entry = Entry {
        actor: state.actor.clone(),
        action: format!("assistant.{}", event.kind),
        target: match &event.path {
            Some(path) => format!("{} -> {}", clip(&event.model), clip(path)),
            None => clip(&event.model),
        },
        outcome: format!(
            "{}: prompt {} tokens, output {} tokens",
            clip(&event.outcome),
            event.prompt_tokens,
            event.output_tokens
        ),
    };
    if !append(&state.audit, entry).await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the audit log cannot be written",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
