//! The IDE's front end, embedded in the binary: `index.html` at `/`, fingerprinted files
//! under `/assets/` with immutable caching.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;

use crate::error::ApiError;
use crate::layers::security_headers::CspNonce;

/// Where `static/index.html` takes the per-response CSP nonce.
pub const NONCE_PLACEHOLDER: &str = "{{csp-nonce}}";

/// Everything `cargo xtask build` put in `static/dist`.
#[derive(RustEmbed)]
#[folder = "../static/dist"]
pub struct WebAssets;

/// Routes for the page and its assets, gzip-compressed when the browser accepts it.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
        .layer(CompressionLayer::new())
}

/// Content type for an asset name; wasm must be `application/wasm` for streaming compile.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The page, with this response's CSP nonce filled in for the editor's style elements.
async fn index(Extension(nonce): Extension<CspNonce>) -> Response {
    let Some(file) = WebAssets::get("index.html") else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such asset").into_response();
    };
    let page = String::from_utf8_lossy(&file.data).replace(NONCE_PLACEHOLDER, &nonce.0);
    let mut response = Response::new(Body::from(page));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type("index.html")),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn asset(Path(path): Path<String>) -> Response {
    serve(
        &format!("assets/{path}"),
        "public, max-age=31536000, immutable",
    )
}

fn serve(name: &str, cache_control: &'static str) -> Response {
    let Some(file) = WebAssets::get(name) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such asset").into_response();
    };
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}
