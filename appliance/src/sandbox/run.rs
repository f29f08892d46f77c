//! Running one command in the sandbox, streaming its output, enforcing its limits.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use super::UNSHARE_FLAGS;
use super::child::ChildSetup;

/// Environment variables a sandboxed command may inherit; everything else (proxies,
/// `GIT_SSH_COMMAND`, `LD_PRELOAD`, `BASH_ENV`, credentials…) is dropped.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "USER",
    "LOGNAME",
    "RUSTUP_HOME",
    "CARGO_HOME",
];

/// What to run.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    /// Program and arguments (no shell).
    pub argv: Vec<String>,
    /// Working folder (the workspace).
    pub cwd: PathBuf,
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Output beyond this many bytes stops the command.
    pub max_output_bytes: usize,
    /// Extra environment (after the allowlist), e.g. git's identity.
    pub extra_env: Vec<(String, String)>,
    /// Whether `.git` stays writable (the git tool); otherwise `.git` and `.airlock` are
    /// read-only, so a command cannot plant hooks, config or a policy.
    pub writable_git: bool,
}

/// Streamed while the command runs.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// A chunk of output.
    Output {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The bytes, as (lossy) UTF-8.
        text: String,
    },
}

/// How the command ended.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunOutcome {
    /// Exit code, when it exited by itself.
    pub exit_code: Option<i32>,
    /// Killed because the time limit passed.
    pub timed_out: bool,
    /// Killed because it printed more than allowed.
    pub output_limit_exceeded: bool,
    /// Killed because the caller cancelled.
    pub cancelled: bool,
}

/// The shell prologue run inside the namespaces before the command (`confine.sh`): the
/// filesystem read-only except the workspace and a private `/tmp`, home folders and secrets
/// hidden but for the toolchains. If any step fails the command does not run (exit 125).
pub const CONFINE_SCRIPT: &str = include_str!("confine.sh");

/// How the sandbox starts a command: the verified `unshare` and the paths to hide.
#[derive(Clone, Copy, Debug)]
pub struct Launch<'a> {
    /// The `unshare` program, resolved and verified once.
    pub unshare: &'a Path,
    /// Files and folders the command must not see (token file, audit and state folders).
    pub secrets: &'a [PathBuf],
}

impl Launch<'_> {
    /// The host-side command that runs `argv` confined to `workspace`: the child setup
    /// (limits, seccomp, descriptors), the namespaces, then the prologue.
    pub fn command(
        &self,
        workspace: &Path,
        writable_git: bool,
        argv: &[String],
    ) -> std::io::Result<std::process::Command> {
        // Host Unix sockets bound on paths the prologue does not already cover (a socket is
        // connectable on a read-only mount): hidden like secrets, whatever their folder.
        let sockets = host_unix_sockets();
        let secrets: Vec<&Path> = self
            .secrets
            .iter()
            .chain(&sockets)
            .map(PathBuf::as_path)
            // Hiding a folder that holds the workspace would hide the workspace.
            .filter(|s| !workspace.starts_with(s))
            .collect();
        let mut listed = String::new();
        for secret in &secrets {
            let text = secret
                .to_str()
                .filter(|t| !t.contains('\n'))
                .ok_or_else(|| {
                    std::io::Error::other(format!(
                        "cannot hide {} from commands: its name is not plain text",
                        secret.display()
                    ))
                })?;
            listed.push_str(text);
            listed.push('\n');
        }
        let mut command = std::process::Command::new(self.unshare);
        command
            .args(UNSHARE_FLAGS)
            .args(["--", "/bin/sh", "-c", CONFINE_SCRIPT, "airlock-sandbox"])
            .arg(workspace)
            .arg(if writable_git { "git" } else { "protect" })
            .arg(listed)
            .args(argv)
            .current_dir(workspace)
            .env_clear();
        ChildSetup::new()?.install(&mut command);
        Ok(command)
    }
}

/// Folders whose Unix sockets the prologue hides anyway (private tmpfs or hidden homes).
const COVERED: &[&str] = &[
    "/tmp/",
    "/run/",
    "/var/run/",
    "/dev/shm/",
    "/home/",
    "/root/",
];

