//! Every kind of response — page, script, wasm, stylesheet, API answer, refusal, error,
//! redirect — carries the full security header set.

use airlock_integration_tests::{RawRequest, RawResponse, TestAppliance, dist_dir};
use serde_json::json;

const CSP_DIRECTIVES: &[&str] = &[
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
];

fn assert_security_headers(what: &str, res: &RawResponse, host: &str) {
    let csp = res
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    for directive in CSP_DIRECTIVES {
        assert!(
            csp.split(';').any(|d| d.trim() == *directive),
            "{what}: CSP lacks {directive}: {csp}"
        );
    }
    let connect = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .unwrap();
    assert_eq!(connect, format!("connect-src 'self' ws://{host}"), "{what}");
    let style = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("style-src"))
        .unwrap();
    assert!(
        style.starts_with("style-src 'self' 'nonce-") && !style.contains("unsafe-inline"),
        "{what}: {style}"
    );
    let expected = [
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
        ("cross-origin-resource-policy", "same-origin"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ];
    for (name, value) in expected {
        assert_eq!(res.header(name), Some(value), "{what}: {name}");
    }
    let permissions = res
        .header("permissions-policy")
        .unwrap_or_else(|| panic!("{what}: no Permissions-Policy"));
    for feature in [
        "camera",
        "microphone",
        "geolocation",
        "usb",
        "serial",
        "hid",
        "bluetooth",
        "payment",
    ] {
        assert!(
            permissions.contains(&format!("{feature}=()")),
            "{what}: {feature} not denied"
        );
    }
    assert!(
        res.headers
            .iter()
            .all(|(n, _)| !n.starts_with("access-control-")),
        "{what}: CORS header present"
    );
}

fn asset_named(prefix: &str, ext: &str) -> String {
    let assets = dist_dir().join("assets");
    let found = std::fs::read_dir(&assets)
        .unwrap_or_else(|e| {
            panic!(
                "{} unreadable ({e}); run `cargo xtask web` first",
                assets.display()
            )
        })
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with(prefix) && n.ends_with(ext));
    found.unwrap_or_else(|| {
        panic!(
            "no {prefix}*{ext} in {}; run `cargo xtask web` first",
            assets.display()
        )
    })
}

