//! Egress evidence: during a live session (status feed open, a command running) every
//! socket is loopback-only; a process that opens a non-loopback socket is flagged; the
//! evidence pack is one archive a reviewer can open with `tar`.

use std::io::BufRead;
use std::time::{Duration, Instant};

use airlock_appliance::egress::sockets_of;
use airlock_integration_tests::TestAppliance;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Polls the evidence report until `ready` holds (bounded: the command it waits for is
/// starting in another task).
async fn evidence_when(app: &TestAppliance, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = app.send(app.authed("GET", "/api/evidence")).await.json();
        if ready(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "evidence never showed the expected state: {report}"
        );
        tokio::task::yield_now().await;
    }
}

async fn spawn_command(
    app: &TestAppliance,
    command: &str,
    timeout_secs: u64,
) -> tokio::task::JoinHandle<()> {
    let mut args = json!({"command": command, "timeout_secs": timeout_secs});
    let refused = app.tool("run_command", args.clone()).await;
    args["approval"] = json!(app.approve_refused(&refused).await);
    let request = app.json("POST", "/api/tools/run_command", args);
    let port = app.port();
    tokio::spawn(async move {
        let res = request.send(port).await;
        assert_eq!(res.status, 200);
    })
}

/// Opens the WebSocket status feed and keeps it open.
async fn open_status_feed(app: &TestAppliance) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port()))
        .await
        .unwrap();
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nAuthorization: Bearer {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        app.host(),
        app.origin(),
        app.appliance.token()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_live_session_shows_only_loopback_sockets() {
    let app = TestAppliance::start().await;
    let _feed = open_status_feed(&app).await;
    let command = spawn_command(&app, "echo started; sleep 30", 3).await;
    let report = evidence_when(&app, |r| {
        r["commands"][0]["processes"]
            .as_array()
            .is_some_and(|p| p.len() >= 2)
    })
    .await;
    assert_eq!(report["all_clear"], true, "{report}");
    assert!(report["findings"].as_array().unwrap().is_empty());
    let sockets = report["appliance"]["sockets"].as_array().unwrap();
    assert!(
        sockets.len() >= 3,
        "listener, feed and this request: {sockets:?}"
    );
    assert!(
        sockets.iter().all(|s| s["loopback_only"] == true),
        "{sockets:?}"
    );
    assert!(
        sockets
            .iter()
            .any(|s| s["local"] == format!("127.0.0.1:{}", app.port()))
    );
    assert!(
        report["commands"][0]["command"]
            .as_str()
            .unwrap()
            .contains("sleep 30")
    );
    assert!(
        report["commands"][0]["processes"].as_array().unwrap().len() >= 2,
        "unshare and its children"
    );
    let csp = report["content_security_policy"].as_str().unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains(&format!("ws://127.0.0.1:{}", app.port()))
    );
    assert_eq!(report["audit_verification"]["ok"], true);
    command.await.unwrap();
}

#[tokio::test]
async fn a_non_loopback_socket_in_a_sandboxed_command_is_flagged() {
    let app = TestAppliance::start().await;
    let script = "python3 -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 0)); print(\"bound\", flush=True); time.sleep(30)'";
    let command = spawn_command(&app, script, 4).await;
    let report = evidence_when(&app, |r| r["all_clear"] == false).await;
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.as_str().unwrap().contains("0.0.0.0")),
        "{findings:?}"
    );
    let status = app.send(app.authed("GET", "/api/status")).await.json();
    assert_eq!(
        status["airgap_active"], false,
        "the indicator turns to a warning: {status}"
    );
    command.await.unwrap();
}

#[test]
fn a_test_double_process_with_a_wildcard_socket_is_flagged() {
    let mut double = std::process::Command::new("python3")
        .args(["-c", "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 0)); print('bound', flush=True); time.sleep(60)"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(double.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "bound");
    let sockets = sockets_of(&double.id().to_string()).unwrap();
    double.kill().unwrap();
    double.wait().unwrap();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    assert!(!sockets[0].loopback_only);
    assert!(sockets[0].local.starts_with("0.0.0.0:"), "{sockets:?}");
}

#[tokio::test]
async fn a_socket_opened_and_closed_while_a_command_ran_is_still_reported() {
    let app = TestAppliance::start().await;
    // Open for half a second, then closed; the command ends long before the report is read.
    let script = "python3 -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 0)); time.sleep(0.5); s.close()'; echo finished";
    let res = app
        .tool("run_command", json!({"command": script, "approved": true}))
        .await;
    assert!(String::from_utf8_lossy(&res.body).contains("finished"));
    let report = app.send(app.authed("GET", "/api/evidence")).await.json();
    assert!(
        report["commands"].as_array().unwrap().is_empty(),
        "nothing runs now"
    );
    assert_eq!(report["all_clear"], false, "{report}");
    let findings = report["findings"].to_string();
    assert!(
        findings.contains("seen while running") && findings.contains("0.0.0.0"),
        "{findings}"
    );
}

#[tokio::test]
async fn unix_sockets_are_reported_and_a_failing_audit_chain_is_not_all_clear() {
    let app = TestAppliance::start().await;
    let script = "python3 -c 'import socket,time; s=socket.socket(socket.AF_UNIX); s.bind(\"/tmp/evidence.sock\"); s.listen(); time.sleep(30)'";
    let command = spawn_command(&app, script, 3).await;
    let report = evidence_when(&app, |r| {
        r["commands"][0]["processes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["sockets"].as_array().cloned().unwrap_or_default())
            .any(|s| s["protocol"] == "unix" && s["local"] == "/tmp/evidence.sock")
    })
    .await;
    assert_eq!(
        report["all_clear"], true,
        "a Unix socket stays on the machine: {report}"
    );
    command.await.unwrap();
    // Rewrite a record of this session's log: the report must no longer read as all clear.
    let log = app.audit_dir().join(airlock_appliance::audit::LOG_FILE);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("session.start", "session.begin", 1)).unwrap();
    let report = app.send(app.authed("GET", "/api/evidence")).await.json();
    assert_eq!(report["all_clear"], false, "{report}");
    assert!(
        report["findings"]
            .to_string()
            .contains("audit log fails verification"),
        "{report}"
    );
}

#[tokio::test]
async fn the_evidence_pack_is_one_archive_with_report_policy_and_audit_segment() {
    let app = TestAppliance::start_with(|o| {
        std::fs::create_dir_all(o.workspace.join(".airlock")).unwrap();
        std::fs::write(
            o.workspace.join(".airlock/policy.toml"),
            "approval = [\"apply_edit\"]\n",
        )
        .unwrap();
    })
    .await;
    let _ = app.send(app.authed("GET", "/api/fs/tree")).await;
    let res = app.send(app.authed("GET", "/api/evidence/pack")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/x-tar"));
    assert!(
        res.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"airlock-evidence-")
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pack.tar"), &res.body).unwrap();
    let out = std::process::Command::new("tar")
        .current_dir(dir.path())
        .args(["-xvf", "pack.tar"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("evidence/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["all_clear"], true, "{report}");
    assert_eq!(report["status"]["policy_source"], "workspace");
    let policy = std::fs::read_to_string(dir.path().join("evidence/policy.toml")).unwrap();
    assert!(policy.contains("apply_edit"));
    let segment = std::fs::read_to_string(dir.path().join("evidence/audit-session.jsonl")).unwrap();
    let first: Value = serde_json::from_str(segment.lines().next().unwrap()).unwrap();
    assert_eq!(first["action"], "session.start");
    assert!(segment.contains("fs.tree"));
    assert!(dir.path().join("evidence/audit.checkpoint").exists());
}
