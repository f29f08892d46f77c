//! The team-server proxy (`/api/llm/v1/…`) on real loopback sockets: streaming relayed as it
//! arrives with only the appliance's own headers, audited; refusals for an address outside the
//! allowlist, a metadata address, a redirect, a DNS answer that changes, a forbidden path; TLS
//! verified against the admin's CA only. The last test runs llama.cpp's real `llama-server`
//! (opt-in: `AIRLOCK_LLAMA_SERVER`).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use airlock_appliance::upstream::resolve::Resolve;
use airlock_appliance::upstream::{self, Endpoint, ProxyError, Upstream, UpstreamConfig};
use airlock_integration_tests::TestAppliance;
use airlock_integration_tests::fake_upstream::{FakeUpstream, Reply, json_response};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Writes a pinned admin policy naming `upstreams` (TOML tables) and returns its path.
fn pinned_policy(dir: &Path, upstreams: &[String]) -> PathBuf {
    let path = dir.join("admin-policy.toml");
    std::fs::write(&path, upstreams.join("\n")).unwrap();
    path
}

fn upstream_table(name: &str, base_url: &str, allow: &str, model: &str, extra: &str) -> String {
    format!(
        "[[upstream]]\nname = \"{name}\"\nbase_url = \"{base_url}\"\nallow = [\"{allow}\"]\nmodels = [\"{model}\"]\n{extra}\n"
    )
}

async fn appliance_with(upstreams: Vec<String>) -> (TestAppliance, tempfile::TempDir) {
    let admin = tempfile::tempdir().unwrap();
    let policy = pinned_policy(admin.path(), &upstreams);
    let app = TestAppliance::start_with(|o| o.policy = Some(policy)).await;
    (app, admin)
}

fn audit_lines(app: &TestAppliance, action: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(app.audit_dir().join("audit.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["action"] == action)
        .collect()
}

fn chat_body(model: &str) -> serde_json::Value {
    serde_json::json!({
        "model": model, "stream": true, "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hi"}]
    })
}

#[tokio::test]
async fn streams_are_relayed_as_they_arrive_with_only_the_appliances_headers() {
    let gate = Arc::new(Notify::new());
    let event = |text: &str| {
        format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
    };
    let first = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nSet-Cookie: up=1\r\nConnection: close\r\n\r\n{}",
        event("Hel")
    );
    let rest = format!(
        "{}data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":2}}}}\n\ndata: [DONE]\n\n",
        event("lo")
    );
    let fake = FakeUpstream::start(Reply::Gated {
        first,
        rest,
        gate: gate.clone(),
    })
    .await;
    let admin = tempfile::tempdir().unwrap();
    let key = admin.path().join("team.key");
    std::fs::write(&key, "team-secret-key\n").unwrap();
    let table = upstream_table(
        "gpu",
        &format!("http://127.0.0.1:{}/v1", fake.addr.port()),
        "127.0.0.1/32",
        "m1",
        &format!("api_key_file = \"{}\"", key.display()),
    );
    let policy = pinned_policy(admin.path(), &[table]);
    let app = TestAppliance::start_with(|o| o.policy = Some(policy)).await;

    let body = serde_json::to_vec(&chat_body("m1")).unwrap();
    let request = app
        .json(
            "POST",
            "/api/llm/v1/chat/completions",
            serde_json::json!({}),
        )
        .header("X-Forwarded-For", "203.0.113.9")
        .body(body.clone());
    let mut stream = TcpStream::connect(("127.0.0.1", app.port())).await.unwrap();
    let head = format!(
        "{}Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.head(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    // The first event reaches the page while the server still holds the rest back.
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("Hel") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the answer ended before its first event: {seen:?}");
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(
        !String::from_utf8_lossy(&seen).contains("lo\""),
        "nothing after the gate yet"
    );
    gate.notify_one();
    stream.read_to_end(&mut seen).await.unwrap();
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"));
    assert!(text.contains("\"lo\"") && text.contains("[done]"));
    assert!(
        !text.contains("set-cookie: up=1"),
        "upstream headers never reach the page"
    );

    let sent = fake.requests();
    assert_eq!(sent.len(), 1);
    let sent = sent[0].to_ascii_lowercase();
    assert!(
        sent.starts_with("post /v1/chat/completions http/1.1"),
        "{sent}"
    );
    assert!(sent.contains("authorization: bearer team-secret-key"));
    for leaked in [
        "cookie:",
        "x-forwarded-for",
        "origin:",
        "sec-fetch",
        &app.appliance.token().to_ascii_lowercase(),
    ] {
        assert!(
            !sent.contains(leaked),
            "{leaked} reached the upstream: {sent}"
        );
    }
    assert!(
        sent.contains("\"include_usage\":true"),
        "token counts asked for"
    );

    let records = audit_lines(&app, "llm.call");
    assert_eq!(records.len(), 1, "{records:?}");
    let outcome = records[0]["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("ok: model m1, 5 prompt tokens, 2 completion tokens"),
        "{outcome}"
    );
    assert_eq!(records[0]["target"], "gpu /chat/completions");
    assert!(!outcome.contains("Say hi"), "no text in the audit log");
}