#[tokio::test]
async fn every_route_carries_the_full_header_set() {
    let app = TestAppliance::start().await;
    let host = app.host();
    let wasm = format!("/assets/{}", asset_named("app-", ".wasm"));
    let script = format!("/assets/{}", asset_named("app-", ".js"));
    let editor = format!("/assets/{}", asset_named("editor-", ".js"));
    let css = format!("/assets/{}", asset_named("app-", ".css"));
    let cases: Vec<(&str, RawRequest, u16)> = vec![
        ("html", app.authed("GET", "/"), 200),
        ("wasm", app.authed("GET", &wasm), 200),
        ("glue js", app.authed("GET", &script), 200),
        ("editor js", app.authed("GET", &editor), 200),
        ("css", app.authed("GET", &css), 200),
        ("api status", app.authed("GET", "/api/status"), 200),
        ("api tree", app.authed("GET", "/api/fs/tree"), 200),
        (
            "api file",
            app.authed("GET", "/api/fs/file?path=README.md"),
            200,
        ),
        (
            "api write",
            app.json(
                "PUT",
                "/api/fs/file",
                json!({"path": "README.md", "content": "x", "base_version": "stale"}),
            ),
            409,
        ),
        ("api 404", app.authed("GET", "/api/fs/file?path=nope"), 404),
        ("route 404", app.authed("GET", "/nowhere"), 404),
        ("asset 404", app.authed("GET", "/assets/missing.js"), 404),
        (
            "unauthenticated",
            RawRequest::new("GET", "/api/status").header("Host", &host),
            401,
        ),
        (
            "launch redirect",
            RawRequest::new("GET", &app.launch_path()).header("Host", &host),
            303,
        ),
        (
            "guard 403",
            app.authed("GET", "/api/status")
                .header("Origin", "https://evil.com"),
            403,
        ),
        (
            "guard 415",
            app.json("POST", "/api/fs/create", json!({}))
                .without("Content-Type")
                .header("Content-Type", "text/plain"),
            415,
        ),
        (
            "bad json 400",
            app.json("POST", "/api/fs/create", json!({"nope": 1})),
            400,
        ),
        (
            "preflight",
            RawRequest::new("OPTIONS", "/").header("Host", &host),
            403,
        ),
        (
            "tool",
            app.json("POST", "/api/tools/list_dir", json!({"path": ""})),
            200,
        ),
        (
            "tool refusal",
            app.json(
                "POST",
                "/api/tools/apply_edit",
                json!({"path": "x", "content": ""}),
            ),
            403,
        ),
        ("evidence", app.authed("GET", "/api/evidence"), 200),
        (
            "evidence pack",
            app.authed("GET", "/api/evidence/pack"),
            200,
        ),
    ];
    for (what, request, status) in cases {
        let res = app.send(request).await;
        assert_eq!(
            res.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_security_headers(what, &res, &host);
    }
    let foreign = app
        .send(
            app.authed("GET", "/")
                .without("Host")
                .header("Host", "evil.com"),
        )
        .await;
    assert_eq!(foreign.status, 421);
    assert_security_headers("guard 421", &foreign, &host);
}

#[tokio::test]
async fn the_ws_origin_follows_the_allowed_host_used() {
    let app = TestAppliance::start().await;
    let host = format!("localhost:{}", app.port());
    let res = app
        .send(
            app.authed("GET", "/api/status")
                .without("Host")
                .header("Host", &host),
        )
        .await;
    assert_security_headers("localhost host", &res, &host);
}

#[tokio::test]
async fn assets_have_types_caching_and_compression() {
    let app = TestAppliance::start().await;
    let wasm = app
        .send(app.authed("GET", &format!("/assets/{}", asset_named("app-", ".wasm"))))
        .await;
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(
        wasm.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(&wasm.body[..4], b"\0asm");
    let gz = app
        .send(
            app.authed("GET", &format!("/assets/{}", asset_named("editor-", ".js")))
                .header("Accept-Encoding", "gzip"),
        )
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gz.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(&gz.body[..2], &[0x1f, 0x8b]);
    let page = app.send(app.authed("GET", "/")).await;
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let api = app.send(app.authed("GET", "/api/status")).await;
    assert_eq!(api.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn each_page_gets_a_fresh_style_nonce_that_matches_its_csp() {
    let app = TestAppliance::start().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let page = app.send(app.authed("GET", "/")).await;
        let html = String::from_utf8(page.body.clone()).unwrap();
        let csp = page.header("content-security-policy").unwrap();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(nonce.len(), 32);
        assert!(
            html.contains(&format!("content=\"{nonce}\"")),
            "page must carry its nonce"
        );
        assert!(!html.contains("{{"), "unfilled placeholder in page");
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1]);
}

/// A client that never finishes its headers is cut off, and connections over the cap are
/// answered 503 at once instead of tying the appliance up.
#[tokio::test]
async fn slow_and_surplus_connections_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestAppliance::start_with(|o| {
        o.connection_limits = airlock_appliance::http_server::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_millis(500),
            max_connections: 2,
        }
    })
    .await;
    let connect = || tokio::net::TcpStream::connect(("127.0.0.1", app.port()));
    let mut slow = connect().await.unwrap();
    slow.write_all(b"GET /api/status HTTP/1.1\r\nHost: ")
        .await
        .unwrap();
    let mut idle = connect().await.unwrap();
    // Over the cap while both are open.
    let mut surplus = connect().await.unwrap();
    let mut answer = Vec::new();
    surplus.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // The slow client is closed by the server (bounded by the test's own deadline).
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "a client stuck in its headers is cut off");
    let _ = idle.write_all(b"").await;
    drop(idle);
    drop(slow);
    // Slots free again (once the server has noticed the closed sockets): served.
    let mut status = 503;
    for _ in 0..100 {
        status = app.send(app.authed("GET", "/api/status")).await.status;
        if status != 503 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(status, 200);
}
