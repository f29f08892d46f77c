//! Test support: start a real appliance on a real loopback port over a temporary workspace,
//! and speak raw HTTP/1.1 to it so every header (or its absence) is under the test's control.

use std::path::{Path, PathBuf};

use airlock_appliance::{Appliance, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub mod fake_upstream;

/// A running appliance with its temporary workspace.
pub struct TestAppliance {
    /// The appliance.
    pub appliance: Appliance,
    /// Holds the workspace's parent folder (`ws/`, `ws2/`) alive.
    pub outer: tempfile::TempDir,
}

impl TestAppliance {
    /// Starts an appliance over a workspace with a few files, a `.gitignore`, a sibling
    /// folder `ws2/` (for prefix confusion) and symlinks that try to leave the workspace.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestAppliance::start`], letting the test adjust the options (policy, sandbox).
    pub async fn start_with(adjust: impl FnOnce(&mut ServeOptions)) -> Self {
        let outer = tempfile::tempdir().expect("tempdir");
        let ws = outer.path().join("ws");
        let ws2 = outer.path().join("ws2");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(&ws2).unwrap();
        std::fs::write(
            ws.join("src/main.rs"),
            "fn main() {\n    println!(\"hi\");\n}\n",
        )
        .unwrap();
        std::fs::write(ws.join("README.md"), "# Demo\n").unwrap();
        std::fs::write(ws.join(".gitignore"), "*.log\n").unwrap();
        std::fs::write(ws.join("build.log"), "noise").unwrap();
        std::fs::write(ws2.join("secret.txt"), "TOP SECRET").unwrap();
        std::fs::write(outer.path().join("outside.txt"), "OUTSIDE").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(ws2.join("secret.txt"), ws.join("escape-link")).unwrap();
            std::os::unix::fs::symlink(&ws2, ws.join("escape-dir")).unwrap();
        }
        let mut options = ServeOptions {
            workspace: ws,
            port: 0,
            bind: Vec::new(),
            token_file: None,
            audit_dir: Some(outer.path().join("audit")),
            chat_dir: Some(outer.path().join("chats")),
            ..Default::default()
        };
        adjust(&mut options);
        let appliance = Appliance::start(options).await.expect("appliance starts");
        Self { appliance, outer }
    }

    /// The path and one-time query of the launch URL.
    pub fn launch_path(&self) -> String {
        let url = self.appliance.launch_url();
        url[url.find("/?").expect("a launch path")..].to_owned()
    }

    /// The audit folder.
    pub fn audit_dir(&self) -> PathBuf {
        self.outer.path().join("audit")
    }

    /// The workspace folder.
    pub fn workspace(&self) -> PathBuf {
        self.outer.path().join("ws")
    }

    /// The appliance's port.
    pub fn port(&self) -> u16 {
        self.appliance.port()
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.host())
    }

    /// A request with the right Host and the bearer token.
    pub fn authed(&self, method: &str, path: &str) -> RawRequest {
        RawRequest::new(method, path)
            .header("Host", &self.host())
            .header(
                "Authorization",
                &format!("Bearer {}", self.appliance.token()),
            )
    }

    /// A same-origin JSON request, authenticated, as the IDE page sends it.
    pub fn json(&self, method: &str, path: &str, body: serde_json::Value) -> RawRequest {
        self.authed(method, path)
            .header("Origin", &self.origin())
            .header("Content-Type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// Calls agent tool `name` with JSON `args`. With `"approved": true` in `args` it acts
    /// as the person in the IDE would: when the appliance asks for approval, it approves
    /// exactly the call shown and repeats it with that one-time approval.
    pub async fn tool(&self, name: &str, mut args: serde_json::Value) -> RawResponse {
        let approve = args
            .as_object_mut()
            .and_then(|a| a.remove("approved"))
            .is_some_and(|v| v == serde_json::Value::Bool(true));
        let path = format!("/api/tools/{name}");
        let first = self.send(self.json("POST", &path, args.clone())).await;
        if !approve || first.status != 403 || first.refusal_reason() != "approval_required" {
            return first;
        }
        args["approval"] = serde_json::Value::String(self.approve_refused(&first).await);
        self.send(self.json("POST", &path, args)).await
    }

    /// Approves, as the person in the IDE, the pending approval a refusal carries; returns
    /// its id for the repeated call.
    pub async fn approve_refused(&self, refused: &RawResponse) -> String {
        let id = refused.json()["detail"]["approval"]["id"]
            .as_str()
            .expect("an approval id")
            .to_owned();
        let decided = self
            .send(self.json(
                "POST",
                "/api/approvals",
                serde_json::json!({"id": id, "answer": "approve"}),
            ))
            .await;
        assert_eq!(decided.status, 200, "the approval is recorded");
        id
    }

    /// Sends a request to this appliance.
    pub async fn send(&self, request: RawRequest) -> RawResponse {
        request.send(self.port()).await
    }
}

/// A hand-built HTTP request.
#[derive(Clone, Debug)]
pub struct RawRequest {
    method: String,
    target: String,
    version: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    /// `METHOD target HTTP/1.1` with no headers at all (not even Host).
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.into(),
            target: target.into(),
            version: "HTTP/1.1",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Uses HTTP/1.0, where Host is optional.
    pub fn http10(mut self) -> Self {
        self.version = "HTTP/1.0";
        self
    }

    /// Adds a header (repeats allowed).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Removes every header called `name`.
    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Sets the body (Content-Length is added on send).
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The request line and headers, each ending in CRLF.
    /// The request line and headers, without the blank line that ends them.
    pub fn head(&self) -> String {
        let mut head = format!("{} {} {}\r\n", self.method, self.target, self.version);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head
    }

    /// Sends the request and returns every byte that arrived before the connection ended,
    /// cleanly or not (for responses the appliance breaks off on purpose).
    pub async fn send_lenient(&self, port: u16) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to appliance");
        let head = format!("{}Connection: close\r\n\r\n", self.head());
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buffer = vec![0u8; 1 << 16];
        while let Ok(n) = stream.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buffer[..n]);
        }
        raw
    }

    /// Sends the request over a fresh loopback connection and reads the whole response.
    pub async fn send(&self, port: u16) -> RawResponse {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to appliance");
        let mut head = self.head();
        if !self.body.is_empty() || self.method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&self.body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        RawResponse::parse(&raw)
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body bytes (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    fn parse(raw: &[u8]) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Self {
            status,
            headers,
            body,
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body text when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `detail.reason` of a tool refusal.
    pub fn refusal_reason(&self) -> String {
        self.json()["detail"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The API error code of an error response.
    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

/// The front-end build output embedded by the appliance (for tests that need it built).
pub fn dist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/dist")
}
