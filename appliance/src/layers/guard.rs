//! The origin guard: decides, before any handler, whether a request may come from where it
//! claims. It defends against DNS rebinding (Host), cross-site requests (Origin,
//! Sec-Fetch-Site), CSRF by simple forms (content type) and CORS probing (preflights).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::LayerContext;
use super::auth::noisy_outcome;
use crate::audit::Entry;
use crate::audit::layer::append;
use crate::error::ApiError;
use crate::origins::LocalOrigins;

/// Why the guard refused a request; each maps to a status and a stable code.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No Host header, an empty one, or more than one.
    MissingHost,
    /// A Host that is not exactly one of this appliance's loopback hosts.
    ForeignHost,
    /// An absolute-form request target naming another authority than Host.
    AuthorityMismatch,
    /// A CORS preflight: the appliance serves no cross-origin clients at all.
    Preflight,
    /// `Sec-Fetch-Site` says the request came from another site.
    CrossSiteFetch,
    /// An Origin header that is not exactly one of ours (including `null`).
    ForeignOrigin,
    /// A state-changing request or WebSocket upgrade without any Origin.
    MissingOrigin,
    /// A state-changing request whose body is not `application/json`.
    NotJson,
}

impl Refusal {
    fn status_and_code(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Refusal::MissingHost => (
                StatusCode::BAD_REQUEST,
                "missing_host",
                "a single Host header is required",
            ),
            Refusal::ForeignHost => (
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                "this Host is not the Airlock appliance",
            ),
            Refusal::AuthorityMismatch => (
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                "request target names another host",
            ),
            Refusal::Preflight => (
                StatusCode::FORBIDDEN,
                "cors_refused",
                "cross-origin requests are never allowed",
            ),
            Refusal::CrossSiteFetch => (
                StatusCode::FORBIDDEN,
                "cross_site_refused",
                "requests from other sites are refused",
            ),
            Refusal::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "this Origin may not use the appliance",
            ),
            Refusal::MissingOrigin => (
                StatusCode::FORBIDDEN,
                "origin_required",
                "state-changing requests and WebSocket upgrades must carry an Origin",
            ),
            Refusal::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "state-changing requests must send application/json",
            ),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_and_code();
        ApiError::new(status, code, message).into_response()
    }
}

/// Middleware entry point: refuses the request (audited, within the noise budget) or
/// passes it on unchanged.
pub async fn enforce(State(ctx): State<LayerContext>, request: Request, next: Next) -> Response {
    match check(
        &ctx.origins,
        request.method(),
        request.uri(),
        request.headers(),
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(reason = ?refusal, method = %request.method(), path = request.uri().path(), "guard refused request");
            if let Some(skipped) = ctx.noise.admit(std::time::Instant::now()) {
                let (_, code, _) = refusal.status_and_code();
                let entry = Entry {
                    actor: "unauthenticated".into(),
                    action: "guard.refused".into(),
                    target: format!("{} {}", request.method(), request.uri().path()),
                    outcome: noisy_outcome(&format!("refused: {code}"), skipped),
                };
                append(&ctx.audit.log, entry).await;
            }
            refusal.into_response()
        }
    }
}

/// The guard's rules, as a pure function of the request head.
pub fn check(
    origins: &LocalOrigins,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let host = single_header(headers, header::HOST).ok_or(Refusal::MissingHost)?;
    if host.is_empty() {
        return Err(Refusal::MissingHost);
    }
    if !origins.is_allowed_host(host) {
        return Err(Refusal::ForeignHost);
    }
    if let Some(authority) = uri.authority()
        && !authority.as_str().eq_ignore_ascii_case(host)
    {
        return Err(Refusal::AuthorityMismatch);
    }
    if method == Method::OPTIONS || headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return Err(Refusal::Preflight);
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Err(Refusal::CrossSiteFetch);
        }
    }
    let origin = match headers.get_all(header::ORIGIN).iter().count() {
        0 => None,
        1 => Some(
            headers[header::ORIGIN]
                .to_str()
                .map_err(|_| Refusal::ForeignOrigin)?,
        ),
        _ => return Err(Refusal::ForeignOrigin),
    };
    if let Some(origin) = origin
        && !origins.is_allowed_origin(origin)
    {
        return Err(Refusal::ForeignOrigin);
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD);
    if (changes_state || is_websocket_upgrade(headers)) && origin.is_none() {
        return Err(Refusal::MissingOrigin);
    }
    if changes_state && !is_json(headers) {
        return Err(Refusal::NotJson);
    }
    Ok(())
}

fn single_header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok().map(str::trim)
}

/// True for a request asking to switch to the WebSocket protocol.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get_all(header::UPGRADE).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("websocket"))
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = single_header(headers, header::CONTENT_TYPE) else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Uri};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn rules_in_isolation() {
        let o = LocalOrigins::new(9000);
        let root: Uri = "/".parse().unwrap();
        let ok_host = ("host", "127.0.0.1:9000");
        assert_eq!(check(&o, &Method::GET, &root, &headers(&[ok_host])), Ok(()));
        assert_eq!(
            check(&o, &Method::GET, &root, &headers(&[])),
            Err(Refusal::MissingHost)
        );
        assert_eq!(
            check(
                &o,
                &Method::GET,
                &root,
                &headers(&[ok_host, ("host", "evil:9000")])
            ),
            Err(Refusal::MissingHost)
        );
        let absolute: Uri = "http://evil.com/".parse().unwrap();
        assert_eq!(
            check(&o, &Method::GET, &absolute, &headers(&[ok_host])),
            Err(Refusal::AuthorityMismatch)
        );
        let post = |extra: &[(&'static str, &'static str)]| {
            let mut all = vec![ok_host];
            all.extend_from_slice(extra);
            check(&o, &Method::POST, &root, &headers(&all))
        };
        assert_eq!(
            post(&[("content-type", "application/json")]),
            Err(Refusal::MissingOrigin)
        );
        assert_eq!(
            post(&[
                ("origin", "http://127.0.0.1:9000"),
                ("content-type", "application/json; charset=utf-8")
            ]),
            Ok(())
        );
        assert_eq!(
            post(&[
                ("origin", "http://127.0.0.1:9000"),
                ("content-type", "application/jsonx")
            ]),
            Err(Refusal::NotJson)
        );
    }
}
