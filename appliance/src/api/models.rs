//! `GET /api/models` and `GET /api/models/file?path=NAME`: the model store listed (with each
//! model's health and facts) and streamed to the in-browser engine. Only healthy models are
//! served; each download is hashed as it streams, and a file whose bytes no longer match the
//! manifest's SHA-256 is marked damaged and its stream ends in an error. Every download is
//! audited (`model.load`).

use std::sync::Arc;

use airlock_protocol::models::ModelList;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::ApiState;
use crate::error::ApiError;
use crate::models::hash::CHUNK;
use crate::models::store::{ModelStore, Unservable};

fn no_models() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_models",
        "this appliance was started without a model store (airlock serve --models DIR)",
    )
}

fn store(state: &ApiState) -> Result<&Arc<ModelStore>, ApiError> {
    state.models.as_ref().ok_or_else(no_models)
}

/// Lists the store's models with their health.
pub async fn list(State(state): State<ApiState>) -> Result<Json<ModelList>, ApiError> {
    Ok(Json(store(&state)?.list()))
}

/// Query of a download.
#[derive(Debug, Deserialize)]
pub struct FileQuery {
    /// The model's name in the store.
    pub path: String,
}

/// What a download stream carries between chunks.
struct Download {
    file: tokio::fs::File,
    hasher: Sha256,
    expected: String,
    name: String,
    store: Arc<ModelStore>,
    /// The chunk read but not sent yet.
    pending: Option<Bytes>,
    done: bool,
}

/// Streams one model file in 1 MiB chunks (never held whole in memory).
pub async fn file(
    State(state): State<ApiState>,
    Query(query): Query<FileQuery>,
) -> Result<Response, ApiError> {
    let store = store(&state)?.clone();
    if !crate::models::valid_name(&query.path) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_model_name",
            "model names are plain *.gguf file names",
        ));
    }
    let (path, record) = store.servable(&query.path).map_err(|e| match e {
        Unservable::Unknown => {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_model", "no such model")
        }
        Unservable::Damaged(reason) => ApiError::new(
            StatusCode::CONFLICT,
            "model_damaged",
            format!(
                "model {} is damaged and is not served: {reason}",
                query.path
            ),
        ),
    })?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no_such_model", "no such model file");
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let download = Download {
        file,
        hasher: Sha256::new(),
        expected: record.sha256.clone(),
        name: record.name.clone(),
        store,
        pending: None,
        done: false,
    };
    // Each chunk is sent only once the next one has been read, and the last only once the
    // whole file hashed to the manifest's SHA-256: a changed file never arrives complete.
    let stream = futures_util::stream::unfold(download, |mut d| async move {
        loop {
            if d.done {
                return None;
            }
            let mut chunk = vec![0u8; CHUNK];
            match d.file.read(&mut chunk).await {
                Ok(0) => {
                    d.done = true;
                    let hash = hex::encode(std::mem::take(&mut d.hasher).finalize());
                    if hash == d.expected {
                        let last = d.pending.take()?;
                        d.store.add_served(last.len() as u64);
                        return Some((Ok(last), d));
                    }
                    let reason = "its bytes no longer hash to the manifest's SHA-256";
                    d.store.mark_damaged(&d.name, reason);
                    tracing::warn!("model {} is damaged: {reason}", d.name);
                    return Some((Err(std::io::Error::other(reason)), d));
                }
                Ok(n) => {
                    chunk.truncate(n);
                    d.hasher.update(&chunk);
                    if let Some(ready) = d.pending.replace(Bytes::from(chunk)) {
                        d.store.add_served(ready.len() as u64);
                        return Some((Ok::<_, std::io::Error>(ready), d));
                    }
                }
                Err(e) => {
                    d.done = true;
                    return Some((Err(e), d));
                }
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, record.bytes.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("x-airlock-sha256"),
                record.sha256,
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
