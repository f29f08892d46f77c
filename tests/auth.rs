//! The launch token becomes a strict cookie, the token leaves the URL, bearer tokens work
//! for scripts, and wrong tokens are throttled.

use airlock_appliance::{Appliance, ServeOptions};
use airlock_integration_tests::{RawRequest, TestAppliance};

#[tokio::test]
async fn launch_url_sets_a_strict_cookie_and_redirects_to_a_clean_url() {
    let app = TestAppliance::start().await;
    let token = app.appliance.token().to_owned();
    assert_eq!(token.len(), 32, "128-bit hex secret");
    let launch = app.launch_path();
    assert!(launch.starts_with("/?token="));
    assert!(
        !launch.contains(&token),
        "the printed URL carries a one-time nonce, not the session secret"
    );
    let res = app
        .send(RawRequest::new("GET", &launch).header("Host", &app.host()))
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    let cookie = res.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(value, token);
    assert!(
        name.starts_with(&format!("airlock_{}_", app.port())) && name.len() > 20,
        "a per-launch cookie name: {name}"
    );
    let page = app
        .send(
            RawRequest::new("GET", "/")
                .header("Host", &app.host())
                .header("Cookie", &pair),
        )
        .await;
    assert_eq!(page.status, 200);
    // Every cookie of that name is tried: a stale one first does not lock the user out.
    let api = app
        .send(
            RawRequest::new("GET", "/api/fs/tree")
                .header("Host", &app.host())
                .header("Cookie", &format!("other=1; {name}=stale; {pair}")),
        )
        .await;
    assert_eq!(api.status, 200);
    let forged = app
        .send(
            RawRequest::new("GET", "/api/fs/tree")
                .header("Host", &app.host())
                .header("Cookie", &format!("{name}=ffff")),
        )
        .await;
    assert_eq!(forged.status, 401);
    // The link from the scrollback is worthless now; a signed-in browser just goes home.
    let again = app
        .send(
            RawRequest::new("GET", &launch)
                .header("Host", &app.host())
                .header("Accept", "text/html"),
        )
        .await;
    assert_eq!(again.status, 401);
    assert!(again.header("set-cookie").is_none());
    assert!(String::from_utf8_lossy(&again.body).contains("works once"));
    let signed_in = app
        .send(
            RawRequest::new("GET", &launch)
                .header("Host", &app.host())
                .header("Cookie", &pair),
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert!(signed_in.header("set-cookie").is_none());
}

#[tokio::test]
async fn a_wrong_launch_token_sets_nothing() {
    let app = TestAppliance::start().await;
    let res = app
        .send(
            RawRequest::new("GET", "/?token=0123456789abcdef0123456789abcdef")
                .header("Host", &app.host())
                .header("Accept", "text/html"),
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(res.header("set-cookie").is_none());
    assert!(String::from_utf8_lossy(&res.body).contains("not valid"));
}

#[tokio::test]
async fn two_appliances_have_different_secrets() {
    let a = TestAppliance::start().await;
    let b = TestAppliance::start().await;
    assert_ne!(a.appliance.token(), b.appliance.token());
    let cross = b
        .send(
            RawRequest::new("GET", "/api/status")
                .header("Host", &b.host())
                .header("Authorization", &format!("Bearer {}", a.appliance.token())),
        )
        .await;
    assert_eq!(cross.status, 401);
}

#[tokio::test]
async fn repeated_wrong_tokens_are_rate_limited() {
    let app = TestAppliance::start().await;
    let wrong = || {
        RawRequest::new("GET", "/api/status")
            .header("Host", &app.host())
            .header("Authorization", "Bearer 11111111111111111111111111111111")
    };
    for attempt in 0..airlock_appliance::server::AUTH_FAILURES_ALLOWED {
        assert_eq!(app.send(wrong()).await.status, 401, "attempt {attempt}");
    }
    let limited = app.send(wrong()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.error_code(), "auth_rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        app.send(app.authed("GET", "/api/status")).await.status,
        200,
        "the right credential is never locked out"
    );
    let log = std::fs::read_to_string(app.audit_dir().join("audit.jsonl")).unwrap();
    let failures = log.matches("session.auth_failed").count();
    assert_eq!(
        failures,
        airlock_appliance::server::AUTH_FAILURES_ALLOWED,
        "each wrong credential before the lockout is audited"
    );
    assert!(
        !log.contains("11111111111111111111111111111111"),
        "never the credential itself"
    );
}

#[tokio::test]
async fn guard_refusals_are_audited_within_a_budget() {
    let app = TestAppliance::start().await;
    let refused = || RawRequest::new("GET", "/api/status").header("Host", "evil.example:80");
    let total = airlock_appliance::server::NOISE_RECORDS_PER_MINUTE as usize + 5;
    for _ in 0..total {
        assert_eq!(app.send(refused()).await.status, 421);
    }
    let log = std::fs::read_to_string(app.audit_dir().join("audit.jsonl")).unwrap();
    assert_eq!(
        log.matches("guard.refused").count(),
        airlock_appliance::server::NOISE_RECORDS_PER_MINUTE as usize,
        "a flood is capped"
    );
    assert!(log.contains("host_not_allowed"));
}

#[cfg(unix)]
#[tokio::test]
async fn token_file_is_private_and_removed_on_shutdown() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let appliance = Appliance::start(ServeOptions {
        workspace: dir.path().to_owned(),
        port: 0,
        bind: Vec::new(),
        token_file: Some(token_file.clone()),
        audit_dir: Some(dir.path().join("audit")),
        ..Default::default()
    })
    .await
    .unwrap();
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        appliance.token()
    );
    assert!(appliance.listeners().iter().all(|a| a.ip().is_loopback()));
    appliance.shutdown().await.unwrap();
    assert!(!token_file.exists());
}
