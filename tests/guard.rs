//! Each rule of the origin guard refuses its attack over a real loopback socket, and the
//! legitimate request still works.

use airlock_integration_tests::{RawRequest, TestAppliance};
use serde_json::json;

#[tokio::test]
async fn allowed_requests_work() {
    let app = TestAppliance::start().await;
    for host in [
        app.host(),
        format!("localhost:{}", app.port()),
        format!("[::1]:{}", app.port()),
    ] {
        let res = app
            .send(
                app.authed("GET", "/api/status")
                    .without("Host")
                    .header("Host", &host),
            )
            .await;
        assert_eq!(res.status, 200, "Host {host}");
    }
    let res = app
        .send(
            app.authed("GET", "/api/status")
                .header("Sec-Fetch-Site", "same-origin"),
        )
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .send(app.json(
            "POST",
            "/api/fs/create",
            json!({"path": "new.txt", "kind": "file"}),
        ))
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(app.workspace().join("new.txt").exists());
}

#[tokio::test]
async fn foreign_hosts_are_refused() {
    let app = TestAppliance::start().await;
    let port = app.port();
    for host in [
        "evil.com".to_owned(),
        format!("evil.com:{port}"),
        format!("localhost.evil:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_owned(),
        format!("localhost:{port}.evil.com"),
    ] {
        let res = app
            .send(
                app.authed("GET", "/api/status")
                    .without("Host")
                    .header("Host", &host),
            )
            .await;
        assert_eq!(res.status, 421, "Host {host} must be refused");
        assert_eq!(res.error_code(), "host_not_allowed");
    }
}

#[tokio::test]
async fn missing_empty_or_duplicate_host_is_refused() {
    let app = TestAppliance::start().await;
    let no_host = app
        .send(app.authed("GET", "/api/status").without("Host"))
        .await;
    assert_eq!(no_host.status, 400, "HTTP/1.1 without Host");
    let http10 = app
        .send(app.authed("GET", "/api/status").without("Host").http10())
        .await;
    assert_eq!(http10.status, 400, "HTTP/1.0 without Host");
    assert_eq!(http10.error_code(), "missing_host");
    let empty = app
        .send(
            app.authed("GET", "/api/status")
                .without("Host")
                .header("Host", ""),
        )
        .await;
    assert_eq!(empty.status, 400);
    let twice = app
        .send(app.authed("GET", "/api/status").header("Host", "evil.com"))
        .await;
    assert_eq!(twice.status, 400, "two Host headers");
}

#[tokio::test]
async fn forwarded_headers_are_ignored_and_absolute_targets_must_match() {
    let app = TestAppliance::start().await;
    let spoof = app
        .send(
            app.authed("GET", "/api/status")
                .without("Host")
                .header("Host", "evil.com")
                .header("X-Forwarded-Host", &app.host())
                .header("Forwarded", &format!("host={}", app.host())),
        )
        .await;
    assert_eq!(spoof.status, 421);
    let absolute = app
        .send(app.authed("GET", "http://evil.com/api/status"))
        .await;
    assert!(
        matches!(absolute.status, 400 | 421),
        "absolute-form to another host: {}",
        absolute.status
    );
}

#[tokio::test]
async fn foreign_null_and_other_port_origins_are_refused() {
    let app = TestAppliance::start().await;
    let other_port = format!("http://127.0.0.1:{}", app.port().wrapping_add(1));
    for origin in [
        "https://evil.com",
        "null",
        other_port.as_str(),
        "http://localhost.evil",
        "https://127.0.0.1",
    ] {
        let post = app
            .send(
                app.json(
                    "POST",
                    "/api/fs/create",
                    json!({"path": "x.txt", "kind": "file"}),
                )
                .without("Origin")
                .header("Origin", origin),
            )
            .await;
        assert_eq!(post.status, 403, "POST with Origin {origin}");
        assert_eq!(post.error_code(), "origin_not_allowed");
        let get = app
            .send(app.authed("GET", "/api/status").header("Origin", origin))
            .await;
        assert_eq!(get.status, 403, "GET with Origin {origin}");
    }
    assert!(!app.workspace().join("x.txt").exists());
}

#[tokio::test]
async fn state_changes_need_an_origin() {
    let app = TestAppliance::start().await;
    let res = app
        .send(
            app.json(
                "POST",
                "/api/fs/create",
                json!({"path": "x.txt", "kind": "file"}),
            )
            .without("Origin"),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.error_code(), "origin_required");
    let put = app
        .send(
            app.json(
                "PUT",
                "/api/fs/file",
                json!({"path": "x.txt", "content": "", "base_version": null}),
            )
            .without("Origin"),
        )
        .await;
    assert_eq!(put.status, 403);
    assert!(!app.workspace().join("x.txt").exists());
}

#[tokio::test]
async fn cross_site_fetch_metadata_is_refused() {
    let app = TestAppliance::start().await;
    for site in ["cross-site", "same-site"] {
        let res = app
            .send(
                app.authed("GET", "/api/fs/tree")
                    .header("Sec-Fetch-Site", site),
            )
            .await;
        assert_eq!(res.status, 403, "Sec-Fetch-Site {site}");
        assert_eq!(res.error_code(), "cross_site_refused");
    }
}

#[tokio::test]
async fn simple_form_and_text_posts_are_refused() {
    let app = TestAppliance::start().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json-seq",
    ] {
        let res = app
            .send(
                app.json(
                    "POST",
                    "/api/fs/create",
                    json!({"path": "form.txt", "kind": "file"}),
                )
                .without("Content-Type")
                .header("Content-Type", content_type),
            )
            .await;
        assert_eq!(res.status, 415, "Content-Type {content_type}");
        assert_eq!(res.error_code(), "json_required");
    }
    let none = app
        .send(
            app.json(
                "POST",
                "/api/fs/create",
                json!({"path": "form.txt", "kind": "file"}),
            )
            .without("Content-Type"),
        )
        .await;
    assert_eq!(none.status, 415);
    assert!(!app.workspace().join("form.txt").exists());
}

