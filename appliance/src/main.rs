//! `airlock`: the appliance's command line.

use std::net::IpAddr;
use std::path::PathBuf;

mod cli;

use airlock_appliance::ServeOptions;
use airlock_appliance::audit::Rotation;
use airlock_appliance::audit::export::ExportFormat;
use airlock_appliance::bind::parse_bind_address;
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
        /// Folder of GGUF model files the in-browser engine may load (each load is audited).
        #[arg(long)]
        models: Option<PathBuf>,
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
            models,
        } => {
            cli::serve::serve(ServeOptions {
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
                models,
            })
            .await
        }
        Command::Evidence {
            url,
            token_file,
            pack,
        } => cli::evidence::evidence(&url, &token_file, pack),
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                dir,
                workspace,
                checkpoint,
            } => cli::audit::verify_audit(dir, workspace, checkpoint),
            AuditCommand::Export {
                dir,
                workspace,
                format,
                output,
            } => cli::audit::export_audit(dir, workspace, format, output),
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
