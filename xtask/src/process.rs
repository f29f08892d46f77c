//! Running child commands with their command line echoed and failures explained.

use std::ffi::OsStr;
use std::process::Command;

use anyhow::{Context, bail};

/// A command with the program set.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    Command::new(program)
}

/// Runs `command` to completion; a non-zero exit is an error naming the command.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    eprintln!("xtask: $ {shown}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Runs `command` and returns its standard output, or `None` when it cannot run or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