#[tokio::test]
async fn preflights_are_refused_without_cors_headers() {
    let app = TestAppliance::start().await;
    let res = app
        .send(
            RawRequest::new("OPTIONS", "/api/fs/file")
                .header("Host", &app.host())
                .header("Origin", "https://evil.com")
                .header("Access-Control-Request-Method", "PUT"),
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(
        res.headers
            .iter()
            .all(|(n, _)| !n.starts_with("access-control-")),
        "{:?}",
        res.headers
    );
    let same_origin = app
        .send(
            app.authed("OPTIONS", "/api/fs/file")
                .header("Origin", &app.origin())
                .header("Access-Control-Request-Method", "PUT"),
        )
        .await;
    assert_eq!(same_origin.status, 403);
}

fn websocket_upgrade(app: &TestAppliance) -> RawRequest {
    app.authed("GET", "/api/events")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
}

#[tokio::test]
async fn websocket_upgrades_need_our_origin() {
    let app = TestAppliance::start().await;
    let none = app.send(websocket_upgrade(&app)).await;
    assert_eq!(none.status, 403);
    assert_eq!(none.error_code(), "origin_required");
    let foreign = app
        .send(websocket_upgrade(&app).header("Origin", "https://evil.com"))
        .await;
    assert_eq!(foreign.status, 403);
    let accepted = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        upgrade_status_with_our_origin(&app),
    )
    .await
    .unwrap();
    assert_eq!(accepted, 101);
}

