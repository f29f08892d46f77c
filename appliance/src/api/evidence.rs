//! `GET /api/evidence` (the report) and `GET /api/evidence/pack` (one downloadable archive).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use crate::error::ApiError;
use crate::evidence::{EvidenceReport, pack, report};

/// The report, measured now.
pub async fn view(State(state): State<ApiState>) -> Result<Json<EvidenceReport>, ApiError> {
    tokio::task::spawn_blocking(move || Json(report(&state)))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// The evidence pack as a tar download.
pub async fn export_pack(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let built = tokio::task::spawn_blocking(move || {
        let measured = report(&state);
        pack(&state, &measured).map(|bytes| (bytes, measured.generated_at))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let (bytes, when) = built.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "io_error",
            format!("cannot build the evidence pack: {e}"),
        )
    })?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    let stamp: String = when
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"airlock-evidence-{stamp}.tar\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
