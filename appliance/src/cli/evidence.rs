//! `airlock evidence`: ask a running loopback appliance for its egress evidence.

use std::path::PathBuf;

use airlock_appliance::bind::parse_bind_address;

/// `airlock evidence`: GET /api/evidence (and /api/evidence/pack) from a running appliance.
pub fn evidence(
    url: &str,
    token_file: &std::path::Path,
    pack: Option<PathBuf>,
) -> anyhow::Result<std::process::ExitCode> {
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| anyhow::anyhow!("cannot read token file {}: {e}", token_file.display()))?;
    let authority = url
        .strip_prefix("http://")
        .ok_or_else(|| {
            anyhow::anyhow!("the URL must start with http:// (the appliance serves loopback HTTP)")
        })?
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let ip = authority
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .unwrap_or("");
    if parse_bind_address(ip).is_err() {
        anyhow::bail!(
            "{authority} is not a loopback address; the appliance only listens on loopback"
        );
    }
    let report = local_get(&authority, "/api/evidence", token.trim())?;
    let text = String::from_utf8_lossy(&report).into_owned();
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| anyhow::anyhow!("unexpected answer: {text}"))?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    if let Some(path) = pack {
        let bytes = local_get(&authority, "/api/evidence/pack", token.trim())?;
        let temp = path.with_extension("airlock-pack.tmp");
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, &path)?;
        eprintln!("evidence pack saved to {}", path.display());
    }
    Ok(if json["all_clear"] == true {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// A minimal HTTP/1.1 GET over loopback (no client library, no proxy settings honoured).
fn local_get(authority: &str, path: &str, token: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(authority)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("incomplete HTTP answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap_or("");
    let body = raw[split + 4..].to_vec();
    if status != "200" {
        anyhow::bail!(
            "the appliance answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        anyhow::bail!("unexpected chunked answer");
    }
    Ok(body)
}