#[tokio::test]
async fn refuses_outside_addresses_metadata_redirects_and_other_paths() {
    let elsewhere = FakeUpstream::start(Reply::Whole(json_response("200 OK", "{}"))).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{}/v1/chat/completions\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        elsewhere.addr.port()
    );
    let redirector = FakeUpstream::start(Reply::Whole(redirect)).await;
    let failing = FakeUpstream::start(Reply::Whole(json_response(
        "503 Service Unavailable",
        r#"{"error":{"message":"Loading model","code":503}}"#,
    )))
    .await;
    let (app, _admin) = appliance_with(vec![
        upstream_table(
            "outside",
            &format!("http://127.0.0.2:{}/v1", elsewhere.addr.port()),
            "127.0.0.1/32",
            "m-outside",
            "",
        ),
        upstream_table(
            "metadata",
            "http://169.254.169.254/v1",
            "0.0.0.0/0",
            "m-meta",
            "",
        ),
        upstream_table(
            "mapped",
            "http://[::ffff:169.254.169.254]/v1",
            "::/0",
            "m-mapped",
            "",
        ),
        upstream_table(
            "redirector",
            &format!("http://127.0.0.1:{}/v1", redirector.addr.port()),
            "127.0.0.1/32",
            "m-redirect",
            "",
        ),
        upstream_table(
            "busy",
            &format!("http://127.0.0.1:{}/v1", failing.addr.port()),
            "127.0.0.1/32",
            "m-busy",
            "",
        ),
    ])
    .await;
    let call = |model: &str| app.json("POST", "/api/llm/v1/chat/completions", chat_body(model));

    let refused = app.send(call("m-outside")).await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (403, "upstream_refused")
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("not in the upstream's allowlist")
    );
    for model in ["m-meta", "m-mapped"] {
        let refused = app.send(call(model)).await;
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (403, "upstream_refused")
        );
        assert!(
            refused.json()["message"]
                .as_str()
                .unwrap()
                .contains("cloud-metadata")
        );
    }
    let redirected = app.send(call("m-redirect")).await;
    assert_eq!(
        (redirected.status, redirected.error_code().as_str()),
        (502, "upstream_redirect")
    );
    assert!(
        redirected.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not follow redirects")
    );
    assert_eq!(redirector.requests().len(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was not followed"
    );

    let busy = app.send(call("m-busy")).await;
    assert_eq!(
        (busy.status, busy.error_code().as_str()),
        (502, "upstream_error")
    );
    assert_eq!(
        busy.json()["message"],
        "team server busy answered 503: Loading model",
        "the server's own words, plainly"
    );
    let unknown = app.send(call("gpt-4")).await;
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (400, "model_not_offered")
    );

    // Only the three paths, each with its one method.
    let other = app
        .send(app.json("POST", "/api/llm/v1/embeddings", chat_body("m-busy")))
        .await;
    assert_eq!(other.status, 404);
    let wrong_method = app
        .send(app.authed("GET", "/api/llm/v1/chat/completions"))
        .await;
    assert_eq!(wrong_method.status, 405);
    let traversal = app
        .send(app.json(
            "POST",
            "/api/llm/v1/chat/completions/../../models",
            chat_body("m-busy"),
        ))
        .await;
    assert_ne!(traversal.status, 200);

    let outcomes: Vec<String> = audit_lines(&app, "llm.call")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("refused:"))
            .count(),
        4,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("error: model m-redirect"))
    );
}

