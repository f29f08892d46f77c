//! `airlock serve`: start the appliance, print the launch URL, stop on Ctrl+C or SIGTERM.

use airlock_appliance::{Appliance, ServeOptions};

/// Runs the appliance until a stop signal.
pub async fn serve(options: ServeOptions) -> anyhow::Result<std::process::ExitCode> {
    let appliance = Appliance::start(options).await?;
    println!("Airlock is serving on loopback only. Open:");
    println!("{}", appliance.launch_url());
    use std::io::Write;
    std::io::stdout().flush()?;
    wait_for_stop_signal().await;
    appliance.shutdown().await?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Waits for Ctrl+C or SIGTERM.
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
