//! `GET /api/status`: the appliance's air-gap state as measured now, which drives the
//! IDE's Air-Gap indicator.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ApiState;
use crate::audit::AuditLog;
use crate::egress::{OwnSocket, own_sockets, process_tree, sockets_of};
use crate::sandbox::Sandbox;

/// Facts fixed at launch.
#[derive(Debug)]
pub struct LaunchFacts {
    /// Every address the appliance listens on.
    pub listeners: Vec<SocketAddr>,
    /// The workspace folder's name (not its full path).
    pub workspace_name: String,
    /// Whether commands can run sandboxed (probed at start-up).
    pub sandbox: crate::sandbox::SandboxStatus,
    /// The policy in force (re-read when its file changes).
    pub policy: std::sync::Arc<crate::policy::PolicyStore>,
    /// Sequence number of this launch's `session.start` audit record.
    pub session_start_seq: u64,
}

/// One air-gap check and its outcome.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Stable identifier.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// True only when every check passed.
    pub airgap_active: bool,
    /// The individual checks.
    pub checks: Vec<Check>,
    /// This process's sockets, as evidence.
    pub sockets: Vec<OwnSocket>,
    /// Listening addresses.
    pub listeners: Vec<SocketAddr>,
    /// Workspace folder name.
    pub workspace: String,
    /// Appliance version.
    pub version: &'static str,
    /// Where the policy in force came from.
    pub policy_source: Option<crate::policy::PolicySource>,
    /// SHA-256 of the policy text.
    pub policy_hash: String,
    /// How the workspace policy is looser than the defaults.
    pub policy_loosenings: Vec<String>,
    /// True while those loosenings are ignored (nobody confirmed this policy text).
    pub policy_loosenings_ignored: bool,
}

/// Measures the air-gap state now.
pub fn measure(launch: &LaunchFacts, audit: &AuditLog, sandbox: &Sandbox) -> StatusReport {
    let mut checks = Vec::new();
    let head = audit.head();
    checks.push(Check {
        name: "audit_log",
        ok: audit.is_healthy(),
        detail: if audit.is_healthy() {
            format!(
                "chained and fsynced; head record {} ({})",
                head.seq,
                &head.hash[..16.min(head.hash.len())]
            )
        } else {
            "the audit log cannot be written; changes are refused".to_owned()
        },
    });
    checks.push(Check {
        name: "sandbox",
        ok: launch.sandbox.available,
        detail: launch.sandbox.detail.clone(),
    });
    let listeners_ok = launch.listeners.iter().all(|a| a.ip().is_loopback());
    checks.push(Check {
        name: "listeners_loopback",
        ok: listeners_ok,
        detail: format!("listening on {:?}", launch.listeners),
    });
    let sockets = match own_sockets() {
        Ok(mut sockets) => {
            let own_count = sockets.len();
            for command in sandbox.running() {
                for pid in process_tree(command.pid) {
                    sockets.extend(sockets_of(&pid.to_string()).unwrap_or_default());
                }
            }
            // Sockets of the appliance itself to a team server of the pinned policy are
            // declared egress: named in the detail, not counted against the air gap.
            let upstreams = launch
                .policy
                .current()
                .map(|p| p.upstreams.clone())
                .unwrap_or_default();
            let mut declared = Vec::new();
            for socket in sockets.iter().take(own_count).filter(|s| !s.loopback_only) {
                if let Some(name) = crate::upstream::declared(&upstreams, &socket.remote) {
                    declared.push(format!("{} (team server {name})", socket.remote));
                }
            }
            let foreign: Vec<_> = sockets
                .iter()
                .enumerate()
                .filter(|(i, s)| {
                    !s.loopback_only
                        && (*i >= own_count
                            || crate::upstream::declared(&upstreams, &s.remote).is_none())
                })
                .map(|(_, s)| s)
                .collect();
            checks.push(Check {
                name: "sockets_loopback",
                ok: foreign.is_empty(),
                detail: if foreign.is_empty() && declared.is_empty() {
                    format!("all {} sockets are loopback-only", sockets.len())
                } else if foreign.is_empty() {
                    format!(
                        "all {} sockets are loopback-only but these to a declared team server: {}",
                        sockets.len(),
                        declared.join(", ")
                    )
                } else {
                    format!("non-loopback sockets: {foreign:?}")
                },
            });
            sockets
        }
        Err(e) => {
            checks.push(Check {
                name: "sockets_loopback",
                ok: false,
                detail: format!("cannot inspect sockets: {e}"),
            });
            Vec::new()
        }
    };
    StatusReport {
        airgap_active: checks.iter().all(|c| c.ok),
        checks,
        sockets,
        listeners: launch.listeners.clone(),
        workspace: launch.workspace_name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        policy_source: launch.policy.current().ok().map(|p| p.source.clone()),
        policy_hash: launch
            .policy
            .current()
            .map(|p| p.hash.clone())
            .unwrap_or_else(|e| format!("invalid: {e}")),
        policy_loosenings: launch
            .policy
            .current()
            .map(|p| p.loosenings.clone())
            .unwrap_or_default(),
        policy_loosenings_ignored: launch.policy.current().is_ok_and(|p| p.loosenings_ignored),
    }
}

/// `POST /api/policy/confirm`: the user accepts the workspace policy text with this hash,
/// loosenings included (audited as `policy.confirm`).
pub async fn confirm_policy(
    State(state): State<ApiState>,
    crate::api::json_body::JsonBody(body): crate::api::json_body::JsonBody<
        airlock_protocol::approvals::PolicyConfirm,
    >,
) -> Result<Json<StatusReport>, crate::error::ApiError> {
    let store = state.launch.policy.clone();
    let hash = body.hash.clone();
    tokio::task::spawn_blocking(move || store.confirm(&hash))
        .await
        .map_err(|e| {
            crate::error::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            )
        })?
        .map_err(|why| {
            crate::error::ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "policy_not_confirmed",
                why,
            )
        })?;
    Ok(report(State(state)).await)
}

/// `GET /api/status`
pub async fn report(State(state): State<ApiState>) -> Json<StatusReport> {
    let report =
        tokio::task::spawn_blocking(move || measure(&state.launch, &state.audit, &state.sandbox))
            .await;
    Json(report.unwrap_or_else(|e| StatusReport {
        airgap_active: false,
        checks: vec![Check {
            name: "measurement",
            ok: false,
            detail: e.to_string(),
        }],
        sockets: Vec::new(),
        listeners: Vec::new(),
        workspace: String::new(),
        version: env!("CARGO_PKG_VERSION"),
        policy_source: None,
        policy_hash: String::new(),
        policy_loosenings: Vec::new(),
        policy_loosenings_ignored: false,
    }))
}
