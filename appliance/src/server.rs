//! Starting and stopping the appliance: bind loopback, mint the secret, assemble routes and
//! layers, print the launch URL.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiState, status::LaunchFacts};
use crate::assets;
use crate::audit::layer::{AuditContext, append};
use crate::audit::{AuditLog, Entry};
use crate::bind::{LOOPBACK_V4, LOOPBACK_V6};
use crate::error::ApiError;
use crate::layers::{self, LayerContext, rate_limit::FailureLimiter};
use crate::origins::LocalOrigins;
use crate::policy::PolicyStore;
use crate::sandbox::Sandbox;
use crate::secret::SessionSecret;
use crate::tools::ToolsState;
use crate::workspace::Workspace;

/// Wrong tokens allowed per window before authentication answers 429.
pub const AUTH_FAILURES_ALLOWED: usize = 10;
/// Refused requests and failed logins recorded in the audit log per minute (the rest are
/// counted in the next record), so a hostile page cannot flood the log.
pub const NOISE_RECORDS_PER_MINUTE: u32 = 30;
/// The window for [`AUTH_FAILURES_ALLOWED`].
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// How to start an appliance.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Folder exposed as the workspace.
    pub workspace: PathBuf,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Loopback addresses to bind; empty means 127.0.0.1 and, when available, ::1.
    pub bind: Vec<IpAddr>,
    /// Where to write the session token (mode 0600) for scripts.
    pub token_file: Option<PathBuf>,
    /// Folder of the audit log; `None` uses the per-workspace default from [`default_audit_dir`].
    pub audit_dir: Option<PathBuf>,
    /// A policy file pinned by an administrator; it replaces the workspace's own policy.
    pub policy: Option<PathBuf>,
    /// The `unshare` program for the command sandbox (`None`: from PATH or `AIRLOCK_UNSHARE`).
    pub unshare: Option<PathBuf>,
    /// Audit log rotation size and retention (`None`: 16 MiB segments, kept forever).
    pub audit_rotation: Option<crate::audit::Rotation>,
    /// The model store (or a plain folder of GGUF files) the browser engine may load from.
    pub models: Option<PathBuf>,
    /// Folder of this workspace's conversations (`None`: beside the default audit folder).
    pub chat_dir: Option<PathBuf>,
    /// Header-read deadline and connection cap against slow or flooding clients.
    pub connection_limits: crate::http_server::ConnectionLimits,
}

/// The default audit folder for a workspace: under `$XDG_STATE_HOME` (or `~/.local/state`),
/// outside the workspace so workspace file operations cannot reach it.
pub fn default_audit_dir(workspace: &Path) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from(".airlock-state"));
    let name = workspace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    let digest = crate::workspace::version::version_of(workspace.as_os_str().as_encoded_bytes());
    base.join("airlock/audit")
        .join(format!("{name}-{}", &digest[..12]))
}

/// A running appliance.
pub struct Appliance {
    port: u16,
    listeners: Vec<SocketAddr>,
    secret: SessionSecret,
    launch_nonce: String,
    token_file: Option<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    audit: AuditContext,
}

