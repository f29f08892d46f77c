//! Strict security headers on every response the appliance sends: pages, assets, API
//! answers and refusals alike.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::origins::LocalOrigins;

/// Permissions the IDE never needs, denied to the page and anything it embeds.
pub const PERMISSIONS_POLICY: &str =
    "camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=(), bluetooth=(), payment=()";

/// A fresh per-response nonce that lets the editor's generated `<style>` elements apply
/// under CSP without allowing inline styles in general. Handlers that render HTML read it
/// from the request extensions.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn generate() -> Self {
        let mut bytes = [0u8; 16];
        // A failed random source yields an unusable (never matching) nonce, not a weak one.
        if getrandom::fill(&mut bytes).is_err() {
            return Self("unavailable".into());
        }
        Self(hex::encode(bytes))
    }
}

/// The Content-Security-Policy for a request that arrived with the (already allowed) `host`.
pub fn content_security_policy(host: &str, nonce: &CspNonce) -> String {
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'nonce-{}'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self' ws://{host}; \
         worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'none'; object-src 'none'",
        nonce.0
    )
}

/// Middleware entry point.
pub async fn apply(
    State(origins): State<Arc<LocalOrigins>>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::generate();
    request.extensions_mut().insert(nonce.clone());
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| origins.is_allowed_host(h))
        .unwrap_or(origins.canonical_host())
        .to_ascii_lowercase();
    let mut response = next.run(request).await;
    insert_all(response.headers_mut(), &host, &nonce);
    response
}

fn insert_all(headers: &mut HeaderMap, host: &str, nonce: &CspNonce) {
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(host, nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let fixed: [(&str, &'static str); 8] = [
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", PERMISSIONS_POLICY),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("x-permitted-cross-domain-policies", "none"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for cors in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
    ] {
        headers.remove(cors);
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
