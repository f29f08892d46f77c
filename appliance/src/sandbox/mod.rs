//! Commands with no network: every command the agent or the terminal runs starts in fresh
//! user, network, PID and mount namespaces (util-linux `unshare`, no daemon). The network
//! namespace has only a downed loopback, so nothing — curl, python, `/dev/tcp`, DNS, UDP —
//! can reach anything. The environment is rebuilt from an allowlist, the command runs in the
//! workspace with CPU/file-size limits, and on timeout, cancel or output overflow the whole
//! namespace is killed (PID 1 of a PID namespace takes every descendant with it, setsid and
//! double forks included). If the namespaces cannot be created, nothing runs: fail closed.

mod child;
mod run;

pub use child::{CPU_SECONDS, MAX_DATA_BYTES, MAX_FILE_BYTES, MAX_PROCESSES};
pub use run::{CommandSpec, INHERITED_ENV, Launch, RunEvent, RunOutcome, sandbox_env};

use std::path::PathBuf;

use serde::Serialize;

/// Whether commands can run sandboxed on this host, measured at start-up.
#[derive(Clone, Debug, Serialize)]
pub struct SandboxStatus {
    /// True when a probe command ran in the namespaces and saw no network interface but `lo`.
    pub available: bool,
    /// What the probe saw, or why it failed (shown to the person).
    pub detail: String,
}

/// The sandbox launcher: which `unshare` program creates the namespaces, and the commands
/// running right now (for the evidence report).
#[derive(Clone, Debug)]
pub struct Sandbox {
    unshare: PathBuf,
    secrets: Vec<PathBuf>,
    running: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u32, String>>>,
    observed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// How often a running command's sockets are sampled for the evidence report.
pub const SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Most non-loopback sockets remembered from sampling (the first ones are kept).
const MAX_OBSERVED: usize = 256;

/// A finished command with its whole output.
#[derive(Clone, Debug)]
pub struct Collected {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// A sandboxed command that is running now.
#[derive(Clone, Debug, Serialize)]
pub struct RunningCommand {
    /// PID of its `unshare` process (the root of its process tree on the host).
    pub pid: u32,
    /// The command line.
    pub command: String,
}

/// Where the sandbox program is looked for: system folders only, never the PATH a command
/// (or the appliance) was given, which may hold workspace folders (`.venv/bin`,
/// `node_modules/.bin`, `.`).
pub const SYSTEM_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin";

/// `name` resolved in [`SYSTEM_PATH`] to an absolute, trusted path (see [`trusted`]).
pub fn resolve_system_program(name: &str) -> Result<PathBuf, String> {
    for dir in SYSTEM_PATH.split(':') {
        let candidate = std::path::Path::new(dir).join(name);
        if candidate.is_file() {
            let real = candidate
                .canonicalize()
                .map_err(|e| format!("{}: {e}", candidate.display()))?;
            trusted(&real)?;
            return Ok(real);
        }
    }
    Err(format!(
        "`{name}` is not installed in {SYSTEM_PATH}; install util-linux"
    ))
}

/// Whether `path` is a program only root can change: an absolute regular file owned by
/// root, neither it nor its folder writable by group or others, and the folder owned by root.
pub fn trusted(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    let check = |p: &std::path::Path, what: &str| -> Result<(), String> {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.uid() != 0 {
            return Err(format!("{what} {} is not owned by root", p.display()));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!("{what} {} is writable by others", p.display()));
        }
        Ok(())
    };
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Err(format!("{} is not a regular file", path.display()));
    }
    check(path, "the sandbox program")?;
    if let Some(folder) = path.parent() {
        check(folder, "the folder of the sandbox program")?;
    }
    Ok(())
}

impl Sandbox {
    /// `unshare` resolved once in the system folders ([`SYSTEM_PATH`]) and verified, or
    /// `AIRLOCK_UNSHARE` (e.g. to exercise the fail-closed path); the probe re-verifies it.
    pub fn from_env() -> Self {
        let program = std::env::var_os("AIRLOCK_UNSHARE")
            .map(PathBuf::from)
            .or_else(|| resolve_system_program("unshare").ok())
            .unwrap_or_else(|| PathBuf::from("/usr/bin/unshare"));
        Self::with_program(program)
    }