#[tokio::test]
async fn the_model_list_carries_each_models_context_from_the_server_or_the_admin() {
    // vLLM lists the context it serves as `max_model_len`; llama.cpp its file's trained length.
    let fake = FakeUpstream::start(Reply::Whole(json_response(
        "200 OK",
        r#"{"object":"list","data":[{"id":"vllm-model","max_model_len":16384},{"id":"llama-model","meta":{"n_ctx_train":32768,"n_vocab":151936}},{"no_id":true}]}"#,
    )))
    .await;
    let base = format!("http://127.0.0.1:{}/v1", fake.addr.port());
    let listed = format!(
        "[[upstream]]\nname = \"listed\"\nbase_url = \"{base}\"\nallow = [\"127.0.0.1/32\"]\nmodels = [\"vllm-model\", \"llama-model\", \"gone\"]\n"
    );
    let pinned = format!(
        "[[upstream]]\nname = \"pinned\"\nbase_url = \"{base}\"\nallow = [\"127.0.0.1/32\"]\nmodels = [\"llama-model\"]\ncontext_tokens = 8192\n"
    );
    let (app, _admin) = appliance_with(vec![listed, pinned]).await;
    let answer = app.send(app.authed("GET", "/api/llm/v1/models")).await;
    assert_eq!(answer.status, 200);
    let models: airlock_protocol::llm::LlmModels = serde_json::from_slice(&answer.body).unwrap();
    let seen: Vec<(&str, &str, bool, Option<u32>)> = models
        .data
        .iter()
        .map(|m| (m.owned_by.as_str(), m.id.as_str(), m.available, m.context))
        .collect();
    assert_eq!(
        seen,
        [
            ("listed", "vllm-model", true, Some(16384)),
            ("listed", "llama-model", true, Some(32768)),
            ("listed", "gone", false, None),
            ("pinned", "llama-model", true, Some(8192)),
        ]
    );
    assert!(models.problems.is_empty(), "{:?}", models.problems);

    // A context of 0 is a start-up error, not a model that fits nothing.
    let zero = toml_config(&format!(
        "name = \"team\"\nbase_url = \"{base}\"\nallow = [\"127.0.0.1/32\"]\nmodels = [\"m\"]\ncontext_tokens = 0"
    ));
    let why = Upstream::compile(&zero).unwrap_err().to_string();
    assert!(why.contains("context_tokens"), "{why}");
}

#[tokio::test]
async fn without_an_admin_policy_there_is_no_team_server() {
    let app = TestAppliance::start().await;
    let answer = app.send(app.authed("GET", "/api/llm/v1/models")).await;
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (404, "upstream_not_configured")
    );
    // A workspace policy cannot name one.
    std::fs::create_dir_all(app.workspace().join(".airlock")).unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join(".airlock")).unwrap();
    std::fs::write(
        ws.path().join(".airlock/policy.toml"),
        upstream_table("evil", "http://10.0.0.5/v1", "10.0.0.0/8", "m", ""),
    )
    .unwrap();
    let policy =
        airlock_appliance::policy::Policy::load(ws.path(), None, &|_| true).expect("parses");
    assert!(policy.upstreams.is_empty());
    assert!(
        policy
            .loosenings
            .iter()
            .any(|l| l.contains("only a pinned admin policy"))
    );
}

/// Answers from a script, one list of addresses per resolution, and counts resolutions.
struct ScriptedDns {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    asked: Mutex<usize>,
}

impl Resolve for ScriptedDns {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        *self.asked.lock().unwrap() += 1;
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or_default();
        Box::pin(async move { Ok(answer) })
    }
}

