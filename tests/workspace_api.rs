//! The workspace API over real sockets: gitignore-aware tree, versioned atomic writes with
//! 409 on stale versions, create/rename/delete, and clear answers for big or binary files.

use airlock_integration_tests::TestAppliance;
use serde_json::json;

#[tokio::test]
async fn tree_lists_the_workspace_respecting_gitignore() {
    let app = TestAppliance::start().await;
    let tree = app.send(app.authed("GET", "/api/fs/tree")).await.json();
    let paths: Vec<&str> = tree["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            ".gitignore",
            "README.md",
            "escape-dir",
            "escape-link",
            "src",
            "src/main.rs"
        ]
    );
    assert_eq!(tree["truncated"], false);
    let kinds: Vec<&str> = tree["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["file", "file", "symlink", "symlink", "dir", "file"]);
}

#[tokio::test]
async fn stale_writes_get_409_with_both_versions_and_lose_nothing() {
    let app = TestAppliance::start().await;
    let file = app
        .send(app.authed("GET", "/api/fs/file?path=src/main.rs"))
        .await
        .json();
    let v1 = file["version"].as_str().unwrap().to_owned();
    assert!(file["content"].as_str().unwrap().contains("println!"));

    let saved = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "src/main.rs", "content": "tab one\n", "base_version": v1}),
        ))
        .await;
    assert_eq!(saved.status, 200);
    let v2 = saved.json()["version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);

    let stale = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "src/main.rs", "content": "tab two\n", "base_version": v1}),
        ))
        .await;
    assert_eq!(stale.status, 409);
    let body = stale.json();
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["detail"]["base_version"], v1.as_str());
    assert_eq!(body["detail"]["current_version"], v2.as_str());
    assert_eq!(body["detail"]["current_content"], "tab one\n");
    assert_eq!(
        std::fs::read_to_string(app.workspace().join("src/main.rs")).unwrap(),
        "tab one\n"
    );

    std::fs::write(app.workspace().join("src/main.rs"), "outside editor\n").unwrap();
    let outside = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "src/main.rs", "content": "tab one again\n", "base_version": v2}),
        ))
        .await;
    assert_eq!(
        outside.status, 409,
        "an edit made outside the IDE is never overwritten silently"
    );
    assert_eq!(
        std::fs::read_to_string(app.workspace().join("src/main.rs")).unwrap(),
        "outside editor\n"
    );

    std::fs::remove_file(app.workspace().join("src/main.rs")).unwrap();
    let deleted = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "src/main.rs", "content": "x", "base_version": v2}),
        ))
        .await;
    assert_eq!(deleted.status, 409);
    assert_eq!(
        deleted.json()["detail"]["current_version"],
        serde_json::Value::Null
    );
    assert!(!app.workspace().join("src/main.rs").exists());

    let leftovers: Vec<String> = std::fs::read_dir(app.workspace().join("src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");
}

#[tokio::test]
async fn create_rename_and_delete() {
    let app = TestAppliance::start().await;
    let ws = app.workspace();
    assert_eq!(
        app.send(app.json(
            "POST",
            "/api/fs/create",
            json!({"path": "lib", "kind": "dir"})
        ))
        .await
        .status,
        200
    );
    let created = app
        .send(app.json(
            "POST",
            "/api/fs/create",
            json!({"path": "lib/a.rs", "kind": "file", "content": "// a\n"}),
        ))
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(
        std::fs::read_to_string(ws.join("lib/a.rs")).unwrap(),
        "// a\n"
    );
    let again = app
        .send(app.json(
            "POST",
            "/api/fs/create",
            json!({"path": "lib/a.rs", "kind": "file"}),
        ))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.error_code(), "already_exists");
    assert_eq!(
        std::fs::read_to_string(ws.join("lib/a.rs")).unwrap(),
        "// a\n",
        "create never overwrites"
    );

    let clash = app
        .send(app.json(
            "POST",
            "/api/fs/rename",
            json!({"from": "lib/a.rs", "to": "README.md"}),
        ))
        .await;
    assert_eq!(clash.status, 409);
    assert_eq!(
        std::fs::read_to_string(ws.join("README.md")).unwrap(),
        "# Demo\n"
    );
    let moved = app
        .send(app.json(
            "POST",
            "/api/fs/rename",
            json!({"from": "lib", "to": "core"}),
        ))
        .await;
    assert_eq!(moved.status, 200);
    assert!(ws.join("core/a.rs").exists() && !ws.join("lib").exists());

    let not_empty = app
        .send(app.json("POST", "/api/fs/delete", json!({"path": "core"})))
        .await;
    assert_eq!(not_empty.status, 409);
    assert_eq!(not_empty.error_code(), "not_empty");
    assert_eq!(
        app.send(app.json(
            "POST",
            "/api/fs/delete",
            json!({"path": "core", "recursive": true})
        ))
        .await
        .status,
        200
    );
    assert!(!ws.join("core").exists());
    let missing = app
        .send(app.json("POST", "/api/fs/delete", json!({"path": "core"})))
        .await;
    assert_eq!(missing.status, 404);
    let root = app
        .send(app.json(
            "POST",
            "/api/fs/delete",
            json!({"path": "", "recursive": true}),
        ))
        .await;
    assert_eq!(root.status, 400);
    assert!(ws.join("README.md").exists());
}

#[tokio::test]
async fn big_binary_and_folder_reads_get_clear_answers() {
    let app = TestAppliance::start().await;
    let ws = app.workspace();
    std::fs::write(ws.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 0, 13]).unwrap();
    std::fs::write(ws.join("huge.txt"), vec![b'a'; 9 * 1024 * 1024]).unwrap();
    let binary = app
        .send(app.authed("GET", "/api/fs/file?path=logo.png"))
        .await;
    assert_eq!(binary.status, 422);
    assert_eq!(binary.error_code(), "binary_file");
    assert_eq!(binary.json()["detail"]["size"], 8);
    let huge = app
        .send(app.authed("GET", "/api/fs/file?path=huge.txt"))
        .await;
    assert_eq!(huge.status, 413);
    assert_eq!(huge.error_code(), "file_too_large");
    let folder = app.send(app.authed("GET", "/api/fs/file?path=src")).await;
    assert_eq!(folder.status, 400);
    assert_eq!(folder.error_code(), "is_a_directory");
    let no_path = app.send(app.authed("GET", "/api/fs/file")).await;
    assert_eq!(no_path.status, 400);

    let too_big = "b".repeat(9 * 1024 * 1024);
    let write = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "big.txt", "content": too_big, "base_version": null}),
        ))
        .await;
    assert_eq!(write.status, 413);
    assert!(!ws.join("big.txt").exists(), "nothing half-written");
    let malformed = app
        .send(
            app.json("PUT", "/api/fs/file", json!({}))
                .body(b"{\"path\": \"a.txt\", \"content\": ".to_vec()),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.error_code(), "bad_request");
}

#[tokio::test]
async fn status_reports_a_measured_air_gap() {
    let app = TestAppliance::start().await;
    let status = app.send(app.authed("GET", "/api/status")).await.json();
    assert_eq!(status["airgap_active"], true, "{status}");
    let checks: Vec<&str> = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "audit_log",
            "sandbox",
            "listeners_loopback",
            "sockets_loopback"
        ]
    );
    let port = app.port();
    let sockets = status["sockets"].as_array().unwrap();
    assert!(
        sockets
            .iter()
            .any(|s| s["local"].as_str() == Some(&format!("127.0.0.1:{port}"))),
        "the report lists our own listener: {status}"
    );
    assert_eq!(status["workspace"], "ws");
}
