//! `airlock`: the appliance's command line.

use std::net::IpAddr;
use std::path::PathBuf;

use airlock_appliance::audit::export::{ExportFormat, render};
use airlock_appliance::audit::verify::read_records;
use airlock_appliance::audit::{CHECKPOINT_FILE, LOG_FILE, Rotation, verify};
use airlock_appliance::bind::parse_bind_address;
use airlock_appliance::server::default_audit_dir;
use airlock_appliance::{Appliance, ServeOptions};
use clap::{Parser, Subcommand};

/// Airlock: an air-gapped AI coding IDE served from loopback.
#[derive(Parser)]
#[command(name = "airlock", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the IDE on loopback for one workspace.
    Serve {
        /// Folder to open as the workspace.
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Port to listen on (0 picks a free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Loopback address to bind (127.0.0.1 or ::1); repeat for both. Anything else is refused.
        #[arg(long, value_parser = parse_bind)]
        bind: Vec<IpAddr>,
        /// Also write the session token to this file (mode 0600), for scripts.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Folder for the audit log (default: per workspace under $XDG_STATE_HOME/airlock/audit).
        #[arg(long)]
        audit_dir: Option<PathBuf>,
        /// Pin this policy file (kept outside the workspace) instead of the workspace's own.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Rotate the audit log when it grows past this many bytes.
        #[arg(long, default_value_t = 16 * 1024 * 1024)]
        audit_max_bytes: u64,
        /// Delete rotated audit segments older than this many days (default: keep all).
        #[arg(long)]
        audit_keep_days: Option<u64>,
    },
    /// Ask a running appliance for its egress evidence (and optionally save the pack).
    Evidence {
        /// The appliance's address, e.g. http://127.0.0.1:4100 (a launch URL works too).
        #[arg(long)]
        url: String,
        /// File holding the session token (see `serve --token-file`).
        #[arg(long)]
        token_file: PathBuf,
        /// Also save the evidence pack (tar) here.
        #[arg(long)]
        pack: Option<PathBuf>,
    },
    /// Work with the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain and the checkpoint; exit 1 and name the record if tampered.
    Verify {
        /// The audit folder (holding audit.jsonl and audit.checkpoint).
        #[arg(long, conflicts_with = "workspace")]
        dir: Option<PathBuf>,
        /// Or: the workspace whose default audit folder to check.
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// A checkpoint kept elsewhere (default: the one in the audit folder).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Write the verified log as JSON lines or CEF (refuses a log that fails verification).
    Export {
        /// The audit folder (holding audit.jsonl and audit.checkpoint).
        #[arg(long, conflicts_with = "workspace")]
        dir: Option<PathBuf>,
        /// Or: the workspace whose default audit folder to export.
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// `jsonl` or `cef`.
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        /// Write here (atomically) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

fn parse_bind(text: &str) -> Result<IpAddr, String> {
    parse_bind_address(text).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            workspace,
            port,
            bind,
            token_file,
            audit_dir,
            policy,
            audit_max_bytes,
            audit_keep_days,
        } => {
            serve(ServeOptions {
                workspace,
                port,
                bind,
                token_file,
                audit_dir,
                policy,
                unshare: None,
                audit_rotation: Some(Rotation {
                    max_bytes: audit_max_bytes,
                    keep_days: audit_keep_days,
                }),
            })
            .await
        }
        Command::Evidence {
            url,
            token_file,
            pack,
        } => evidence(&url, &token_file, pack),
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                dir,
                workspace,
                checkpoint,
            } => verify_audit(dir, workspace, checkpoint),
            AuditCommand::Export {
                dir,
                workspace,
                format,
                output,
            } => export_audit(dir, workspace, format, output),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airlock: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn serve(options: ServeOptions) -> anyhow::Result<std::process::ExitCode> {
    let appliance = Appliance::start(options).await?;
    println!("Airlock is serving on loopback only. Open:");
    println!("{}", appliance.launch_url());
    use std::io::Write;
    std::io::stdout().flush()?;
    wait_for_stop_signal().await;
    appliance.shutdown().await?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// The audit folder named on the command line, or the workspace's default one.
fn audit_dir(dir: Option<PathBuf>, workspace: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match (dir, workspace) {
        (Some(dir), _) => dir,
        (None, Some(ws)) => default_audit_dir(&ws.canonicalize()?),
        (None, None) => default_audit_dir(&std::env::current_dir()?.canonicalize()?),
    })
}

fn export_audit(
    dir: Option<PathBuf>,
    workspace: Option<PathBuf>,
    format: ExportFormat,
    output: Option<PathBuf>,
) -> anyhow::Result<std::process::ExitCode> {
    let dir = audit_dir(dir, workspace)?;
    let checkpoint = dir.join(CHECKPOINT_FILE);
    let log = dir.join(LOG_FILE);
    let report = verify(&log, checkpoint.exists().then_some(checkpoint.as_path()))?;
    if !report.ok {
        eprintln!("airlock: refusing to export a log that fails verification:");
        eprintln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(std::process::ExitCode::FAILURE);
    }
    let text = render(&read_records(&log)?, format);
    match output {
        None => print!("{text}"),
        Some(path) => {
            let temp = path.with_extension("airlock-export.tmp");
            std::fs::write(&temp, &text)?;
            std::fs::rename(&temp, &path)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn verify_audit(
    dir: Option<PathBuf>,
    workspace: Option<PathBuf>,
    checkpoint: Option<PathBuf>,
) -> anyhow::Result<std::process::ExitCode> {
    let dir = audit_dir(dir, workspace)?;
    let checkpoint = checkpoint.unwrap_or_else(|| dir.join(CHECKPOINT_FILE));
    let checkpoint = checkpoint.exists().then_some(checkpoint);
    let report = verify(&dir.join(LOG_FILE), checkpoint.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot read the audit log in {}: {e}", dir.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// `airlock evidence`: GET /api/evidence (and /api/evidence/pack) from a running appliance.
fn evidence(
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

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
