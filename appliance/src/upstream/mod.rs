//! The team inference server: the one way out of the machine an administrator can open. A
//! pinned admin policy names OpenAI-compatible servers (`[[upstream]]`); the page's calls to
//! `/api/llm/v1/…` are checked, sent to a pinned, allowlisted address with the appliance's own
//! headers, and relayed back as they stream. Nothing here knows HTTP routes (`api/llm.rs`).

pub mod address;
pub mod client;
pub mod config;
pub mod relay;
pub mod resolve;
pub mod tls;
pub mod usage;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use airlock_protocol::llm::{LlmModel, LlmModels};
use bytes::Bytes;
use futures_util::Stream;
use http::Method;
use serde::Deserialize;
use serde_json::Value;

pub use config::{Upstream, UpstreamConfig};
use resolve::{PinError, Resolve, pin};

/// Why a call to the team server did not happen or did not finish.
#[derive(Debug)]
pub enum ProxyError {
    /// No upstream is configured in a pinned admin policy.
    NotConfigured,
    /// The request is not a JSON object with a `model`.
    BadRequest(String),
    /// No upstream offers that model.
    ModelNotOffered {
        /// The model asked for.
        model: String,
        /// Every model offered.
        offered: Vec<String>,
    },
    /// The request body is over the upstream's limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The address is not allowed (SSRF protection).
    Refused {
        /// Upstream name.
        upstream: String,
        /// Which rule refused it.
        why: String,
    },
    /// No connection or no answer.
    Unreachable {
        /// Upstream name.
        upstream: String,
        /// What went wrong.
        why: String,
    },
    /// The API key file could not be read.
    Key {
        /// Upstream name.
        upstream: String,
        /// What went wrong.
        why: String,
    },
    /// The server answered with a redirect, which is never followed.
    Redirect {
        /// Upstream name.
        upstream: String,
        /// Where it pointed.
        location: String,
    },
    /// The server answered with an error status.
    Upstream {
        /// Upstream name.
        upstream: String,
        /// Its HTTP status.
        status: u16,
        /// Its own message.
        message: String,
    },
    /// No answer within the call's time limit.
    Timeout {
        /// Upstream name.
        upstream: String,
    },
}

impl ProxyError {
    /// A stable code the page switches on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "upstream_not_configured",
            Self::BadRequest(_) => "bad_request",
            Self::ModelNotOffered { .. } => "model_not_offered",
            Self::TooLarge { .. } => "request_too_large",
            Self::Refused { .. } => "upstream_refused",
            Self::Unreachable { .. } | Self::Key { .. } => "upstream_unreachable",
            Self::Redirect { .. } => "upstream_redirect",
            Self::Upstream { .. } => "upstream_error",
            Self::Timeout { .. } => "upstream_timeout",
        }
    }

    /// The HTTP status the page gets.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotConfigured => 404,
            Self::BadRequest(_) | Self::ModelNotOffered { .. } => 400,
            Self::TooLarge { .. } => 413,
            Self::Refused { .. } => 403,
            Self::Timeout { .. } => 504,
            _ => 502,
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConfigured => write!(
                f,
                "no team server is configured; an administrator adds one to the pinned policy"
            ),
            Self::BadRequest(why) => write!(f, "the request is not valid: {why}"),
            Self::ModelNotOffered { model, offered } => write!(
                f,
                "the team server does not offer {model:?}; offered: {}",
                offered.join(", ")
            ),
            Self::TooLarge { limit } => {
                write!(
                    f,
                    "the request is larger than the team server's {limit} byte limit"
                )
            }
            Self::Refused { upstream, why } => {
                write!(
                    f,
                    "Airlock refused to contact team server {upstream}: {why}"
                )
            }
            Self::Unreachable { upstream, why } => {
                write!(f, "team server {upstream} cannot be reached: {why}")
            }
            Self::Key { upstream, why } => {
                write!(
                    f,
                    "the API key file of team server {upstream} cannot be read: {why}"
                )
            }
            Self::Redirect { upstream, location } => write!(
                f,
                "team server {upstream} answered with a redirect to {location}; Airlock does not follow redirects"
            ),
            Self::Upstream {
                upstream,
                status,
                message,
            } => write!(f, "team server {upstream} answered {status}: {message}"),
            Self::Timeout { upstream } => {
                write!(
                    f,
                    "team server {upstream} did not answer within the time limit"
                )
            }
        }
    }
}

/// The calls a page may make: these paths and methods only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /chat/completions`.
    ChatCompletions,
    /// `POST /completions`.
    Completions,
}