#[tokio::test]
async fn a_dns_answer_is_checked_once_and_pinned() {
    let fake = FakeUpstream::start(Reply::Whole(json_response(
        "200 OK",
        r#"{"choices":[{"text":"x"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
    )))
    .await;
    let config: UpstreamConfig = toml_config(&format!(
        "name = \"team\"\nbase_url = \"http://team.internal:{}/v1\"\nallow = [\"127.0.0.1/32\"]\nmodels = [\"m\"]",
        fake.addr.port()
    ));
    let team = Upstream::compile(&config).unwrap();
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let dns = ScriptedDns {
        answers: Mutex::new(VecDeque::from([
            vec![loopback],
            vec!["169.254.169.254".parse().unwrap()],
            vec![loopback, "10.9.9.9".parse().unwrap()],
        ])),
        asked: Mutex::new(0),
    };
    let own: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().unwrap()];
    let prepared = upstream::prepare(
        std::slice::from_ref(&team),
        br#"{"model":"m","prompt":"a"}"#,
    )
    .unwrap();
    let first = upstream::call(
        &prepared,
        Endpoint::Completions,
        &dns,
        &own,
        Box::new(|_| {}),
    )
    .await;
    assert!(first.is_ok(), "allowed answer used");
    drop(first);
    assert_eq!(*dns.asked.lock().unwrap(), 1, "one resolution per call");
    // The name now points at the metadata service: the next call checks its own answer.
    let second = upstream::call(
        &prepared,
        Endpoint::Completions,
        &dns,
        &own,
        Box::new(|_| {}),
    )
    .await;
    assert!(matches!(second, Err(ProxyError::Refused { .. })));
    // One bad address among good ones refuses the whole answer.
    let third = upstream::call(
        &prepared,
        Endpoint::Completions,
        &dns,
        &own,
        Box::new(|_| {}),
    )
    .await;
    assert!(matches!(third, Err(ProxyError::Refused { .. })));
    assert_eq!(*dns.asked.lock().unwrap(), 3);
    assert_eq!(
        fake.requests().len(),
        1,
        "only the allowed answer was contacted"
    );
}

fn tls_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

/// TLS to an upstream: the certificate is checked for the base URL's name against the
/// admin's CA file only, over the connection to the pinned address.
#[tokio::test]
async fn https_upstreams_are_verified_against_the_admins_ca_only() {
    let reply = || {
        Reply::Whole(json_response(
            "200 OK",
            r#"{"choices":[{"text":"secure"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
        ))
    };
    let ours = FakeUpstream::start_tls(
        reply(),
        &tls_fixture("server.pem"),
        &tls_fixture("server-key.pem"),
    )
    .await;
    let stranger = FakeUpstream::start_tls(
        reply(),
        &tls_fixture("stranger.pem"),
        &tls_fixture("stranger-key.pem"),
    )
    .await;
    let ca = tls_fixture("team-ca.pem");
    let upstream_at = |host: &str, port: u16| {
        let config = toml_config(&format!(
            "name = \"team\"\nbase_url = \"https://{host}:{port}/v1\"\nallow = [\"127.0.0.1/32\"]\nmodels = [\"m\"]\nca_file = {:?}",
            ca.display().to_string()
        ));
        Upstream::compile(&config).unwrap()
    };
    let call = |team: Upstream| async move {
        let dns = ScriptedDns {
            answers: Mutex::new(VecDeque::from([vec!["127.0.0.1".parse().unwrap()]])),
            asked: Mutex::new(0),
        };
        let own: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().unwrap()];
        let prepared = upstream::prepare(
            std::slice::from_ref(&team),
            br#"{"model":"m","prompt":"a"}"#,
        )
        .unwrap();
        upstream::call(
            &prepared,
            Endpoint::Completions,
            &dns,
            &own,
            Box::new(|_| {}),
        )
        .await
        .map(|_| ())
    };
    // The team's server, by the name on its certificate.
    call(upstream_at("team.test", ours.addr.port()))
        .await
        .expect("TLS to the team's server");
    assert_eq!(ours.requests().len(), 1);
    assert!(ours.requests()[0].starts_with("POST /v1/completions"));
    // A server whose certificate another CA signed: refused, nothing sent.
    let refused = call(upstream_at("team.test", stranger.addr.port()))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("TLS"), "{refused}");
    assert!(stranger.requests().is_empty());
    // The right CA but another name than the certificate's: refused.
    let refused = call(upstream_at("other.test", ours.addr.port()))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("TLS"), "{refused}");
    assert_eq!(ours.requests().len(), 1);
    // A CA file that is not a certificate stops the appliance at start, with the reason.
    let broken = toml_config(&format!(
        "name = \"team\"\nbase_url = \"https://team.test/v1\"\nallow = [\"127.0.0.1/32\"]\nmodels = [\"m\"]\nca_file = {:?}",
        tls_fixture("make.sh").display().to_string()
    ));
    let why = Upstream::compile(&broken).unwrap_err().to_string();
    assert!(why.contains("no certificate"), "{why}");
}

