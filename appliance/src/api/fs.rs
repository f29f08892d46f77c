//! Workspace file endpoints: tree, read, versioned write, create, rename, delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::json_body::JsonBody;
use crate::error::ApiError;
use crate::workspace::files::EntryKind;
use crate::workspace::tree::{MAX_TREE_ENTRIES, list_tree};
use crate::workspace::{FileError, PathError, Workspace};

/// Result type of every handler here.
type ApiResult = Result<Json<Value>, ApiError>;

/// Runs blocking filesystem work off the async workers.
async fn blocking<T: Send + 'static>(
    workspace: &Arc<Workspace>,
    work: impl FnOnce(&Workspace) -> Result<T, FileError> + Send + 'static,
) -> Result<T, ApiError> {
    let workspace = workspace.clone();
    tokio::task::spawn_blocking(move || work(&workspace))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(to_api_error)
}

/// Maps a workspace error onto an HTTP answer the UI can act on.
pub fn to_api_error(error: FileError) -> ApiError {
    let message = error.to_string();
    let (status, code) = match &error {
        FileError::Path(PathError::Invalid(_)) => (StatusCode::BAD_REQUEST, "invalid_path"),
        FileError::Path(PathError::Escapes(_)) => (StatusCode::FORBIDDEN, "path_outside_workspace"),
        FileError::Path(PathError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
        FileError::Path(PathError::Io(..)) | FileError::Io(..) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "io_error")
        }
        FileError::IsADirectory(_) => (StatusCode::BAD_REQUEST, "is_a_directory"),
        FileError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"),
        FileError::Binary { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "binary_file"),
        FileError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
        FileError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists"),
        FileError::NotEmpty(_) => (StatusCode::CONFLICT, "not_empty"),
    };
    let api_error = ApiError::new(status, code, message);
    match error {
        FileError::Conflict {
            base,
            current,
            current_content,
        } => api_error.with_detail(json!({
            "base_version": base,
            "current_version": current,
            "current_content": current_content,
        })),
        FileError::TooLarge { size } | FileError::Binary { size } => {
            api_error.with_detail(json!({ "size": size }))
        }
        _ => api_error,
    }
}

/// `GET /api/fs/tree`
pub async fn tree(State(state): State<ApiState>) -> ApiResult {
    let listing = blocking(&state.workspace, |ws| {
        Ok(list_tree(ws.root(), MAX_TREE_ENTRIES))
    })
    .await?;
    Ok(Json(json!(listing)))
}

/// Query of `GET /api/fs/file`.
#[derive(Deserialize)]
pub struct PathQuery {
    path: String,
}

/// `GET /api/fs/file?path=…`
pub async fn read(
    State(state): State<ApiState>,
    query: Result<Query<PathQuery>, QueryRejection>,
) -> ApiResult {
    let Ok(Query(PathQuery { path })) = query else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the `path` query parameter is required",
        ));
    };
    let file = blocking(&state.workspace, move |ws| ws.read(&path)).await?;
    Ok(Json(json!(file)))
}

/// Body of `PUT /api/fs/file`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    path: String,
    content: String,
    /// Version the client last read; `null` creates a file that must not exist yet.
    base_version: Option<String>,
}

/// `PUT /api/fs/file`: atomic, versioned save.
pub async fn write(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<WriteRequest>,
) -> ApiResult {
    let path = body.path.clone();
    let version = blocking(&state.workspace, move |ws| {
        ws.write(&body.path, &body.content, body.base_version.as_deref())
    })
    .await?;
    Ok(Json(json!({ "path": path, "version": version })))
}

/// Body of `POST /api/fs/create`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    path: String,
    kind: EntryKind,
    #[serde(default)]
    content: String,
}

/// `POST /api/fs/create`: never overwrites.
pub async fn create(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<CreateRequest>,
) -> ApiResult {
    let path = body.path.clone();
    let version = blocking(&state.workspace, move |ws| {
        ws.create(&body.path, body.kind, &body.content)
    })
    .await?;
    Ok(Json(json!({ "path": path, "version": version })))
}

/// Body of `POST /api/fs/rename`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    from: String,
    to: String,
}

/// `POST /api/fs/rename`: never replaces an existing entry.
pub async fn rename(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<RenameRequest>,
) -> ApiResult {
    let to = body.to.clone();
    blocking(&state.workspace, move |ws| ws.rename(&body.from, &body.to)).await?;
    Ok(Json(json!({ "path": to })))
}

/// Body of `POST /api/fs/delete`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    path: String,
    #[serde(default)]
    recursive: bool,
}

/// `POST /api/fs/delete`
pub async fn delete(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<DeleteRequest>,
) -> ApiResult {
    let path = body.path.clone();
    blocking(&state.workspace, move |ws| {
        ws.delete(&body.path, body.recursive)
    })
    .await?;
    Ok(Json(json!({ "deleted": path })))
}
