//! `GET /api/models` and `GET /api/models/file?path=NAME`: the GGUF files an administrator
//! placed in the `--models` folder, listed and streamed to the in-browser engine. Only plain
//! `*.gguf` names directly in that folder are served; every download is audited (`model.load`).

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::ApiState;
use crate::error::ApiError;

/// Bytes read from disk per streamed chunk.
const CHUNK: usize = 1 << 20;

/// The folder of model files, fixed at launch.
#[derive(Debug, Clone)]
pub struct ModelDir(pub PathBuf);

/// One listed model.
#[derive(Debug, Serialize)]
pub struct ModelEntry {
    /// File name (the `path` to download it by).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Whether `name` is a plain `*.gguf` file name (no folders, no hidden files).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 200
        && name.ends_with(".gguf")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn no_models() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_models",
        "this appliance was started without --models",
    )
}

/// Lists the folder's `*.gguf` files, by name.
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<ModelEntry>>, ApiError> {
    let dir = state.models.as_ref().ok_or_else(no_models)?;
    let mut entries = Vec::new();
    let mut read = tokio::fs::read_dir(&dir.0).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "models_unreadable",
            e.to_string(),
        )
    })?;
    while let Ok(Some(entry)) = read.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !valid_name(&name) {
            continue;
        }
        if let Ok(meta) = tokio::fs::metadata(entry.path()).await
            && meta.is_file()
        {
            entries.push(ModelEntry {
                name,
                bytes: meta.len(),
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(entries))
}

/// Query of a download.
#[derive(Debug, Deserialize)]
pub struct FileQuery {
    /// File name inside the models folder.
    pub path: String,
}

fn model_path(dir: &Path, name: &str) -> Result<PathBuf, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_model_name",
            "model names are plain *.gguf file names",
        ));
    }
    Ok(dir.join(name))
}

/// Streams one model file in 1 MiB chunks (never held whole in memory).
pub async fn file(
    State(state): State<ApiState>,
    Query(query): Query<FileQuery>,
) -> Result<Response, ApiError> {
    let dir = state.models.as_ref().ok_or_else(no_models)?;
    let path = model_path(&dir.0, &query.path)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no_such_model", "no such model file");
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let meta = file.metadata().await.map_err(|_| not_found())?;
    if !meta.is_file() {
        return Err(not_found());
    }
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        let mut chunk = vec![0u8; CHUNK];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, meta.len().to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_gguf_names_are_served() {
        assert!(valid_name("SmolLM2-135M-Instruct.Q4_1.gguf"));
        for bad in [
            "../x.gguf",
            "a/b.gguf",
            ".hidden.gguf",
            "x.bin",
            "x.gguf/",
            "%2e.gguf",
            "a b.gguf",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
