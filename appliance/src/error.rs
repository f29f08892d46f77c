//! One JSON error shape for every refusal and failure the API returns.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error: HTTP status, a stable machine-readable code and a human message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status sent to the client.
    pub status: StatusCode,
    /// Stable identifier the UI and tests switch on.
    pub code: &'static str,
    /// Sentence a person can act on.
    pub message: String,
    /// Extra structured detail (for example both versions of a write conflict).
    pub detail: Option<Value>,
}

impl ApiError {
    /// Builds an error without extra detail.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Attaches structured detail to the error body.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(detail) = self.detail {
            body["detail"] = detail;
        }
        (self.status, Json(body)).into_response()
    }
}