    /// A launcher using `program` as `unshare`.
    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Self {
            unshare: program.into(),
            secrets: Vec::new(),
            running: Default::default(),
            observed: Default::default(),
        }
    }

    /// Hides `secrets` (files or folders: the token file, the audit and state folders) from
    /// every command; paths that do not exist yet are hidden if they exist when one runs.
    pub fn hiding(mut self, secrets: impl IntoIterator<Item = PathBuf>) -> Self {
        self.secrets = secrets
            .into_iter()
            .map(|p| p.canonicalize().unwrap_or(p))
            .collect();
        self
    }

    fn launch(&self) -> Launch<'_> {
        Launch {
            unshare: &self.unshare,
            secrets: &self.secrets,
        }
    }

    /// The commands running now.
    pub fn running(&self) -> Vec<RunningCommand> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running
            .iter()
            .map(|(pid, command)| RunningCommand {
                pid: *pid,
                command: command.clone(),
            })
            .collect()
    }

    /// Non-loopback sockets that sampling saw in commands of this session, described.
    pub fn observed(&self) -> Vec<String> {
        self.observed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Samples the sockets of command `pid`'s process tree every [`SAMPLE_INTERVAL`] until
    /// it ends, remembering every socket that is not loopback-only.
    fn sample(&self, pid: u32, command: String) {
        let running = self.running.clone();
        let observed = self.observed.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
            loop {
                ticks.tick().await;
                if !running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(&pid)
                {
                    return;
                }
                for process in crate::egress::process_tree(pid) {
                    let sockets =
                        crate::egress::sockets_of(&process.to_string()).unwrap_or_default();
                    for socket in sockets.iter().filter(|s| !s.loopback_only) {
                        let line = format!(
                            "command {command:?} pid {process}: {} {} -> {}",
                            socket.protocol, socket.local, socket.remote
                        );
                        let mut seen = observed.lock().unwrap_or_else(|e| e.into_inner());
                        if seen.len() < MAX_OBSERVED && !seen.contains(&line) {
                            seen.push(line);
                        }
                    }
                }
            }
        });
    }

    /// Runs a probe in the sandbox: it must start, and see no interface besides loopback.
    pub fn probe(&self) -> SandboxStatus {
        probe(self.launch())
    }

    /// Runs `spec` to the end and returns its output (for calls that answer all at once).
    pub async fn run_collected(&self, spec: &CommandSpec) -> std::io::Result<Collected> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let (_keep_alive, cancel) = tokio::sync::watch::channel(false);
        let collect = tokio::spawn(async move {
            let (mut stdout, mut stderr) = (String::new(), String::new());
            while let Some(RunEvent::Output { stream, text }) = rx.recv().await {
                if stream == "stdout" {
                    stdout.push_str(&text)
                } else {
                    stderr.push_str(&text)
                }
            }
            (stdout, stderr)
        });
        let outcome = self.run(spec, tx, cancel).await?;
        let (stdout, stderr) = collect.await.map_err(std::io::Error::other)?;
        Ok(Collected {
            outcome,
            stdout,
            stderr,
        })
    }

    /// Runs `spec` in fresh namespaces (see [`run::run`]).
    pub async fn run(
        &self,
        spec: &CommandSpec,
        events: tokio::sync::mpsc::Sender<RunEvent>,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<RunOutcome> {
        let register = |pid: u32| {
            let command = spec.argv.last().cloned().unwrap_or_default();
            self.running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pid, command.clone());
            self.sample(pid, command);
        };
        let result = run::run(self.launch(), spec, events, cancel, register).await;
        if let Ok((_, Some(pid))) = &result {
            self.running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(pid);
        }
        result.map(|(outcome, _)| outcome)
    }
}

/// The namespace flags every sandboxed command gets.
pub const UNSHARE_FLAGS: &[&str] = &[
    "--user",
    "--map-root-user",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount",
    "--mount-proc",
];

fn probe(launch: Launch<'_>) -> SandboxStatus {
    if let Err(why) = trusted(launch.unshare) {
        return SandboxStatus {
            available: false,
            detail: format!("cannot start `unshare` safely ({why}); install util-linux"),
        };
    }
    // A fresh folder per probe: several appliances in one process may probe at once.
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    let scratch = std::env::temp_dir().join(format!(
        "airlock-probe-{}-{}",
        std::process::id(),
        hex::encode(nonce)
    ));
    let _ = std::fs::create_dir_all(&scratch);
    let argv = ["/bin/cat", "/proc/net/dev"].map(String::from);
    let output = launch
        .command(&scratch, false, &argv)
        .and_then(|mut command| command.env("PATH", SYSTEM_PATH).output());
    let _ = std::fs::remove_dir(&scratch);
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return SandboxStatus {
                available: false,
                detail: format!("cannot start `unshare` ({e}); install util-linux"),
            };
        }
    };
    if !output.status.success() {
        return SandboxStatus {
            available: false,
            detail: format!(
                "user/network namespaces are unavailable ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        };
    }
    let interfaces: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_owned()))
        .collect();
    if interfaces == ["lo"] {
        SandboxStatus {
            available: true,
            detail: "commands run with no network interfaces and a read-only filesystem outside the workspace"
                .into(),
        }
    } else {
        SandboxStatus {
            available: false,
            detail: format!(
                "the sandbox probe saw interfaces {interfaces:?} instead of loopback alone"
            ),
        }
    }
}