/// Paths of the Unix sockets bound in the host's network namespace (`/proc/net/unix` as the
/// appliance sees it) outside [`COVERED`], that exist on disk.
pub fn host_unix_sockets() -> Vec<PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/net/unix") else {
        return Vec::new();
    };
    let home = std::env::var("HOME").unwrap_or_default();
    let mut found: Vec<PathBuf> = table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(7))
        .filter(|path| path.starts_with('/'))
        .filter(|path| !COVERED.iter().any(|c| path.starts_with(c)))
        .filter(|path| home.is_empty() || !path.starts_with(&format!("{home}/")))
        .map(PathBuf::from)
        .filter(|path| path.exists())
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The environment a sandboxed command gets from its parent's: only [`INHERITED_ENV`].
pub fn sandbox_env(parent: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    parent
        .into_iter()
        .filter(|(k, _)| INHERITED_ENV.contains(&k.as_str()))
        .collect()
}

/// Runs `spec` in fresh namespaces. Output goes to `events`; `cancel` set to true kills it.
pub async fn run(
    launch: Launch<'_>,
    spec: &CommandSpec,
    events: mpsc::Sender<RunEvent>,
    mut cancel: watch::Receiver<bool>,
    register: impl FnOnce(u32),
) -> std::io::Result<(RunOutcome, Option<u32>)> {
    let mut command = Command::from(launch.command(&spec.cwd, spec.writable_git, &spec.argv)?);
    command
        .envs(sandbox_env(std::env::vars()))
        .envs(spec.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let pid = child.id();
    if let Some(pid) = pid {
        register(pid);
    }
    let (overflow_tx, mut overflow) = watch::channel(false);
    let budget = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(spec.max_output_bytes));
    let mut readers = Vec::new();
    for (name, pipe) in [
        (
            "stdout",
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ),
        (
            "stderr",
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ),
    ] {
        let Some(mut pipe) = pipe else { continue };
        let events = events.clone();
        let budget = budget.clone();
        let overflow_tx = overflow_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 8192];
            loop {
                let n = match pipe.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let left = budget
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |b| Some(b.saturating_sub(n)),
                    )
                    .unwrap_or(0);
                let keep = n.min(left);
                if keep > 0 {
                    let text = String::from_utf8_lossy(&buffer[..keep]).into_owned();
                    let _ = events.send(RunEvent::Output { stream: name, text }).await;
                }
                if keep < n {
                    let _ = overflow_tx.send(true);
                    break;
                }
            }
        }));
    }
    drop(overflow_tx);
    let mut outcome = RunOutcome {
        exit_code: None,
        timed_out: false,
        output_limit_exceeded: false,
        cancelled: false,
    };
    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let status = tokio::select! {
        status = child.wait() => Some(status?),
        _ = &mut deadline => { outcome.timed_out = true; None }
        _ = raised(&mut overflow) => { outcome.output_limit_exceeded = true; None }
        _ = raised(&mut cancel) => { outcome.cancelled = true; None }
    };
    match status {
        Some(status) => outcome.exit_code = status.code(),
        None => {
            kill_group(pid);
            let _ = child.kill().await;
        }
    }
    for reader in readers {
        let _ = reader.await;
    }
    // A command killed by the closed pipe after the limit (`yes` dies of SIGPIPE) may be seen
    // exiting before the limit's flag: it still stopped because of the limit.
    if *overflow.borrow() {
        outcome.output_limit_exceeded = true;
    }
    Ok((outcome, pid))
}

/// Resolves once the flag turns true; never, if its sender goes away first.
async fn raised(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// SIGKILL to the command's process group (the `unshare` process and its direct children).
/// Its `--kill-child` then takes down PID 1 of the namespace, and with it every descendant.
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowlisted_variables_pass() {
        let parent = [
            ("PATH", "/usr/bin"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("http_proxy", "http://proxy:3128"),
            ("GIT_SSH_COMMAND", "ssh -o ProxyCommand=nc"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("BASH_ENV", "/tmp/rc"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("HOME", "/home/dev"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let kept: Vec<String> = sandbox_env(parent).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kept, ["PATH", "HOME"]);
    }
}
