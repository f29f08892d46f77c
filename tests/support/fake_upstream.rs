//! A stand-in OpenAI-compatible server on loopback for the proxy tests that are about the
//! relay, not the model: it records every request it gets and answers from a script, over
//! plain TCP or TLS.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

/// How the stand-in answers every request.
#[derive(Clone)]
pub enum Reply {
    /// One complete raw HTTP response.
    Whole(String),
    /// `first`, then — once `gate` is notified — `rest` (proves the relay does not buffer).
    Gated {
        /// Head and first bytes.
        first: String,
        /// The rest, after the gate.
        rest: String,
        /// Opened by the test.
        gate: Arc<Notify>,
    },
}

/// A running stand-in server.
pub struct FakeUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Each request it got: head and body as text.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeUpstream {
    /// Listens on a free loopback port and answers every request with `reply`.
    pub async fn start(reply: Reply) -> Self {
        Self::listen(reply, None).await
    }

    /// As [`Self::start`], speaking TLS with the certificate chain and key in the PEM files
    /// `cert` and `key`.
    pub async fn start_tls(reply: Reply, cert: &Path, key: &Path) -> Self {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Self::listen(reply, Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn listen(reply: Reply, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let reply = reply.clone();
                let seen = seen.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => answer(stream, reply, seen).await,
                        Some(acceptor) => {
                            // A refused handshake (wrong CA, wrong name) is the test's point.
                            if let Ok(secured) = acceptor.accept(stream).await {
                                answer(secured, reply, seen).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, requests }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads one request and answers it from the script.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    reply: Reply,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let request = read_request(&mut stream).await;
    seen.lock().unwrap().push(request);
    match reply {
        Reply::Whole(text) => {
            let _ = stream.write_all(text.as_bytes()).await;
        }
        Reply::Gated { first, rest, gate } => {
            let _ = stream.write_all(first.as_bytes()).await;
            let _ = stream.flush().await;
            gate.notified().await;
            let _ = stream.write_all(rest.as_bytes()).await;
        }
    }
    let _ = stream.shutdown().await;
}

/// A JSON response with `Connection: close`.
pub fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}