/// Sends a well-formed upgrade and reads only its status line (the connection stays open).
async fn upgrade_status_with_our_origin(app: &TestAppliance) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port()))
        .await
        .unwrap();
    let mut head = String::from("GET /api/events HTTP/1.1\r\n");
    for (name, value) in [
        ("Host", app.host()),
        ("Authorization", format!("Bearer {}", app.appliance.token())),
        ("Origin", app.origin()),
        ("Upgrade", "websocket".into()),
        ("Connection", "Upgrade".into()),
        ("Sec-WebSocket-Version", "13".into()),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==".into()),
    ] {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await.unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn api_calls_without_a_valid_token_are_refused() {
    let app = TestAppliance::start().await;
    let anonymous = app
        .send(RawRequest::new("GET", "/api/fs/tree").header("Host", &app.host()))
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error_code(), "unauthenticated");
    let wrong = app
        .send(
            app.authed("GET", "/api/fs/tree")
                .without("Authorization")
                .header("Authorization", "Bearer 00000000000000000000000000000000"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let page = app
        .send(
            RawRequest::new("GET", "/")
                .header("Host", &app.host())
                .header("Accept", "text/html"),
        )
        .await;
    assert_eq!(page.status, 401, "the IDE page itself needs the session");
}

#[tokio::test]
async fn path_traversal_is_refused_in_every_form() {
    let app = TestAppliance::start().await;
    let cases = [
        ("../outside.txt", 400),
        ("..%2Foutside.txt", 400),
        ("%2e%2e%2foutside.txt", 400),
        ("%2E%2E/outside.txt", 400),
        ("src/..%2F..%2Foutside.txt", 400),
        ("..%5Coutside.txt", 400),
        ("%2Fetc%2Fpasswd", 400),
        ("/etc/passwd", 400),
        ("../ws2/secret.txt", 400),
        ("escape-link", 403),
        ("escape-dir/secret.txt", 403),
        ("src%00.rs", 400),
    ];
    for (path, status) in cases {
        let res = app
            .send(app.authed("GET", &format!("/api/fs/file?path={path}")))
            .await;
        assert_eq!(
            res.status,
            status,
            "read {path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let body = String::from_utf8_lossy(&res.body);
        assert!(
            !body.contains("SECRET") && !body.contains("OUTSIDE"),
            "{path} leaked: {body}"
        );
    }
    let write = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "escape-dir/new.txt", "content": "x", "base_version": null}),
        ))
        .await;
    assert_eq!(write.status, 403);
    assert!(!app.outer.path().join("ws2/new.txt").exists());
    let overwrite = app
        .send(app.json(
            "PUT",
            "/api/fs/file",
            json!({"path": "../ws2/secret.txt", "content": "x", "base_version": null}),
        ))
        .await;
    assert_eq!(overwrite.status, 400);
    let rename = app
        .send(app.json(
            "POST",
            "/api/fs/rename",
            json!({"from": "README.md", "to": "../ws2/README.md"}),
        ))
        .await;
    assert_eq!(rename.status, 400);
    let delete = app
        .send(app.json(
            "POST",
            "/api/fs/delete",
            json!({"path": "escape-dir/secret.txt"}),
        ))
        .await;
    assert_eq!(delete.status, 403);
    assert_eq!(
        std::fs::read_to_string(app.outer.path().join("ws2/secret.txt")).unwrap(),
        "TOP SECRET"
    );
    for asset in [
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/../index.html",
    ] {
        let res = app.send(app.authed("GET", asset)).await;
        assert_eq!(res.status, 404, "{asset}");
    }
}

#[tokio::test]
async fn bind_to_a_non_loopback_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for ip in ["0.0.0.0", "::", "192.0.2.1"] {
        let err = airlock_appliance::Appliance::start(airlock_appliance::ServeOptions {
            workspace: dir.path().to_owned(),
            port: 0,
            bind: vec![ip.parse().unwrap()],
            token_file: None,
            audit_dir: Some(dir.path().join("audit")),
            ..Default::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("binding {ip} must fail"));
        assert!(err.to_string().contains("loopback only"), "{ip}: {err}");
    }
}
