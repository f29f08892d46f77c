//! An upstream as the administrator writes it in the pinned policy (`[[upstream]]`), and
//! compiled: URL taken apart, allowlist parsed, limits with defaults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::address::Allowlist;

/// One `[[upstream]]` table of the admin policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Name shown to users and written in audit records.
    pub name: String,
    /// Base URL of the OpenAI-compatible API, e.g. `http://10.0.0.5:8000/v1`.
    pub base_url: String,
    /// Addresses the server may have: CIDRs (`10.0.0.0/24`) or exact addresses.
    pub allow: Vec<String>,
    /// File holding the API key (sent as a bearer token; never to the browser).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// PEM file of the certificate authority for an `https` base URL.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Model names offered to users, as the server names them.
    pub models: Vec<String>,
    /// Longest a call may take, streaming included (seconds).
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Largest request body forwarded (bytes).
    #[serde(default = "default_max_request")]
    pub max_request_bytes: usize,
    /// Largest response relayed (bytes); a longer one is cut off and reported.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: usize,
    /// The context (tokens) the server runs its models with, when its model list does not say
    /// or says more than it serves (llama.cpp lists the trained length, not its `-c`).
    #[serde(default)]
    pub context_tokens: Option<u32>,
}

fn default_timeout_s() -> u64 {
    300
}

fn default_max_request() -> usize {
    4 << 20
}

fn default_max_response() -> usize {
    32 << 20
}

/// URL scheme of an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (a private subnet).
    Http,
    /// HTTPS, verified against the configured CA file.
    Https,
}

/// An upstream ready to use.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Name for users and audit records.
    pub name: String,
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// Host as written in the base URL (a name or an address).
    pub host: String,
    /// Port (default 80/443).
    pub port: u16,
    /// Path prefix before `/chat/completions`, without a trailing `/` (e.g. `/v1`).
    pub base_path: String,
    /// Addresses the host may resolve to.
    pub allow: Allowlist,
    /// API key file.
    pub api_key_file: Option<PathBuf>,
    /// CA file for HTTPS.
    pub ca_file: Option<PathBuf>,
    /// The TLS client for HTTPS (trusting only `ca_file`), loaded at start.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Models offered.
    pub models: Vec<String>,
    /// Whole-call deadline.
    pub timeout: Duration,
    /// Request body cap.
    pub max_request_bytes: usize,
    /// Response body cap.
    pub max_response_bytes: usize,
    /// The admin's context for its models, overriding what the server lists.
    pub context_tokens: Option<u32>,
}

impl Upstream {
    /// Checks and compiles one configured upstream; every mistake is a start-up error.
    pub fn compile(config: &UpstreamConfig) -> anyhow::Result<Self> {
        let name = config.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            bail!(
                "upstream name {:?} must be 1-64 printable characters",
                config.name
            );
        }
        let uri: http::Uri = config.base_url.parse().with_context(|| {
            format!(
                "upstream {name}: base_url {:?} is not a URL",
                config.base_url
            )
        })?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => bail!("upstream {name}: base_url must start with http:// or https://"),
        };
        let authority = uri
            .authority()
            .with_context(|| format!("upstream {name}: base_url has no host"))?;
        if authority.as_str().contains('@') {
            bail!("upstream {name}: base_url must not carry credentials; use api_key_file");
        }
        if uri.query().is_some() {
            bail!("upstream {name}: base_url must not have a query");
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        if scheme == Scheme::Https && config.ca_file.is_none() {
            bail!("upstream {name}: an https base_url needs ca_file (the team's CA certificate)");
        }
        if config.models.is_empty() || config.models.iter().any(|m| m.trim().is_empty()) {
            bail!("upstream {name}: list the model names it offers in `models`");
        }
        if config.timeout_s == 0
            || config.max_request_bytes == 0
            || config.max_response_bytes == 0
            || config.context_tokens == Some(0)
        {
            bail!("upstream {name}: timeout_s, context_tokens and the size limits must be above 0");
        }
        let allow = Allowlist::parse(&config.allow).with_context(|| format!("upstream {name}"))?;
        let tls = match (&scheme, &config.ca_file) {
            (Scheme::Https, Some(ca_file)) => Some(
                super::tls::client_config(ca_file)
                    .map_err(|why| anyhow::anyhow!("upstream {name}: {why}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            scheme,
            host,
            port,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            allow,
            api_key_file: config.api_key_file.clone(),
            ca_file: config.ca_file.clone(),
            tls,
            models: config.models.clone(),
            timeout: Duration::from_secs(config.timeout_s),
            max_request_bytes: config.max_request_bytes,
            max_response_bytes: config.max_response_bytes,
            context_tokens: config.context_tokens,
        })
    }

    /// True when this upstream offers `model`.
    pub fn offers(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }

    /// The API key, read now (so a rotated key file takes effect), trimmed.
    pub fn api_key(&self) -> std::io::Result<Option<String>> {
        match &self.api_key_file {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(path)?;
                let key = text.trim();
                Ok((!key.is_empty()).then(|| key.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> UpstreamConfig {
        UpstreamConfig {
            name: "team".into(),
            base_url: url.into(),
            allow: vec!["10.0.0.0/24".into()],
            api_key_file: None,
            ca_file: None,
            models: vec!["qwen".into()],
            timeout_s: default_timeout_s(),
            max_request_bytes: default_max_request(),
            max_response_bytes: default_max_response(),
            context_tokens: None,
        }
    }

    #[test]
    fn urls_are_taken_apart_and_mistakes_refused() {
        let up = Upstream::compile(&config("http://10.0.0.5:8000/v1/")).unwrap();
        assert_eq!(
            (up.host.as_str(), up.port, up.base_path.as_str()),
            ("10.0.0.5", 8000, "/v1")
        );
        let up = Upstream::compile(&config("http://[fd00::5]/v1")).unwrap();
        assert_eq!((up.host.as_str(), up.port), ("fd00::5", 80));
        for bad in [
            "ftp://10.0.0.5/v1",
            "http://user:pw@10.0.0.5/v1",
            "http://10.0.0.5/v1?x=1",
            "https://10.0.0.5/v1",
            "10.0.0.5",
        ] {
            assert!(Upstream::compile(&config(bad)).is_err(), "{bad}");
        }
        let mut no_models = config("http://10.0.0.5/v1");
        no_models.models.clear();
        assert!(Upstream::compile(&no_models).is_err());
    }
}