impl Endpoint {
    /// Path below the upstream's base path.
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/chat/completions",
            Self::Completions => "/completions",
        }
    }
}

/// A generation call checked and ready to send.
#[derive(Debug)]
pub struct Prepared {
    /// The upstream offering the model.
    pub upstream: Upstream,
    /// The model asked for.
    pub model: String,
    /// The body to send.
    pub body: Bytes,
}

/// Checks a page's request body and picks the upstream by its `model`. A streamed call asks
/// for token counts (`stream_options.include_usage`) so the audit record has them.
pub fn prepare(upstreams: &[Upstream], raw: &[u8]) -> Result<Prepared, ProxyError> {
    if upstreams.is_empty() {
        return Err(ProxyError::NotConfigured);
    }
    let mut request: Value = serde_json::from_slice(raw)
        .map_err(|e| ProxyError::BadRequest(format!("not JSON: {e}")))?;
    let object = request
        .as_object_mut()
        .ok_or_else(|| ProxyError::BadRequest("the body must be a JSON object".into()))?;
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ProxyError::BadRequest("`model` (a string) is missing".into()))?
        .to_owned();
    let upstream =
        upstreams
            .iter()
            .find(|u| u.offers(&model))
            .ok_or_else(|| ProxyError::ModelNotOffered {
                model: model.clone(),
                offered: upstreams.iter().flat_map(|u| u.models.clone()).collect(),
            })?;
    if raw.len() > upstream.max_request_bytes {
        return Err(ProxyError::TooLarge {
            limit: upstream.max_request_bytes,
        });
    }
    if object.get("stream").and_then(Value::as_bool) == Some(true)
        && !object.contains_key("stream_options")
    {
        object.insert(
            "stream_options".into(),
            serde_json::json!({ "include_usage": true }),
        );
    }
    Ok(Prepared {
        upstream: upstream.clone(),
        model,
        body: Bytes::from(request.to_string()),
    })
}

/// An answer on its way: status, content type, and the body as it streams.
pub struct Answer<S> {
    /// The upstream's status (a success).
    pub status: u16,
    /// `text/event-stream` or `application/json`.
    pub content_type: String,
    /// The body, relayed as it arrives.
    pub body: S,
}

/// Sends a prepared call to its upstream's pinned address and relays the answer;
/// `on_end` hears once how it ended.
pub async fn call(
    prepared: &Prepared,
    endpoint: Endpoint,
    resolver: &dyn Resolve,
    own: &[SocketAddr],
    on_end: relay::OnEnd,
) -> Result<Answer<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static>, ProxyError> {
    let upstream = &prepared.upstream;
    let started = Instant::now();
    let addr = pin_address(upstream, resolver, own).await?;
    let response = client::send(
        upstream,
        addr,
        Method::POST,
        endpoint.path(),
        prepared.body.clone(),
    )
    .await?;
    let response = client::refuse_unless_success(upstream, response).await?;
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let streaming = content_type.starts_with("text/event-stream");
    let status = response.status().as_u16();
    let body = relay::relay(
        response.into_body(),
        upstream.max_response_bytes,
        started,
        started + upstream.timeout,
        streaming,
        on_end,
    );
    Ok(Answer {
        status,
        content_type: if streaming {
            "text/event-stream".into()
        } else {
            "application/json".into()
        },
        body,
    })
}

/// The models every upstream offers, each marked available when its server lists it now,
/// with its context where the admin or the server says.
pub async fn models(
    upstreams: &[Upstream],
    resolver: &dyn Resolve,
    own: &[SocketAddr],
) -> LlmModels {
    let mut list = LlmModels::default();
    for upstream in upstreams {
        let listed = list_upstream(upstream, resolver, own).await;
        if let Err(e) = &listed {
            list.problems.push(e.to_string());
        }
        let listed = listed.unwrap_or_default();
        list.data.extend(upstream.models.iter().map(|id| {
            let found = listed.data.iter().find(|m| m.id == *id);
            LlmModel {
                id: id.clone(),
                object: "model".into(),
                owned_by: upstream.name.clone(),
                available: found.is_some(),
                context: upstream
                    .context_tokens
                    .or_else(|| found.and_then(Listed::context)),
            }
        }));
    }
    list
}

/// A server's `/models` answer, as far as the appliance reads it.
#[derive(Debug, Default, Deserialize)]
struct ListAnswer {
    #[serde(default)]
    data: Vec<Listed>,
}

/// One listed model: its id and what vLLM or llama.cpp say of its context.
#[derive(Debug, Deserialize)]
struct Listed {
    #[serde(default)]
    id: String,
    /// vLLM: the context it serves.
    #[serde(default)]
    max_model_len: Option<u64>,
    /// llama.cpp: facts of the file.
    #[serde(default)]
    meta: Option<ListedMeta>,
}