impl Appliance {
    /// Binds, builds the router and starts serving in the background.
    pub async fn start(options: ServeOptions) -> anyhow::Result<Self> {
        if let Some(bad) = options
            .bind
            .iter()
            .find(|ip| !ip.is_loopback() || (**ip != LOOPBACK_V4 && **ip != LOOPBACK_V6))
        {
            bail!(crate::bind::NonLoopbackBind(bad.to_string()));
        }
        let workspace = Workspace::open(&options.workspace)
            .with_context(|| format!("cannot open workspace {}", options.workspace.display()))?;
        let audit_dir = options
            .audit_dir
            .clone()
            .unwrap_or_else(|| default_audit_dir(workspace.root().path()));
        let confirmations = crate::policy::confirmations_path(&audit_dir);
        let policy = PolicyStore::load(
            workspace.root().path(),
            options.policy.as_deref(),
            Some(confirmations.clone()),
        )?;
        let chat_dir = options
            .chat_dir
            .clone()
            .unwrap_or_else(|| crate::chats::default_chat_dir(workspace.root().path()));
        // Commands never see the session token, the audit log and its key, or the
        // conversations.
        let sandbox = options
            .unshare
            .clone()
            .map(Sandbox::with_program)
            .unwrap_or_else(Sandbox::from_env)
            .hiding(
                [
                    audit_dir.clone(),
                    crate::audit::AuditKey::path_for(&audit_dir),
                    confirmations,
                    chat_dir.clone(),
                ]
                .into_iter()
                .chain(options.token_file.clone()),
            );
        let sandbox_status = {
            let sandbox = sandbox.clone();
            tokio::task::spawn_blocking(move || sandbox.probe()).await?
        };
        if !sandbox_status.available {
            tracing::warn!(
                "command sandbox unavailable, commands are disabled: {}",
                sandbox_status.detail
            );
        }
        let models = match options.models.clone() {
            Some(dir) => Some(Arc::new(
                tokio::task::spawn_blocking(move || crate::models::ModelStore::open(&dir))
                    .await??,
            )),
            None => None,
        };
        let (sockets, port) = bind_loopback(&options.bind, options.port).await?;
        let listeners: Vec<SocketAddr> = sockets
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<_, _>>()?;
        let secret = SessionSecret::generate()?;
        let audit_log = AuditLog::open_with(&audit_dir, options.audit_rotation.unwrap_or_default())
            .with_context(|| format!("cannot open the audit log in {}", audit_dir.display()))?;
        let audit = AuditContext {
            log: Arc::new(audit_log),
            actor: format!("session:{}", &SessionSecret::generate()?.expose()[..16]),
        };
        if let Some(path) = &options.token_file {
            write_private_file(path, secret.expose())
                .with_context(|| format!("cannot write token file {}", path.display()))?;
        }
        let workspace_name = workspace
            .root()
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Entry {
            actor: "appliance".into(),
            action: "session.start".into(),
            target: workspace_name.clone(),
            outcome: format!("ok: listening on {listeners:?}"),
        };
        let session_start_seq = audit
            .log
            .append(started)
            .context("cannot write the audit log")?
            .seq;
        if let Ok(loaded) = policy.current() {
            let entry = Entry {
                actor: "appliance".into(),
                action: "policy.load".into(),
                target: format!("{:?}", loaded.source).to_lowercase(),
                outcome: format!(
                    "ok: sha256 {}",
                    if loaded.hash.is_empty() {
                        "(built-in defaults)"
                    } else {
                        &loaded.hash
                    }
                ),
            };
            audit
                .log
                .append(entry)
                .context("cannot write the audit log")?;
        }
        let workspace = Arc::new(workspace);
        let policy = Arc::new(policy);
        let tools = ToolsState {
            workspace: workspace.clone(),
            policy: policy.clone(),
            sandbox: sandbox.clone(),
            sandbox_status: sandbox_status.clone(),
            audit: audit.log.clone(),
            actor: audit.actor.clone(),
            approvals: Default::default(),
        };
        let state = ApiState {
            workspace,
            launch: Arc::new(LaunchFacts {
                listeners: listeners.clone(),
                workspace_name,
                sandbox: sandbox_status,
                policy: policy.clone(),
                session_start_seq,
            }),
            audit: audit.log.clone(),
            sandbox,
            models,
            chats: Arc::new(
                crate::chats::ChatStore::open(&chat_dir)
                    .context("cannot open the conversation store")?,
            ),
            actor: audit.actor.clone(),
            resolver: Arc::new(crate::upstream::resolve::SystemResolver),
        };
        let (launch, launch_nonce) = crate::secret::LaunchNonce::generate()?;
        let layers = LayerContext {
            origins: Arc::new(LocalOrigins::new(port)),
            secret: secret.clone(),
            failures: Arc::new(FailureLimiter::new(
                AUTH_FAILURES_ALLOWED,
                AUTH_FAILURE_WINDOW,
            )),
            launch: Arc::new(launch),
            cookie: crate::secret::cookie_name(port)?,
            noise: Arc::new(crate::layers::rate_limit::AuditBudget::new(
                NOISE_RECORDS_PER_MINUTE,
                Duration::from_secs(60),
            )),
            audit: audit.clone(),
        };
        let router = build_router(state, tools, layers);
        let (stop, stopped) = watch::channel(false);
        let tasks = sockets
            .into_iter()
            .map(|listener| {
                let stopped = stopped.clone();
                let app = router.clone();
                let limits = options.connection_limits;
                tokio::spawn(crate::http_server::serve(listener, app, limits, stopped))
            })
            .collect();
        Ok(Self {
            port,
            listeners,
            secret,
            launch_nonce,
            token_file: options.token_file,
            stop,
            tasks,
            audit,
        })
    }

    /// The port every listener uses.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Addresses actually bound.
    pub fn listeners(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// The session token (for tests and the token file; never log it).
    pub fn token(&self) -> &str {
        self.secret.expose()
    }

    /// The URL a person opens: its one-time nonce logs the browser in once, then the page
    /// redirects to `/`; opened again, the link is refused.
    pub fn launch_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/?token={}",
            self.port, self.launch_nonce
        )
    }

    /// The folder of this appliance's audit log.
    pub fn audit_dir(&self) -> &Path {
        self.audit.log.dir()
    }

    /// Stops accepting, finishes in-flight requests, records the end of the session and
    /// removes the token file.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await??;
        }
        let ended = Entry {
            actor: "appliance".into(),
            action: "session.end".into(),
            target: String::new(),
            outcome: "ok".into(),
        };
        append(&self.audit.log, ended).await;
        if let Some(path) = &self.token_file {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

/// Routes plus every layer: the complete appliance as a service.
pub fn build_router(state: ApiState, tools: ToolsState, layers: LayerContext) -> Router {
    let routes = api::router(state)
        .merge(crate::tools::router(tools))
        .merge(assets::router())
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route",
            )
            .into_response()
        });
    layers::wrap(routes, layers)
}

/// Binds every requested loopback address on one port. With no explicit request, IPv6
/// loopback is added when the host supports it.
async fn bind_loopback(requested: &[IpAddr], port: u16) -> anyhow::Result<(Vec<TcpListener>, u16)> {
    let explicit = !requested.is_empty();
    let wanted: Vec<IpAddr> = if explicit {
        requested.to_vec()
    } else {
        vec![LOOPBACK_V4, LOOPBACK_V6]
    };
    let mut bound = Vec::new();
    let mut port = port;
    for ip in wanted {
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(listener) => {
                port = listener.local_addr()?.port();
                bound.push(listener);
            }
            Err(e) if !explicit && ip == LOOPBACK_V6 => {
                tracing::info!("IPv6 loopback unavailable ({e}); serving on 127.0.0.1 only");
            }
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {ip}:{port}")),
        }
    }
    Ok((bound, port))
}

/// Writes `contents` to `path` atomically with owner-only permissions.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(".airlock-token-{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temp)?;
        file.write_all(contents.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
