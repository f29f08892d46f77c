//! The assistant's routes over real sockets: the model store listed with each model's facts
//! and health, served only while its bytes hash to the manifest, bytes served counted;
//! conversations saved, listed, opened and deleted outside the workspace; assistant
//! records in the audit log without the text.

use std::path::{Path, PathBuf};

use airlock_integration_tests::TestAppliance;
use serde_json::json;

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../inference/tests/fixtures/models/qwen2")
        .join(file)
}

async fn with_models(files: &[&str]) -> (TestAppliance, tempfile::TempDir) {
    let models = tempfile::tempdir().unwrap();
    for file in files {
        std::fs::copy(fixture(file), models.path().join(file)).unwrap();
    }
    let dir = models.path().to_owned();
    let app = TestAppliance::start_with(move |o| o.models = Some(dir)).await;
    (app, models)
}

#[tokio::test]
async fn the_store_is_listed_served_and_counted() {
    let (app, models) = with_models(&["model-chat-fim-q8_0.gguf", "model-q8_0.gguf"]).await;
    let list = app.send(app.authed("GET", "/api/models")).await.json();
    let entries = list["models"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let chat = &entries[0];
    assert_eq!(chat["name"], "model-chat-fim-q8_0.gguf");
    assert_eq!(chat["health"]["state"], "ok");
    assert_eq!(chat["info"]["fim"], "qwen");
    assert_eq!(chat["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(list["served_bytes"], 0);

    let file = app
        .send(app.authed("GET", "/api/models/file?path=model-chat-fim-q8_0.gguf"))
        .await;
    assert_eq!(file.status, 200);
    let on_disk = std::fs::read(models.path().join("model-chat-fim-q8_0.gguf")).unwrap();
    assert_eq!(file.body, on_disk);
    assert_eq!(file.header("x-airlock-sha256"), chat["sha256"].as_str());
    let list = app.send(app.authed("GET", "/api/models")).await.json();
    assert_eq!(list["served_bytes"], on_disk.len());

    for (path, status) in [("../etc/passwd", 400), ("absent.gguf", 404)] {
        let refused = app
            .send(app.authed("GET", &format!("/api/models/file?path={path}")))
            .await;
        assert_eq!(refused.status, status, "{path}");
    }
}

#[tokio::test]
async fn a_changed_model_is_marked_damaged_and_never_served_again() {
    let (app, models) = with_models(&["model-q8_0.gguf"]).await;
    // One byte changed after start: same size, so only the hash can tell.
    let path = models.path().join("model-q8_0.gguf");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let raw = app
        .authed("GET", "/api/models/file?path=model-q8_0.gguf")
        .send_lenient(app.port())
        .await;
    // The connection may be cut before even the head went out (the whole small file was
    // hashed at once), or after part of the body: never with the whole file.
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    assert!(
        raw.len() - head_end < bytes.len(),
        "the stream is broken off before the changed file is complete ({} of {} bytes)",
        raw.len() - head_end,
        bytes.len()
    );
    let list = app.send(app.authed("GET", "/api/models")).await.json();
    assert_eq!(list["models"][0]["health"]["state"], "damaged");
    let second = app
        .send(app.authed("GET", "/api/models/file?path=model-q8_0.gguf"))
        .await;
    assert_eq!(second.status, 409);
    assert_eq!(second.error_code(), "model_damaged");
}

#[tokio::test]
async fn conversations_live_outside_the_workspace() {
    let app = TestAppliance::start().await;
    let conversation = json!({
        "id": "0123456789abcdef",
        "title": "Explain main",
        "turns": [
            {"role": "user", "content": "What does main do?", "attachments": ["src/main.rs"]},
            {"role": "assistant", "content": "It prints.", "attachments": []}
        ],
        "updated_ms": 1
    });
    let saved = app
        .send(app.json("POST", "/api/chats", conversation.clone()))
        .await;
    assert_eq!(saved.status, 204);
    let list = app.send(app.authed("GET", "/api/chats")).await.json();
    assert_eq!(list[0]["title"], "Explain main");
    assert_eq!(list[0]["turns"], 2);
    let opened = app
        .send(app.authed("GET", "/api/chats/one?id=0123456789abcdef"))
        .await
        .json();
    assert_eq!(opened, conversation);
    let workspace_files: Vec<_> = walk(&app.workspace());
    assert!(
        workspace_files.iter().all(|p| !p.ends_with(".json")),
        "nothing written into the workspace: {workspace_files:?}"
    );
    let bad = app
        .send(app.json(
            "POST",
            "/api/chats",
            json!({"id": "../../x", "title": "", "turns": [], "updated_ms": 0}),
        ))
        .await;
    assert_eq!(bad.status, 400);
    let deleted = app
        .send(app.json(
            "POST",
            "/api/chats/delete",
            json!({"id": "0123456789abcdef"}),
        ))
        .await;
    assert_eq!(deleted.status, 204);
    let gone = app
        .send(app.authed("GET", "/api/chats/one?id=0123456789abcdef"))
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn assistant_events_are_audited_without_text() {
    let app = TestAppliance::start().await;
    let logged = app
        .send(app.json(
            "POST",
            "/api/assistant/log",
            json!({"kind": "chat", "model": "smollm2.gguf", "prompt_tokens": 120, "output_tokens": 33, "outcome": "stop_token"}),
        ))
        .await;
    assert_eq!(logged.status, 204);
    let bad = app
        .send(app.json(
            "POST",
            "/api/assistant/log",
            json!({"kind": "exfiltrate", "model": "m", "prompt_tokens": 0, "output_tokens": 0, "outcome": "ok"}),
        ))
        .await;
    assert_eq!(bad.status, 400);
    let log = std::fs::read_to_string(app.audit_dir().join("audit.jsonl")).unwrap();
    let record = log
        .lines()
        .find(|l| l.contains("\"assistant.chat\""))
        .expect("an assistant.chat record");
    assert!(record.contains("smollm2.gguf"));
    assert!(
        record.contains("stop_token: prompt 120 tokens, output 33 tokens"),
        "{record}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