fn toml_config(text: &str) -> UpstreamConfig {
    toml::from_str(text).unwrap()
}

/// llama.cpp's own `llama-server` serving SmolLM2 on loopback, explicitly allowlisted.
#[tokio::test]
#[ignore = "needs AIRLOCK_LLAMA_SERVER and AIRLOCK_SMOLLM2_GGUF (cargo xtask test sets them when built)"]
async fn a_real_llama_server_streams_through_the_proxy() {
    let server = std::env::var("AIRLOCK_LLAMA_SERVER").expect("AIRLOCK_LLAMA_SERVER");
    let model = std::env::var("AIRLOCK_SMOLLM2_GGUF").expect("AIRLOCK_SMOLLM2_GGUF");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(server)
        .args([
            "-m",
            &model,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--alias", "smollm2", "-c", "1024", "-t", "2", "-np", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("llama-server starts");
    // Ready when it says so (its log line), not after a guessed wait.
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        while let Ok(Some(line)) = log.next_line().await {
            if line.contains("listening on") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "llama-server did not come up");
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });

    let (app, _admin) = appliance_with(vec![upstream_table(
        "llama",
        &format!("http://127.0.0.1:{port}/v1"),
        "127.0.0.1/32",
        "smollm2",
        "",
    )])
    .await;
    let models = app.send(app.authed("GET", "/api/llm/v1/models")).await;
    assert_eq!(models.status, 200);
    let models: airlock_protocol::llm::LlmModels = serde_json::from_slice(&models.body).unwrap();
    assert_eq!(models.data.len(), 1);
    assert!(models.data[0].available, "{models:?}");

    let answer = app
        .send(app.json("POST", "/api/llm/v1/chat/completions", chat_body("smollm2")))
        .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let text = String::from_utf8_lossy(&answer.body);
    let mut written = String::new();
    let mut events = 0;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let chunk: airlock_protocol::llm::Chunk = serde_json::from_str(line).unwrap();
        events += 1;
        written.extend(chunk.choices.iter().map(|c| c.text().to_owned()));
    }
    assert!(
        events >= 3 && !written.trim().is_empty(),
        "{events} events: {text}"
    );
    assert!(text.contains("[DONE]"));

    let whole = app
        .send(app.json(
            "POST",
            "/api/llm/v1/completions",
            serde_json::json!({"model": "smollm2", "prompt": "def add(a, b):", "max_tokens": 8, "temperature": 0}),
        ))
        .await;
    assert_eq!(whole.status, 200);
    let chunk: airlock_protocol::llm::Chunk = serde_json::from_slice(&whole.body).unwrap();
    assert!(!chunk.choices[0].text().is_empty());
    assert!(chunk.usage.is_some_and(|u| u.completion_tokens > 0));

    let outcomes: Vec<String> = audit_lines(&app, "llm.call")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| o.starts_with("ok: model smollm2, ") && o.contains(" prompt tokens")),
        "{outcomes:?}"
    );
    let _ = child.kill().await;
}