#[derive(Debug, Deserialize)]
struct ListedMeta {
    #[serde(default)]
    n_ctx_train: Option<u64>,
}

impl Listed {
    fn context(&self) -> Option<u32> {
        self.max_model_len
            .or_else(|| self.meta.as_ref().and_then(|m| m.n_ctx_train))
            .filter(|n| *n > 0)
            .map(|n| n.min(u64::from(u32::MAX)) as u32)
    }
}

/// What one upstream's `/models` lists (nothing, where the answer is not such a list).
async fn list_upstream(
    upstream: &Upstream,
    resolver: &dyn Resolve,
    own: &[SocketAddr],
) -> Result<ListAnswer, ProxyError> {
    let addr = pin_address(upstream, resolver, own).await?;
    let mut short = upstream.clone();
    short.timeout = short.timeout.min(Duration::from_secs(10));
    let response = client::send(&short, addr, Method::GET, "/models", Bytes::new()).await?;
    let response = client::refuse_unless_success(&short, response).await?;
    let body = client::read_capped(response.into_body(), 1 << 20, Duration::from_secs(10))
        .await
        .ok_or_else(|| ProxyError::Unreachable {
            upstream: upstream.name.clone(),
            why: "its model list was too large or too slow".into(),
        })?;
    Ok(serde_json::from_slice(&body).unwrap_or_default())
}

/// The team server a socket's peer (`remote`, as `/proc` shows it) belongs to: an address in
/// its allowlist on its port. Such sockets are declared egress, reported by name, not findings.
pub fn declared<'a>(upstreams: &'a [Upstream], remote: &str) -> Option<&'a str> {
    let remote: SocketAddr = remote.parse().ok()?;
    upstreams
        .iter()
        .find(|u| u.port == remote.port() && u.allow.contains(remote.ip()))
        .map(|u| u.name.as_str())
}

async fn pin_address(
    upstream: &Upstream,
    resolver: &dyn Resolve,
    own: &[SocketAddr],
) -> Result<SocketAddr, ProxyError> {
    pin(upstream, resolver, own).await.map_err(|e| match e {
        PinError::Unresolved(why) => ProxyError::Unreachable {
            upstream: upstream.name.clone(),
            why: format!("its name does not resolve ({why})"),
        },
        PinError::Refused(refused) => ProxyError::Refused {
            upstream: upstream.name.clone(),
            why: refused.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstreams() -> Vec<Upstream> {
        let config: UpstreamConfig = toml::from_str(
            "name = \"gpu\"\nbase_url = \"http://10.0.0.5:8000/v1\"\nallow = [\"10.0.0.0/24\"]\nmodels = [\"qwen\"]\nmax_request_bytes = 200",
        )
        .unwrap();
        vec![Upstream::compile(&config).unwrap()]
    }

    #[test]
    fn requests_are_checked_and_routed_by_model() {
        let ups = upstreams();
        let ok = prepare(&ups, br#"{"model":"qwen","stream":true,"messages":[]}"#).unwrap();
        assert_eq!(ok.upstream.name, "gpu");
        let sent: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(sent["stream_options"]["include_usage"], true);
        assert!(matches!(
            prepare(&[], b"{}"),
            Err(ProxyError::NotConfigured)
        ));
        assert!(matches!(
            prepare(&ups, b"[1]"),
            Err(ProxyError::BadRequest(_))
        ));
        assert!(matches!(
            prepare(&ups, b"{\"messages\":[]}"),
            Err(ProxyError::BadRequest(_))
        ));
        assert!(matches!(
            prepare(&ups, br#"{"model":"gpt-4"}"#),
            Err(ProxyError::ModelNotOffered { .. })
        ));
        let big = format!(r#"{{"model":"qwen","prompt":"{}"}}"#, "x".repeat(300));
        assert!(matches!(
            prepare(&ups, big.as_bytes()),
            Err(ProxyError::TooLarge { limit: 200 })
        ));
    }

    #[test]
    fn sockets_to_a_team_server_are_declared_by_name() {
        let ups = upstreams();
        assert_eq!(declared(&ups, "10.0.0.5:8000"), Some("gpu"));
        assert_eq!(
            declared(&ups, "10.0.0.5:22"),
            None,
            "another port is not the server"
        );
        assert_eq!(declared(&ups, "10.0.1.5:8000"), None);
        assert_eq!(declared(&ups, "not an address"), None);
    }
}
