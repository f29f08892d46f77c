//! `airlock audit verify|export`: check the hash chain, export verified records.

use std::path::PathBuf;

use airlock_appliance::audit::export::{ExportFormat, render};
use airlock_appliance::audit::verify::read_records;
use airlock_appliance::audit::{CHECKPOINT_FILE, LOG_FILE, verify};
use airlock_appliance::server::default_audit_dir;

/// The audit folder named on the command line, or the workspace's default one.
fn audit_dir(dir: Option<PathBuf>, workspace: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match (dir, workspace) {
        (Some(dir), _) => dir,
        (None, Some(ws)) => default_audit_dir(&ws.canonicalize()?),
        (None, None) => default_audit_dir(&std::env::current_dir()?.canonicalize()?),
    })
}

/// Exports the verified chain as JSON lines or CEF.
pub fn export_audit(
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

/// Verifies the chain; exit 1 names the first bad record.
pub fn verify_audit(
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
