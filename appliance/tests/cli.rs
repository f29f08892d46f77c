//! The `airlock` binary as a person runs it: it prints one launch URL, refuses non-loopback
//! binds, writes the token file, and never logs the token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn airlock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
}

#[test]
fn refuses_to_bind_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for address in ["0.0.0.0", "::", "192.168.1.10", "example.com"] {
        let out = airlock()
            .args(["serve", "--workspace"])
            .arg(dir.path())
            .args(["--bind", address])
            .output()
            .unwrap();
        assert!(!out.status.success(), "--bind {address} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("loopback only"),
            "--bind {address}: {stderr}"
        );
    }
}

#[test]
fn refuses_a_missing_workspace_clearly() {
    let out = airlock()
        .args(["serve", "--workspace", "/definitely/not/here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open workspace"));
}

#[test]
fn prints_a_launch_url_and_keeps_the_token_out_of_logs() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let mut child = airlock()
        .args(["serve", "--workspace"])
        .arg(dir.path())
        .arg("--token-file")
        .arg(&token_file)
        .env("AIRLOCK_LOG", "debug")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "airlock exited before printing its URL"
        );
        if line.starts_with("http://") {
            break line.trim().to_owned();
        }
    };
    let (origin, nonce) = url
        .split_once("/?token=")
        .expect("URL carries a launch nonce");
    assert!(origin.starts_with("http://127.0.0.1:"));
    assert_eq!(nonce.len(), 32);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(token.len(), 32);
    assert_ne!(token, nonce, "the printed URL is not the bearer token");
    let token = token.as_str();

    let host = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /?token={nonce} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");

    let evidence = airlock()
        .args(["evidence", "--url", origin, "--token-file"])
        .arg(&token_file)
        .arg("--pack")
        .arg(dir.path().join("pack.tar"))
        .output()
        .unwrap();
    assert!(
        evidence.status.success(),
        "{}",
        String::from_utf8_lossy(&evidence.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&evidence.stdout).unwrap();
    assert_eq!(report["all_clear"], true);
    assert!(
        std::fs::metadata(dir.path().join("pack.tar"))
            .unwrap()
            .len()
            > 1024
    );
    let refused = airlock()
        .args(["evidence", "--url", "http://192.0.2.1:80", "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "only loopback appliances are asked"
    );

    #[cfg(unix)]
    terminate(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown on SIGTERM: {status}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("request"), "the access log ran: {logs}");
    assert!(
        !logs.contains(token),
        "the token leaked into the log:\n{logs}"
    );
    assert!(!token_file.exists(), "token file removed on shutdown");

    // The folder (its key file lies beside it).
    let audit_dir = std::fs::read_dir(dir.path().join("state/airlock/audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let clean = airlock()
        .args(["audit", "verify", "--dir"])
        .arg(&audit_dir)
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    let log_path = audit_dir.join("audit.jsonl");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.lines().count() >= 3,
        "start, login and end are recorded: {log}"
    );
    std::fs::write(&log_path, log.replacen("session.login", "session.lagin", 1)).unwrap();
    let tampered = airlock()
        .args(["audit", "verify", "--dir"])
        .arg(&audit_dir)
        .output()
        .unwrap();
    assert_eq!(tampered.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&tampered.stdout).unwrap();
    assert_eq!(report["bad_seq"], 3, "{report}");
    let refused = airlock()
        .args(["audit", "export", "--dir"])
        .arg(&audit_dir)
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a tampered log is not exported"
    );
    assert!(refused.stdout.is_empty());
}

/// Sends SIGTERM through the `kill` utility (the workspace forbids unsafe code).
#[cfg(unix)]
fn terminate(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
