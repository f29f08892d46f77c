//! A stand-in OpenAI-compatible server on loopback for the proxy tests that are about the
//! relay, not the model: it records every request it gets and answers from a script.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let reply = reply.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
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

/// A JSON response with `Connection: close`.
pub fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
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
