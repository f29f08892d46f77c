//! `airlock`: the appliance's command line.

use std::net::IpAddr;
use std::path::PathBuf;

use airlock_appliance::bind::parse_bind_address;
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
    let Command::Serve {
        workspace,
        port,
        bind,
        token_file,
    } = Cli::parse().command;
    match run(ServeOptions {
        workspace,
        port,
        bind,
        token_file,
    })
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: ServeOptions) -> anyhow::Result<()> {
    let appliance = Appliance::start(options).await?;
    println!("Airlock is serving on loopback only. Open:");
    println!("{}", appliance.launch_url());
    use std::io::Write;
    std::io::stdout().flush()?;
    wait_for_stop_signal().await;
    appliance.shutdown().await
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
