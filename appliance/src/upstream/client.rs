//! One HTTP/1.1 exchange with an upstream over a connection to its pinned address. Only the
//! headers written here leave: nothing the browser sent (cookies, authorization,
//! forwarding headers) is copied. Redirects are answers like any other; nothing follows them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ProxyError;
use super::config::{Scheme, Upstream};

/// Longest wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest error body read to explain a failure.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends `method path` (below the base path) with `body` to `addr` and returns the
/// response head once it arrives; the body is left to stream.
pub async fn send(
    upstream: &Upstream,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<Response<Incoming>, ProxyError> {
    let unreachable = |why: String| ProxyError::Unreachable {
        upstream: upstream.name.clone(),
        why,
    };
    let key = upstream.api_key().map_err(|e| ProxyError::Key {
        upstream: upstream.name.clone(),
        why: e.to_string(),
    })?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable(format!("no connection to {addr} within 10 s")))?
        .map_err(|e| unreachable(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let handshake_failed =
        |e: hyper::Error| unreachable(format!("HTTP handshake with {addr} failed: {e}"));
    let mut sender = match &upstream.tls {
        None => {
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(handshake_failed)?;
            tokio::spawn(connection);
            sender
        }
        Some(config) => {
            let secured = tokio::time::timeout(
                CONNECT_TIMEOUT,
                super::tls::connect(config.clone(), &upstream.host, stream),
            )
            .await
            .map_err(|_| unreachable(format!("no TLS handshake with {addr} within 10 s")))?
            .map_err(unreachable)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(secured))
                .await
                .map_err(handshake_failed)?;
            tokio::spawn(connection);
            sender
        }
    };
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", upstream.base_path))
        .header(HOST, host_header(upstream))
        .header(ACCEPT, "application/json, text/event-stream")
        .header(USER_AGENT, "airlock-appliance");
    if !body.is_empty() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    if let Some(key) = key {
        request = request.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| unreachable(format!("cannot build the request: {e}")))?;
    tokio::time::timeout(upstream.timeout, sender.send_request(request))
        .await
        .map_err(|_| ProxyError::Timeout {
            upstream: upstream.name.clone(),
        })?
        .map_err(|e| unreachable(format!("{addr} closed the connection: {e}")))
}

/// Turns a response that is not a success into the error a person reads: a redirect is
/// never followed; an error status carries the server's own message when it sent one.
pub async fn refuse_unless_success(
    upstream: &Upstream,
    response: Response<Incoming>,
) -> Result<Response<Incoming>, ProxyError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.is_redirection() {
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no location)")
            .chars()
            .take(200)
            .collect();
        return Err(ProxyError::Redirect {
            upstream: upstream.name.clone(),
            location,
        });
    }
    let body = read_capped(
        response.into_body(),
        MAX_ERROR_BODY,
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_default();
    Err(ProxyError::Upstream {
        upstream: upstream.name.clone(),
        status: status.as_u16(),
        message: error_message(&body),
    })
}

/// Reads a whole body of at most `limit` bytes within `deadline`; `None` when it is longer,
/// slower or broken.
pub async fn read_capped(mut body: Incoming, limit: usize, deadline: Duration) -> Option<Vec<u8>> {
    tokio::time::timeout(deadline, async move {
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.ok()?.into_data() {
                if bytes.len() + data.len() > limit {
                    return None;
                }
                bytes.extend_from_slice(&data);
            }
        }
        Some(bytes)
    })
    .await
    .ok()
    .flatten()
}

/// The `Host` header: the name as configured (virtual hosts and TLS names need it).
fn host_header(upstream: &Upstream) -> String {
    let host = if upstream.host.contains(':') {
        format!("[{}]", upstream.host)
    } else {
        upstream.host.clone()
    };
    let default_port = match upstream.scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    if upstream.port == default_port {
        host
    } else {
        format!("{host}:{}", upstream.port)
    }
}

/// The server's own words from an OpenAI-style error body (`{"error": {"message": …}}` or
/// `{"error": "…"}`), else the start of the body.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let error = v.get("error")?;
        error
            .get("message")
            .and_then(|m| m.as_str())
            .or_else(|| error.as_str())
            .map(str::to_owned)
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(500)
        .collect();
    if text.is_empty() {
        "(no message)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_the_servers_words() {
        assert_eq!(
            error_message(br#"{"error":{"message":"model not found","type":"x"}}"#),
            "model not found"
        );
        assert_eq!(error_message(br#"{"error":"busy"}"#), "busy");
        assert_eq!(error_message(b"Bad Gateway\n"), "Bad Gateway");
        assert_eq!(error_message(b""), "(no message)");
    }
}
